"""Turn an imported pool into a stored run (pool, grades and scores stages)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.errors import InputError
from harness.interfaces import Task
from harness.pipeline.executor import LocalExecutor
from harness.pipeline.runner import run_stage
from harness.pipeline.stages import GRADES, POOL, ShardOutcome, ShardRef, prm_stage, write_unit
from harness.registry import TASKS
from harness.store.importers import ImportedPool, read_external
from harness.store.keys import file_sha256, key_of
from harness.store.provenance import environment, now_utc
from harness.store.records import to_row
from harness.store.rundir import RunDir
from harness.types import Grade


def _retask(pool: ImportedPool, task: Task, path: Path) -> None:
    """Re-derive steps and answers with the task's own rules (samples keep their text)."""
    problems = {p.id: p for p in task.load()}
    unknown = [pid for pid in pool.samples if pid not in problems]
    if unknown:
        raise InputError(f"{len(unknown)} problem ids are not in task {task.name} "
                         f"(e.g. {unknown[0]!r})", path=path)
    for pid, samples in pool.samples.items():
        problem = problems[pid]
        for i, s in enumerate(samples):
            prepared = task.prepare(problem, s.index, s.text, s.sample_id)
            samples[i] = prepared


def _task_grades(pool: ImportedPool, task: Task) -> dict[str, list[Grade]]:
    problems = {p.id: p for p in task.load()}
    batch = [(problems[pid], samples) for pid, samples in pool.samples.items()]
    return {pid: grades for (pid, _), grades in
            zip(pool.samples.items(), task.grade_batch(batch), strict=True)}


def import_run(path: Path, fmt: str, runs_root: Path, name: str | None, prm_id: str,
               transform: str, task_name: str | None = None, data_dir: Path | None = None,
               task_options: dict[str, Any] | None = None, regrade: bool = False,
               shard_size: int = 16,
               prepare: Callable[[ImportedPool], dict[str, Any]] | None = None) -> RunDir:
    """Read ``path`` and store it as a run; returns the run directory. ``prepare`` (a
    leaderboard's build) may edit the pool read (keep some samples, set its own grades)
    and returns what it did, which the run's source and grades stage record."""
    pool = read_external(path, fmt, prm_id, transform)
    prepared = prepare(pool) if prepare is not None else None
    task = TASKS.build(task_name, task_options, data_dir=data_dir) if task_name else None
    if task is not None:
        _retask(pool, task, path)
    graded_by_task = pool.grades is None or regrade
    if pool.grades is None or regrade:
        if task is None:
            raise InputError(f"format {fmt!r} carries no grades: give --task to grade it",
                             path=path)
        pool.grades = _task_grades(pool, task)
    source = {"path": str(path), "sha256": file_sha256(path), "format": fmt,
              "score_transform": transform, "prm_id": prm_id if pool.scores else None,
              "task": task_name, "task_options": task_options or {}, "regrade": regrade,
              **({"prepared": prepared} if prepared is not None else {})}
    identity = {"import": source}
    run_name = name or f"import__{path.stem}__{key_of(identity)[:10]}"
    run = RunDir.create(runs_root, run_name, identity)
    problem_ids = list(pool.samples)
    shards = [problem_ids[i:i + shard_size] for i in range(0, len(problem_ids), shard_size)]
    with run.lock():
        run.update_manifest(source=source, environment=environment(),
                            task_identity=task.identity() if task else None,
                            n_problems=len(problem_ids), problem_ids=problem_ids,
                            problems=pool.problems, created=now_utc())
        pool_keys = [key_of({"stage": "pool", "import": source, "problems": ids})
                     for ids in shards]

        def rows_of(table: dict[str, list[Any]]) -> Callable[[ShardRef], ShardOutcome]:
            def write(ref: ShardRef) -> ShardOutcome:
                started = time.perf_counter()
                rows = [to_row(item) for pid in shards[ref.index] for item in table[pid]]
                return write_unit(ref, rows, {}, started)
            return write

        def units(stage: str, keys: list[str]) -> list[ShardRef]:
            return [ShardRef(str(run.path), stage, i, key) for i, key in enumerate(keys)]

        grade_keys = [key_of({"stage": "grades", "pool": k, "regrade": regrade,
                              "task": task.identity() if task else None}) for k in pool_keys]
        score_keys = [key_of({"stage": "scores", "pool": k, "prm": prm_id,
                              "transform": transform}) for k in pool_keys]
        run.plan({POOL: pool_keys, GRADES: grade_keys,
                  **({prm_stage(prm_id): score_keys} if pool.scores else {})})
        local = LocalExecutor()
        run_stage(run, POOL, units(POOL, pool_keys), rows_of(pool.samples), local,
                  "importing pool", extra={"imported": True})
        run_stage(run, GRADES, units(GRADES, grade_keys), rows_of(pool.grades), local,
                  "importing grades",
                  extra={"source": "task" if graded_by_task else "file",
                         **((prepared or {}).get("grades_extra") or {})})
        if pool.scores:
            stage = prm_stage(prm_id)
            run_stage(run, stage, units(stage, score_keys), rows_of(pool.scores), local,
                      "importing scores", extra={"prm": prm_id, "score_kind": pool.score_kind,
                                                 "score_transform": transform})
        run.update_manifest(finished=now_utc())
    return run
