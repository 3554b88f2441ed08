"""Batch planning for scoring: a padded-token budget over length-sorted sequences.

Sorting by length puts sequences of similar length together, so little of each batch is
padding; the budget (longest sequence x batch size) bounds memory. The plan only groups
indices: results are put back in input order by the caller.
"""

from __future__ import annotations

from collections.abc import Sequence


def budget_batches(lengths: Sequence[int], token_budget: int,
                   max_batch: int | None = None) -> list[list[int]]:
    """Indices grouped longest first so that len(batch) * longest <= token_budget
    (a sequence longer than the budget runs alone)."""
    if token_budget < 1:
        raise ValueError("token_budget must be positive")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        grown = max(longest, lengths[i])
        full = max_batch is not None and len(current) >= max_batch
        if current and (grown * (len(current) + 1) > token_budget or full):
            batches.append(current)
            current, grown = [], lengths[i]
        current.append(i)
        longest = grown
    if current:
        batches.append(current)
    return batches


def fixed_batches(count: int, batch_size: int) -> list[list[int]]:
    """Indices in input order, ``batch_size`` at a time (the naive peer of the budget)."""
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    return [list(range(i, min(i + batch_size, count))) for i in range(0, count, batch_size)]


def padded_tokens(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> int:
    """Tokens actually run, padding included."""
    return sum(len(b) * max(lengths[i] for i in b) for b in batches if b)
