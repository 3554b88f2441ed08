"""The shared base of math tasks: prompts, steps, answer extraction and grading.

A concrete math task only implements ``load`` (building Problems with ``make_problem``);
everything else is here. Options (strings from ``--option KEY=VALUE`` are accepted):

- ``prompt_style``: ``qwen`` (default; system prompt "Please reason step by step, and put
  your final answer within \\boxed{}." and the problem as the user turn), ``plain`` (no
  system turn; that instruction appended to the user turn), ``bare`` (the problem only),
  ``fewshot`` (for base models: two worked examples, then ``Problem: ...`` and
  ``Solution:`` to continue, as one user turn; use it with a template that passes the text
  through, e.g. ``examples/real/raw.jinja``, and the stop string ``"\\n\\nProblem:"``).
- ``steps``: ``blank`` (default: split after blank lines), ``markers`` (split before
  "Step k:" markers at line starts, optionally bold or as a heading), or
  ``regex:PATTERN`` (split after each match of PATTERN). Joining the steps always gives
  back the text exactly.
- ``fallbacks``: ``true`` (default) / ``false``: whether answer extraction may use the
  "final answer is" / "Answer:" fallbacks when there is no ``\\boxed{}``.
- ``timeout_s``: seconds per math-verify comparison (5).
- ``workers``: math-verify worker processes (default: min(2, CPUs)).
- ``grade_cache``: an SQLite file for the content-addressed grading cache (default: memory).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from harness.errors import ConfigError, accepted_options
from harness.grading.math.extraction import extract_answer
from harness.grading.math.grader import MathGrader
from harness.grading.math.self_test import run_self_test
from harness.interfaces import Task
from harness.steps import split_after, split_before, split_blank_lines
from harness.tasks.options import bool_option
from harness.types import Grade, Message, Problem, Sample

QWEN_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
PROMPT_STYLES = ("qwen", "plain", "bare", "fewshot")
#: the worked examples of the ``fewshot`` style (steps split at blank lines, answer boxed)
FEWSHOT_EXAMPLES = (
    "Problem: Mia has 4 pencils. Then Mia buys 9 more pencils. Then Mia gives away 5 "
    "pencils. How many pencils does Mia have at the end?\n"
    "Solution: Mia buys 9 more pencils: 4 + 9 = 13.\n\n"
    "Mia gives away 5 pencils: 13 - 5 = 8.\n\n"
    "The final answer is $\\boxed{8}$.\n\n"
    "Problem: If $3x - 2 = 10$, what is $x^2$?\n"
    "Solution: Add 2 to both sides: $3x = 12$, so $x = 4$.\n\n"
    "Then $x^2 = 4^2 = 16$.\n\n"
    "The final answer is $\\boxed{16}$.\n\n")
STEP_MARKER = re.compile(r"(?im)^[ \t]*(?:#{1,6}[ \t]*)?(?:\*\*)?step[ \t]*\d+[ \t]*(?:\*\*)?[:.]")


class MathTask(Task):
    """Base for math tasks: answers in ``\\boxed{}``, graded with math-verify."""

    domain = "math"
    #: AIME-style tasks: gold answers are integers and integer literals compare as integers
    integer_answers: ClassVar[bool] = False

    def __init__(self, data_dir: Path | None = None, prompt_style: str = "qwen",
                 steps: str = "blank", fallbacks: bool | str = True,
                 timeout_s: float | str = 5.0, workers: int | str | None = None,
                 grade_cache: str | Path | None = None, **options: Any) -> None:
        if options:
            raise ConfigError(f"task {self.name!r}: unknown option"
                              f"{'s' * (len(options) > 1)} {', '.join(sorted(options))}; "
                              f"valid options: {', '.join(accepted_options(type(self)))}")
        self.data_dir = data_dir
        if prompt_style not in PROMPT_STYLES:
            raise ConfigError(f"prompt_style={prompt_style!r}: choose from {PROMPT_STYLES}")
        self.prompt_style = prompt_style
        self.steps = steps
        self._splitter = self._make_splitter(steps)
        self.fallbacks = bool_option("fallbacks", fallbacks)
        self.timeout_s = float(timeout_s)
        self.workers = int(workers) if workers is not None else None
        self.grade_cache = grade_cache
        self._grader: MathGrader | None = None
        #: provenance of the files ``load`` read (filled by subclasses)
        self.sources: dict[str, Any] = {}

    @staticmethod
    def _make_splitter(spec: str) -> Any:
        if spec == "blank":
            return split_blank_lines
        if spec == "markers":
            return lambda text: split_before(text, STEP_MARKER)
        if spec.startswith("regex:"):
            try:
                pattern = re.compile(spec[len("regex:"):])
            except re.error as exc:
                raise ConfigError(f"steps={spec!r}: bad regular expression: {exc}") from None
            if pattern.search("") is not None:
                raise ConfigError(f"steps={spec!r}: the pattern must not match empty text")
            return lambda text: split_after(text, pattern)
        raise ConfigError(f"steps={spec!r}: choose blank, markers or regex:PATTERN")

    @property
    def grader(self) -> MathGrader:
        """The grader, created on first use (it starts worker processes lazily)."""
        if self._grader is None:
            self._grader = MathGrader(integer_answers=self.integer_answers,
                                      timeout_s=self.timeout_s, workers=self.workers,
                                      cache=self.grade_cache)
        return self._grader

    # ------------------------------------------------------------------ problems

    def messages(self, statement: str, style: str = "default") -> list[Message]:
        """Chat messages for a problem statement in ``style`` ("default": the task's)."""
        style = self.prompt_style if style == "default" else style
        if style == "qwen":
            return [{"role": "system", "content": QWEN_SYSTEM},
                    {"role": "user", "content": statement}]
        if style == "plain":
            return [{"role": "user", "content": f"{statement}\n\n{QWEN_SYSTEM}"}]
        if style == "bare":
            return [{"role": "user", "content": statement}]
        if style == "fewshot":
            return [{"role": "user",
                     "content": f"{FEWSHOT_EXAMPLES}Problem: {statement}\nSolution:"}]
        raise ConfigError(f"prompt style {style!r}: choose from {PROMPT_STYLES}")

    def make_problem(self, problem_id: str, statement: str, answer: str,
                     solution: str | None = None, **metadata: Any) -> Problem:
        """A Problem with the statement, reference solution and metadata where this base
        class expects them."""
        return Problem(id=problem_id, task=self.name, domain="math",
                       prompt=self.messages(statement), reference=answer,
                       metadata={"statement": statement, "solution": solution, **metadata})

    def prompt(self, problem: Problem, style: str = "default") -> list[Message]:
        return self.messages(problem.metadata["statement"], style)

    # ------------------------------------------------------------------ completions

    def split_steps(self, text: str) -> list[str]:
        return list(self._splitter(text))

    def extract(self, text: str) -> str | None:
        return extract_answer(text, fallbacks=self.fallbacks)

    def grade(self, problem: Problem, samples: Sequence[Sample]) -> list[Grade]:
        return self.grade_batch([(problem, samples)])[0]

    def grade_batch(
        self, batch: Sequence[tuple[Problem, Sequence[Sample]]]
    ) -> list[list[Grade]]:
        """All problems at once, so the grader spreads them over its worker processes."""
        verdicts = self.grader.grade_many(
            [(str(problem.reference), [s.answer for s in samples]) for problem, samples in batch])
        tag = f"{self.grader.identity()['grader']} {self.grader.math_verify_version}"
        out = []
        for (problem, samples), problem_verdicts in zip(batch, verdicts, strict=True):
            grades = []
            for sample, v in zip(samples, problem_verdicts, strict=True):
                details: dict[str, Any] = {"status": v.status, "grader": tag}
                if v.reason:
                    details["reason"] = v.reason
                grades.append(Grade(problem.id, sample.index, v.correct, v.vote_key, details))
            out.append(grades)
        return out

    def reference_is_synthesised(self, problem: Problem) -> bool:
        solution = problem.metadata.get("solution")
        return not solution or self.extract(solution) is None

    def reference_completions(self, problem: Problem) -> list[str]:
        """The reference solution; when it states no final answer that extraction can find
        (some AoPS solutions end without one), the solution followed by a final-answer line
        built from the gold answer (``reference_is_synthesised``)."""
        solution = problem.metadata.get("solution")
        if solution and not self.reference_is_synthesised(problem):
            return [solution]
        lead = f"{solution.rstrip()}\n\n" if solution else ""
        return [f"{lead}The final answer is $\\boxed{{{problem.reference}}}$."]

    def grader_self_test(self) -> dict[str, Any]:
        """Known-equivalent and known-different pairs through this task's grader."""
        return run_self_test(self.grader)

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "prompt_style": self.prompt_style, "steps": self.steps,
                "fallbacks": self.fallbacks, "sources": self.sources,
                "grading": self.grader.identity()}
