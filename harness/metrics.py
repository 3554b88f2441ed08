"""Estimators for best-of-N selection: pass@k, prm@k, maj@k, wmaj@k, and their CIs.

All functions are pure: arrays in, numbers out. A problem's pool is n samples with a
correctness flag, a voting class (-1 abstains) and, optionally, a selection score.

- pass@k: unbiased estimator 1 - C(n-c, k)/C(n, k) (Chen et al., 2021).
- prm@k: exact expectation, over all k-subsets of the pool, of the correctness of the
  highest-scored sample; ties broken uniformly at random (in expectation). With tie groups
  (score levels) sorted high to low, a level with ``A`` samples above it and ``m`` in it is
  the subset maximum with probability [C(n-A, k) - C(n-A-m, k)] / C(n, k), and a uniform
  pick among its drawn members is a uniform pick among all its members.
- maj@k / wmaj@k: the class with most votes (or most summed score) among the k drawn wins,
  ties uniformly at random; the outcome is the correctness of a uniformly random drawn
  member of the winning class (both expectations are taken exactly inside each draw).
  Samples with no answer abstain; a draw where all abstain counts as incorrect. Draws are
  k-subsets without replacement: every subset when C(n, k) <= ``draws``, otherwise
  ``draws`` seeded random subsets (the first k of a seeded permutation, per problem).
- Confidence intervals: percentile bootstrap over problems, seeded; the same resamples are
  used for every metric so differences between metrics are paired.
- Order: ``compute_all`` first puts problems, and the samples of each problem, in a
  canonical order (natural order of their ids), so no result depends on the order of the
  lines they were read from.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.errors import HarnessError

DEFAULT_DRAWS = 1000
DEFAULT_BOOTSTRAP = 2000
DEFAULT_SEED = 0
CI_LEVEL = 0.95
#: relative tolerance under which two summed vote weights count as a tie
WEIGHT_TIE_RTOL = 1e-12


@dataclass
class ProblemPool:
    """One problem's samples as arrays (index i is sample i of the pool)."""

    problem_id: str
    correct: np.ndarray  # bool (n,)
    vote: np.ndarray  # int (n,), class ids >= 0, -1 abstains
    score: np.ndarray | None = None  # float (n,)
    #: each sample's id, for the canonical order; None: the given order is canonical
    sample_ids: Sequence[int | str] | None = None

    @property
    def n(self) -> int:
        return int(self.correct.shape[0])


@dataclass
class Estimate:
    """A metric over problems: mean value, its CI and how both were obtained."""

    value: float
    ci: tuple[float, float]
    per_problem: np.ndarray = field(repr=False)


# ---------------------------------------------------------------------------------------
# canonical order

_DIGITS = re.compile(r"(\d+)")


def natural_key(value: int | str) -> tuple[Any, ...]:
    """A total order on ids: digit runs compare as numbers ("p2" < "p10"), then the text
    and its type break any tie, so equal keys mean equal ids."""
    text = str(value)
    parts = _DIGITS.split(text)
    chunks = tuple(int(c) if i % 2 else c for i, c in enumerate(parts))
    return (chunks, text, isinstance(value, str))


def _natural_order(ids: Sequence[int | str]) -> np.ndarray:
    """Indices of ``ids`` in natural order. Non-negative ints (the common case: sample
    indices) order as numbers, which is what ``natural_key`` gives them, without a Python
    key per id."""
    if all(type(i) is int and 0 <= i < 2**62 for i in ids):
        return np.argsort(np.array(ids, dtype=np.int64), kind="stable")
    return np.array(sorted(range(len(ids)), key=lambda i: natural_key(ids[i])),
                    dtype=np.int64)


def canonical_pool(pool: ProblemPool) -> ProblemPool:
    """The pool with its samples in id order and voting classes renumbered by first
    appearance in that order: equal as a set of samples means equal arrays."""
    ids = pool.sample_ids
    if ids is None:
        order = np.arange(pool.n)
    else:
        if len(ids) != pool.n:
            raise HarnessError(f"problem {pool.problem_id!r}: {len(ids)} sample ids for "
                               f"{pool.n} samples")
        order = _natural_order(ids)
    vote = pool.vote[order]
    classes = np.full(vote.shape, -1, dtype=np.int64)
    voted = vote >= 0
    if voted.any():
        present, first, inverse = np.unique(vote[voted], return_index=True,
                                            return_inverse=True)
        rank = np.empty(len(present), dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(len(present))
        classes[voted] = rank[inverse.reshape(-1)]
    return ProblemPool(pool.problem_id, pool.correct[order], classes,
                       None if pool.score is None else pool.score[order], None)


def canonical_order(pools: Sequence[ProblemPool]) -> list[int]:
    """Indices of ``pools`` sorted by problem id (natural order)."""
    return sorted(range(len(pools)), key=lambda i: natural_key(pools[i].problem_id))


# ---------------------------------------------------------------------------------------
# exact subset ratios


def subset_ratio_table(n: int, k: int) -> np.ndarray:
    """``f[a] = C(a, k) / C(n, k)`` for a = 0..n, as a stable product (no overflow)."""
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
    table = np.zeros(n + 1)
    # f[a] = prod_{j=a+1}^{n} (j - k) / j for a >= k
    j = np.arange(n, k, -1, dtype=np.float64)  # n, n-1, ..., k+1
    factors = (j - k) / j
    table[n] = 1.0
    table[k:n][::-1] = np.cumprod(factors)
    return table


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem with c of n samples correct."""
    return float(1.0 - subset_ratio_table(n, k)[n - c])


def _check_k(pools: Sequence[ProblemPool], k: int) -> None:
    if k < 1:
        raise HarnessError(f"k must be at least 1, got {k}")
    for pool in pools:
        if pool.n < k:
            raise HarnessError(
                f"k={k} is larger than the pool of problem {pool.problem_id!r} (n={pool.n})"
            )


def _by_size(pools: Sequence[ProblemPool]) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = {}
    for i, pool in enumerate(pools):
        groups.setdefault(pool.n, []).append(i)
    return groups


def pass_at_k_values(pools: Sequence[ProblemPool], k: int) -> np.ndarray:
    """Per-problem pass@k."""
    _check_k(pools, k)
    out = np.empty(len(pools))
    for n, members in _by_size(pools).items():
        table = subset_ratio_table(n, k)
        c = np.array([int(pools[i].correct.sum()) for i in members])
        out[members] = 1.0 - table[n - c]
    return out


def prm_at_k_values(pools: Sequence[ProblemPool], k: int) -> np.ndarray:
    """Per-problem exact prm@k (best-of-k by score, ties uniformly at random)."""
    _check_k(pools, k)
    out = np.empty(len(pools))
    for n, members in _by_size(pools).items():
        scores = np.stack([_require_scores(pools[i]) for i in members])
        correct = np.stack([pools[i].correct for i in members]).astype(np.float64)
        order = np.argsort(-scores, axis=1, kind="stable")
        s_sorted = np.take_along_axis(scores, order, axis=1)
        y_sorted = np.take_along_axis(correct, order, axis=1)
        position = np.broadcast_to(np.arange(n), s_sorted.shape)
        differs = s_sorted[:, 1:] != s_sorted[:, :-1]
        starts_group = np.concatenate([np.ones((len(members), 1), bool), differs], axis=1)
        ends_group = np.concatenate([differs, np.ones((len(members), 1), bool)], axis=1)
        start = np.maximum.accumulate(np.where(starts_group, position, 0), axis=1)
        end_marks = np.where(ends_group, position + 1, n)[:, ::-1]
        end = np.minimum.accumulate(end_marks, axis=1)[:, ::-1]
        table = subset_ratio_table(n, k)
        level_prob = table[n - start] - table[n - end]
        weight = level_prob / (end - start)
        out[members] = (y_sorted * weight).sum(axis=1)
    return out


def _require_scores(pool: ProblemPool) -> np.ndarray:
    if pool.score is None:
        raise HarnessError(f"problem {pool.problem_id!r} has no scores; prm@k needs one per sample")
    if not np.all(np.isfinite(pool.score)):
        raise HarnessError(f"problem {pool.problem_id!r} has a non-finite score")
    return pool.score.astype(np.float64)


# ---------------------------------------------------------------------------------------
# voting


def _problem_rng(seed: int, problem_id: str) -> np.random.Generator:
    """A generator that depends only on (seed, problem id), not on the other problems."""
    digest = hashlib.sha256(problem_id.encode("utf-8")).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


def _compact_classes(vote: np.ndarray) -> tuple[np.ndarray, int]:
    """Map class ids to 0..C-1 and abstentions to C; returns (ids, C)."""
    present = np.unique(vote[vote >= 0])
    ids = np.full(vote.shape, len(present), dtype=np.int64)
    voted = vote >= 0
    ids[voted] = np.searchsorted(present, vote[voted])
    return ids, len(present)


def _class_counts(draws: np.ndarray, classes: np.ndarray, width: int, correct: np.ndarray,
                  weight: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Per draw and class: members drawn, correct members drawn, summed weight."""
    n_draws = draws.shape[0]
    flat = (np.arange(n_draws)[:, None] * width + classes[draws]).ravel()
    size = n_draws * width
    members = np.bincount(flat, minlength=size).reshape(n_draws, width)
    right = np.bincount(flat, weights=correct[draws].ravel(), minlength=size)
    mass = None
    if weight is not None:
        mass = np.bincount(flat, weights=weight[draws].ravel(), minlength=size)
        mass = mass.reshape(n_draws, width)
    return members, right.reshape(n_draws, width), mass


def _vote_outcomes(draws: np.ndarray, classes: np.ndarray, n_classes: int,
                   correct: np.ndarray, weight: np.ndarray | None) -> np.ndarray:
    """Expected correctness of each draw (rows of sample indices) under (weighted) voting."""
    members, right, mass = _class_counts(draws, classes, n_classes + 1, correct, weight)
    return _winner_outcome(members[:, :n_classes], right[:, :n_classes],
                           None if mass is None else mass[:, :n_classes])


def _winner_outcome(members: np.ndarray, right: np.ndarray,
                    mass: np.ndarray | None) -> np.ndarray:
    """Mean, over the tied winning classes, of the correct share of their drawn members.

    ``mass`` None means plain counting (exact integer ties); columns are the voting classes
    only (abstentions excluded), and a draw with no votes scores 0.
    """
    if members.shape[1] == 0:
        return np.zeros(members.shape[0])
    present = members > 0
    if mass is None:
        best = members.max(axis=1, keepdims=True)
        winners = present & (members == best)
    else:
        masked = np.where(present, mass, -np.inf)
        best = masked.max(axis=1, keepdims=True)
        finite_best = np.where(np.isfinite(best), best, 0.0)
        winners = present & (masked >= finite_best - WEIGHT_TIE_RTOL * np.abs(finite_best))
    n_winners = winners.sum(axis=1)
    share = np.divide(right, members, out=np.zeros(right.shape), where=winners)
    total = share.sum(axis=1)
    return np.divide(total, n_winners, out=np.zeros(total.shape), where=n_winners > 0)


def _problem_voting(pool: ProblemPool, ks: list[int], want_maj: bool, weighted: bool,
                    draws: int, seed: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """One problem's maj@k and wmaj@k for every k of ``ks`` (each None when not wanted).

    Each k's draws are scored separately, but the winner of every (k, draw) row is found
    in one vectorised call over all of them; each k's mean is over its own contiguous
    rows, so the numbers equal a per-k computation exactly."""
    weight = None
    if weighted:
        weight = _require_scores(pool)
        if np.any(weight < 0):
            raise HarnessError(
                f"problem {pool.problem_id!r}: wmaj@k needs non-negative scores "
                f"(min {weight.min():g}); map them to [0, 1] first (e.g. a sigmoid)"
            )
    classes, n_classes = _compact_classes(pool.vote)
    width = n_classes + 1
    correct = pool.correct.astype(np.float64)
    n = pool.n
    sampled = [k for k in ks if math.comb(n, k) > draws]
    results: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}
    for k in ks:
        if k not in sampled:
            subsets = np.array(list(itertools.combinations(range(n), k)), dtype=np.int64)
            results[k] = _class_counts(subsets, classes, width, correct, weight)
    if sampled:
        rng = _problem_rng(seed, pool.problem_id)
        permutations = rng.permuted(np.tile(np.arange(n), (draws, 1)), axis=1)
        members = np.zeros((draws, width), dtype=np.int64)
        right = np.zeros((draws, width))
        mass = np.zeros((draws, width)) if weight is not None else None
        done = 0
        for k in sampled:
            add = _class_counts(permutations[:, done:k], classes, width, correct, weight)
            members += add[0]
            right += add[1]
            if mass is not None and add[2] is not None:
                mass += add[2]
            done = k
            results[k] = (members.copy(), right.copy(),
                          None if mass is None else mass.copy())
    rows = np.cumsum([0] + [results[k][0].shape[0] for k in ks])
    all_members = np.concatenate([results[k][0][:, :n_classes] for k in ks])
    all_right = np.concatenate([results[k][1][:, :n_classes] for k in ks])

    def means(outcomes: np.ndarray) -> np.ndarray:
        return np.array([outcomes[rows[i]:rows[i + 1]].mean() for i in range(len(ks))])

    maj = means(_winner_outcome(all_members, all_right, None)) if want_maj else None
    wmaj = None
    if weight is not None:
        all_mass = np.concatenate([results[k][2][:, :n_classes]  # type: ignore[index]
                                   for k in ks])
        wmaj = means(_winner_outcome(all_members, all_right, all_mass))
    return maj, wmaj


#: problems at or above which voting runs on a thread per core (numpy releases the GIL
#: in the permutations and the gathers, so the threads run in parallel)
PARALLEL_VOTING_PROBLEMS = 32


def voting_values_both(pools: Sequence[ProblemPool], ks: Sequence[int], weighted: bool,
                       draws: int = DEFAULT_DRAWS, seed: int = DEFAULT_SEED,
                       want_maj: bool = True
                       ) -> tuple[dict[int, np.ndarray] | None, dict[int, np.ndarray] | None]:
    """Per-problem maj@k (unless ``want_maj`` is False) and (when ``weighted``) wmaj@k for
    every k, on shared draws.

    Random draws are the first k entries of one seeded permutation per draw, so class
    counts grow incrementally from one k to the next. Each problem depends on its own
    seeded generator only, so computing problems on several threads changes no number.
    """
    ks = sorted(set(ks))
    for k in ks:
        _check_k(pools, k)
    maj = {k: np.empty(len(pools)) for k in ks} if want_maj else None
    wmaj = {k: np.empty(len(pools)) for k in ks} if weighted else None

    def one(p_index: int) -> None:
        got_maj, got_wmaj = _problem_voting(pools[p_index], ks, want_maj, weighted, draws,
                                            seed)
        for i, k in enumerate(ks):
            if maj is not None and got_maj is not None:
                maj[k][p_index] = got_maj[i]
            if wmaj is not None and got_wmaj is not None:
                wmaj[k][p_index] = got_wmaj[i]

    workers = min(os.cpu_count() or 1, 8)
    if workers > 1 and len(pools) >= PARALLEL_VOTING_PROBLEMS:
        with ThreadPoolExecutor(max_workers=workers) as pool_executor:
            list(pool_executor.map(one, range(len(pools))))
    else:
        for p_index in range(len(pools)):
            one(p_index)
    return maj, wmaj


def voting_values(pools: Sequence[ProblemPool], ks: Sequence[int], weighted: bool,
                  draws: int = DEFAULT_DRAWS, seed: int = DEFAULT_SEED) -> dict[int, np.ndarray]:
    """Per-problem maj@k (or wmaj@k when ``weighted``) for every k in ``ks``."""
    maj, wmaj = voting_values_both(pools, ks, weighted, draws, seed, want_maj=not weighted)
    return wmaj if weighted else maj  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------
# confidence intervals


def bootstrap_means(values: np.ndarray, n_boot: int = DEFAULT_BOOTSTRAP,
                    seed: int = DEFAULT_SEED) -> np.ndarray:
    """Means of ``n_boot`` resamples of the problems (rows of ``values``, any columns)."""
    n_problems = values.shape[0]
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n_problems, np.full(n_problems, 1.0 / n_problems), size=n_boot)
    return counts @ values.reshape(n_problems, -1) / n_problems


def percentile_ci(samples: np.ndarray, level: float = CI_LEVEL) -> np.ndarray:
    """Percentile interval along axis 0: shape (2, ...)."""
    tail = (1.0 - level) / 2.0
    return np.quantile(samples, [tail, 1.0 - tail], axis=0)


@dataclass
class PairedDifference:
    """Mean of (a - b) over problems, its bootstrap CI and a two-sided bootstrap p-value."""

    mean: float
    ci: tuple[float, float]
    p_value: float
    n_problems: int


def paired_difference(a: np.ndarray, b: np.ndarray, n_boot: int = DEFAULT_BOOTSTRAP,
                      seed: int = DEFAULT_SEED, level: float = CI_LEVEL) -> PairedDifference:
    """Compare two PRMs scored on the same problems (per-problem values, same order)."""
    if a.shape != b.shape:
        raise HarnessError(f"paired comparison needs equal shapes, got {a.shape} and {b.shape}")
    diff = a - b
    boot = bootstrap_means(diff[:, None], n_boot, seed)[:, 0]
    lo, hi = percentile_ci(boot, level)
    p_value = min(1.0, 2.0 * min(float(np.mean(boot <= 0)), float(np.mean(boot >= 0))))
    return PairedDifference(float(diff.mean()), (float(lo), float(hi)), p_value, len(diff))


# ---------------------------------------------------------------------------------------
# everything at once


METRIC_KINDS = ("pass", "prm", "maj", "wmaj")


def compute_all(pools: Sequence[ProblemPool], ks: Sequence[int],
                kinds: Sequence[str] = METRIC_KINDS, draws: int = DEFAULT_DRAWS,
                seed: int = DEFAULT_SEED, n_boot: int = DEFAULT_BOOTSTRAP,
                level: float = CI_LEVEL) -> dict[str, Estimate]:
    """Every requested metric for every k, keyed ``"<kind>@<k>"``, with paired CIs.

    Computed on the canonical order (problems and samples by id), so the result depends
    on the set of samples only; ``per_problem`` is returned in the order given."""
    if not pools:
        raise HarnessError("no problems to compute metrics on")
    given = pools
    order = canonical_order(given)
    pools = [canonical_pool(given[i]) for i in order]
    unknown = set(kinds) - set(METRIC_KINDS)
    if unknown:
        raise HarnessError(f"unknown metric kinds {sorted(unknown)}; known {METRIC_KINDS}")
    ks = sorted(set(ks))
    for k in ks:
        _check_k(pools, k)
    per_problem: dict[str, np.ndarray] = {}
    if "maj" in kinds or "wmaj" in kinds:
        maj, wmaj = voting_values_both(pools, ks, "wmaj" in kinds, draws, seed,
                                       want_maj="maj" in kinds)
    for kind in METRIC_KINDS:
        if kind not in kinds:
            continue
        for k in ks:
            if kind == "pass":
                per_problem[f"pass@{k}"] = pass_at_k_values(pools, k)
            elif kind == "prm":
                per_problem[f"prm@{k}"] = prm_at_k_values(pools, k)
            else:
                per_problem[f"{kind}@{k}"] = (maj if kind == "maj" else wmaj)[k]  # type: ignore[index]
    names = list(per_problem)
    matrix = np.stack([per_problem[name] for name in names], axis=1)
    bounds = percentile_ci(bootstrap_means(matrix, n_boot, seed), level)
    back = np.empty(len(order), dtype=np.int64)
    back[order] = np.arange(len(order))  # canonical position of each given pool
    return {
        name: Estimate(float(matrix[:, j].mean()), (float(bounds[0, j]), float(bounds[1, j])),
                       per_problem[name][back])
        for j, name in enumerate(names)
    }


def estimate_entries(estimates: dict[str, Estimate], ks: Sequence[int]) -> dict[str, Any]:
    """``{"pass@1": {"value", "ci"}, ...}`` in k then METRIC_KINDS order: the one shape
    metrics.json and ``metrics --json`` write estimates in."""
    out: dict[str, Any] = {}
    for k in ks:
        for kind in METRIC_KINDS:
            name = f"{kind}@{k}"
            if name in estimates:
                est = estimates[name]
                out[name] = {"value": est.value, "ci": [est.ci[0], est.ci[1]]}
    return out
