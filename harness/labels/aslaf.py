"""ASLAF filtering (seed 003, §2.1): keep a solution only where an ensemble of labellers
agrees on where its first error is.

Each labeller is a labels file (say Monte Carlo labels from two policies) or a PRM's step
scores on a labels file (``labels items`` then ``score``). A solution is the pair
(normalised problem text, steps); it is judged by every labeller that has it. Each
labeller's first error is the first step whose label (or score) is below ``threshold``,
-1 when there is none. A solution is kept when every labeller has it and all first errors
are equal; it is dropped when one lacks it (``unmatched``), when a labeller's first error is
unknown (a null label before any wrong step: ``unknown``) or when they differ
(``disagree``). A kept solution's labels: ``first-error``: 1.0 before the agreed error,
0.0 at it, null after (hard); ``mean``: the labellers' mean label before and at the error,
null after (soft).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import InputError
from harness.labels.common import first_error, normalise_problem
from harness.labels.config import AslafSource
from harness.labels.read import LabelRecord, read_labels
from harness.store.keys import file_sha256

Key = tuple[str, tuple[str, ...]]


def _key(rec: LabelRecord) -> Key:
    return normalise_problem(rec.problem), rec.steps


def _labeller_from_file(path: Path) -> tuple[dict[Key, tuple[LabelRecord, list[float | None]]],
                                                int]:
    out: dict[Key, tuple[LabelRecord, list[float | None]]] = {}
    duplicates = 0
    for rec in read_labels(path):
        key = _key(rec)
        if key in out:
            duplicates += 1
            continue
        out[key] = (rec, list(rec.labels))
    return out, duplicates


def _labeller_from_scores(labels: Path, scores: Path
                          ) -> tuple[dict[Key, tuple[LabelRecord, list[float | None]]], int]:
    from harness.stepeval.scores_file import StepItem, read_step_scores

    records = read_labels(labels)
    items = {r.id: StepItem(r.problem, r.steps, None) for r in records}
    step_scores = read_step_scores(scores, items, required=[])
    out: dict[Key, tuple[LabelRecord, list[float | None]]] = {}
    duplicates = 0
    for rec in records:
        if rec.id not in step_scores:
            continue
        key = _key(rec)
        if key in out:
            duplicates += 1
            continue
        out[key] = (rec, list(step_scores[rec.id]))
    return out, duplicates


def aslaf_records(cfg: AslafSource, resolve: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    labellers: list[dict[Key, tuple[LabelRecord, list[float | None]]]] = []
    described: list[dict[str, Any]] = []
    for name in cfg.inputs:
        path = resolve(name)
        table, dup = _labeller_from_file(path)
        labellers.append(table)
        described.append({"kind": "labels", "file": str(path), "sha256": file_sha256(path),
                          "solutions": len(table), "duplicate_solutions_ignored": dup})
    for scored in cfg.scored:
        labels_path, scores_path = resolve(scored.labels), resolve(scored.scores)
        table, dup = _labeller_from_scores(labels_path, scores_path)
        labellers.append(table)
        described.append({"kind": "prm-scores", "labels": str(labels_path),
                          "labels_sha256": file_sha256(labels_path),
                          "scores": str(scores_path), "scores_sha256": file_sha256(scores_path),
                          "threshold": scored.threshold, "solutions": len(table),
                          "duplicate_solutions_ignored": dup})
    thresholds = [cfg.threshold] * len(cfg.inputs) + [s.threshold for s in cfg.scored]
    all_keys: list[Key] = []
    seen: set[Key] = set()
    for table in labellers:
        for key in table:
            if key not in seen:
                seen.add(key)
                all_keys.append(key)
    dropped = {"unmatched": 0, "unknown": 0, "disagree": 0}
    kept_by_error = {"no_error": 0, "error": 0}
    records = []
    for key in all_keys:
        present = [t.get(key) for t in labellers]
        if any(p is None for p in present):
            dropped["unmatched"] += 1
            continue
        entries = [p for p in present if p is not None]
        errors = [first_error(labels, th)
                  for (_, labels), th in zip(entries, thresholds, strict=True)]
        if any(e is None for e in errors):
            dropped["unknown"] += 1
            continue
        if len(set(errors)) != 1:
            dropped["disagree"] += 1
            continue
        error = errors[0]
        assert error is not None
        base = entries[0][0]
        n = len(base.steps)
        end = n if error == -1 else error + 1
        labels: list[float | None]
        if cfg.labels == "first-error":
            labels = [1.0 for _ in range(end if error == -1 else error)]
            if error != -1:
                labels.append(0.0)
            kind = "hard"
        else:
            labels = [sum(float(lab[i] or 0.0) for _, lab in entries) / len(entries)
                      for i in range(end)]  # no null before the agreed error
            kind = "soft"
        labels += [None] * (n - len(labels))
        kept_by_error["no_error" if error == -1 else "error"] += 1
        # the solution key is the first labeller's record id, so ids stay unique
        records.append({
            "id": f"aslaf/{base.problem_id}/{base.id}", "source": "aslaf",
            "domain": base.domain, "problem_id": base.problem_id, "problem": base.problem,
            "steps": list(base.steps), "labels": labels, "label_kind": kind,
            "split": base.split,
            "meta": {"first_error": error, "from": [r.id for r, _ in entries],
                     "labellers": len(entries)}})
    if not records:
        raise InputError(f"ASLAF kept no solution of {len(all_keys)} (dropped: {dropped})")
    info = {"labellers": described, "threshold_rule": "a step is wrong when its label or "
            "score is below the labeller's threshold", "thresholds": thresholds,
            "labels": cfg.labels, "solutions": len(all_keys), "kept": len(records),
            "kept_by_first_error": kept_by_error, "dropped": dropped,
            "agreement_rate_matched": (len(records) / (len(records) + dropped["disagree"])
                                       if records or dropped["disagree"] else None)}
    return records, info
