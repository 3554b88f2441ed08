"""Metrics speed on 500 problems x n = 256, k = 1, 2, 4, ..., 256 (one JSON line).

Targets (2-core machine): prm@k exact + pass@k under 1 s; maj@k + wmaj@k with 1000 draws
per problem under 10 s. The pool is synthetic with a realistic shape: per-problem accuracy
drawn from a Beta, a few dozen answer classes, 5% abstentions, scores correlated with
correctness. The peer figure is a naive prm@k: a Monte Carlo best-of-k with the same 1000
draws per problem that the voting metrics use.
"""

from __future__ import annotations

import json
import time

import numpy as np

from harness import metrics as m

N_PROBLEMS, N, KS, DRAWS = 500, 256, [2**i for i in range(9)], 1000


def make_pools(seed: int = 0) -> list[m.ProblemPool]:
    rng = np.random.default_rng(seed)
    pools = []
    for i in range(N_PROBLEMS):
        accuracy = rng.beta(2, 2)
        correct = rng.random(N) < accuracy
        wrong_answers = rng.integers(1, 40, N)
        vote = np.where(correct, 0, wrong_answers)
        vote[rng.random(N) < 0.05] = -1
        score = np.clip(0.5 * correct + rng.normal(0.25, 0.2, N), 0, 1)
        pools.append(m.ProblemPool(f"p{i}", correct, vote, score))
    return pools


def naive_monte_carlo_prm(pools: list[m.ProblemPool], k: int, rng: np.random.Generator) -> float:
    values = []
    for pool in pools:
        subsets = rng.permuted(np.tile(np.arange(pool.n), (DRAWS, 1)), axis=1)[:, :k]
        best = np.argmax(pool.score[subsets], axis=1)
        values.append(pool.correct[subsets[np.arange(DRAWS), best]].mean())
    return float(np.mean(values))


def main() -> None:
    pools = make_pools()
    start = time.perf_counter()
    exact = {k: (m.prm_at_k_values(pools, k), m.pass_at_k_values(pools, k)) for k in KS}
    prm_pass_s = time.perf_counter() - start

    start = time.perf_counter()
    maj, wmaj = m.voting_values_both(pools, KS, weighted=True, draws=DRAWS)
    voting_s = time.perf_counter() - start

    start = time.perf_counter()
    all_estimates = m.compute_all(pools, KS, draws=DRAWS)
    everything_s = time.perf_counter() - start

    rng = np.random.default_rng(1)
    start = time.perf_counter()
    naive = {k: naive_monte_carlo_prm(pools, k, rng) for k in KS}
    naive_s = time.perf_counter() - start

    print(json.dumps({
        "bench": "metrics", "n_problems": N_PROBLEMS, "n": N, "ks": KS, "draws": DRAWS,
        "prm_exact_plus_pass_s": round(prm_pass_s, 3), "target_prm_pass_s": 1.0,
        "maj_plus_wmaj_s": round(voting_s, 3), "target_maj_wmaj_s": 10.0,
        "all_metrics_with_bootstrap_ci_s": round(everything_s, 3),
        "naive_monte_carlo_prm_s": round(naive_s, 3),
        "exact_vs_naive_speedup": round(naive_s / prm_pass_s, 1),
        "max_abs_exact_minus_monte_carlo_prm": round(max(
            abs(float(exact[k][0].mean()) - naive[k]) for k in KS), 4),
        "prm@256": round(float(exact[256][0].mean()), 4),
        "maj@256": round(float(maj[256].mean()), 4), "wmaj@256": round(float(wmaj[256].mean()), 4),  # type: ignore[index],
        "pass@256": round(all_estimates["pass@256"].value, 4),
    }))


if __name__ == "__main__":
    main()
