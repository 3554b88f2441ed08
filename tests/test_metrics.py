"""Every estimator against brute-force enumeration of all k-subsets of small pools."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from harness import metrics as m
from harness.errors import HarnessError


def _random_pools(seed: int, n: int, count: int, levels: int = 4, classes: int = 3):
    rng = np.random.default_rng(seed)
    pools = []
    for i in range(count):
        correct = rng.random(n) < rng.random()
        vote = rng.integers(-1, classes, n)  # -1 abstains
        # few distinct levels so ties are frequent
        score = rng.integers(0, levels, n) / levels
        pools.append(m.ProblemPool(f"p{i}", correct, vote, score))
    return pools


def brute_pass(pool: m.ProblemPool, k: int) -> float:
    subsets = list(itertools.combinations(range(pool.n), k))
    return float(np.mean([pool.correct[list(s)].any() for s in subsets]))


def brute_prm(pool: m.ProblemPool, k: int) -> float:
    outcomes = []
    for subset in itertools.combinations(range(pool.n), k):
        best = max(pool.score[i] for i in subset)
        tied = [i for i in subset if pool.score[i] == best]
        outcomes.append(np.mean([pool.correct[i] for i in tied]))
    return float(np.mean(outcomes))


def brute_vote(pool: m.ProblemPool, k: int, weighted: bool) -> float:
    outcomes = []
    for subset in itertools.combinations(range(pool.n), k):
        mass: dict[int, float] = {}
        members: dict[int, list[int]] = {}
        for i in subset:
            cls = int(pool.vote[i])
            if cls < 0:
                continue
            mass[cls] = mass.get(cls, 0.0) + (float(pool.score[i]) if weighted else 1.0)
            members.setdefault(cls, []).append(i)
        if not mass:
            outcomes.append(0.0)
            continue
        top = max(mass.values())
        winners = [c for c, w in mass.items() if math.isclose(w, top, rel_tol=1e-12, abs_tol=0)]
        outcomes.append(np.mean([np.mean(pool.correct[members[c]]) for c in winners]))
    return float(np.mean(outcomes))


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_pass_at_k_matches_enumeration(n):
    for pool in _random_pools(n, n, 6):
        for k in range(1, n + 1):
            got = m.pass_at_k_values([pool], k)[0]
            assert abs(got - brute_pass(pool, k)) <= 1e-12
            c = int(pool.correct.sum())
            closed = 1 - math.comb(n - c, k) / math.comb(n, k)
            assert abs(m.pass_at_k(n, c, k) - closed) <= 1e-12


@pytest.mark.parametrize("n", [1, 2, 4, 7, 9])
def test_prm_at_k_matches_enumeration_with_ties(n):
    pools = _random_pools(100 + n, n, 8, levels=3)
    assert any(len(set(p.score)) < p.n for p in pools if p.n > 1) or n == 1
    for k in range(1, n + 1):
        got = m.prm_at_k_values(pools, k)
        want = [brute_prm(p, k) for p in pools]
        assert np.max(np.abs(got - want)) <= 1e-12


def test_prm_at_k_all_tied_is_mean_correctness():
    pool = m.ProblemPool("p", np.array([1, 0, 0, 1, 1], bool), np.zeros(5, int), np.ones(5))
    for k in range(1, 6):
        assert m.prm_at_k_values([pool], k)[0] == pytest.approx(0.6, abs=1e-15)


def test_prm_with_oracle_scores_equals_pass():
    for pool in _random_pools(7, 8, 10):
        oracle = m.ProblemPool(pool.problem_id, pool.correct, pool.vote,
                               pool.correct.astype(float))
        for k in (1, 2, 4, 8):
            assert m.prm_at_k_values([oracle], k)[0] == pytest.approx(
                m.pass_at_k_values([oracle], k)[0], abs=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n", [1, 3, 6, 8])
def test_voting_matches_enumeration_when_exact(n, weighted):
    pools = _random_pools(200 + n, n, 8, levels=3, classes=3)
    ks = list(range(1, n + 1))
    got = m.voting_values(pools, ks, weighted=weighted, draws=10_000)
    for k in ks:
        want = [brute_vote(p, k, weighted) for p in pools]
        assert np.max(np.abs(got[k] - want)) <= 1e-12, k


def test_voting_all_abstain_is_incorrect():
    pool = m.ProblemPool("p", np.ones(4, bool), np.full(4, -1), np.ones(4))
    assert m.voting_values([pool], [1, 2, 4], weighted=False)[4][0] == 0.0


def test_voting_tie_is_uniform_between_classes():
    # two classes with one vote each: half the time each wins
    pool = m.ProblemPool("p", np.array([True, False]), np.array([0, 1]), np.array([.5, .5]))
    assert m.voting_values([pool], [2], weighted=False)[2][0] == pytest.approx(0.5)
    assert m.voting_values([pool], [2], weighted=True)[2][0] == pytest.approx(0.5)
    heavier = m.ProblemPool("p", np.array([True, False]), np.array([0, 1]), np.array([.6, .5]))
    assert m.voting_values([heavier], [2], weighted=True)[2][0] == 1.0


def test_sampled_voting_is_seeded_close_to_exact_and_order_free():
    rng = np.random.default_rng(3)
    n = 24
    pools = [m.ProblemPool(f"q{i}", rng.random(n) < 0.4, rng.integers(-1, 5, n), rng.random(n))
             for i in range(6)]
    k = 6  # C(24, 6) = 134596 > draws: sampled
    first = m.voting_values(pools, [k], weighted=True, draws=2000, seed=5)[k]
    again = m.voting_values(pools, [k], weighted=True, draws=2000, seed=5)[k]
    assert np.array_equal(first, again)
    reversed_order = m.voting_values(pools[::-1], [k], weighted=True, draws=2000, seed=5)[k]
    assert np.array_equal(first, reversed_order[::-1])
    other_seed = m.voting_values(pools, [k], weighted=True, draws=2000, seed=6)[k]
    assert not np.array_equal(first, other_seed)
    # against the exact value by enumeration of all 134,596 subsets for one problem
    pool = pools[0]
    subsets = np.array(list(itertools.combinations(range(n), k)))
    classes, n_classes = m._compact_classes(pool.vote)
    exact = m._vote_outcomes(subsets, classes, n_classes, pool.correct.astype(float),
                             pool.score).mean()
    assert abs(first[0] - exact) < 0.03


def test_errors_are_explicit():
    pool = m.ProblemPool("p1", np.ones(3, bool), np.zeros(3, int), None)
    with pytest.raises(HarnessError, match="k=4 is larger than the pool of problem 'p1'"):
        m.pass_at_k_values([pool], 4)
    with pytest.raises(HarnessError, match="no scores"):
        m.prm_at_k_values([pool], 1)
    negative = m.ProblemPool("p2", np.ones(3, bool), np.zeros(3, int), np.array([-1., 0, 1]))
    with pytest.raises(HarnessError, match="non-negative"):
        m.voting_values([negative], [1], weighted=True)


def test_bootstrap_ci_and_paired_difference():
    pools = _random_pools(9, 8, 40)
    estimates = m.compute_all(pools, [1, 4], n_boot=500, seed=1)
    for est in estimates.values():
        assert est.ci[0] <= est.value <= est.ci[1]
    again = m.compute_all(pools, [1, 4], n_boot=500, seed=1)
    assert {k: v.ci for k, v in estimates.items()} == {k: v.ci for k, v in again.items()}
    a = estimates["prm@4"].per_problem
    same = m.paired_difference(a, a, n_boot=500)
    assert same.mean == 0 and same.ci == (0.0, 0.0) and same.p_value == 1.0
    better = m.paired_difference(a + 0.2, a, n_boot=500)
    assert better.ci[0] > 0 and better.p_value < 0.01

