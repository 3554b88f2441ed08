"""``prm-harness demo``: the whole pipeline on synthetic-arith, offline, in seconds.

100 generated problems x N = 64 samples from the simulated policy, graded by the math
grader, scored by the exact-value oracle PRM and two noisy PRMs, prm@N / maj@N / wmaj@N /
pass@N for N = 1, 2, 4, ..., 64 with CIs, the best-of-N report, and each PRM's Bellman
error (harness.synthetic.bellman) next to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.config import MetricsConfig, PluginConfig, RunConfig, SamplingConfig, TaskConfig
from harness.reports.render import markdown_table, write_csv
from harness.runner import Runner
from harness.store.atomic import write_text
from harness.store.run_reader import read_run
from harness.store.rundir import RunDir
from harness.synthetic.bellman import bellman_error
from harness.synthetic.chain import PolicyParams

POLICY = {"error_rate": 0.08, "recovery_rate": 0.3}
NOISE_LEVELS = (2.5, 5.0)
BELLMAN_SAMPLES = 300


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


def bellman_table(run: RunDir, config: RunConfig, seed: int) -> list[dict[str, Any]]:
    """Bellman error of every PRM of the run on a seeded subset of its samples."""
    from harness.build import build_prm, build_task

    task = build_task(config.task.name, None, **config.task.options)
    problems = {p.id: p for p in task.load()}
    records = read_run(run)
    samples = [s for pid in records.problem_ids for s in records.samples[pid]]
    params = PolicyParams(**POLICY)
    rows = []
    for prm_cfg in config.prms:
        prm = build_prm(prm_cfg.name, **prm_cfg.options)
        result = bellman_error(prm, problems, samples, params, max_samples=BELLMAN_SAMPLES,
                               seed=seed)
        rows.append({"prm": prm_cfg.display(), **result.as_dict()})
    return rows


def run_demo(out: Path, n_problems: int = 100, n: int = 64, seed: int = 0,
             log: Any = print) -> tuple[RunDir, list[dict[str, Any]]]:
    config = demo_config(out, n_problems, n, seed)
    run = Runner(config, out, log=log).execute()
    rows = bellman_table(run, config, seed)
    run.write_json("report/bellman/bellman.json", rows)
    header = ["PRM", "Bellman error", "max", "prefixes", "samples"]
    table = [[r["prm"], f"{r['bellman_error']:.4f}", f"{r['max']:.4f}", r["n_prefixes"],
              r["n_samples"]] for r in rows]
    write_text(run.path / "report/bellman/bellman.md",
               "# Bellman error: mean |V(s_t) - E V(s_t+1)| over visited prefixes\n\n"
               f"Exact transition probabilities of the simulated policy; a seeded subset of "
               f"{BELLMAN_SAMPLES} samples.\n\n" + markdown_table(header, table))
    write_csv(run.path / "report/bellman/bellman.csv",
              ["prm", "bellman_error", "max", "n_prefixes", "n_samples"],
              [[r["prm"], repr(r["bellman_error"]), repr(r["max"]), r["n_prefixes"],
                r["n_samples"]] for r in rows])
    return run, rows
