"""``math500``: the 500-problem MATH test split of "Let's Verify Step by Step".

Mirror file ``math500/test.jsonl`` (byte-identical to ``openai/prm800k``'s
``prm800k/math_splits/test.jsonl``); hub copy ``HuggingFaceH4/MATH-500`` pinned below, the
same JSONL fields. Problem ids are the MATH ``unique_id`` (``test/precalculus/807.json``).
"""

from __future__ import annotations

from harness.data import HubFile, fetch_file
from harness.tasks.math_common import MathTask
from harness.tasks.records import Place, table_records, unique_id
from harness.types import Problem

MIRROR_PATH = "math500/test.jsonl"
HUB_FILE = HubFile("HuggingFaceH4/MATH-500", "test.jsonl",
                   "ff5b20257d8185524591543f8ff5993951537bb8")
FIELDS: dict[str, type | tuple[type, ...]] = {
    "problem": str, "solution": str, "answer": str, "subject": str, "level": int,
    "unique_id": str}


class Math500Task(MathTask):
    """MATH-500 (500 competition problems, answers checked with math-verify)."""

    name = "math500"

    def load(self) -> list[Problem]:
        resolved = fetch_file(MIRROR_PATH, HUB_FILE, self.data_dir)
        self.sources = {"test": resolved.provenance}
        problems: list[Problem] = []
        seen: dict[str, Place] = {}
        for place, rec in table_records(resolved.path, FIELDS):
            unique_id(seen, rec["unique_id"], place, "unique_id")
            problems.append(self.make_problem(rec["unique_id"], rec["problem"], rec["answer"],
                                              rec["solution"], subject=rec["subject"],
                                              level=rec["level"]))
        return problems
