"""``beam``: step-level beam search guided by the PRM.

Two parameterisations: ``n`` candidates a step with ``m`` expansions per beam (search-
and-learn's: n // m beams kept), or ``keep`` beams each expanded ``expand`` times.
The first step samples all keep x expand candidates from the prompt. Finished solutions
leave the beam and count towards the width (a round ends once ``keep`` solutions
finished or nothing is left open), and the answer is the best finished one by
the selection aggregation, not the first to finish. ``dedupe`` keeps one copy of
identical open prefixes, so a narrow policy does not fill the beam with one path.
"""

from __future__ import annotations

from typing import Any

from harness.errors import ConfigError
from harness.strategies.base import RoundSearch, SearchStrategy, as_int, optional_int
from harness.strategies.engine import Node, Request, Tree, rank_by_value
from harness.types import Budget


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("1", "true", "yes"):
        return True
    if str(value).lower() in ("0", "false", "no"):
        return False
    raise ConfigError(f"option {name}: {value!r} is not true or false")


def widths(n: Any, m: Any, keep: Any, expand: Any, default_n: int = 16,
           default_m: int = 4) -> tuple[int, int]:
    """(beams kept, expansions per beam) from either parameterisation."""
    if keep is not None or expand is not None:
        if n is not None or m is not None:
            raise ConfigError("options n/m and keep/expand are two ways to set the width; "
                              "give one pair")
        return as_int("keep", keep if keep is not None else 4), \
            as_int("expand", expand if expand is not None else default_m)
    total = as_int("n", n if n is not None else default_n)
    per = as_int("m", m if m is not None else default_m)
    if total % per:
        raise ConfigError(f"option n ({total}) must be a multiple of m ({per})")
    return total // per, per


class BeamSearch(SearchStrategy):
    """Registered as strategy ``beam``."""

    name = "beam"

    def __init__(self, n: int | str | None = None, m: int | str | None = None,
                 keep: int | str | None = None, expand: int | str | None = None,
                 dedupe: bool | str = True, rounds: int | str | None = None,
                 **common: Any) -> None:
        super().__init__(**common)
        self.keep, self.expand = widths(n, m, keep, expand)
        self.dedupe = _bool("dedupe", dedupe)
        self.rounds = optional_int("rounds", rounds)

    def options(self) -> dict[str, Any]:
        return {"keep": self.keep, "expand": self.expand, "dedupe": self.dedupe,
                "rounds": self.rounds}

    def start(self, tree: Tree, budget: Budget) -> _BeamSearch:
        return _BeamSearch(tree, self, budget, self.rounds)


class _BeamSearch(RoundSearch):
    strategy: BeamSearch

    def begin_round(self) -> None:
        self.beams: list[Node] = [self.tree.root]
        self.done_this_round = 0

    def round_propose(self) -> list[Request]:
        m = self.strategy.expand
        if self.beams == [self.tree.root]:  # the first step: all n candidates from the root
            return [self.tree.request(self.tree.root) for _ in range(self.strategy.keep * m)]
        return [self.tree.request(b) for b in self.beams for _ in range(m)]

    def accept(self, children: list[Node]) -> None:
        finished = [c for c in children if c.finished]
        self.finished.extend(finished)
        self.done_this_round += len(finished)
        open_ = [c for c in children if c.open]
        if self.strategy.dedupe:
            seen: set[str] = set()
            unique = []
            for c in open_:
                text = self.tree.text(c)
                if text not in seen:
                    seen.add(text)
                    unique.append(c)
            open_ = unique
        room = max(self.strategy.keep - self.done_this_round, 0)
        self.beams = rank_by_value(self.tree, open_, self.strategy.aggregate)[:room]

    def tick_record(self) -> dict[str, Any]:
        return {"round": self.round, "beams": [b.id for b in self.beams],
                "values": [self.tree.value(b, self.strategy.aggregate) for b in self.beams]}
