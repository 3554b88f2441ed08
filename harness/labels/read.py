"""Reading and validating a step-labels file (the contract: docs/labels.md).

A labels file is JSONL, one record per labelled solution, sorted by ``id``; every line is
checked and the first bad one is reported as ``file:line: field 'name': what is wrong``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import InputError
from harness.store.jsonl import read_jsonl

SOURCES = ("prm800k", "processbench", "monte-carlo", "outcome", "aslaf")
DOMAINS = ("math", "code")
LABEL_KINDS = ("hard", "soft")
SPLITS = ("train", "dev", "test")
FIELDS = ("id", "source", "domain", "problem_id", "problem", "steps", "labels",
          "label_kind", "split", "meta")


@dataclass(frozen=True)
class LabelRecord:
    """One labelled solution: its steps and one label per step (None = unlabelled)."""

    id: str
    source: str
    domain: str
    problem_id: str
    problem: str
    steps: tuple[str, ...]
    labels: tuple[float | None, ...]
    label_kind: str
    split: str
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The record as a labels-file line (keys in the contract's order)."""
        return {"id": self.id, "source": self.source, "domain": self.domain,
                "problem_id": self.problem_id, "problem": self.problem,
                "steps": list(self.steps), "labels": list(self.labels),
                "label_kind": self.label_kind, "split": self.split, "meta": self.meta}

    def labelled(self) -> list[tuple[int, float]]:
        """(step index, label) for every labelled step."""
        return [(i, v) for i, v in enumerate(self.labels) if v is not None]


def _string(rec: dict[str, Any], name: str, path: Path, line: int,
            choices: tuple[str, ...] | None = None) -> str:
    value = rec[name]
    if not isinstance(value, str) or not value:
        raise InputError(f"expected a non-empty string, got {value!r}", path=path, line=line,
                         field=name)
    if choices is not None and value not in choices:
        raise InputError(f"{value!r} is not one of {list(choices)}", path=path, line=line,
                         field=name)
    return value


def record_from_json(rec: Any, path: str | Path = "<labels>", line: int = 0) -> LabelRecord:
    """Validate one decoded line against the contract; raises InputError naming the field."""
    p = Path(path)
    if not isinstance(rec, dict):
        raise InputError("expected a JSON object", path=p, line=line)
    missing = [name for name in FIELDS if name not in rec]
    if missing:
        raise InputError("missing", path=p, line=line, field=missing[0])
    extra = sorted(set(rec) - set(FIELDS))
    if extra:
        raise InputError(f"unknown field (a line holds {list(FIELDS)})", path=p, line=line,
                         field=extra[0])
    rid = _string(rec, "id", p, line)
    source = _string(rec, "source", p, line, SOURCES)
    domain = _string(rec, "domain", p, line, DOMAINS)
    problem_id = _string(rec, "problem_id", p, line)
    problem = rec["problem"]
    if not isinstance(problem, str):
        raise InputError(f"expected a string, got {type(problem).__name__}", path=p,
                         line=line, field="problem")
    kind = _string(rec, "label_kind", p, line, LABEL_KINDS)
    split = _string(rec, "split", p, line, SPLITS)
    if not rid.startswith(f"{source}/"):
        raise InputError(f"{rid!r} does not start with the source {source + '/'!r}",
                         path=p, line=line, field="id")
    steps = rec["steps"]
    if not isinstance(steps, list) or not steps:
        raise InputError("expected a non-empty list of strings", path=p, line=line,
                         field="steps")
    for k, s in enumerate(steps):
        if not isinstance(s, str):
            raise InputError(f"step {k}: expected a string, got {type(s).__name__}",
                             path=p, line=line, field="steps")
    labels = rec["labels"]
    if not isinstance(labels, list):
        raise InputError("expected a list", path=p, line=line, field="labels")
    if len(labels) != len(steps):
        raise InputError(f"{len(labels)} labels for {len(steps)} steps", path=p, line=line,
                         field="labels")
    out: list[float | None] = []
    for k, v in enumerate(labels):
        if v is None:
            out.append(None)
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                or not 0.0 <= v <= 1.0:
            raise InputError(f"step {k}: expected null or a number in [0, 1], got {v!r}",
                             path=p, line=line, field="labels")
        if kind == "hard" and v not in (0, 1):
            raise InputError(f"step {k}: a hard label is 0.0 or 1.0, got {v!r}", path=p,
                             line=line, field="labels")
        out.append(float(v))
    if all(v is None for v in out):
        raise InputError("no step is labelled (all null)", path=p, line=line, field="labels")
    meta = rec["meta"]
    if not isinstance(meta, dict):
        raise InputError("expected a JSON object", path=p, line=line, field="meta")
    return LabelRecord(id=rid, source=source, domain=domain, problem_id=problem_id,
                       problem=problem, steps=tuple(steps), labels=tuple(out),
                       label_kind=kind, split=split, meta=meta)


def read_labels(path: str | Path, splits: Iterable[str] | None = None) -> list[LabelRecord]:
    """Every record of a labels file, validated (ids unique and sorted).

    ``splits``: keep only records of these splits (all are still validated).
    """
    p = Path(path)
    wanted = None if splits is None else set(splits)
    if wanted is not None:
        bad = sorted(wanted - set(SPLITS))
        if bad:
            raise InputError(f"unknown split(s) {bad}; splits are {list(SPLITS)}", path=p)
    records: list[LabelRecord] = []
    previous: tuple[str, int] | None = None
    for line, raw in read_jsonl(p):
        rec = record_from_json(raw, p, line)
        if previous is not None:
            if rec.id == previous[0]:
                raise InputError(f"duplicate id {rec.id!r} (first on line {previous[1]})",
                                 path=p, line=line, field="id")
            if rec.id < previous[0]:
                raise InputError(f"ids are not sorted: {rec.id!r} after {previous[0]!r}",
                                 path=p, line=line, field="id")
        previous = (rec.id, line)
        if wanted is None or rec.split in wanted:
            records.append(rec)
    if previous is None:
        raise InputError("no records", path=p)
    return records
