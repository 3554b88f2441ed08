"""``prm800k``: PRM800K's phase-1 test problems, and its human-rated steps.

Files (mirror layout):

- ``prm800k/phase1_test.stepwise-critic.parquet``: one row per rated candidate step
  (``instruction``, earlier steps ``responses``, the candidate ``next_response``, its human
  ``rating`` -1/0/+1 or null, flags). It carries no gold answers (``answer`` is the
  candidate's own final answer when it gives one).
- ``math500/test.jsonl``: PRM800K's own ``math_splits/test.jsonl`` (byte-identical, see the
  data provenance notes), which supplies each problem's gold answer, reference solution
  and MATH ``unique_id``. Every phase-1 test problem is in it; one that is not is an error.

The task's problems are the distinct instructions in order of first appearance. The rated
steps feed ``harness.stepeval.prm800k_steps``. Hub copies: the parquet file as published
by the tool that made the conversion, ``Birchlabs/openai-prm800k-stepwise-critic`` (same
file name under ``data/``, same columns), and the MATH split as ``math500``'s hub copy,
both pinned.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.data import HubFile, fetch_file
from harness.errors import InputError
from harness.tasks.math500 import FIELDS as MATH_FIELDS
from harness.tasks.math500 import HUB_FILE as MATH_HUB_FILE
from harness.tasks.math500 import MIRROR_PATH as MATH_PATH
from harness.tasks.math_common import MathTask
from harness.tasks.records import jsonl_records, parquet_rows
from harness.types import Problem

PARQUET_PATH = "prm800k/phase1_test.stepwise-critic.parquet"
PARQUET_HUB = HubFile("Birchlabs/openai-prm800k-stepwise-critic",
                      "data/phase1_test.stepwise-critic.parquet",
                      "3a4453bc147fa58da4113e7200314f3f1a9aab54")
COLUMNS: dict[str, tuple[type, ...]] = {
    "instruction": (str,), "responses": (list,), "next_response": (str,),
    "answer": (str, type(None)), "is_human_response": (bool,), "is_solution": (bool,),
    "is_preferred_response": (bool,), "rating": (int, type(None)),
}


@dataclass(frozen=True)
class RatedStep:
    """One candidate step with its human rating (None when the labeller gave none)."""

    row: int  # 0-based row in the parquet file
    problem: str
    previous: tuple[str, ...]
    step: str
    rating: int | None
    is_solution: bool


def read_rated_steps(data_dir: Path | None) -> tuple[list[RatedStep], dict[str, Any]]:
    """Every row of the stepwise-critic file, validated; plus the file's provenance."""
    resolved = fetch_file(PARQUET_PATH, PARQUET_HUB, data_dir)
    rows = parquet_rows(resolved.path)
    missing = sorted(set(COLUMNS) - set(rows[0])) if rows else []
    if missing:
        raise InputError(f"missing column(s) {missing}", path=resolved.path)
    steps = []
    for i, rec in enumerate(rows):
        for name, kinds in COLUMNS.items():
            value = rec[name]
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                raise InputError(f"row {i}: expected {kinds[0].__name__}, got "
                                 f"{type(value).__name__}", path=resolved.path, field=name)
        if not all(isinstance(s, str) for s in rec["responses"]):
            raise InputError(f"row {i}: expected a list of strings", path=resolved.path,
                             field="responses")
        if rec["rating"] not in (-1, 0, 1, None):
            raise InputError(f"row {i}: rating {rec['rating']} is not -1, 0, 1 or null",
                             path=resolved.path, field="rating")
        steps.append(RatedStep(i, rec["instruction"], tuple(rec["responses"]),
                               rec["next_response"], rec["rating"], rec["is_solution"]))
    if not steps:
        raise InputError("no rows", path=resolved.path)
    return steps, resolved.provenance


class Prm800kTask(MathTask):
    """PRM800K phase-1 test problems (101 MATH problems with human-rated steps)."""

    name = "prm800k"

    def load(self) -> list[Problem]:
        steps, parquet_source = read_rated_steps(self.data_dir)
        split = fetch_file(MATH_PATH, MATH_HUB_FILE, self.data_dir)
        self.sources = {"rated_steps": parquet_source, "math_split": split.provenance}
        by_text = {rec["problem"]: rec for _, rec in jsonl_records(split.path, MATH_FIELDS)}
        counts: dict[str, int] = {}
        for step in steps:
            if step.problem not in by_text:
                raise InputError(f"row {step.row}: problem not found in {MATH_PATH}",
                                 path=parquet_source["path"], field="instruction")
            counts[step.problem] = counts.get(step.problem, 0) + 1
        problems = []
        for text, n_rows in counts.items():
            rec = by_text[text]
            problems.append(self.make_problem(rec["unique_id"], text, rec["answer"],
                                              rec["solution"], subject=rec["subject"],
                                              level=rec["level"], n_step_rows=n_rows))
        return problems
