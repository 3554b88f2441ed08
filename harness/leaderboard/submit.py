"""``prm-harness submit``: an entry folder from runs scored on a board's pinned pools.

Each run's verified pool hash (harness.store.run_reader) must be one the board pins; the
task it stands for is the board task with that hash. Its step scores are copied as they
are stored and the claimed metrics are computed by the same code validation uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness import __version__
from harness.errors import HarnessError
from harness.leaderboard.board import Board
from harness.leaderboard.entry import ENTRY_SCHEMA, recompute, spec_sha256, write_entry
from harness.leaderboard.pools import TaskPool, read_task_pool, sample_key
from harness.store.provenance import git_revision, now_utc
from harness.store.run_reader import read_run, score_stages
from harness.store.rundir import RunDir


def make_entry(board: Board, runs: list[Path], out: Path, prm: str | None = None,
               aggregation: str | None = None, submitter: str = "anonymous",
               revision: str | None = None) -> dict[str, Any]:
    """Write the entry for PRM ``prm`` (a run's PRM label; the only one when None) to
    ``out`` and return its entry.json document."""
    by_hash = {t.pool_sha256: name for name, t in board.tasks.items()}
    tasks: dict[str, Any] = {}
    scores_rows: dict[str, list[dict[str, Any]]] = {}
    identity: dict[str, Any] | None = None
    chosen_aggregation = aggregation or board.aggregations[0]
    if chosen_aggregation not in board.aggregations:
        raise HarnessError(f"aggregation {chosen_aggregation!r} is not one of board "
                           f"{board.name!r}'s {board.aggregations}")
    for path in runs:
        run = RunDir.open(path)
        records = read_run(run)
        got = records.content["pool_sha256"]
        task = by_hash.get(got)
        if task is None:
            raise HarnessError(f"run {run.path}: its pool hashes to {got}, which board "
                               f"{board.name!r} does not pin (it pins "
                               f"{', '.join(sorted(by_hash))}); score the board's pools")
        if task in tasks:
            raise HarnessError(f"run {run.path}: a second run for task {task!r}")
        labels = list(records.scores)
        label = prm if prm is not None else (labels[0] if len(labels) == 1 else None)
        if label not in records.scores:
            raise HarnessError(f"run {run.path}: choose a PRM with --prm among {labels}")
        stage = run.manifest()["stages"][score_stages(run)[label]]
        this_identity = dict(stage.get("prm_identity") or {"prm_id": label})
        if stage.get("prm_config"):  # what rebuilds the PRM (an audit re-scores with it)
            this_identity["plugin"] = stage["prm_config"]
        if identity is not None and this_identity != identity:
            raise HarnessError(f"run {run.path}: PRM {label!r} differs from the other runs'")
        identity = this_identity
        pool = read_task_pool(board, task)
        step_scores: dict[str, list[list[float]]] = {}
        rows: list[dict[str, Any]] = []
        for pid in records.problem_ids:
            keys = [sample_key(s.sample_id, s.index) for s in records.samples[pid]]
            per_sample = [list(s.scores) for s in records.scores[label][pid]]
            step_scores[pid] = per_sample
            rows += [{"problem_id": pid, "sample_id": key, "step_scores": scored}
                     for key, scored in zip(keys, per_sample, strict=True)]
        scores_rows[task] = rows
        tasks[task] = {"pool_sha256": got,
                       "metrics": recompute(board, pool, step_scores, chosen_aggregation)}
    if not tasks or identity is None:
        raise HarnessError("no runs given")
    missing = sorted(set(board.tasks) - set(tasks))
    if missing:
        raise HarnessError(f"board {board.name!r} also needs runs for {missing}")
    document = entry_document(board, str(identity.get("prm_id", prm)), identity, tasks,
                              chosen_aggregation, submitter, revision or identity.get("revision"))
    write_entry(out, document, scores_rows)
    return document


def entry_document(board: Board, prm_id: str, spec: dict[str, Any], tasks: dict[str, Any],
                   aggregation: str, submitter: str, revision: str | None) -> dict[str, Any]:
    return {
        "schema_version": ENTRY_SCHEMA,
        "board": board.name,
        "prm": {"id": prm_id, "revision": revision, "spec": spec,
                "spec_sha256": spec_sha256(spec), "aggregation": aggregation},
        "harness": {"version": __version__, "git_revision": git_revision()},
        "submitter": submitter,
        "date": now_utc(),
        "tasks": tasks,
    }


def entry_from_scores(board: Board, pools: dict[str, TaskPool],
                      scores: dict[str, dict[str, list[list[float]]]], out: Path,
                      prm_id: str, spec: dict[str, Any], aggregation: str,
                      submitter: str = "anonymous", revision: str | None = None
                      ) -> dict[str, Any]:
    """Write the entry whose step scores are ``scores`` (task -> problem id -> each
    sample's step scores in pool order) on the board's stored ``pools``."""
    if aggregation not in board.aggregations:
        raise HarnessError(f"aggregation {aggregation!r} is not one of board "
                           f"{board.name!r}'s {board.aggregations}")
    tasks: dict[str, Any] = {}
    rows: dict[str, list[dict[str, Any]]] = {}
    for task in board.tasks:
        pool = pools[task]
        rows[task] = [{"problem_id": pid, "sample_id": key, "step_scores": list(scored)}
                      for pid in pool.problem_ids
                      for key, scored in zip(pool.sample_ids[pid], scores[task][pid],
                                             strict=True)]
        tasks[task] = {"pool_sha256": pool.pool_sha256,
                       "metrics": recompute(board, pool, scores[task], aggregation)}
    document = entry_document(board, prm_id, spec, tasks, aggregation, submitter, revision)
    write_entry(out, document, rows)
    return document
