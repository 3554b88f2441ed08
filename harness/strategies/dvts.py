"""``dvts``: diverse verifier tree search. n // m independent subtrees, each a greedy
beam of width one: expand its node m times, keep the best child by the guiding
aggregation. A subtree ends when its kept child finishes (that solution is a candidate)
or nothing is left open; unfinished subtrees give no candidate."""

from __future__ import annotations

from typing import Any

from harness.strategies.base import RoundSearch, SearchStrategy, optional_int
from harness.strategies.beam import widths
from harness.strategies.engine import Node, Request, Tree, rank_by_value
from harness.types import Budget


class Dvts(SearchStrategy):
    """Registered as strategy ``dvts``."""

    name = "dvts"

    def __init__(self, n: int | str | None = None, m: int | str | None = None,
                 rounds: int | str | None = None, **common: Any) -> None:
        super().__init__(**common)
        self.subtrees, self.expand = widths(n, m, None, None)
        self.rounds = optional_int("rounds", rounds)

    def options(self) -> dict[str, Any]:
        return {"subtrees": self.subtrees, "expand": self.expand, "rounds": self.rounds}

    def start(self, tree: Tree, budget: Budget) -> _DvtsSearch:
        return _DvtsSearch(tree, self, budget, self.rounds)


class _DvtsSearch(RoundSearch):
    strategy: Dvts

    def begin_round(self) -> None:
        self.heads: list[Node] = [self.tree.root] * self.strategy.subtrees

    def round_propose(self) -> list[Request]:
        m = self.strategy.expand
        return [self.tree.request(h) for h in self.heads for _ in range(m)]

    def accept(self, children: list[Node]) -> None:
        m = self.strategy.expand
        heads = []
        for s in range(len(self.heads)):
            mine = [c for c in children[s * m:(s + 1) * m] if c.status != "cut"]
            if len(children) < (s + 1) * m or not mine:
                continue  # cut by the budget, or nothing left open
            best = rank_by_value(self.tree, mine, self.strategy.aggregate)[0]
            if best.finished:
                self.finished.append(best)
            else:
                heads.append(best)
        self.heads = heads

    def tick_record(self) -> dict[str, Any]:
        return {"round": self.round, "heads": [h.id for h in self.heads]}
