"""A leaderboard entry: a folder with ``entry.json`` and ``scores/<task>.jsonl``.

``entry.json`` (schema version 1)::

    {"schema_version": 1, "board": "sim-arith",
     "prm": {"id", "revision", "spec", "spec_sha256", "aggregation"},
     "harness": {"version", "git_revision"}, "submitter": "...", "date": "...",
     "tasks": {"<task>": {"pool_sha256": "...",
                          "metrics": {"prm@8": {"value": v, "ci": [lo, hi]}, ...}}}}

``scores/<task>.jsonl``: one line per sample of the pinned pool,
``{"problem_id", "sample_id", "step_scores"}``; ``sample_id`` is the pool's own sample id
(an imported id, else the sample's index). Metrics are recomputed here with the same
estimators ``prm-harness metrics`` uses (harness.metrics), on the board's settings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from harness import metrics as m
from harness.aggregate import aggregate
from harness.leaderboard.board import Board
from harness.leaderboard.pools import TaskPool
from harness.store.atomic import write_bytes, write_text
from harness.store.jsonl import render_jsonl
from harness.store.keys import canonical_json

ENTRY_SCHEMA = 1
ENTRY_FIELDS = {"schema_version", "board", "prm", "harness", "submitter", "date", "tasks"}
PRM_FIELDS = {"id", "revision", "spec", "spec_sha256", "aggregation"}
HARNESS_FIELDS = {"version", "git_revision"}
TASK_FIELDS = {"pool_sha256", "metrics"}
SCORE_FIELDS = {"problem_id", "sample_id", "step_scores"}
CLAIM_FIELDS = {"value", "ci"}
#: the largest difference between a claimed and a recomputed number that is accepted
TOLERANCE = 1e-9


def spec_sha256(spec: Any) -> str:
    return hashlib.sha256(canonical_json(spec).encode("utf-8")).hexdigest()


def scores_path(entry_dir: Path, task: str) -> Path:
    return entry_dir / "scores" / f"{task}.jsonl"


def aggregated_pools(pool: TaskPool, step_scores: Mapping[str, list[list[float]]],
                     aggregation: str) -> list[m.ProblemPool]:
    """The metric pools of ``pool`` selected by ``step_scores`` (problem id -> the step
    scores of each sample, in pool position order), aggregated as named."""
    out = []
    for pid in pool.problem_ids:
        scores = np.array([aggregate(s, aggregation, where=f"problem {pid!r}")
                           for s in step_scores[pid]], dtype=np.float64)
        out.append(m.ProblemPool(pid, pool.correct[pid], pool.vote[pid], scores,
                                 pool.sample_ids[pid]))
    return out


def recompute(board: Board, pool: TaskPool, step_scores: Mapping[str, list[list[float]]],
              aggregation: str) -> dict[str, Any]:
    """``{"prm@N": {"value", "ci"}, ...}`` for the board's claimed metrics."""
    pools = aggregated_pools(pool, step_scores, aggregation)
    ci = board.ci
    estimates = m.compute_all(pools, board.ns, board.metrics, draws=ci["draws"],
                              seed=ci["seed"], n_boot=ci["bootstrap"], level=ci["level"])
    entries = m.estimate_entries(estimates, board.ns)
    return {name: entries[name] for name in board.claimed_names()}


def per_problem(board: Board, pool: TaskPool, step_scores: Mapping[str, list[list[float]]],
                aggregation: str, metric: str) -> np.ndarray:
    """One claimed metric's per-problem values, in ``pool.problem_ids`` order."""
    kind, _, n = metric.partition("@")
    pools = aggregated_pools(pool, step_scores, aggregation)
    ci = board.ci
    estimates = m.compute_all(pools, [int(n)], [kind], draws=ci["draws"], seed=ci["seed"],
                              n_boot=ci["bootstrap"], level=ci["level"])
    values: np.ndarray = estimates[metric].per_problem
    return values


def reference_metrics(board: Board, pool: TaskPool) -> dict[str, Any]:
    """The PRM-free rows the board shows (maj@N, pass@N)."""
    pools = [m.ProblemPool(pid, pool.correct[pid], pool.vote[pid], None, pool.sample_ids[pid])
             for pid in pool.problem_ids]
    ci = board.ci
    estimates = m.compute_all(pools, board.ns, board.reference_metrics, draws=ci["draws"],
                              seed=ci["seed"], n_boot=ci["bootstrap"], level=ci["level"])
    return m.estimate_entries(estimates, board.ns)


def write_entry(out: Path, document: dict[str, Any],
                scores: Mapping[str, list[dict[str, Any]]]) -> None:
    """``out/entry.json`` and ``out/scores/<task>.jsonl`` (atomically, file by file)."""
    import json

    for task, rows in scores.items():
        write_bytes(scores_path(out, task), render_jsonl(rows))
    write_text(out / "entry.json", json.dumps(document, indent=2, sort_keys=False) + "\n")
