"""Overlap of labelled problems with MATH-500, and the exclusion set it implies.

PRM800K's phase-1 problems (and part of ProcessBench's ``math`` split) are MATH test
problems, many of them in MATH-500. A PRM trained on their labels has seen those problems,
so a MATH-500 evaluation of it must leave them out. ``labels build`` records the overlap in
the provenance (``math500_overlap``); ``math500_exclusion(labels_file)`` reads it back as
the set of MATH-500 ``unique_id``s to drop.

Two problems match when their texts are equal after ``normalise_problem`` (whitespace runs
collapsed, ends stripped), or when a record's ``problem_id`` is a MATH-500 ``unique_id``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.data import fetch_file
from harness.errors import InputError
from harness.labels.common import normalise_problem
from harness.store.jsonl import read_json
from harness.tasks.math500 import FIELDS as MATH_FIELDS
from harness.tasks.math500 import HUB_FILE as MATH_HUB_FILE
from harness.tasks.math500 import MIRROR_PATH as MATH_PATH
from harness.tasks.records import jsonl_records


class Math500Index:
    """MATH-500's problems by normalised text and by ``unique_id``."""

    def __init__(self, data_dir: Path | None) -> None:
        resolved = fetch_file(MATH_PATH, MATH_HUB_FILE, data_dir)
        self.provenance = resolved.provenance
        self.by_text: dict[str, str] = {}
        self.records: dict[str, dict[str, Any]] = {}
        for _, rec in jsonl_records(resolved.path, MATH_FIELDS):
            self.by_text[normalise_problem(rec["problem"])] = rec["unique_id"]
            self.records[rec["unique_id"]] = rec

    def match_text(self, problem: str) -> str | None:
        return self.by_text.get(normalise_problem(problem))


def math500_overlap(records: Iterable[dict[str, Any]], index: Math500Index) -> dict[str, Any]:
    """The overlap record of a labels file: per source, the MATH-500 problems matched by
    text and by id, and the union of all as ``problem_ids`` (sorted ``unique_id``s)."""
    per_source: dict[str, dict[str, set[str]]] = {}
    for rec in records:
        if rec["domain"] != "math":
            continue
        entry = per_source.setdefault(rec["source"], {"by_text": set(), "by_unique_id": set()})
        matched = index.match_text(rec["problem"])
        if matched is not None:
            entry["by_text"].add(matched)
        if rec["problem_id"] in index.records:
            entry["by_unique_id"].add(rec["problem_id"])
    union: set[str] = set()
    sources: dict[str, Any] = {}
    for name, entry in sorted(per_source.items()):
        both = entry["by_text"] | entry["by_unique_id"]
        union |= both
        sources[name] = {"by_text": len(entry["by_text"]),
                         "by_unique_id": len(entry["by_unique_id"]),
                         "problems": len(both)}
    return {"benchmark": "math500", "math500_file": index.provenance,
            "match": "normalised problem text (whitespace collapsed) or problem_id == "
                     "MATH-500 unique_id",
            "sources": sources, "n_problems": len(union), "problem_ids": sorted(union)}


def math500_exclusion(labels_path: str | Path) -> set[str]:
    """The MATH-500 ``unique_id``s a PRM trained on ``labels_path`` has seen: leave them
    out of any MATH-500 evaluation of it. Read from ``<labels>.provenance.json``."""
    path = Path(f"{labels_path}.provenance.json")
    doc = read_json(path)
    record = doc.get("math500_overlap") if isinstance(doc, dict) else None
    ids = record.get("problem_ids") if isinstance(record, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise InputError("missing or not a list of strings", path=path,
                         field="math500_overlap.problem_ids")
    return set(ids)
