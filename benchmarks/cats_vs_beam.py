"""compute-aware (both controllers) against fixed-width beam search at an equal per-problem
budget, on a mixed-difficulty synthetic-arith set with the noisy simulated PRM. Prints one
JSON line.

    python benchmarks/cats_vs_beam.py [--problems-per-setting 25] [--calls 256]
        [--tokens 2000] [--noise 1.0] [--seed 0]

The set mixes four (length, difficulty) settings. Their task seeds (201-204) are not the
ones the learned controller was trained on (101-104). Each strategy gets the same budget
per problem: ``policy_calls`` = --calls, and, as a second point, ``policy_tokens`` =
--tokens. The default 256 calls let beam search reach the end of the longest problems
(16 ticks of 16 calls; T=10 needs 11 steps or more); at 128 calls it cannot. Beam search
is n=16, m=4 (4 beams, 4 expansions each); compute-aware runs with its defaults (initial
width 4, expand 4, width in [1, 8]). The output holds, for each strategy and budget
point: accuracy with its 95% percentile bootstrap CI over problems (harness.metrics,
seeded), accuracy per setting, the paired difference from beam with its CI, and the
realised spend (mean, min and max per problem, against the cap).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

from harness import registry
from harness.metrics import bootstrap_means, paired_difference, percentile_ci
from harness.strategies.base import SearchStrategy
from harness.synthetic.policy import SimPolicy
from harness.synthetic.prms import SimNoisyPRM
from harness.types import Budget, Problem

SETTINGS = ({"length": 4, "difficulty": 2, "seed": 201},
            {"length": 6, "difficulty": 3, "seed": 202},
            {"length": 8, "difficulty": 3, "seed": 203},
            {"length": 10, "difficulty": 4, "seed": 204})
STRATEGIES: dict[str, tuple[str, dict[str, Any]]] = {
    "beam": ("beam", {"n": 16, "m": 4}),
    "compute-aware/heuristic": ("compute-aware", {"controller": "heuristic"}),
    "compute-aware/learned": ("compute-aware", {"controller": "learned"}),
}


def mixed_set(per_setting: int) -> tuple[Any, list[Problem]]:
    """The problems of every setting (ids differ by task seed) and a task to grade them."""
    problems: list[Problem] = []
    task = None
    for setting in SETTINGS:
        task = registry.TASKS.build("synthetic-arith", {"n_problems": per_setting, **setting})
        problems.extend(task.load())
    return task, problems


def correct(task: Any, runs: list[Any]) -> np.ndarray:
    out = []
    for run in runs:
        if run.answer is None:
            out.append(0.0)
            continue
        sample = task.prepare(run.problem, 0, run.tree.text(run.answer))
        out.append(float(task.grade(run.problem, [sample])[0].correct))
    return np.array(out)


def summary(values: np.ndarray, seed: int) -> dict[str, Any]:
    lo, hi = percentile_ci(bootstrap_means(values[:, None], seed=seed))[:, 0]
    return {"value": round(float(values.mean()), 4), "ci": [round(float(lo), 4),
                                                           round(float(hi), 4)]}


def by_setting(problems: list[Problem], values: np.ndarray) -> dict[str, float]:
    """Accuracy per (length, difficulty) setting, without a CI (few problems each)."""
    groups: dict[str, list[float]] = {}
    for problem, value in zip(problems, values, strict=True):
        key = f"T={problem.metadata['length']},d={problem.metadata['difficulty']}"
        groups.setdefault(key, []).append(float(value))
    return {k: round(float(np.mean(v)), 4) for k, v in groups.items()}


def spend(runs: list[Any], key: str, cap: float) -> dict[str, Any]:
    values = [getattr(r.spent, key) for r in runs]
    return {"key": key, "cap": cap, "mean": round(float(np.mean(values)), 2),
            "min": min(values), "max": max(values)}


def point(task: Any, problems: list[Problem], budget: Budget, key: str, cap: float,
          noise: float, seed: int) -> dict[str, Any]:
    """Every strategy at one budget: accuracy, CI, paired difference from beam, spend."""
    right: dict[str, np.ndarray] = {}
    out: dict[str, Any] = {}
    for label, (name, options) in STRATEGIES.items():
        strategy = registry.STRATEGIES.build(name, {**options, "seed": seed})
        assert isinstance(strategy, SearchStrategy)
        runs = strategy.run(problems, SimPolicy(), SimNoisyPRM(noise=noise, seed=seed),
                            budget)
        right[label] = correct(task, runs)
        out[label] = {"accuracy": summary(right[label], seed),
                      "by_setting": by_setting(problems, right[label]),
                      "spent": spend(runs, key, cap), "options": strategy.options()}
    for label in STRATEGIES:
        if label != "beam":
            d = paired_difference(right[label], right["beam"], seed=seed)
            out[label]["minus_beam"] = {"mean": round(d.mean, 4),
                                        "ci": [round(d.ci[0], 4), round(d.ci[1], 4)],
                                        "p_value": round(d.p_value, 4)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problems-per-setting", type=int, default=25)
    ap.add_argument("--calls", type=int, default=256)
    ap.add_argument("--tokens", type=int, default=2000)
    ap.add_argument("--noise", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    start = time.perf_counter()
    task, problems = mixed_set(args.problems_per_setting)
    results = {
        f"policy_calls={args.calls}": point(task, problems, Budget(policy_calls=args.calls),
                                            "policy_calls", args.calls, args.noise, args.seed),
        f"policy_tokens={args.tokens}": point(task, problems,
                                              Budget(policy_tokens=args.tokens),
                                              "policy_tokens", args.tokens, args.noise,
                                              args.seed),
    }
    print(json.dumps({
        "benchmark": "cats_vs_beam", "task": "synthetic-arith", "settings": list(SETTINGS),
        "n_problems": len(problems), "policy": "sim",
        "prm": {"name": "sim-noisy", "noise": args.noise, "seed": args.seed},
        "seed": args.seed, "ci": "95% percentile bootstrap over problems",
        "results": results, "wall_s": round(time.perf_counter() - start, 1)}))


if __name__ == "__main__":
    main()
