"""evalplus' own files for a stored code run: ``samples.jsonl`` out, ``*_eval_results.json``
back in as grades.

``samples.jsonl`` has one line per sample, ``{"task_id", "solution"}``, problems in the
run's order and each problem's samples by index: ``solution`` is the program the harness
grades (the one it extracted; an empty string when it found none, which evalplus fails).
``evalplus.evaluate`` lists each task's results in the order its lines came
(``completion_id``), so the i-th result of a task is that task's sample i.

An eval-results file is read as grades: correct when both ``base_status`` and
``plus_status`` are ``pass`` (evalplus' pass@1 rule). Its ``hash`` (the md5 of the
HumanEval+/MBPP+ release it ran on) pins the dataset: given the release file, a file run
on another release is refused.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

from harness.errors import InputError
from harness.steps import split_blank_lines
from harness.store.atomic import write_text
from harness.store.importers import ImportedPool, Importer
from harness.store.run_reader import RunRecords
from harness.types import Grade, Sample

PASS = "pass"


def samples_lines(records: RunRecords) -> list[dict[str, Any]]:
    """evalplus samples lines for every sample of a run (problems in order)."""
    lines = []
    for pid in records.problem_ids:
        for sample in sorted(records.samples[pid], key=lambda s: s.index):
            lines.append({"task_id": pid, "solution": sample.program or ""})
    return lines


def write_samples(records: RunRecords, path: Path) -> Path:
    """Write ``samples.jsonl`` for evalplus; its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, "".join(json.dumps(line, ensure_ascii=False) + "\n"
                             for line in samples_lines(records)))
    return path


def dataset_md5(release: Path) -> str:
    """evalplus' dataset hash: md5 of the release's JSONL bytes (a .gz is read unpacked)."""
    opener = gzip.open if release.suffix == ".gz" else open
    with opener(release, "rb") as handle:
        return hashlib.md5(handle.read()).hexdigest()


def read_results(path: Path, release: Path | None = None) -> dict[str, Any]:
    """A ``*_eval_results.json``, checked; with ``release``, pinned to that dataset."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read evalplus results: {exc}", path=path) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("eval"), dict):
        raise InputError("not an evalplus eval-results file (no 'eval' mapping)", path=path,
                         field="eval")
    if not isinstance(doc.get("hash"), str):
        raise InputError("missing the dataset hash", path=path, field="hash")
    if release is not None:
        want = dataset_md5(release)
        if doc["hash"] != want:
            raise InputError(f"ran on another dataset: its hash {doc['hash']} is not "
                             f"{want} ({release.name})", path=path, field="hash")
    for task_id, rows in doc["eval"].items():
        if not isinstance(rows, list):
            raise InputError("expected a list", path=path, field=f"eval.{task_id}")
        for i, row in enumerate(rows):
            for name in ("base_status", "plus_status"):
                if not isinstance(row, dict) or not isinstance(row.get(name), str):
                    raise InputError("missing or not a string", path=path,
                                     field=f"eval.{task_id}.{i}.{name}")
    return doc


def results_grades(path: Path, release: Path | None = None,
                   counts: dict[str, int] | None = None) -> dict[str, list[Grade]]:
    """Grades per task id from an eval-results file (``release`` pins the dataset).

    ``counts`` (task id -> pool size) checks that every sample has exactly one result."""
    doc = read_results(path, release)
    out: dict[str, list[Grade]] = {}
    for task_id, rows in doc["eval"].items():
        out[task_id] = [
            Grade(task_id, i, row["base_status"] == PASS and row["plus_status"] == PASS,
                  None, {"source": "evalplus", "base_status": row["base_status"],
                         "plus_status": row["plus_status"], "dataset_hash": doc["hash"]})
            for i, row in enumerate(rows)]
    if counts is not None:
        for task_id, n in counts.items():
            got = len(out.get(task_id, []))
            if got != n:
                raise InputError(f"{task_id}: {got} results for {n} samples", path=path,
                                 field=f"eval.{task_id}")
        extra = sorted(set(out) - set(counts))
        if extra:
            raise InputError(f"results for tasks not in the pool (e.g. {extra[0]!r})",
                             path=path, field="eval")
    return out


class EvalplusResultsImporter(Importer):
    """Importer ``evalplus-results``: a ``*_eval_results.json`` as a pool with its grades.

    Each result's ``solution`` is a sample (in the file's order per task) and its
    base/plus verdicts its grade; the dataset ``hash`` and the statuses are kept in each
    problem's provenance (pin the dataset with ``results_grades(path, release)``)."""

    name = "evalplus-results"

    def read(self, path: Path, prm_id: str, transform: str) -> ImportedPool:
        doc = read_results(path)
        grades = results_grades(path)
        pool = ImportedPool(grades={})
        for task_id, rows in doc["eval"].items():
            for i, row in enumerate(rows):
                solution = row.get("solution")
                if not isinstance(solution, str):
                    raise InputError("missing or not a string", path=path,
                                     field=f"eval.{task_id}.{i}.solution")
                pool.add(Sample(task_id, i, solution, steps=split_blank_lines(solution),
                                program=solution, sample_id=str(i)))
            pool.grades[task_id] = grades[task_id]  # type: ignore[index]
            pool.problems[task_id] = {"evalplus_dataset_hash": doc["hash"],
                                      "evalplus_date": doc.get("date")}
        if not pool.samples:
            raise InputError("no results in file", path=path, field="eval")
        return pool
