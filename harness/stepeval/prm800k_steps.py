"""PRM800K step-level evaluation: do a PRM's step scores separate good from bad steps?

Items are the rated rows of PRM800K's phase-1 test ("stepwise-critic" file): item
``phase1_test-<row>`` is the problem with the earlier steps plus the rated candidate step;
its last step score is the PRM's verdict on that candidate. Rows without a rating are left
out. Labels: +1 (good) is positive, -1 (bad) negative; neutral (0) steps are, by option,
``exclude`` (default: they are neither), ``positive`` or ``negative``.

Figures: AUROC (Mann-Whitney, ties count one half), accuracy at a threshold (a step is
predicted good when its score >= threshold; default 0.5, for scores that are
probabilities), the counts, and the mean score of each class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from harness.tasks.prm800k import RatedStep

NEUTRAL_OPTIONS = ("exclude", "positive", "negative")
ITEM_PREFIX = "phase1_test-"


def item_id(step: RatedStep) -> str:
    return f"{ITEM_PREFIX}{step.row}"


def rated_items(steps: Sequence[RatedStep]) -> list[RatedStep]:
    """The rows that carry a rating, in file order."""
    return [s for s in steps if s.rating is not None]


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(score of a random positive > that of a random negative) + 0.5 P(tie)."""
    if len(positive) == 0 or len(negative) == 0:
        raise ValueError("AUROC needs at least one positive and one negative")
    values = np.concatenate([positive, negative])
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    # average ranks over ties (1-based)
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_values)) + 1]
    ends = np.r_[starts[1:], len(values)]
    for a, b in zip(starts, ends, strict=True):
        ranks[order[a:b]] = (a + b + 1) / 2
    n_pos, n_neg = len(positive), len(negative)
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def evaluate(items: Sequence[RatedStep], scores: Mapping[str, Sequence[float]],
             threshold: float = 0.5, neutral: str = "exclude") -> dict[str, Any]:
    """AUROC and accuracy of the last-step scores against the human ratings."""
    if neutral not in NEUTRAL_OPTIONS:
        raise ValueError(f"neutral={neutral!r}: choose from {NEUTRAL_OPTIONS}")
    labels, values = [], []
    n_neutral = 0
    for step in items:
        rating = step.rating
        if rating == 0:
            n_neutral += 1
            if neutral == "exclude":
                continue
            rating = 1 if neutral == "positive" else -1
        labels.append(rating == 1)
        values.append(scores[item_id(step)][-1])
    good = np.array(labels, dtype=bool)
    score = np.array(values, dtype=float)
    predicted_good = score >= threshold
    return {"n": len(score), "n_good": int(good.sum()), "n_bad": int((~good).sum()),
            "n_neutral": n_neutral, "neutral": neutral,
            "auroc": auroc(score[good], score[~good]),
            "threshold": threshold, "accuracy": float((predicted_good == good).mean()),
            "mean_score_good": float(score[good].mean()),
            "mean_score_bad": float(score[~good].mean())}
