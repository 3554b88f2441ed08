"""Step-score aggregation, applied at selection time from stored step scores."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from harness.errors import ScoreError


def _product(scores: Sequence[float]) -> float:
    return math.prod(scores)


AGGREGATIONS: dict[str, Callable[[Sequence[float]], float]] = {
    "min": min,
    "last": lambda scores: scores[-1],
    "product": _product,
    "mean": lambda scores: math.fsum(scores) / len(scores),
}


def aggregate(scores: Sequence[float], method: str, where: str = "sample") -> float:
    """One solution score from its step scores; an empty list is an error, not a zero."""
    if method not in AGGREGATIONS:
        raise ScoreError(f"unknown aggregation {method!r}; choose from {sorted(AGGREGATIONS)}")
    if len(scores) == 0:
        raise ScoreError(f"{where}: no step scores to aggregate")
    return float(AGGREGATIONS[method](scores))
