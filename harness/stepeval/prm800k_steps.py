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
    score = np.concatenate([positive, negative]).astype(float)
    good = np.r_[np.ones(len(positive), dtype=bool), np.zeros(len(negative), dtype=bool)]
    return weighted_auroc(score, good, np.ones(len(score)))


def weighted_auroc(score: np.ndarray, good: np.ndarray, weight: np.ndarray) -> float:
    """``auroc`` with each item counted ``weight`` times (a bootstrap draw): the weighted
    share of (good, bad) pairs the scores order right, ties one half."""
    order = np.argsort(score, kind="mergesort")
    s, g, w = score[order], good[order], weight[order]
    starts = np.r_[0, np.flatnonzero(np.diff(s)) + 1]
    bad_w = np.where(g, 0.0, w)
    good_w = np.where(g, w, 0.0)
    bad_per_value = np.add.reduceat(bad_w, starts)
    good_per_value = np.add.reduceat(good_w, starts)
    bad_below = np.cumsum(bad_per_value) - bad_per_value
    wins = float((good_per_value * (bad_below + 0.5 * bad_per_value)).sum())
    total_good, total_bad = float(good_w.sum()), float(bad_w.sum())
    if total_good == 0 or total_bad == 0:
        return float("nan")
    return wins / (total_good * total_bad)


def bootstrap_auroc(problems: Sequence[str], score: np.ndarray, good: np.ndarray, n: int,
                    seed: int, level: float = 0.95, other: np.ndarray | None = None
                    ) -> dict[str, Any]:
    """A percentile CI of the AUROC, resampling *problems* (an item's steps share a
    problem and a solution prefix, so items are not independent); with ``other`` (another
    scorer's scores of the same items), the CI of the paired difference this − other."""
    names = sorted(set(problems))
    index = {name: i for i, name in enumerate(names)}
    cluster = np.array([index[p] for p in problems])
    rng = np.random.default_rng(seed)
    values, diffs = [], []
    for _ in range(n):
        counts = np.bincount(rng.integers(0, len(names), size=len(names)),
                             minlength=len(names))
        weight = counts[cluster].astype(float)
        values.append(weighted_auroc(score, good, weight))
        if other is not None:
            diffs.append(values[-1] - weighted_auroc(other, good, weight))
    finite = np.array([v for v in values if np.isfinite(v)])
    lo, hi = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    out = {"method": "percentile bootstrap over problems (clusters of items)",
           "draws": n, "seed": seed, "level": level, "problems": len(names),
           "auroc": [float(np.percentile(finite, lo)), float(np.percentile(finite, hi))],
           "draws_without_both_classes": n - len(finite)}
    if other is not None:
        d = np.array([x for x in diffs if np.isfinite(x)])
        out["diff_auroc"] = [float(np.percentile(d, lo)), float(np.percentile(d, hi))]
    return out


def evaluate(items: Sequence[RatedStep], scores: Mapping[str, Sequence[float]],
             threshold: float = 0.5, neutral: str = "exclude", bootstrap: int = 0,
             seed: int = 0, against: Mapping[str, Sequence[float]] | None = None
             ) -> dict[str, Any]:
    """AUROC and accuracy of the last-step scores against the human ratings (with
    ``bootstrap`` draws, the AUROC's CI over problems; with ``against``, another scorer's
    scores, its AUROC and the paired difference, on the same draws)."""
    if neutral not in NEUTRAL_OPTIONS:
        raise ValueError(f"neutral={neutral!r}: choose from {NEUTRAL_OPTIONS}")
    labels, values, problems, others = [], [], [], []
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
        problems.append(step.problem)
        if against is not None:
            others.append(against[item_id(step)][-1])
    good = np.array(labels, dtype=bool)
    score = np.array(values, dtype=float)
    predicted_good = score >= threshold
    other = np.array(others, dtype=float) if against is not None else None
    mine = auroc(score[good], score[~good])
    extra: dict[str, Any] = {}
    if other is not None:
        other_auroc = auroc(other[good], other[~good])
        extra["against"] = {"auroc": other_auroc, "diff_auroc": mine - other_auroc}
    if bootstrap:
        extra["bootstrap"] = bootstrap_auroc(problems, score, good, bootstrap, seed,
                                             other=other)
    return {**extra, "n": len(score), "n_problems": len(set(problems)),
            "n_good": int(good.sum()), "n_bad": int((~good).sum()),
            "n_neutral": n_neutral, "neutral": neutral,
            "auroc": mine,
            "threshold": threshold, "accuracy": float((predicted_good == good).mean()),
            "mean_score_good": float(score[good].mean()),
            "mean_score_bad": float(score[~good].mean())}
