"""Aggregation at selection time, from stored step scores (harness/aggregate.py)."""

from __future__ import annotations

import pytest

from harness import registry
from harness.aggregate import aggregate
from harness.errors import ScoreError
from harness.store.records import step_scores_from_row, to_row
from harness.types import StepScores


def test_aggregations_on_stored_step_scores():
    # the Qwen2.5-Math-PRM card's example: an error in step 2
    stored = to_row(StepScores("p", 0, "Qwen/Qwen2.5-Math-PRM-7B", [1.0, 0.19, 0.98, 1.0]))
    scores = step_scores_from_row(stored).scores
    assert aggregate(scores, "min") == 0.19
    assert aggregate(scores, "last") == 1.0
    assert aggregate(scores, "product") == pytest.approx(0.1862)
    assert aggregate(scores, "mean") == pytest.approx(0.7925)
    assert registry.names("aggregation") == ["last", "mean", "min", "product"]


def test_no_scores_or_unknown_method_is_an_error():
    with pytest.raises(ScoreError, match="sample p#0: no step scores"):
        aggregate([], "min", where="sample p#0")
    with pytest.raises(ScoreError, match="unknown aggregation 'median'"):
        aggregate([0.5], "median")
