"""The vote count shared by the majority strategies and the trace replay (no imports of
the engine, so both can use it)."""

from __future__ import annotations

from collections.abc import Sequence


def tally(keys: Sequence[str | None], values: Sequence[float],
          weighted: bool) -> list[tuple[str, int, float]]:
    """(key, votes, summed value) per voting class (None abstains), the winner first:
    most votes, then the larger summed value (``weighted``: the larger sum, then the
    more votes), then the class that appeared first."""
    order: dict[str, int] = {}
    counts: dict[str, int] = {}
    sums: dict[str, float] = {}
    for key, value in zip(keys, values, strict=True):
        if key is None:
            continue
        order.setdefault(key, len(order))
        counts[key] = counts.get(key, 0) + 1
        sums[key] = sums.get(key, 0.0) + value

    def rank(key: str) -> tuple[float, float, int]:
        first, second = (sums[key], counts[key]) if weighted else (counts[key], sums[key])
        return (-first, -second, order[key])

    return [(k, counts[k], sums[k]) for k in sorted(order, key=rank)]
