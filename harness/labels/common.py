"""Pieces every label source shares: the dev split, problem-text normalisation, counts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from harness.labels.config import DevSplit
from harness.store.keys import key_of
from harness.types import Problem


def normalise_problem(text: str) -> str:
    """The form two problem texts are compared in: whitespace runs collapsed, ends stripped."""
    return " ".join(text.split())


def problem_text(problem: Problem) -> str:
    """The text a PRM is shown: the last user turn of the task's prompt."""
    users = [m.get("content", "") for m in problem.prompt if m.get("role") == "user"]
    return users[-1] if users else ""


def train_or_dev(source: str, problem_key: str, dev: DevSplit) -> str:
    """``dev`` for a seeded share ``dev.fraction`` of problems, else ``train``.

    The draw is a hash of (seed, source, problem), so a problem's split does not depend on
    which other problems are in the file or on their order.
    """
    if dev.fraction <= 0:
        return "train"
    u = int(key_of(["labels-dev-split", dev.seed, source, problem_key])[:13], 16) / 16**13
    return "dev" if u < dev.fraction else "train"


def label_counts(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, dict[str, int]]]:
    """Counts per source and split: records, steps, labelled steps, and labels that are
    1.0, 0.0, strictly between (soft) or null."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for rec in records:
        row = out.setdefault(rec["source"], {}).setdefault(rec["split"], {
            "records": 0, "steps": 0, "labelled": 0, "label_1": 0, "label_0": 0,
            "label_soft": 0, "null": 0})
        row["records"] += 1
        row["steps"] += len(rec["labels"])
        for v in rec["labels"]:
            if v is None:
                row["null"] += 1
                continue
            row["labelled"] += 1
            if v == 1.0:
                row["label_1"] += 1
            elif v == 0.0:
                row["label_0"] += 1
            else:
                row["label_soft"] += 1
    return {s: dict(sorted(splits.items())) for s, splits in sorted(out.items())}


def first_error(labels: Iterable[float | None], threshold: float) -> int | None:
    """The first step whose label is below ``threshold`` (-1: none is; None: a null label
    comes before any wrong step, so the first error is unknown)."""
    for i, v in enumerate(labels):
        if v is None:
            return None
        if v < threshold:
            return i
    return -1
