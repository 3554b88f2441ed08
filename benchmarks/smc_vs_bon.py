"""SMC against best-of-N on synthetic-arith with the exact-value PRM ``sim-oracle``: how
many particles SMC needs for 90% success at horizon T, against best-of-N's analytic
1 - (1 - V0)^N (V0 the exact value of the empty prefix, per problem; success averaged
over problems). Prints one JSON line.

    python benchmarks/smc_vs_bon.py [--horizons 4,8,16] [--problems 40] [--difficulty 3]
        [--max-particles 64] [--seed 0]

SMC runs one round (no budget cap), twist weights, systematic resampling at ESS < P/2;
success means the answer picked (by the last step's score) is right. Particle counts are
powers of two up to ``--max-particles``; the first count reaching 90% is reported (null
when none does). Wall time is kept under ``--max-seconds`` by stopping the sweep.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from harness import registry
from harness.synthetic.policy import SimPolicy
from harness.synthetic.prms import SimOraclePRM
from harness.types import Budget

TARGET = 0.9


def bon_needed(v0: np.ndarray, target: float = TARGET, limit: int = 10**9) -> int | None:
    """The least N with mean(1 - (1 - V0)^N) >= target (None beyond ``limit``)."""
    def success(n: int) -> float:
        return float(np.mean(1.0 - (1.0 - v0) ** n))

    if success(limit) < target:
        return None
    lo, hi = 1, 1
    while success(hi) < target:
        lo, hi = hi, hi * 2
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if success(mid) < target else (lo, mid)
    return lo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--horizons", default="4,8,16")
    ap.add_argument("--problems", type=int, default=40)
    ap.add_argument("--difficulty", type=int, default=3)
    ap.add_argument("--max-particles", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-seconds", type=float, default=110.0)
    args = ap.parse_args()
    start = time.perf_counter()
    rows = []
    for horizon in [int(t) for t in args.horizons.split(",")]:
        task = registry.TASKS.build("synthetic-arith", {
            "n_problems": args.problems, "length": horizon, "difficulty": args.difficulty})
        problems = task.load()
        oracle = SimOraclePRM()
        v0 = np.array([oracle.chain_for(p)[1].right_value[0] for p in problems])
        sweep: dict[int, float] = {}
        needed = None
        particles = 1
        while particles <= args.max_particles:
            if time.perf_counter() - start > args.max_seconds:
                break
            strategy = registry.STRATEGIES.build(
                "smc", {"particles": particles, "rounds": 1, "seed": args.seed})
            runs = strategy.run(problems, SimPolicy(), SimOraclePRM(), Budget())
            batch = [(r.problem, [task.prepare(r.problem, 0, r.tree.text(r.answer))])
                     for r in runs if r.answer is not None]
            correct = sum(g[0].correct for g in task.grade_batch(batch))
            sweep[particles] = correct / len(runs)
            if sweep[particles] >= TARGET:
                needed = particles
                break
            particles *= 2
        rows.append({
            "T": horizon, "mean_v0": float(v0.mean()),
            "smc_particles_for_90": needed, "smc_success": sweep,
            "bon_n_for_90": bon_needed(v0),
            "bon_success_at_same_n": {n: float(np.mean(1 - (1 - v0) ** n)) for n in sweep},
        })
    print(json.dumps({"benchmark": "smc_vs_bon", "prm": "sim-oracle", "policy": "sim",
                      "problems": args.problems, "difficulty": args.difficulty,
                      "target": TARGET, "rows": rows,
                      "wall_s": round(time.perf_counter() - start, 1)}))


if __name__ == "__main__":
    main()
