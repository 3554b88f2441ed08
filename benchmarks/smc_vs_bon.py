"""SMC against best-of-N on synthetic-arith: how many particles SMC needs for 90% success
at horizon T, guided by the exact-value PRM ``sim-oracle`` and by two ``sim-bellman``
PRMs of set Bellman error (eta = c / T, and a constant eta = c, systematically
misleading; harness.synthetic.prms), against best-of-N's analytic 1 - (1 - V0)^N (V0
the exact value of the empty prefix, per problem; success averaged over problems; an
exact verifier, so it is the same for every PRM). Prints one JSON line.

    python benchmarks/smc_vs_bon.py [--horizons 4,8,16,32] [--problems 40]
        [--difficulty 3] [--max-particles 256] [--inverse-error 1.0]
        [--constant-error 0.25] [--seed 0] [--max-seconds 330]

SMC runs one round (no budget cap), twist weights, systematic resampling at ESS < P/2;
success means the answer picked (by the last step's score; every PRM here scores a final
answer exactly) is right. Particle counts are powers of two up to ``--max-particles``;
the first count reaching 90% is reported (null when none does). The defaults make the
two sim-bellman PRMs equal at T = 4 (1 / 4 = 0.25). Wall time is kept under
``--max-seconds``: once it is spent, the sweeps left are skipped and marked so.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

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


def sweep(task: Any, problems: list[Any], prm_name: str, prm_options: dict[str, Any],
          max_particles: int, seed: int, deadline: float) -> dict[str, Any]:
    """SMC success at 1, 2, 4, ... particles until 90% (or the cap, or the deadline)."""
    success: dict[int, float] = {}
    needed = None
    particles = 1
    skipped = False
    while particles <= max_particles:
        if time.perf_counter() > deadline:
            skipped = True
            break
        strategy = registry.STRATEGIES.build(
            "smc", {"particles": particles, "rounds": 1, "seed": seed})
        prm = registry.PRMS.build(prm_name, prm_options)
        runs = strategy.run(problems, SimPolicy(), prm, Budget())
        batch = [(r.problem, [task.prepare(r.problem, 0, r.tree.text(r.answer))])
                 for r in runs if r.answer is not None]
        correct = sum(g[0].correct for g in task.grade_batch(batch))
        success[particles] = correct / len(runs)
        if success[particles] >= TARGET:
            needed = particles
            break
        particles *= 2
    return {"smc_particles_for_90": needed, "smc_success": success,
            "stopped_by_time": skipped}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--horizons", default="4,8,16,32")
    ap.add_argument("--problems", type=int, default=40)
    ap.add_argument("--difficulty", type=int, default=3)
    ap.add_argument("--max-particles", type=int, default=256)
    ap.add_argument("--inverse-error", type=float, default=1.0)
    ap.add_argument("--constant-error", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-seconds", type=float, default=330.0)
    args = ap.parse_args()
    start = time.perf_counter()
    deadline = start + args.max_seconds
    prms = [
        ("sim-oracle", {}),
        ("sim-bellman", {"error": args.inverse_error, "decay": "inverse_t"}),
        ("sim-bellman", {"error": args.constant_error, "decay": "constant"}),
    ]
    horizons = [int(t) for t in args.horizons.split(",")]
    tasks = {}
    for horizon in horizons:
        task = registry.TASKS.build("synthetic-arith", {
            "n_problems": args.problems, "length": horizon, "difficulty": args.difficulty})
        problems = task.load()
        oracle = SimOraclePRM()
        v0 = np.array([oracle.chain_for(p)[1].right_value[0] for p in problems])
        tasks[horizon] = (task, problems, v0)
    results = []
    for name, options in prms:
        rows = []
        for horizon in horizons:
            task, problems, v0 = tasks[horizon]
            found = sweep(task, problems, name, options, args.max_particles, args.seed,
                          deadline)
            eta = None
            if name == "sim-bellman":
                eta = options["error"] / horizon if options["decay"] == "inverse_t" \
                    else options["error"]
            rows.append({
                "T": horizon, "eta": eta, "mean_v0": float(v0.mean()), **found,
                "bon_n_for_90": bon_needed(v0),
                "bon_success_at_same_n": {n: float(np.mean(1 - (1 - v0) ** n))
                                          for n in found["smc_success"]},
            })
        results.append({"prm": name, "options": options, "rows": rows})
    print(json.dumps({"benchmark": "smc_vs_bon", "policy": "sim",
                      "problems": args.problems, "difficulty": args.difficulty,
                      "max_particles": args.max_particles, "target": TARGET,
                      "seed": args.seed, "prms": results,
                      "wall_s": round(time.perf_counter() - start, 1)}))


if __name__ == "__main__":
    main()
