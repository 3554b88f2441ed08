"""Regression: our grader against Qwen2.5-Math's stored flags on its 800 example responses.

Every disagreement is pinned, with who is right (examined by hand):

- idx 3, all 8 responses: gold ``\\text{4:30 p.m.}``, the model wrote ``4:30 \\text{ p.m.}``.
  Qwen's extraction kept ``4:30`` and flagged them wrong; the same time of day, so we are
  right.
- idx 72, response 7: gold ``10{,}000``, answer ``10000``. Qwen flagged it wrong; the
  ``{,}`` is a thousands separator, so we are right.

A rule change that adds or removes a disagreement fails here and must be examined.
"""

from __future__ import annotations

import pytest

from harness.grading.math.flag_agreement import QWEN_POOL, flag_agreement
from harness.grading.math.grader import MathGrader
from harness.grading.math.verify_workers import VerifierWorkers

EXPECTED = [(3, j, True, "time") for j in range(8)] + [(72, 7, True, "rational")]


@pytest.fixture(scope="module")
def agreement(shared_data):
    pool = VerifierWorkers(n_workers=2, timeout_s=5.0)
    try:
        yield flag_agreement(shared_data / QWEN_POOL, MathGrader(verifiers=pool))
    finally:
        pool.close()


def test_exact_list_of_disagreements(agreement):
    _, disagreements = agreement
    found = [(d["idx"], d["response"], d["our_correct"], d["our_status"])
             for d in disagreements]
    assert found == EXPECTED
    assert all(not d["qwen_correct"] for d in disagreements)


def test_agreement_figures(agreement):
    figures, _ = agreement
    assert figures["responses"] == 800 and figures["agree"] == 800 - len(EXPECTED)
    assert figures["qwen_accuracy"] == 0.91
    assert figures["our_accuracy"] == pytest.approx((728 + len(EXPECTED)) / 800)
