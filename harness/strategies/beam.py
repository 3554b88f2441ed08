"""``beam``: step-level beam search guided by the PRM.

Two parameterisations: ``n`` candidates a step with ``m`` expansions per beam (search-
and-learn's: n // m beams kept), or ``keep`` beams each expanded ``expand`` times.
The first step samples all keep x expand candidates from the prompt. Finished solutions
leave the beam and count towards the width (a round ends once ``keep`` solutions
finished or nothing is left open), and the answer is the best finished one by
the selection aggregation, not the first to finish. ``dedupe`` keeps one copy of
identical open prefixes, so a narrow policy does not fill the beam with one path.

Lookahead (``lookahead`` = L > 0): each open candidate is first rolled out L more steps,
one sampled step a tick with the search's sampling parameters, or with
``lookahead_temperature`` when set (0 for greedy rollouts, as search-and-learn's are; it
rides on the request's own temperature, which ``sim`` ignores), and ranked by the guiding
aggregation of the deepest scored node of its rollout (the rollout's last step, or its
end if it finished earlier; a rollout cut before any score falls back to the candidate's
own score). The beam keeps the candidates, never the rollouts. Rollout steps are real
engine requests (they count in the budget and the ledger and sit in the trace below the
candidates); only the last rollout step asks for a PRM score (finished steps
are always scored). A rollout that finishes is a finished solution like any other: it
joins the answer pool but takes no place of the width. A tick the budget cuts short ends
the lookahead with what it has. The lookahead runs only when the beam must choose (more
open candidates than places left), so it never spends on a choice that is already made.
"""

from __future__ import annotations

from typing import Any

from harness.errors import ConfigError
from harness.strategies.base import (
    RoundSearch,
    SearchStrategy,
    as_bool,
    as_float,
    as_int,
    optional_int,
)
from harness.strategies.engine import Node, Request, Tree, rank_by_value
from harness.types import Budget


def optional_float(name: str, value: Any) -> float | None:
    """A temperature-like option: None (or "none") means the search's own value."""
    return None if value is None or value == "none" else as_float(name, value, 0.0)


def with_temperature(requests: list[Request], temperature: float | None) -> list[Request]:
    """``requests`` sampled at ``temperature`` (their own, per request), when one is set."""
    if temperature is not None:
        for request in requests:
            request.temperature = temperature
    return requests


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
                 lookahead: int | str = 0,
                 lookahead_temperature: float | str | None = None, **common: Any) -> None:
        super().__init__(**common)
        self.keep, self.expand = widths(n, m, keep, expand)
        self.dedupe = as_bool("dedupe", dedupe)
        self.rounds = optional_int("rounds", rounds)
        self.lookahead = as_int("lookahead", lookahead, least=0)
        self.lookahead_temperature = optional_float("lookahead_temperature",
                                                    lookahead_temperature)

    def options(self) -> dict[str, Any]:
        return {"keep": self.keep, "expand": self.expand, "dedupe": self.dedupe,
                "rounds": self.rounds, "lookahead": self.lookahead,
                "lookahead_temperature": self.lookahead_temperature}

    def start(self, tree: Tree, budget: Budget) -> _BeamSearch:
        return _BeamSearch(tree, self, budget, self.rounds)


class _BeamSearch(RoundSearch):
    strategy: BeamSearch

    def begin_round(self) -> None:
        self.beams: list[Node] = [self.tree.root]
        self.done_this_round = 0
        #: lookahead in progress: the open candidates, the tip of each one's rollout, the
        #: deepest scored node of each rollout, and how many rollout steps were taken
        self.pending: list[Node] = []
        self.tips: dict[str, Node] = {}
        self.scored: dict[str, Node] = {}
        self.rolled = 0
        self.asked: list[str] = []
        self.last_lookahead: dict[str, Any] | None = None

    def round_propose(self) -> list[Request]:
        if self.pending:
            last = self.rolled + 1 == self.strategy.lookahead
            self.asked = [c.id for c in self.pending if self.tips[c.id].open]
            wanted = [self.tree.request(self.tips[cid], score=last) for cid in self.asked]
            return with_temperature(wanted, self.strategy.lookahead_temperature)
        m = self.strategy.expand
        if self.beams == [self.tree.root]:  # the first step: all n candidates from the root
            return [self.tree.request(self.tree.root) for _ in range(self.strategy.keep * m)]
        return [self.tree.request(b) for b in self.beams for _ in range(m)]

    def accept(self, children: list[Node]) -> None:
        if self.pending:
            self._accept_rollout(children)
            return
        self.last_lookahead = None
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
        if self.strategy.lookahead and len(open_) > room > 0:  # only when it must choose
            self.pending = open_
            self.tips = {c.id: c for c in open_}
            self.scored = {c.id: c for c in open_}
            self.rolled = 0
            self.beams = []
            return
        self.beams = rank_by_value(self.tree, open_, self.strategy.aggregate)[:room]

    def _accept_rollout(self, children: list[Node]) -> None:
        """One rollout step of every candidate whose rollout is still open."""
        for cid, child in zip(self.asked, children, strict=False):
            self.tips[cid] = child
            if child.scores is not None:
                self.scored[cid] = child
            if child.finished:
                self.finished.append(child)
        self.rolled += 1
        cut_short = len(children) < len(self.asked)
        if (self.rolled < self.strategy.lookahead and not cut_short
                and any(t.open for t in self.tips.values())):
            return
        candidates = self.pending
        self.pending = []
        room = max(self.strategy.keep - self.done_this_round, 0)
        agg = self.strategy.aggregate
        ranked = sorted(candidates, key=lambda c: -self.tree.value(self.scored[c.id], agg))
        self.beams = ranked[:room]
        self.last_lookahead = {
            "from": {c.id: self.scored[c.id].id for c in candidates},
            "values": {c.id: self.tree.value(self.scored[c.id], agg) for c in candidates}}

    def tick_record(self) -> dict[str, Any]:
        if self.pending:  # a rollout step: the beam is not chosen yet
            return {"round": self.round, "phase": "lookahead" if self.rolled else "expand",
                    "lookahead_step": self.rolled,
                    "tips": {cid: tip.id for cid, tip in self.tips.items()}}
        record: dict[str, Any] = {
            "round": self.round, "beams": [b.id for b in self.beams],
            "values": [self.tree.value(b, self.strategy.aggregate) for b in self.beams]}
        if self.last_lookahead is not None:
            beams = {b.id for b in self.beams}
            record.update(phase="select", lookahead_step=self.rolled,
                          values=[self.last_lookahead["values"][b.id] for b in self.beams],
                          own_values=[self.tree.value(b, self.strategy.aggregate)
                                      for b in self.beams],
                          rollout_ends={k: v for k, v in self.last_lookahead["from"].items()
                                        if k in beams})
        return record
