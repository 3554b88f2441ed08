"""``aime24``: the 30 problems of AIME 2024 (I and II), integer answers 0-999.

Mirror file ``aime24/test.jsonl`` (the Qwen2.5-Math evaluation copy: ``id``, ``problem``,
``solution`` from the AoPS wiki, ``answer`` as a string, some with leading zeros). No hub
copy is pinned: none with a verified revision and the same fields was found, so without a
mirror folder loading fails with a message saying so. Answers compare as integers
(``"025"`` = 25).
"""

from __future__ import annotations

from harness.data import fetch_file
from harness.errors import InputError
from harness.grading.exact_values import integer_value
from harness.tasks.math_common import MathTask
from harness.tasks.records import jsonl_records, unique_id
from harness.types import Problem

MIRROR_PATH = "aime24/test.jsonl"
FIELDS = {"id": int, "problem": str, "solution": str, "answer": str, "url": str}


class Aime24Task(MathTask):
    """AIME 2024 (30 problems, integer answers compared as integers)."""

    name = "aime24"
    integer_answers = True

    def load(self) -> list[Problem]:
        resolved = fetch_file(MIRROR_PATH, None, self.data_dir)
        self.sources = {"test": resolved.provenance}
        problems: list[Problem] = []
        seen: dict[str, int] = {}
        for line, rec in jsonl_records(resolved.path, FIELDS):
            problem_id = f"aime24-{rec['id']}"
            unique_id(seen, problem_id, resolved.path, line, "id")
            if integer_value(rec["answer"]) is None:
                raise InputError(f"AIME answers are integers, got {rec['answer']!r}",
                                 path=resolved.path, line=line, field="answer")
            problems.append(self.make_problem(problem_id, rec["problem"], rec["answer"],
                                              rec["solution"], url=rec["url"]))
        return problems
