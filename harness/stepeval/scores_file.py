"""The input format for "a PRM's step scores" on a step-labelled benchmark.

A JSON-lines file, one object per item, exactly these fields:

- ``id`` (string): the item's id, as in the items file (``prm-harness processbench items``
  / ``prm-harness prm800k-steps items``);
- ``step_scores`` (list of finite numbers): one score per step of that item, in order;
  higher means "more likely correct". The count must equal the item's number of steps.

Every item of the evaluated set must be scored exactly once; unknown ids, duplicates,
wrong counts, non-numbers, NaN/Infinity and unknown fields are errors naming the line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.errors import InputError
from harness.store.jsonl import read_jsonl

ALLOWED_FIELDS = {"id", "step_scores"}


def read_step_scores(path: str | Path, n_steps: Mapping[str, int],
                     required: Sequence[str] | None = None) -> dict[str, list[float]]:
    """Scores by item id, validated against ``n_steps`` (id -> number of steps).

    ``required``: the ids that must all be present (default: every id in ``n_steps``).
    """
    scores: dict[str, list[float]] = {}
    lines: dict[str, int] = {}
    for line, rec in read_jsonl(path):
        extra = sorted(set(rec) - ALLOWED_FIELDS)
        if extra:
            raise InputError(f"unknown field(s) {extra}; lines hold only id and step_scores",
                             path=path, line=line, field=extra[0])
        item_id = rec.get("id")
        if not isinstance(item_id, str):
            raise InputError("missing or not a string", path=path, line=line, field="id")
        if item_id not in n_steps:
            raise InputError(f"unknown item id {item_id!r}", path=path, line=line, field="id")
        if item_id in scores:
            raise InputError(f"duplicate id {item_id!r} (first on line {lines[item_id]})",
                             path=path, line=line, field="id")
        values = rec.get("step_scores")
        if not isinstance(values, list):
            raise InputError("missing or not a list", path=path, line=line,
                             field="step_scores")
        for k, v in enumerate(values):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise InputError(f"step {k}: expected a finite number, got {v!r}", path=path,
                                 line=line, field="step_scores")
        if len(values) != n_steps[item_id]:
            raise InputError(f"{len(values)} scores for {n_steps[item_id]} steps of item "
                             f"{item_id!r}", path=path, line=line, field="step_scores")
        scores[item_id] = [float(v) for v in values]
        lines[item_id] = line
    wanted = list(n_steps) if required is None else list(required)
    missing = [i for i in wanted if i not in scores]
    if missing:
        raise InputError(f"{len(missing)} of {len(wanted)} items have no scores (first: "
                         f"{', '.join(missing[:3])}); every item must be scored", path=path)
    return scores
