"""A board's stored pool and grades for one task, read back and checked against the pins.

Only stored files are read (a run directory per task under the board's ``pools_dir``);
nothing here runs a model or a policy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.errors import HarnessError
from harness.leaderboard.board import Board
from harness.store.run_reader import read_run
from harness.store.rundir import RunDir


@dataclass
class TaskPool:
    """What validation needs of one pinned pool: per problem, each sample's id, index and
    step count, and its grade (correct, voting class)."""

    task: str
    problem_ids: list[str]
    #: problem id -> sample id (imported id, else the index as given by the pool) -> position
    positions: dict[str, dict[int | str, int]]
    n_steps: dict[str, np.ndarray]  # int (n,)
    correct: dict[str, np.ndarray]  # bool (n,)
    vote: dict[str, np.ndarray]  # int (n,)
    sample_ids: dict[str, list[int | str]]
    pool_sha256: str
    grades_sha256: str
    grader_rules_version: int | None = None


def sample_key(sample_id: str | None, index: int) -> int | str:
    """How an entry names a sample: its imported id when it has one, else its index."""
    return sample_id if sample_id is not None else index


def read_task_pool(board: Board, task: str) -> TaskPool:
    """The pinned pool of ``task``; an error when it is absent or its hashes differ from
    the board's pins (the run reader has already checked them against its manifest)."""
    pinned = board.tasks[task]
    folder = board.task_dir(task)
    if not (folder / "manifest.json").is_file():
        raise HarnessError(f"board {board.name!r}: no stored pool for task {task!r} at "
                           f"{folder}; run `prm-harness leaderboard build-pools {board.name}`")
    run = RunDir.open(folder)
    records = read_run(run)
    got_pool, got_grades = records.content["pool_sha256"], records.content["grades_sha256"]
    if got_pool != pinned.pool_sha256:
        raise HarnessError(f"board {board.name!r} task {task!r}: stored pool hashes to "
                           f"{got_pool}, the board pins {pinned.pool_sha256}")
    if got_grades != pinned.grades_sha256:
        raise HarnessError(f"board {board.name!r} task {task!r}: stored grades hash to "
                           f"{got_grades}, the board pins {pinned.grades_sha256}")
    positions, n_steps, correct, vote, ids = {}, {}, {}, {}, {}
    for pid in records.problem_ids:
        samples = records.samples[pid]
        keys = [sample_key(s.sample_id, s.index) for s in samples]
        ids[pid] = keys
        positions[pid] = {key: i for i, key in enumerate(keys)}
        n_steps[pid] = np.array([len(s.steps) for s in samples], dtype=np.int64)
        grades = records.grades[pid]
        classes: dict[str, int] = {}
        vote[pid] = np.array([-1 if g.vote_key is None else
                              classes.setdefault(g.vote_key, len(classes)) for g in grades],
                             dtype=np.int64)
        correct[pid] = np.array([g.correct for g in grades], dtype=bool)
    rules = (run.manifest().get("stages", {}).get("grades", {}).get("task", {})
             .get("grading", {}).get("rules_version"))
    return TaskPool(task, list(records.problem_ids), positions, n_steps, correct, vote, ids,
                    got_pool, got_grades, rules)
