"""``majority`` and ``weighted-majority``: n fresh solutions a round, as best-of-n, and the
answer chosen by a vote over the task's vote keys (``Grade.vote_key``: equal for answers
that vote together, None for a solution that abstains).

``majority`` counts one vote per finished solution; ``weighted-majority`` adds each
solution's PRM score aggregated by ``select``. The winning class is the one with the most
votes (ties: the larger summed weight for majority, the larger count for weighted-
majority, then the class that appeared first); its representative is its member of best
``select`` value. Abstainers never win while any solution votes. The keys need the task
(``use_task``), since grading decides which answers are equal.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from harness.errors import ConfigError
from harness.interfaces import PRM, Policy, Task
from harness.strategies.best_of_n import BestOfN, _BestOfNSearch
from harness.strategies.engine import Node, ProblemRun, Tree, rank_by_value
from harness.strategies.vote import tally
from harness.types import Budget, Problem

#: (problem, solution texts) -> one vote key per text (None abstains)
VoteKeys = Callable[[Problem, Sequence[str]], list[str | None]]


def task_vote_keys(task: Task) -> VoteKeys:
    """Vote keys from the task's own grader (the keys the maj@k metrics use)."""

    def keys(problem: Problem, texts: Sequence[str]) -> list[str | None]:
        samples = [task.prepare(problem, i, text) for i, text in enumerate(texts)]
        grades = task.grade(problem, samples) if samples else []
        by_index = {g.sample_index: g.vote_key for g in grades}
        if sorted(by_index) != list(range(len(samples))):
            raise ConfigError(f"task {task.name}: grade gave {len(by_index)} vote keys for "
                              f"{len(samples)} solutions of problem {problem.id}")
        return [by_index[i] for i in range(len(samples))]

    return keys


def vote_order(tree: Tree, nodes: Sequence[Node], keys: Sequence[str | None],
               method: str, weighted: bool) -> list[Node]:
    """``nodes`` ordered for the answer: class by class in tally order, each class best
    first by ``method``; abstainers last, best first."""
    values = [tree.value(n, method) for n in nodes]
    key_of = {n.id: k for n, k in zip(nodes, keys, strict=True)}
    out: list[Node] = []
    for key, _, _ in tally(keys, values, weighted):
        out.extend(rank_by_value(tree, [n for n in nodes if key_of[n.id] == key], method))
    out.extend(rank_by_value(tree, [n for n in nodes if key_of[n.id] is None], method))
    return out


class Majority(BestOfN):
    """Registered as strategy ``majority``: best-of-n's sampling, the answer by vote."""

    name = "majority"
    weighted = False

    def __init__(self, n: int | str = 16, rounds: int | str | None = None,
                 **common: Any) -> None:
        super().__init__(n=n, rounds=rounds, **common)
        self.vote_keys: VoteKeys | None = None

    def use_task(self, task: Task) -> None:
        self.vote_keys = task_vote_keys(task)

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "vote": "weighted" if self.weighted else "count"}

    def run(self, problems: Sequence[Problem], policy: Policy, prm: PRM,
            budget: Budget) -> list[ProblemRun]:
        if self.vote_keys is None:
            raise ConfigError(f"strategy {self.name} votes with the task's answer keys: "
                              f"call use_task(task) before run")
        return super().run(problems, policy, prm, budget)

    def start(self, tree: Tree, budget: Budget) -> _VoteSearch:
        return _VoteSearch(tree, self, budget, self.rounds)


class WeightedMajority(Majority):
    """Registered as strategy ``weighted-majority``: votes weighted by the PRM's score."""

    name = "weighted-majority"
    weighted = True


class _VoteSearch(_BestOfNSearch):
    strategy: Majority

    def begin_round(self) -> None:
        super().begin_round()
        self._voted: tuple[tuple[str, ...], list[str | None]] | None = None

    def keys(self) -> list[str | None]:
        """The finished solutions' vote keys (graded once per set of solutions)."""
        ids = tuple(n.id for n in self.finished)
        if self._voted is None or self._voted[0] != ids:
            keyer = self.strategy.vote_keys
            assert keyer is not None  # run() refuses to start without one
            self._voted = (ids, keyer(self.tree.problem,
                                      [self.tree.text(n) for n in self.finished]))
        return self._voted[1]

    def candidates(self) -> list[Node]:
        return vote_order(self.tree, self.finished, self.keys(), self.strategy.select,
                          self.strategy.weighted)

    def final_record(self) -> dict[str, Any]:
        values = [self.tree.value(n, self.strategy.select) for n in self.finished]
        return {"votes": [{"key": k, "votes": c, "weight": w if math.isfinite(w) else None}
                          for k, c, w in tally(self.keys(), values, self.strategy.weighted)]}

    def selection(self) -> dict[str, Any]:
        return {"by": "vote", "weighted": self.strategy.weighted,
                "aggregation": self.strategy.select,
                "candidates": [n.id for n in self.finished], "keys": self.keys()}
