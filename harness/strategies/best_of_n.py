"""``best-of-n``: n independent solutions written step by step, the best one by the
selection aggregation. Steps are scored only once a solution is finished (one PRM call
over the whole solution gives every step's score), so no PRM work is spent on prefixes."""

from __future__ import annotations

from typing import Any

from harness.strategies.base import RoundSearch, SearchStrategy, as_int, optional_int
from harness.strategies.engine import Node, Request, Tree
from harness.types import Budget


class BestOfN(SearchStrategy):
    """Registered as strategy ``best-of-n``; ``n`` solutions a round."""

    name = "best-of-n"

    def __init__(self, n: int | str = 16, rounds: int | str | None = None,
                 **common: Any) -> None:
        super().__init__(**common)
        self.n = as_int("n", n)
        self.rounds = optional_int("rounds", rounds)

    def options(self) -> dict[str, Any]:
        return {"n": self.n, "rounds": self.rounds}

    def start(self, tree: Tree, budget: Budget) -> _BestOfNSearch:
        return _BestOfNSearch(tree, self, budget, self.rounds)


class _BestOfNSearch(RoundSearch):
    strategy: BestOfN

    def begin_round(self) -> None:
        self.paths: list[Node] = []
        self.fresh = True

    def round_propose(self) -> list[Request]:
        if self.fresh:
            return [self.tree.request(self.tree.root, score=False)
                    for _ in range(self.strategy.n)]
        return [self.tree.request(p, score=False) for p in self.paths]

    def accept(self, children: list[Node]) -> None:
        waiting = [] if self.fresh else self.paths[len(children):]  # cut by the budget
        self.fresh = False
        self.finished.extend(c for c in children if c.finished)
        self.paths = [c for c in children if c.open] + waiting

    def tick_record(self) -> dict[str, Any]:
        return {"round": self.round, "open": [p.id for p in self.paths]}
