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


def _outcomes(items: Sequence[ProcessBenchItem], scores: Mapping[str, Sequence[float]],
              tau: float) -> np.ndarray:
    """Per item: [is erroneous, judged right, predicted an error] (ints, for resampling)."""
    rows = []
    for item in items:
        pred = predicted_first_error(scores[item.id], tau)
        erroneous = item.label >= 0
        rows.append((erroneous, pred == item.label if erroneous else pred == -1, pred >= 0))
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def _f1s(o: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """F1 (harmonic mean of the two accuracies) and F1 of precision/recall, for a stack of
    resampled outcome arrays ``o`` of shape (B, n, 3)."""
    err, right, said = o[..., 0], o[..., 1], o[..., 2]
    err_n, cor_n = err.sum(-1), (1 - err).sum(-1)
    err_hits, cor_hits = (err * right).sum(-1), ((1 - err) * right).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        acc_err = np.where(err_n > 0, err_hits / np.maximum(err_n, 1), 0.0)
        acc_cor = np.where(cor_n > 0, cor_hits / np.maximum(cor_n, 1), 0.0)
        precision = np.where(said.sum(-1) > 0, err_hits / np.maximum(said.sum(-1), 1), 0.0)

        def harmonic(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return np.where(a + b > 0, 2 * a * b / np.where(a + b > 0, a + b, 1), 0.0)

        return harmonic(acc_err, acc_cor), harmonic(precision, acc_err)


def bootstrap(splits: Mapping[str, Sequence[ProcessBenchItem]],
              scores: Mapping[str, Sequence[float]], tau: float, held_out: Sequence[str],
              n: int, seed: int, *, other: Mapping[str, Sequence[float]] | None = None,
              other_tau: float | None = None, level: float = 0.95) -> dict[str, Any]:
    """Percentile-bootstrap CIs over items (resampled within each split, τ held fixed) of
    F1 and F1 (precision/recall) per split and of their held-out means; with ``other``
    (another PRM's scores and its own τ), CIs of the paired differences this − other, the
    same items drawn for both."""
    rng = np.random.default_rng(seed)
    lo, hi = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    out: dict[str, Any] = {"method": "percentile bootstrap over items within each split",
                           "draws": n, "seed": seed, "level": level, "splits": {}}
    means: dict[str, list[np.ndarray]] = {"f1": [], "f1_pr": [], "diff_f1": [],
                                          "diff_f1_pr": []}
    for name, items in splits.items():
        draw = rng.integers(0, len(items), size=(n, len(items)))
        mine = _f1s(_outcomes(items, scores, tau)[draw])
        row = {"f1": [float(np.percentile(mine[0], lo)), float(np.percentile(mine[0], hi))],
               "f1_pr": [float(np.percentile(mine[1], lo)), float(np.percentile(mine[1], hi))]}
        if other is not None:
            assert other_tau is not None
            theirs = _f1s(_outcomes(items, other, other_tau)[draw])
            d0, d1 = mine[0] - theirs[0], mine[1] - theirs[1]
            row["diff_f1"] = [float(np.percentile(d0, lo)), float(np.percentile(d0, hi))]
            row["diff_f1_pr"] = [float(np.percentile(d1, lo)), float(np.percentile(d1, hi))]
            if name in held_out:
                means["diff_f1"].append(d0)
                means["diff_f1_pr"].append(d1)
        if name in held_out:
            means["f1"].append(mine[0])
            means["f1_pr"].append(mine[1])
        out["splits"][name] = row
    for key, stacks in means.items():
        if stacks:
            avg = np.mean(stacks, axis=0)
            out[f"mean_{key}_held_out"] = [float(np.percentile(avg, lo)),
                                           float(np.percentile(avg, hi))]
    return out
