"""What every search strategy shares: its common options, the engine run, and rounds.

Options arrive as strings from the command line (``--strategy-option particles=16``) or
typed from a config; the helpers here read both and name the option at fault.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

from harness import registry
from harness.errors import ConfigError
from harness.interfaces import PRM, Policy, SamplingParams, Strategy, Task
from harness.strategies.engine import (
    SEED_RULE,
    Engine,
    Node,
    ProblemRun,
    ProblemSearch,
    Request,
    Tree,
    has_cap,
    rank_by_value,
)
from harness.types import Budget, Problem, Trajectory

#: rounds a round-based search runs at most when the budget decides (a safety stop)
MAX_ROUNDS = 100_000


def as_int(name: str, value: Any, least: int = 1) -> int:
    try:
        out = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"option {name}: {value!r} is not an integer") from None
    if isinstance(value, float) and value != out:
        raise ConfigError(f"option {name}: {value!r} is not an integer")
    if out < least:
        raise ConfigError(f"option {name} must be at least {least}, got {out}")
    return out


def as_float(name: str, value: Any, low: float | None = None,
             high: float | None = None) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"option {name}: {value!r} is not a number") from None
    if (low is not None and out < low) or (high is not None and out > high):
        raise ConfigError(f"option {name} must be in [{low}, {high}], got {out}")
    return out


def as_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ConfigError(f"option {name}: {value!r} is not one of {', '.join(choices)}")
    return str(value)


def as_aggregation(name: str, value: Any) -> str:
    return as_choice(name, value, registry.AGGREGATIONS.names())


def as_bool(name: str, value: Any) -> bool:
    """A boolean option given as a bool or as 1/0, true/false, yes/no."""
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("1", "true", "yes"):
        return True
    if str(value).lower() in ("0", "false", "no"):
        return False
    raise ConfigError(f"option {name}: {value!r} is not true or false")


def optional_int(name: str, value: Any) -> int | None:
    return None if value is None or value == "none" else as_int(name, value)


class SearchStrategy(Strategy):
    """A strategy run by the batched engine; subclasses build one ProblemSearch each.

    ``aggregate`` guides the search (last, min, product, ...); ``select`` picks the final
    answer among finished solutions; they are separate on purpose.
    """

    name: ClassVar[str]

    def __init__(self, *, aggregate: str = "last", select: str = "last",
                 max_steps: int | str = 64, temperature: float | str = 1.0,
                 top_p: float | str = 1.0, max_tokens: int | str = 512,
                 stop: str = "\n\n", seed: int | str = 0) -> None:
        self.aggregate = as_aggregation("aggregate", aggregate)
        self.select = as_aggregation("select", select)
        self.max_steps = as_int("max_steps", max_steps)
        self.temperature = as_float("temperature", temperature, 0.0)
        self.top_p = as_float("top_p", top_p, 0.0, 1.0)
        self.max_tokens = as_int("max_tokens", max_tokens)
        # the command line cannot type a line break: a literal "\n" stands for one
        self.stop = str(stop).replace("\\n", "\n")
        self.seed = as_int("seed", seed, least=0)
        self.last_runs: list[ProblemRun] = []

    @abstractmethod
    def start(self, tree: Tree, budget: Budget) -> ProblemSearch:
        """The search state of one problem."""

    def use_task(self, task: Task) -> None:
        """Hand the strategy the task (a vote needs its answer keys); others ignore it."""

    def options(self) -> dict[str, Any]:
        """This strategy's own options (beyond the common ones), for the identity."""
        return {}

    def identity(self) -> dict[str, Any]:
        return {"strategy": self.name, **self.options(), "aggregate": self.aggregate,
                "select": self.select, "max_steps": self.max_steps,
                "temperature": self.temperature, "top_p": self.top_p,
                "max_tokens": self.max_tokens, "stop": self.stop, "seed": self.seed,
                "seed_rule": SEED_RULE}

    def run(self, problems: Sequence[Problem], policy: Policy, prm: PRM,
            budget: Budget) -> list[ProblemRun]:
        """Search every problem; the runs hold trajectories, spend and traces."""
        params = SamplingParams(n=1, temperature=self.temperature, top_p=self.top_p,
                                max_tokens=self.max_tokens, seed=self.seed, stop=[self.stop])
        engine = Engine(policy, prm, budget, params, self.seed)
        runs = []
        for problem in problems:
            tree = Tree(problem, self.max_steps)
            runs.append(ProblemRun(problem, tree, self.start(tree, budget)))
        self.last_runs = engine.run(runs)
        return self.last_runs

    def search(self, problems: Sequence[Problem], policy: Policy, prm: PRM,
               budget: Budget) -> list[list[Trajectory]]:
        return [run.trajectories for run in self.run(problems, policy, prm, budget)]

    def traces(self, budget: Budget) -> list[dict[str, Any]]:
        """The last run's traces, one per problem (JSON-serialisable)."""
        out = [run.trace(self.identity(), budget) for run in self.last_runs]
        json.dumps(out)  # fail here, not in the caller, if anything is not JSON
        return out


class RoundSearch(ProblemSearch):
    """A search made of independent rounds (a beam search, a particle filter): when a
    round ends and the budget has a cap, the next round starts, so the strategy uses the
    budget it is given; the answer is chosen among the finished solutions of all rounds.

    ``rounds`` fixes the number of rounds; None runs rounds until the budget is spent
    (one round when the budget has no cap).
    """

    def __init__(self, tree: Tree, strategy: SearchStrategy, budget: Budget,
                 rounds: int | None) -> None:
        super().__init__(tree)
        self.strategy = strategy
        self.rounds = rounds if rounds is not None else (MAX_ROUNDS if has_cap(budget)
                                                         else 1)
        self.round = 0
        self.finished: list[Node] = []
        self._proposed_this_round = False
        self.begin_round()

    @abstractmethod
    def begin_round(self) -> None:
        """Reset the round state (``self.round`` is its number)."""

    @abstractmethod
    def round_propose(self) -> list[Request]:
        """This round's next requests; empty when the round is over."""

    def propose(self) -> list[Request]:
        while True:
            wanted = self.round_propose()
            if wanted:
                self._proposed_this_round = True
                return wanted
            if not self._proposed_this_round or self.round + 1 >= self.rounds:
                return []
            self.round += 1
            self._proposed_this_round = False
            self.begin_round()

    def candidates(self) -> list[Node]:
        return rank_by_value(self.tree, self.finished, self.strategy.select)

    def selection(self) -> dict[str, Any]:
        return {"by": "value", "aggregation": self.strategy.select,
                "candidates": [n.id for n in self.finished]}
