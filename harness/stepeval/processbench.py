"""ProcessBench first-error identification from a PRM's step scores.

The full specification: docs/stepeval.md, section ``harness.stepeval.processbench``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from harness.tasks.processbench import ProcessBenchItem


def predicted_first_error(scores: Sequence[float], tau: float) -> int:
    """Index of the first score below ``tau``, or -1."""
    for k, s in enumerate(scores):
        if s < tau:
            return k
    return -1


def _harmonic(a: float, b: float) -> float:
    return 0.0 if a + b == 0 else 2 * a * b / (a + b)


def split_metrics(items: Sequence[ProcessBenchItem], scores: Mapping[str, Sequence[float]],
                  tau: float) -> dict[str, Any]:
    """The figures of one split at threshold ``tau``."""
    err_hits = err_n = cor_hits = cor_n = predicted_err = 0
    for item in items:
        pred = predicted_first_error(scores[item.id], tau)
        if pred >= 0:
            predicted_err += 1
        if item.label >= 0:
            err_n += 1
            err_hits += pred == item.label
        else:
            cor_n += 1
            cor_hits += pred == -1
    acc_err = err_hits / err_n if err_n else 0.0
    acc_cor = cor_hits / cor_n if cor_n else 0.0
    precision = err_hits / predicted_err if predicted_err else 0.0
    recall = acc_err
    return {"n": len(items), "n_erroneous": err_n, "n_correct": cor_n,
            "acc_erroneous": acc_err, "acc_correct": acc_cor, "f1": _harmonic(acc_err, acc_cor),
            "precision": precision, "recall": recall, "f1_pr": _harmonic(precision, recall)}


def _running_min(values: Sequence[float]) -> np.ndarray:
    return np.minimum.accumulate(np.asarray(values, dtype=float))


def choose_tau(items: Sequence[ProcessBenchItem], scores: Mapping[str, Sequence[float]]
               ) -> tuple[float, float]:
    """(τ, f1) maximising ProcessBench's F1 on ``items``.

    With running minima m_k, the prediction at τ is the number of m_k >= τ (or -1 when that
    is every step), so an item is right for τ in an interval: label L >= 0 needs
    m_L < τ <= m_{L-1} (m_{-1} = +inf), label -1 needs τ <= m_last. All candidates are
    scored at once from those intervals.
    """
    lows, highs, erroneous = [], [], []
    values = []
    for item in items:
        m = _running_min(scores[item.id])
        values.append(m)
        if item.label >= 0:
            lows.append(m[item.label])
            highs.append(np.inf if item.label == 0 else m[item.label - 1])
            erroneous.append(True)
        else:
            lows.append(-np.inf)
            highs.append(m[-1])
            erroneous.append(False)
    distinct = np.unique(np.concatenate(values))
    candidates = np.concatenate([[distinct[0] - 1.0], (distinct[1:] + distinct[:-1]) / 2,
                                 [distinct[-1] + 1.0]])
    low, high = np.array(lows)[:, None], np.array(highs)[:, None]
    right = (low < candidates[None, :]) & (candidates[None, :] <= high)
    err = np.array(erroneous)
    acc_err = right[err].mean(axis=0) if err.any() else np.zeros(len(candidates))
    acc_cor = right[~err].mean(axis=0) if (~err).any() else np.zeros(len(candidates))
    total = acc_err + acc_cor
    f1 = np.divide(2 * acc_err * acc_cor, total, out=np.zeros_like(total), where=total > 0)
    best = int(np.argmax(f1))
    return float(candidates[best]), float(f1[best])


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


def evaluate(splits: Mapping[str, Sequence[ProcessBenchItem]],
             scores: Mapping[str, Sequence[float]], tau: float | None = None,
             tau_split: str = "gsm8k") -> dict[str, Any]:
    """Metrics for every split; τ fixed by the caller or chosen on ``tau_split``."""
    in_sample: set[str] = set()
    if tau is None:
        if tau_split not in splits:
            raise ValueError(f"τ is chosen on the {tau_split} split, which is not loaded")
        tau, _ = choose_tau(splits[tau_split], scores)
        how = f"chosen on {tau_split} (max F1)"
        in_sample.add(tau_split)
    else:
        how = "given"
    per_split = {name: {**split_metrics(items, scores, tau), "in_sample": name in in_sample}
                 for name, items in splits.items()}
    held_out = [name for name in per_split if name not in in_sample]
    return {"tau": tau, "tau_selection": how, "splits": per_split,
            "held_out_splits": held_out,
            "mean_f1_held_out": _mean([per_split[n]["f1"] for n in held_out]),
            "mean_f1_pr_held_out": _mean([per_split[n]["f1_pr"] for n in held_out]),
            "mean_f1_all_splits": _mean([m["f1"] for m in per_split.values()]),
            "mean_f1_pr_all_splits": _mean([m["f1_pr"] for m in per_split.values()])}
