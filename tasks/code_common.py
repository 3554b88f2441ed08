"""What every code task shares: finding the program in a completion, splitting a
completion into steps, reading evalplus-style sample lines, and grading across the
sandbox's worker pool."""

from __future__ import annotations

import ast
import re
import warnings
import weakref
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

from harness.errors import ConfigError, InputError
from harness.grading.runners.verdict import Verdict
from harness.grading.sandbox.core import Sandbox
from harness.interfaces import Task
from harness.steps import split_blank_lines
from harness.types import Grade, Problem, Sample

_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+-]*)[^\n]*\n(.*?)^[ \t]*```[ \t]*(?:\n|$)",
                    re.MULTILINE | re.DOTALL)
_PYTHON_TAGS = {"", "python", "py", "python3", "py3"}
_TOP_LEVEL_BREAK = re.compile(r"\n[ \t]*\n(?=\S)")

def _parse(code: str) -> ast.Module:
    """``ast.parse`` without the SyntaxWarnings task code triggers (invalid escapes)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(code)



def is_evalplus_style(record: dict[str, Any]) -> bool:
    """A samples line in evalplus' format: ``task_id`` (no ``problem_id``)."""
    return "problem_id" not in record and "task_id" in record


def fenced_blocks(text: str) -> list[tuple[str, str, int, int]]:
    """(language, code, start, end) of each fenced code block, in order."""
    return [(m.group(1).lower(), m.group(2), m.start(), m.end()) for m in _FENCE.finditer(text)]


def compiles(code: str) -> bool:
    try:
        _parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def defines(code: str, name: str) -> bool:
    """Whether ``code`` defines ``name`` at top level (function, class or assignment)."""
    try:
        tree = _parse(code)
    except (SyntaxError, ValueError):
        return False
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                and node.name == name:
            return True
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return True
    return False


def find_program(text: str, prompt: str | None = None, entry_point: str | None = None
                 ) -> str | None:
    """The program in a completion, or None when there is none.

    Fenced code blocks win (the last Python block that defines ``entry_point``, else the
    last Python block); otherwise the whole text if it parses as Python; otherwise
    ``prompt + text`` if that parses (a base model continuing the prompt's function).
    """
    blocks = [code for lang, code, _, _ in fenced_blocks(text) if lang in _PYTHON_TAGS]
    if blocks:
        if entry_point:
            defining = [b for b in blocks if defines(b, entry_point)]
            if defining:
                return defining[-1]
        return blocks[-1]
    if text.strip() and compiles(text):
        return text
    if prompt is not None and text.strip() and compiles(prompt + text):
        return prompt + text
    return None


def split_code_steps(text: str) -> list[str]:
    """Reasoning paragraphs and code blocks, in order; ``"".join`` gives ``text`` back.

    A fenced code block is one step (with the newline after its closing fence); prose
    around blocks splits at blank lines. Text with no fences that parses as Python splits
    at blank lines before top-level statements (one step per top-level definition).
    """
    if not text:
        return [""]  # one empty step (harness.steps)
    blocks = fenced_blocks(text)
    if not blocks:
        if compiles(text):
            return _split_top_level(text)
        return split_blank_lines(text)
    steps: list[str] = []
    cursor = 0
    for _, _, start, end in blocks:
        if start > cursor:
            steps.extend(split_blank_lines(text[cursor:start]))
        steps.append(text[start:end])
        cursor = end
    if cursor < len(text):
        tail = text[cursor:]
        if steps and not tail.strip():
            steps[-1] += tail
        else:
            steps.extend(split_blank_lines(tail))
    return steps


def split_code_statements(text: str) -> list[str]:
    """Finer code steps, for Monte Carlo labels (a code block as one step leaves no prefix
    to complete): ``split_code_steps``, then each fenced block cut before every line that
    starts a statement of the top level or of a top-level body (indent at most 4
    columns), except continuation lines of an open bracket, comments and the closing
    fence. The opening fence stays with the first statement, the closing one with the
    last. ``"".join`` gives ``text`` back."""
    out: list[str] = []
    for step in split_code_steps(text):
        if not step.lstrip().startswith("```"):
            out.append(step)
            continue
        pieces: list[str] = []
        depth = 0  # open brackets: a line inside them continues a statement
        for number, line in enumerate(step.splitlines(keepends=True)):
            stripped = line.strip()
            indent = len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip())
            starts = (number >= 2 and depth == 0 and bool(stripped) and indent <= 4
                      and not stripped.startswith(("```", "#", ")", "]", "}")))
            if starts or not pieces:
                pieces.append(line)
            else:
                pieces[-1] += line
            depth = max(0, depth + sum(map(line.count, "([{")) - sum(map(line.count, ")]}")))
        out.extend(pieces)
    return out


def _split_top_level(code: str) -> list[str]:
    pieces, start = [], 0
    for match in _TOP_LEVEL_BREAK.finditer(code):
        pieces.append(code[start:match.end()])
        start = match.end()
    pieces.append(code[start:])
    return [p for p in pieces if p]


def int_option(name: str, value: Any, minimum: int = 1) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"option {name} must be an integer, not {value!r}") from None
    if number < minimum:
        raise ConfigError(f"option {name} must be at least {minimum}, not {number}")
    return number


def float_option(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"option {name} must be a number, not {value!r}") from None
    if not number > 0:
        raise ConfigError(f"option {name} must be positive, not {number}")
    return number


def budget_option(name: str, value: Any) -> float | None:
    """A non-negative number of seconds, or None / "none" for no budget at all."""
    if value is None or (isinstance(value, str) and value.lower() in ("none", "inf")):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"option {name} must be a number or none, not {value!r}") from None
    if not number >= 0:
        raise ConfigError(f"option {name} must be at least 0, not {number}")
    return number


class CodeTask(Task):
    """Base of the code tasks: programs graded in a shared sandbox pool."""

    domain: ClassVar = "code"
    check_threshold: ClassVar[float] = 0.99
    #: modules the benchmark's own evaluator has imported before a program runs (each
    #: sandbox slot imports them once, when the sandbox interpreter has them)
    preload: ClassVar[tuple[str, ...]] = ()

    def __init__(self, workers: Any = None, python: str | None = None) -> None:
        self.workers = int_option("workers", workers) if workers is not None else None
        self.python = python
        self._sandbox: Sandbox | None = None

    def sandbox(self) -> Sandbox:
        """The worker pool, started on first use and closed with the task."""
        if self._sandbox is None:
            data_dir = getattr(self, "data_dir", None)  # hidden from programs: answer key
            self._sandbox = Sandbox(workers=self.workers, python=self.python,
                                    hide=[data_dir] if data_dir else [],
                                    preload=self.preload)
            weakref.finalize(self, self._sandbox.close)
        return self._sandbox

    def grading_provenance(self) -> dict[str, Any]:
        """The sandbox as it is here: interpreter path, version and libraries, workers."""
        return {"sandbox": self.sandbox().provenance()}

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None

    def loaded(self, table: dict[str, Any], problem: Problem) -> Any:
        """The runner's record for ``problem`` (loaded by ``load``)."""
        try:
            return table[problem.id]
        except KeyError:
            raise InputError(f"{problem.id} is not a loaded {self.name} problem") from None

    # -- the text side ---------------------------------------------------------------
    def split_steps(self, text: str) -> list[str]:
        return split_code_steps(text)

    def extract(self, text: str) -> str | None:
        return find_program(text)

    @abstractmethod
    def program(self, problem: Problem, text: str) -> str | None:
        """The program to run for a completion of ``problem`` (None: no code)."""

    def prepare(self, problem: Problem, index: int, text: str,
                sample_id: str | None = None) -> Sample:
        return Sample(problem_id=problem.id, index=index, text=text,
                      steps=self.split_steps(text), program=self.program(problem, text),
                      sample_id=sample_id)

    def evalplus_solution(self, problem: Problem, record: dict[str, Any]) -> str:
        """An evalplus-style line's program, as evalplus runs it: ``solution`` verbatim,
        or the prompt followed by ``completion`` (no extraction either way)."""
        solution = record.get("solution")
        if isinstance(solution, str):
            return solution
        completion = record.get("completion")
        if not isinstance(completion, str):
            raise KeyError("solution")
        return self.completion_prefix(problem) + completion

    def completion_prefix(self, problem: Problem) -> str:
        """What evalplus-style ``completion`` text is appended to."""
        return str(problem.metadata.get("prompt", ""))

    def verbatim_program(self, problem: Problem, code: str) -> str:
        """The program run for code given as is (evalplus-style lines)."""
        return code

    def prepare_record(self, problem: Problem, index: int, record: dict[str, Any],
                       sample_id: str | None = None) -> Sample:
        """An evalplus-style line runs verbatim; any other line goes through ``program``."""
        if not is_evalplus_style(record):
            return super().prepare_record(problem, index, record, sample_id)
        code = self.evalplus_solution(problem, record)
        return Sample(problem_id=problem.id, index=index, text=code,
                      steps=self.split_steps(code),
                      program=self.verbatim_program(problem, code), sample_id=sample_id)

    # -- grading -----------------------------------------------------------------
    @abstractmethod
    def verdicts(self, items: Sequence[tuple[Problem, Sequence[str | None]]]
                 ) -> list[list[Verdict]]:
        """Verdicts for the programs of many problems, run together in the pool."""

    def grade(self, problem: Problem, samples: Sequence[Sample]) -> list[Grade]:
        return self.grade_batch([(problem, samples)])[0]

    def grade_batch(self, batch: Sequence[tuple[Problem, Sequence[Sample]]]
                    ) -> list[list[Grade]]:
        items = [(problem, [s.program for s in samples]) for problem, samples in batch]
        out = []
        for (problem, samples), verdicts in zip(batch, self.verdicts(items), strict=True):
            out.append([Grade(problem_id=problem.id, sample_index=s.index,
                              correct=v.correct, vote_key=v.vote_key, details=v.details)
                        for s, v in zip(samples, verdicts, strict=True)])
        return out
