"""Regenerate a board's pinned pools and grades from its ``build`` section, and score
PRMs on them: the pipeline runs the simulator; harness.leaderboard only reads the result.

A task's ``build`` names a task and a policy with their options and the sampling settings
(``n``, ``seed`` ...). The pool run is ``<pools_dir>/<task>`` (pool and grades, no PRM);
a PRM's run on the same pool is the same configuration plus that PRM, so its pool has the
pinned hash by construction and ``submit`` can check it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.config import MetricsConfig, PluginConfig, RunConfig, SamplingConfig, TaskConfig
from harness.errors import ConfigError, HarnessError
from harness.leaderboard.board import Board
from harness.leaderboard.pools import TaskPool, read_task_pool
from harness.pipeline import plugins
from harness.pipeline.runner import Runner
from harness.pipeline.stages import score_samples
from harness.store.run_reader import read_run
from harness.store.rundir import RunDir


def board_run_config(board: Board, task: str, runs_root: Path, name: str,
                     prms: list[PluginConfig] | None = None) -> RunConfig:
    build = board.tasks[task].build
    if not build:
        raise ConfigError(f"board {board.name!r} task {task!r} has no 'build' section: its "
                          f"pool cannot be regenerated here")
    try:
        return RunConfig(
            name=name, runs_dir=str(runs_root),
            task=TaskConfig(name=build["task"], options=dict(build.get("task_options") or {})),
            policy=PluginConfig(name=build["policy"],
                                options=dict(build.get("policy_options") or {})),
            sampling=SamplingConfig(**dict(build.get("sampling") or {})),
            prms=list(prms or []),
            metrics=MetricsConfig(ks=board.ns, seed=board.ci["seed"],
                                  draws=board.ci["draws"], bootstrap=board.ci["bootstrap"]),
            shard_size=int(build.get("shard_size", 10)))
    except KeyError as exc:
        raise ConfigError(f"board {board.name!r} task {task!r}: build needs {exc}") from None


def build_pools(board: Board, log: Any = print, check: bool = True) -> dict[str, dict[str, Any]]:
    """Run every task's pool and grades into ``board.pools_dir``; per task the hashes got
    and whether they equal the pins. ``check``: raise on any mismatch."""
    report: dict[str, dict[str, Any]] = {}
    for task in board.tasks:
        config = board_run_config(board, task, board.pools_dir, task)
        run = Runner(config, board.pools_dir, log=lambda *a, **k: None).execute()
        content = run.manifest().get("content", {})
        pinned = board.tasks[task]
        rules = (run.manifest()["stages"]["grades"].get("task", {}).get("grading", {})
                 .get("rules_version"))
        row = {"pool_sha256": content.get("pool_sha256"),
               "grades_sha256": content.get("grades_sha256"),
               "grader_rules_version": rules, "path": str(run.path)}
        row["matches"] = (row["pool_sha256"] == pinned.pool_sha256
                          and row["grades_sha256"] == pinned.grades_sha256
                          and (pinned.grader_rules_version is None
                               or rules == pinned.grader_rules_version))
        report[task] = row
        log(f"{task}: pool {row['pool_sha256']} grades {row['grades_sha256']} rules {rules}: "
            f"{'matches the pins' if row['matches'] else 'DIFFERS from the pins'}")
    if check:
        bad = [t for t, r in report.items() if not r["matches"]]
        if bad:
            raise HarnessError(f"board {board.name!r}: regenerated pools of {bad} differ "
                               f"from the pinned hashes (or grader rules version)")
    return report


def score_on_board(board: Board, task: str, prm: PluginConfig, runs_root: Path,
                   name: str | None = None) -> RunDir:
    """A run of ``prm`` on the board's pool of ``task`` (regenerated, same settings)."""
    label = prm.display()
    return Runner(board_run_config(board, task, runs_root, name or f"{task}-{label}", [prm]),
                  runs_root, log=lambda *a, **k: None).execute()


def score_board(board: Board, prm: Any, label: str, chunk: int = 256
                ) -> tuple[dict[str, TaskPool], dict[str, dict[str, list[list[float]]]]]:
    """Score the board's stored pools (nothing regenerated) with ``prm``: per task its
    pinned pool (hashes checked) and problem id -> each sample's step scores (pool
    order), every result checked as a run's scoring stage checks it."""
    pools: dict[str, TaskPool] = {}
    scores: dict[str, dict[str, list[list[float]]]] = {}
    for task in board.tasks:
        pools[task] = read_task_pool(board, task)
        run = RunDir.open(board.task_dir(task))
        records = read_run(run)
        stored = (run.manifest().get("config") or {}).get("task")
        if not stored:
            raise HarnessError(f"board {board.name!r} task {task!r}: its pool run has no "
                               f"task configuration to load the problems from")
        by_id = plugins.problems(TaskConfig.model_validate(stored))
        samples = [s for pid in records.problem_ids for s in records.samples[pid]]
        per_problem: dict[str, list[list[float]]] = {pid: [] for pid in records.problem_ids}
        for start in range(0, len(samples), chunk):
            batch = samples[start:start + chunk]
            scored = score_samples(prm, label, [by_id[s.problem_id] for s in batch], batch)
            for result in scored:
                per_problem[result.problem_id].append(list(result.scores))
        scores[task] = per_problem
    return pools, scores
