"""ProcessBench's four splits: solutions already cut into steps, with the first wrong step.

Mirror files ``processbench/{gsm8k,math,olympiadbench,omnimath}.json`` (each a JSON array
of ``id``, ``generator``, ``problem``, ``steps``, ``final_answer_correct``, ``label``; label
is the 0-based index of the earliest erroneous step, -1 when every step is right), copied
from the official GitHub repository's history. The hub copy ``Qwen/ProcessBench`` (one
config, one split and one file per benchmark split, the same JSON arrays) is pinned below
at its newest revision, whose ``math.json`` carries a later "fix annotation" commit: the
mirror's ``math.json`` predates it, so the two can differ on that split; the sha256 in the
provenance says which file was read. ProcessBench is not a generation task (it has no gold
answers to grade a new solution against), so it is a data source for
``harness.stepeval.processbench``, not a Task.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.data import HubFile, fetch_file
from harness.errors import InputError
from harness.tasks.records import json_array_records

SPLITS = ("gsm8k", "math", "olympiadbench", "omnimath")
HUB_REPO = "Qwen/ProcessBench"
HUB_REVISION = "3bdcd5371ed567559a78f559c01c13a6deee7604"
FIELDS = {"id": str, "generator": str, "problem": str, "steps": list,
          "final_answer_correct": bool, "label": int}


@dataclass(frozen=True)
class ProcessBenchItem:
    id: str
    split: str
    problem: str
    steps: tuple[str, ...]
    label: int  # first wrong step (0-based), -1 if none
    final_answer_correct: bool
    generator: str


def load_split(split: str, data_dir: Path | None) -> tuple[list[ProcessBenchItem], dict[str, Any]]:
    """One split's items, validated, and the file's provenance."""
    if split not in SPLITS:
        raise InputError(f"unknown ProcessBench split {split!r}; splits are {SPLITS}")
    resolved = fetch_file(f"processbench/{split}.json",
                          HubFile(HUB_REPO, f"{split}.json", HUB_REVISION), data_dir)
    items, seen = [], set()
    for i, rec in enumerate(json_array_records(resolved.path, FIELDS), start=1):
        steps = rec["steps"]
        if not steps or not all(isinstance(s, str) for s in steps):
            raise InputError(f"item {i}: expected a non-empty list of strings",
                             path=resolved.path, field="steps")
        if not -1 <= rec["label"] < len(steps):
            raise InputError(f"item {i}: label {rec['label']} outside -1..{len(steps) - 1}",
                             path=resolved.path, field="label")
        if rec["id"] in seen:
            raise InputError(f"item {i}: duplicate id {rec['id']!r}", path=resolved.path,
                             field="id")
        seen.add(rec["id"])
        items.append(ProcessBenchItem(rec["id"], split, rec["problem"], tuple(steps),
                                      rec["label"], rec["final_answer_correct"],
                                      rec["generator"]))
    return items, resolved.provenance
