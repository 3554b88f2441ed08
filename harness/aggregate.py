"""Step-score aggregation, applied at selection time from stored step scores.

The names live in one place, the ``aggregation`` registry (harness.registry); the config,
the PRM specs, the flat-file reader and ``metrics --aggregate`` all ask it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness import registry
from harness.errors import ConfigError, ScoreError


@dataclass(frozen=True)
class Aggregation:
    """One way to turn a solution's step scores into one score (a registry entry)."""

    name: str
    fn: Callable[[Sequence[float]], float]
    description: str

    def __call__(self, scores: Sequence[float]) -> float:
        return float(self.fn(scores))


MIN = Aggregation("min", min, "the weakest step")
LAST = Aggregation("last", lambda scores: scores[-1], "the final step's score")
PRODUCT = Aggregation("product", math.prod, "the product of all step scores")
MEAN = Aggregation("mean", lambda scores: math.fsum(scores) / len(scores),
                   "the mean step score")


def check_aggregation(method: str) -> str:
    """``method`` when it is a registered aggregation, else a ValueError listing them
    (pydantic turns it into a field error of the config or spec)."""
    names = registry.AGGREGATIONS.names()
    if method not in names:
        raise ValueError(f"unknown aggregation {method!r}; choose from {', '.join(names)}")
    return method


def aggregate(scores: Sequence[float], method: str, where: str = "sample") -> float:
    """One solution score from its step scores; an empty list is an error, not a zero."""
    try:
        chosen: Aggregation = registry.AGGREGATIONS.get(method)
    except ConfigError as exc:
        raise ScoreError(str(exc)) from None
    if len(scores) == 0:
        raise ScoreError(f"{where}: no step scores to aggregate")
    return chosen(scores)
