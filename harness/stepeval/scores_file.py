"""The input format for "a PRM's step scores" on a step-labelled benchmark.

The full specification: docs/stepeval.md, section ``harness.stepeval.scores_file``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import InputError
from harness.store.jsonl import read_jsonl

CHECKED_FIELDS = ("problem", "steps", "split")
ALLOWED_FIELDS = {"problem_id", "step_scores", *CHECKED_FIELDS, "step_labels",
                  "first_error_step"}


@dataclass(frozen=True)
class StepItem:
    """What a scores line is checked against: the item's problem, steps and split."""

    problem: str
    steps: tuple[str, ...]
    split: str | None = None


def _check_item_fields(rec: dict[str, Any], item: StepItem, path: str | Path,
                       line: int) -> None:
    expected = {"problem": item.problem, "steps": list(item.steps), "split": item.split}
    for name in CHECKED_FIELDS:
        if name in rec and rec[name] != expected[name]:
            raise InputError(f"differs from the items file's {name} of item "
                             f"{rec['problem_id']!r}", path=path, line=line, field=name)


def _scores(rec: dict[str, Any], n_steps: int, path: str | Path, line: int) -> list[float]:
    values = rec.get("step_scores")
    if not isinstance(values, list):
        raise InputError("missing or not a list", path=path, line=line, field="step_scores")
    for k, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InputError(f"step {k}: expected a finite number, got {v!r}", path=path,
                             line=line, field="step_scores")
    if len(values) != n_steps:
        raise InputError(f"{len(values)} scores for {n_steps} steps of item "
                         f"{rec['problem_id']!r}", path=path, line=line, field="step_scores")
    return [float(v) for v in values]


def read_step_scores(path: str | Path, items: Mapping[str, StepItem],
                     required: Sequence[str] | None = None) -> dict[str, list[float]]:
    """Scores by item id, validated against ``items`` (id -> the item).

    ``required``: the ids that must all be present (default: every id in ``items``).
    """
    scores: dict[str, list[float]] = {}
    lines: dict[str, int] = {}
    for line, rec in read_jsonl(path):
        extra = sorted(set(rec) - ALLOWED_FIELDS)
        if extra:
            hint = " (the item key is problem_id)" if "id" in extra else ""
            raise InputError(f"unknown field(s) {extra}{hint}; lines hold problem_id, "
                             f"step_scores and the items file's fields", path=path,
                             line=line, field=extra[0])
        item_id = rec.get("problem_id")
        if not isinstance(item_id, str):
            raise InputError("missing or not a string", path=path, line=line,
                             field="problem_id")
        if item_id not in items:
            raise InputError(f"unknown item id {item_id!r}", path=path, line=line,
                             field="problem_id")
        if item_id in scores:
            raise InputError(f"duplicate id {item_id!r} (first on line {lines[item_id]})",
                             path=path, line=line, field="problem_id")
        _check_item_fields(rec, items[item_id], path, line)
        scores[item_id] = _scores(rec, len(items[item_id].steps), path, line)
        lines[item_id] = line
    wanted = list(items) if required is None else list(required)
    missing = [i for i in wanted if i not in scores]
    if missing:
        raise InputError(f"{len(missing)} of {len(wanted)} items have no scores (first: "
                         f"{', '.join(missing[:3])}); every item must be scored", path=path)
    return scores
