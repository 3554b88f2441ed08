"""PROVISIONAL minimal math task base (replaced by the math-grading branch on merge)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.interfaces import Task
from harness.steps import split_blank_lines
from harness.types import Grade, Message, Problem, Sample

QWEN_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."


class MathTask(Task):
    domain = "math"

    def __init__(self, data_dir: Path | None = None, **options: Any) -> None:
        self.data_dir = data_dir

    def messages(self, statement: str, style: str = "default") -> list[Message]:
        return [{"role": "system", "content": QWEN_SYSTEM}, {"role": "user", "content": statement}]

    def prompt(self, problem: Problem, style: str = "default") -> list[Message]:
        return problem.prompt

    def split_steps(self, text: str) -> list[str]:
        return split_blank_lines(text)

    def extract(self, text: str) -> str | None:
        found = re.findall(r"\\boxed\{(-?\d+)\}", text)
        return found[-1] if found else None

    def grade(self, problem: Problem, samples: Sequence[Sample]) -> list[Grade]:
        return [Grade(problem.id, s.index, s.answer is not None and s.answer == problem.reference,
                      s.answer) for s in samples]

    def reference_completions(self, problem: Problem) -> list[str]:
        return [problem.metadata["solution"]]
