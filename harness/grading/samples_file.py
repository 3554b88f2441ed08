"""Read a samples file for grading: one JSON object a line, model text per problem.

Lines name their problem by ``problem_id`` (or evalplus' ``task_id``); ``Task.prepare_record``
turns a line into a Sample (``completion`` for math; code tasks also read evalplus-style
lines, run as evalplus runs them). Everything is validated before anything is graded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import InputError
from harness.interfaces import Task
from harness.store.jsonl import read_jsonl
from harness.types import Problem, Sample


def read_samples(
    path: str | Path, task: Task, problems: Sequence[Problem]
) -> tuple[list[tuple[Problem, list[Sample]]], list[dict[str, Any]]]:
    """(problem, samples) pairs in first-seen order, and the raw records in file order.

    ``Sample.index`` is the position of the line among its problem's lines.
    """
    by_id = {p.id: p for p in problems}
    grouped: dict[str, list[Sample]] = {}
    records: list[dict[str, Any]] = []
    seen_ids: dict[tuple[str, str], int] = {}
    for line_no, record in read_jsonl(path):
        id_field = "problem_id" if "problem_id" in record else "task_id"
        problem_id = record.get(id_field)
        if problem_id is None:
            raise InputError("missing", path=path, line=line_no, field="problem_id")
        if not isinstance(problem_id, str):
            raise InputError(f"expected a string, got {type(problem_id).__name__}",
                             path=path, line=line_no, field=id_field)
        problem = by_id.get(problem_id)
        if problem is None:
            raise InputError(f"unknown problem {problem_id!r} for task {task.name}",
                             path=path, line=line_no, field=id_field)
        sample_id = record.get("sample_id")
        if sample_id is not None:
            if isinstance(sample_id, bool) or not isinstance(sample_id, (int, str)):
                raise InputError("expected an int or a string", path=path, line=line_no,
                                 field="sample_id")
            key = (problem_id, str(sample_id))
            if key in seen_ids:
                raise InputError(f"duplicate sample_id {sample_id!r} for problem "
                                 f"{problem_id!r} (first on line {seen_ids[key]})",
                                 path=path, line=line_no, field="sample_id")
            seen_ids[key] = line_no
        samples = grouped.setdefault(problem_id, [])
        try:
            sample = task.prepare_record(problem, len(samples), record,
                                         None if sample_id is None else str(sample_id))
        except KeyError as exc:
            raise InputError("missing or not a string", path=path, line=line_no,
                             field=str(exc.args[0])) from None
        samples.append(sample)
        records.append(record)
    if not records:
        raise InputError("no samples in file", path=path)
    return [(by_id[pid], samples) for pid, samples in grouped.items()], records
