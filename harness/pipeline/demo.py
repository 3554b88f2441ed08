"""``prm-harness demo``: the whole pipeline on synthetic-arith, offline, in seconds.

100 generated problems x N = 64 samples from the simulated policy, graded by the math
grader, scored by the exact-value oracle PRM and two noisy PRMs, prm@N / maj@N / wmaj@N /
pass@N for N = 1, 2, 4, ..., 64 with CIs, the best-of-N report, and each PRM's Bellman
error (harness.diagnostics.bellman, report ``bellman``) next to its prm@64.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.config import MetricsConfig, PluginConfig, RunConfig, SamplingConfig, TaskConfig
from harness.diagnostics.bellman import compute_bellman
from harness.pipeline.reporting import render_report
from harness.pipeline.runner import Runner
from harness.store.rundir import RunDir

POLICY = {"error_rate": 0.08, "recovery_rate": 0.3}
NOISE_LEVELS = (2.5, 5.0)


def demo_config(out: Path, n_problems: int = 100, n: int = 64, seed: int = 0,
                noise_levels: tuple[float, ...] = NOISE_LEVELS) -> RunConfig:
    ks, k = [], 1
    while k <= n:
        ks.append(k)
        k *= 2
    prms = [PluginConfig(name="sim-oracle", options=dict(POLICY))]
    prms += [PluginConfig(name="sim-noisy", label=f"sim-noisy-{sigma:g}",
                          options={**POLICY, "noise": sigma, "seed": seed})
             for sigma in noise_levels]
    return RunConfig(
        name=f"demo-{n_problems}x{n}-seed{seed}",
        runs_dir=str(out),
        task=TaskConfig(name="synthetic-arith",
                        options={"n_problems": n_problems, "length": 8, "difficulty": 3,
                                 "seed": seed}),
        policy=PluginConfig(name="sim", options=dict(POLICY)),
        sampling=SamplingConfig(n=n, seed=seed, temperature=1.0, max_tokens=1024),
        prms=prms,
        metrics=MetricsConfig(ks=ks, aggregations=["last"], seed=seed),
        shard_size=10,
    )


def run_demo(out: Path, n_problems: int = 100, n: int = 64, seed: int = 0,
             log: Any = print) -> tuple[RunDir, list[dict[str, Any]]]:
    config = demo_config(out, n_problems, n, seed)
    run = Runner(config, out, log=log).execute()
    doc = compute_bellman(run, seed=seed)
    render_report(run, "bellman")
    rows: list[dict[str, Any]] = doc["rows"]
    return run, rows
