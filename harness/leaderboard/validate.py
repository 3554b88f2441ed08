"""Validate leaderboard entries by recomputation from stored files only.

Every problem found becomes one line naming the entry, the file, the line (for a scores
file) and the field. An entry is accepted only with no problem at all: its board and pool
hashes are the pinned ones, every pinned sample is scored exactly once with one finite
score in [0, 1] per stored step, no field is unknown, and every claimed metric and CI
equals what ``harness.metrics`` recomputes from the scores and the board's stored grades
within ``TOLERANCE``. The order of lines, and of tasks, is free.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import HarnessError
from harness.leaderboard.board import Board
from harness.leaderboard.entry import (
    CLAIM_FIELDS,
    ENTRY_FIELDS,
    ENTRY_SCHEMA,
    HARNESS_FIELDS,
    PRM_FIELDS,
    SCORE_FIELDS,
    TASK_FIELDS,
    TOLERANCE,
    recompute,
    scores_path,
    spec_sha256,
)
from harness.leaderboard.pools import TaskPool, read_task_pool
from harness.store.jsonl import loads_strict, read_json

#: per-line problems reported per scores file before the rest are counted only
MAX_LINE_PROBLEMS = 20


@dataclass
class Verdict:
    entry: Path
    problems: list[str] = field(default_factory=list)
    recomputed: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: task -> problem id -> each sample's step scores (pool order), as read and checked
    scores: dict[str, dict[str, list[list[float]]]] = field(default_factory=dict)
    aggregation: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


class _Collector:
    def __init__(self, entry: Path) -> None:
        self.entry = entry
        self.lines: list[str] = []

    def add(self, file: str, message: str, line: int | None = None,
            field: str | None = None) -> None:
        where = f"{self.entry}: {file}" + (f":{line}" if line is not None else "")
        self.lines.append(f"{where}: " + (f"field '{field}': " if field else "") + message)


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= TOLERANCE


def _check_header(doc: Any, board: Board, out: _Collector) -> dict[str, Any] | None:
    """The entry.json fields other than the claimed numbers; the usable document, or None
    when it cannot be read further."""
    if not isinstance(doc, dict):
        out.add("entry.json", "must be a JSON object")
        return None
    if doc.get("schema_version") != ENTRY_SCHEMA:
        out.add("entry.json", f"unknown entry schema {doc.get('schema_version')!r} (this "
                f"harness reads {ENTRY_SCHEMA})", field="schema_version")
        return None
    for name in sorted(set(doc) - ENTRY_FIELDS):
        out.add("entry.json", "unknown field", field=name)
    for name in sorted(ENTRY_FIELDS - set(doc)):
        out.add("entry.json", "missing", field=name)
    if doc.get("board") != board.name:
        out.add("entry.json", f"unknown board {doc.get('board')!r} (validating against "
                f"{board.name!r})", field="board")
    prm = doc.get("prm")
    if isinstance(prm, dict):
        for name in sorted(set(prm) - PRM_FIELDS):
            out.add("entry.json", "unknown field", field=f"prm.{name}")
        for name in sorted(PRM_FIELDS - set(prm)):
            out.add("entry.json", "missing", field=f"prm.{name}")
        if "spec" in prm and prm.get("spec_sha256") != spec_sha256(prm["spec"]):
            out.add("entry.json", "does not match the sha256 of prm.spec",
                    field="prm.spec_sha256")
        if prm.get("aggregation") not in board.aggregations:
            out.add("entry.json", f"{prm.get('aggregation')!r} is not one of the board's "
                    f"aggregations {board.aggregations}", field="prm.aggregation")
    elif "prm" in doc:
        out.add("entry.json", "must be an object", field="prm")
    harness = doc.get("harness")
    if isinstance(harness, dict):
        for name in sorted(set(harness) - HARNESS_FIELDS):
            out.add("entry.json", "unknown field", field=f"harness.{name}")
    elif "harness" in doc:
        out.add("entry.json", "must be an object", field="harness")
    tasks = doc.get("tasks")
    if not isinstance(tasks, dict):
        out.add("entry.json", "must be an object of tasks", field="tasks")
        return None
    for task in sorted(set(tasks) - set(board.tasks)):
        out.add("entry.json", f"task {task!r} is not on board {board.name!r}",
                field=f"tasks.{task}")
    for task in sorted(set(board.tasks) - set(tasks)):
        out.add("entry.json", f"the board's task {task!r} is missing", field=f"tasks.{task}")
    return doc


def _check_task_header(task: str, claim: Any, board: Board, out: _Collector) -> bool:
    if not isinstance(claim, dict):
        out.add("entry.json", "must be an object", field=f"tasks.{task}")
        return False
    good = True
    for name in sorted(set(claim) - TASK_FIELDS):
        out.add("entry.json", "unknown field", field=f"tasks.{task}.{name}")
    pinned = board.tasks[task].pool_sha256
    if claim.get("pool_sha256") != pinned:
        out.add("entry.json", f"unknown pool hash {claim.get('pool_sha256')!r}; board "
                f"{board.name!r} pins {pinned}", field=f"tasks.{task}.pool_sha256")
        good = False
    metrics = claim.get("metrics")
    if not isinstance(metrics, dict):
        out.add("entry.json", "must be an object", field=f"tasks.{task}.metrics")
        return False
    wanted = board.claimed_names()
    for name in sorted(set(metrics) - set(wanted)):
        out.add("entry.json", f"metric not on the board (it shows {wanted})",
                field=f"tasks.{task}.metrics.{name}")
    for name in wanted:
        if name not in metrics:
            out.add("entry.json", "claimed metric missing", field=f"tasks.{task}.metrics.{name}")
            continue
        value = metrics[name]
        where = f"tasks.{task}.metrics.{name}"
        if not isinstance(value, dict) or set(value) != CLAIM_FIELDS:
            out.add("entry.json", 'must be {"value": v, "ci": [lo, hi]}', field=where)
            continue
        ci = value["ci"]
        numbers = [value["value"], *(ci if isinstance(ci, list) else [])]
        if not (isinstance(ci, list) and len(ci) == 2) or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                for x in numbers):
            out.add("entry.json", "value and ci must be finite numbers, ci two of them",
                    field=where)
    return good


def _read_scores_fast(path: Path, pool: TaskPool) -> dict[str, list[list[float]]] | None:
    """The scores of a file with no problem at all, read in bulk; None when anything is
    off (the line-by-line reader then names each problem).

    The nonblank lines are parsed as one JSON array. Every line must start with ``{`` and
    end with ``}``, and the array must hold exactly one object per line: each line starts
    a new value, so each value is then exactly its line, and the file reads as the
    line-by-line reader would read it. Every check of that reader is made here too, on
    whole arrays where it can be."""
    text = path.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    if not all(line.lstrip().startswith("{") and line.rstrip().endswith("}")
               for line in lines):
        return None
    try:
        rows = loads_strict("[" + ",".join(lines) + "]")
    except ValueError:
        return None
    if len(rows) != len(lines) or not all(type(row) is dict and row.keys() == SCORE_FIELDS
                                          for row in rows):
        return None
    found: dict[str, list[Any]] = {pid: [None] * len(pool.positions[pid])
                                   for pid in pool.problem_ids}
    wanted: list[int] = []
    filled = 0
    for row in rows:
        pid, sid, steps = row["problem_id"], row["sample_id"], row["step_scores"]
        if type(pid) is not str or type(sid) not in (int, str) or type(steps) is not list:
            return None
        positions = pool.positions.get(pid)
        position = None if positions is None else positions.get(sid)
        if position is None or found[pid][position] is not None:
            return None  # unknown or duplicated
        found[pid][position] = steps
        filled += 1
        wanted.append(int(pool.n_steps[pid][position]))
    if filled != sum(len(v) for v in found.values()):
        return None  # missing samples
    lengths = [len(row["step_scores"]) for row in rows]
    if lengths != wanted:
        return None
    flat = list(itertools.chain.from_iterable(row["step_scores"] for row in rows))
    if not set(map(type, flat)) <= {int, float}:
        return None
    values = np.fromiter(flat, dtype=np.float64, count=len(flat))
    if not bool(np.all((values >= 0.0) & (values <= 1.0))):  # also False for NaN
        return None
    return found


def _read_scores(path: Path, label: str, pool: TaskPool, out: _Collector
                 ) -> dict[str, list[list[float]]] | None:
    """Problem id -> step scores per sample in pool position order; None after any
    problem (which is reported)."""
    if not path.is_file():
        out.add(label, "missing scores file")
        return None
    try:
        fast = _read_scores_fast(path, pool)
    except (UnicodeDecodeError, RecursionError):
        fast = None
    if fast is not None:
        return fast
    return _read_scores_by_line(path, label, pool, out)


def _read_scores_by_line(path: Path, label: str, pool: TaskPool, out: _Collector
                         ) -> dict[str, list[list[float]]] | None:
    """The authoritative reader: every line on its own, every problem named with its
    line and field; None after any problem."""
    found: dict[str, list[Any]] = {pid: [None] * len(pool.positions[pid])
                                   for pid in pool.problem_ids}
    seen_at: dict[tuple[str, int], int] = {}
    before = len(out.lines)
    extra = 0

    def bad(message: str, line: int, field: str | None = None) -> None:
        nonlocal extra
        if len(out.lines) - before < MAX_LINE_PROBLEMS:
            out.add(label, message, line, field)
        else:
            extra += 1

    with open(path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                row = loads_strict(raw)
            except ValueError as exc:
                bad(f"malformed JSON: {exc}", number)
                continue
            if not isinstance(row, dict):
                bad("expected a JSON object", number)
                continue
            if row.keys() != SCORE_FIELDS:
                for name in sorted(set(row) - SCORE_FIELDS):
                    bad("unknown field", number, name)
                for name in sorted(SCORE_FIELDS - set(row)):
                    bad("missing", number, name)
                continue
            pid, sid, steps = row["problem_id"], row["sample_id"], row["step_scores"]
            positions = pool.positions.get(pid) if isinstance(pid, str) else None
            if positions is None:
                bad(f"problem {pid!r} is not in the pinned pool", number, "problem_id")
                continue
            position = positions.get(sid) if isinstance(sid, (int, str)) and \
                not isinstance(sid, bool) else None
            if position is None:
                bad(f"sample {sid!r} is not in problem {pid!r} of the pinned pool", number,
                    "sample_id")
                continue
            first = seen_at.get((pid, position))
            if first is not None:
                bad(f"sample {sid!r} of problem {pid!r} is duplicated (first on line "
                    f"{first})", number, "sample_id")
                continue
            seen_at[(pid, position)] = number
            if not isinstance(steps, list):
                bad("must be a list of numbers", number, "step_scores")
                continue
            want = int(pool.n_steps[pid][position])
            if len(steps) != want:
                bad(f"{len(steps)} step scores for a sample of {want} steps", number,
                    "step_scores")
                continue
            if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in steps):
                bad("must be a list of numbers", number, "step_scores")
                continue
            if not all(0.0 <= x <= 1.0 for x in steps):  # also False for NaN
                culprit = next(x for x in steps if not 0.0 <= x <= 1.0)
                bad(f"score {culprit!r} is not a finite number in [0, 1]", number,
                    "step_scores")
                continue
            found[pid][position] = steps
    missing = [(pid, pool.sample_ids[pid][i]) for pid in pool.problem_ids
               for i, s in enumerate(found[pid]) if s is None
               and (pid, i) not in seen_at]
    for pid, sid in missing[:MAX_LINE_PROBLEMS]:
        out.add(label, f"sample {sid!r} of problem {pid!r} is missing", field="sample_id")
    extra += max(0, len(missing) - MAX_LINE_PROBLEMS)
    if extra:
        out.add(label, f"... and {extra} more problems in this file")
    if len(out.lines) > before:
        return None
    return found


def validate_entry(board: Board, entry_dir: Path,
                   pools: dict[str, TaskPool] | None = None) -> Verdict:
    """Every problem of one entry (an empty list: accepted). ``pools``: the board's
    stored pools already read (read here when absent)."""
    entry_dir = Path(entry_dir)
    verdict = Verdict(entry_dir)
    out = _Collector(entry_dir)
    try:
        doc = read_json(entry_dir / "entry.json")
    except HarnessError as exc:
        out.add("entry.json", str(exc).split(": ", 1)[-1])
        verdict.problems = out.lines
        return verdict
    doc = _check_header(doc, board, out)
    if doc is None:
        verdict.problems = out.lines
        return verdict
    aggregation = (doc.get("prm") or {}).get("aggregation") if isinstance(doc.get("prm"),
                                                                         dict) else None
    for task in sorted(set(doc["tasks"]) & set(board.tasks)):
        claim = doc["tasks"][task]
        if not _check_task_header(task, claim, board, out):
            continue
        pool = (pools or {}).get(task)
        if pool is None:
            try:
                pool = read_task_pool(board, task)
            except HarnessError as exc:
                out.add(f"board {board.name}", f"task {task!r}: {exc}")
                continue
        label = f"scores/{task}.jsonl"
        scores = _read_scores(scores_path(entry_dir, task), label, pool, out)
        if scores is None or aggregation not in board.aggregations:
            continue
        verdict.scores[task] = scores
        verdict.aggregation = aggregation
        computed = recompute(board, pool, scores, aggregation)
        verdict.recomputed[task] = computed
        for name, got in computed.items():
            claimed = claim["metrics"].get(name)
            if not isinstance(claimed, dict) or set(claimed) != CLAIM_FIELDS:
                continue  # reported above
            where = f"tasks.{task}.metrics.{name}"
            try:
                value_ok = _close(float(claimed["value"]), got["value"])
                ci_ok = all(_close(float(a), b) for a, b in zip(claimed["ci"], got["ci"],
                                                                 strict=True))
            except (TypeError, ValueError):
                continue  # reported above
            if not value_ok:
                out.add("entry.json", f"claims {claimed['value']!r}, recomputed "
                        f"{got['value']!r}", field=f"{where}.value")
            if not ci_ok:
                out.add("entry.json", f"claims {claimed['ci']!r}, recomputed {got['ci']!r}",
                        field=f"{where}.ci")
    verdict.problems = out.lines
    return verdict
