"""The demo run (synthetic-arith, 100 problems x N = 64, three simulated PRMs) on the local
executor and on Ray with two CPUs on this machine: wall times and their ratio (one JSON line).

Target: Ray <= 1.3x local on one machine. Both times are the whole run (plan, reference
check, generate, grade, score, metrics, report) in a fresh runs folder; the Ray time
includes starting Ray (``ray.init(num_cpus=2)``) and shutting it down; ``ray_run_s`` is the
run alone, as on a cluster that is already up. Whether both runs wrote the same pool,
grades, scores and metrics.json bytes is part of the line.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from harness.config import ExecutorConfig
from harness.pipeline.demo import demo_config
from harness.pipeline.executor import LocalExecutor
from harness.pipeline.ray_executor import RAY_ENV, RayExecutor
from harness.pipeline.runner import Runner


def _files(run: Path) -> dict[str, bytes]:
    files = {str(p.relative_to(run)): p.read_bytes()
             for stage in ("pool", "grades", "scores") for p in (run / stage).rglob("*.jsonl")}
    files["metrics.json"] = (run / "metrics.json").read_bytes()
    return files


def main() -> None:
    os.environ.setdefault("PRM_HARNESS_PROGRESS", "0")
    for name, value in RAY_ENV.items():
        os.environ.setdefault(name, value)
    with tempfile.TemporaryDirectory(prefix="executor-bench-") as tmp:
        local_out, ray_out = Path(tmp, "local"), Path(tmp, "ray")
        start = time.perf_counter()
        local = Runner(demo_config(local_out), local_out, executor=LocalExecutor()).execute()
        local_s = time.perf_counter() - start

        start = time.perf_counter()
        config = demo_config(ray_out).model_copy(update={"executor": ExecutorConfig(
            name="ray", options={"local_cpus": 2})})
        executor = RayExecutor(local_cpus=2)
        started_s = time.perf_counter() - start
        try:
            on_ray = Runner(config, ray_out, executor=executor).execute()
            run_s = time.perf_counter() - start - started_s
        finally:
            executor.close()
        ray_s = time.perf_counter() - start
        identical = _files(local.path) == _files(on_ray.path)
    print(json.dumps({
        "bench": "executor", "run": "demo 100 problems x N=64, 3 PRMs, 10 shards/stage",
        "cpus": os.cpu_count(), "ray_cpus": 2, "local_s": round(local_s, 2),
        "ray_s": round(ray_s, 2), "ray_start_s": round(started_s, 2),
        "ray_run_s": round(run_s, 2), "ratio": round(ray_s / local_s, 3),
        "ratio_ray_already_up": round(run_s / local_s, 3), "target_ratio": 1.3,
        "within_target": ray_s / local_s <= 1.3, "identical": identical}))


if __name__ == "__main__":
    main()
