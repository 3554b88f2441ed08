"""``aime24``: the 30 problems of AIME 2024 (I and II), integer answers 0-999.

Two copies hold the same records (``id`` 60-89, ``problem``, the AoPS-wiki ``solution``,
``answer`` as a string, some with leading zeros, ``url``): the mirror file
``aime24/test.jsonl`` (Qwen2.5-Math's evaluation copy, which adds ``question``, a duplicate
of ``problem``) and the hub copy ``HuggingFaceH4/aime_2024`` pinned below (one parquet
file, which adds ``year``). Problem ids are ``aime24-<id>`` from either. Answers compare as
integers (``"025"`` = 25).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.data import HubFile, fetch_file
from harness.grading.math.exact_values import integer_value
from harness.tasks.math_common import MathTask
from harness.tasks.records import Place, table_records, unique_id
from harness.types import Problem

MIRROR_PATH = "aime24/test.jsonl"
HUB_FILE = HubFile("HuggingFaceH4/aime_2024", "data/train-00000-of-00001.parquet",
                   "2fe88a2f1091d5048c0f36abc874fb997b3dd99a")
FIELDS: dict[str, type | tuple[type, ...]] = {
    "id": int, "problem": str, "solution": str, "answer": str, "url": str}
HUB_FIELDS = {**FIELDS, "year": str}


def _fields(path: Path) -> dict[str, type | tuple[type, ...]]:
    return HUB_FIELDS if path.suffix == ".parquet" else FIELDS


class Aime24Task(MathTask):
    """AIME 2024 (30 problems, integer answers compared as integers)."""

    name = "aime24"
    integer_answers = True

    def load(self) -> list[Problem]:
        resolved = fetch_file(MIRROR_PATH, HUB_FILE, self.data_dir)
        self.sources = {"test": resolved.provenance}
        problems: list[Problem] = []
        seen: dict[str, Place] = {}
        for place, rec in table_records(resolved.path, _fields(resolved.path)):
            problem_id = f"aime24-{rec['id']}"
            unique_id(seen, problem_id, place, "id")
            if integer_value(rec["answer"]) is None:
                raise place.error(f"AIME answers are integers, got {rec['answer']!r}",
                                  field="answer")
            extra: dict[str, Any] = {"year": rec["year"]} if "year" in rec else {}
            problems.append(self.make_problem(problem_id, rec["problem"], rec["answer"],
                                              rec["solution"], url=rec["url"], **extra))
        return problems
