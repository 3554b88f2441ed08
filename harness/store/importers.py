"""Read external sample files into a pool (and grades and scores when the file has them).

Formats (registry kind ``importer``):
- ``flat``: the flat sample format (see harness.store.flat), optionally with ``text`` and
  ``steps``; grades from ``correct``, voting keys from ``answer``, scores from
  ``step_scores`` (or ``score``, stored as a one-element outcome score).
- ``evalplus``: evalplus ``samples.jsonl``: ``task_id`` with ``solution`` (a whole
  program) or ``completion`` (appended to the prompt). No grades: give ``--task``.
- ``qwen-math-eval``: the Qwen2.5-Math evaluation output (``idx``, ``question``,
  ``answer``, ``code``/``response``: n responses, ``pred``: extracted answers, ``score``:
  correctness flags, ``pred_score``: one reward-model score per response).
- ``codet-humaneval``: CodeT's generated HumanEval samples (``prompt``, ``samples``: the
  completions), problem ``line-<n>`` for line n (the file is not in HumanEval's order;
  the function the prompt defines last names the problem); no grades.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from harness import registry
from harness.errors import InputError
from harness.steps import split_blank_lines
from harness.store.flat import parse_flat_row
from harness.store.jsonl import read_jsonl
from harness.types import Grade, Sample, StepScores

SCORE_TRANSFORMS: dict[str, Callable[[float], float]] = {
    "none": lambda x: x,
    "sigmoid": lambda x: 1.0 / (1.0 + math.exp(-x)),
}


@dataclass
class ImportedPool:
    """What an importer read: samples grouped by problem, plus grades and scores if any."""

    samples: dict[str, list[Sample]] = field(default_factory=dict)
    grades: dict[str, list[Grade]] | None = None
    scores: dict[str, list[StepScores]] | None = None
    problems: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> text, gold
    score_kind: str | None = None  # "step" or "outcome"

    def add(self, sample: Sample) -> None:
        self.samples.setdefault(sample.problem_id, []).append(sample)


def _append(table: dict[str, list[Any]], problem_id: str, item: Any) -> None:
    table.setdefault(problem_id, []).append(item)


def read_flat_pool(path: Path, prm_id: str) -> ImportedPool:
    pool = ImportedPool(grades={})
    scores: dict[str, list[StepScores]] = {}
    with_scores = without = 0
    seen: dict[tuple[str, str], int] = {}
    for line, row in read_jsonl(path):
        flat = parse_flat_row(row, path, line)
        key = (flat.problem_id, repr(flat.sample_id))
        if key in seen:
            raise InputError(f"duplicate sample_id {flat.sample_id!r} for problem "
                             f"{flat.problem_id!r} (first on line {seen[key]})",
                             path=path, line=line, field="sample_id")
        seen[key] = line
        text = row.get("text", "")
        if not isinstance(text, str):
            raise InputError("expected a string", path=path, line=line, field="text")
        steps = row.get("steps")
        if steps is None:
            steps = split_blank_lines(text)
        index = len(pool.samples.get(flat.problem_id, []))
        pool.add(Sample(flat.problem_id, index, text, steps=list(steps), answer=flat.answer,
                        sample_id=str(flat.sample_id)))
        _append(pool.grades, flat.problem_id,  # type: ignore[arg-type]
                Grade(flat.problem_id, index, flat.correct, flat.answer, {"source": "imported"}))
        if flat.step_scores is not None or flat.score is not None:
            with_scores += 1
            values: list[float] = (flat.step_scores if flat.step_scores is not None
                                   else [float(flat.score)])  # type: ignore[arg-type]
            kind = "step" if flat.step_scores is not None else "outcome"
            _append(scores, flat.problem_id,
                    StepScores(flat.problem_id, index, prm_id, list(values), {"kind": kind}))
            pool.score_kind = kind
        else:
            without += 1
            if with_scores:
                raise InputError("missing score (earlier lines have one)", path=path,
                                 line=line, field="score")
    if with_scores and without:
        raise InputError("some lines have scores and some do not", path=path, field="score")
    pool.scores = scores or None
    return pool


def read_evalplus_pool(path: Path) -> ImportedPool:
    pool = ImportedPool()
    for line, row in read_jsonl(path):
        task_id = row.get("task_id")
        if not isinstance(task_id, str):
            raise InputError("missing or not a string", path=path, line=line, field="task_id")
        if isinstance(row.get("solution"), str):
            text, kind = row["solution"], "solution"
        elif isinstance(row.get("completion"), str):
            text, kind = row["completion"], "completion"
        else:
            raise InputError("needs a string 'solution' or 'completion'", path=path,
                             line=line, field="solution")
        index = len(pool.samples.get(task_id, []))
        pool.add(Sample(task_id, index, text, steps=split_blank_lines(text),
                        sample_id=str(row.get("_identifier", index)),
                        finish_reason=None))
        pool.problems.setdefault(task_id, {})["evalplus_field"] = kind
    return pool


def read_qwen_math_eval_pool(path: Path, prm_id: str, transform: str) -> ImportedPool:
    convert = SCORE_TRANSFORMS[transform]
    pool = ImportedPool(grades={}, score_kind="outcome")
    scores: dict[str, list[StepScores]] = {}
    for line, row in read_jsonl(path):
        for name in ("idx", "question", "pred", "score", "pred_score"):
            if name not in row:
                raise InputError("missing", path=path, line=line, field=name)
        responses = row.get("code", row.get("response"))
        if not isinstance(responses, list) or not all(isinstance(r, str) for r in responses):
            raise InputError("expected a list of strings", path=path, line=line, field="code")
        n = len(responses)
        for name in ("pred", "score", "pred_score"):
            if not isinstance(row[name], list) or len(row[name]) != n:
                raise InputError(f"expected a list of {n} entries (one per response)",
                                 path=path, line=line, field=name)
        problem_id = str(row["idx"])
        if problem_id in pool.samples:
            raise InputError(f"duplicate problem idx {problem_id}", path=path, line=line,
                             field="idx")
        pool.problems[problem_id] = {"question": row["question"],
                                     "answer": row.get("answer", row.get("gt")),
                                     "level": row.get("level")}
        for j, text in enumerate(responses):
            pred, flag, raw = row["pred"][j], row["score"][j], row["pred_score"][j]
            if pred is not None and not isinstance(pred, str):
                raise InputError(f"response {j}: expected a string or null", path=path,
                                 line=line, field="pred")
            if not isinstance(flag, bool):
                raise InputError(f"response {j}: expected true/false", path=path, line=line,
                                 field="score")
            if (not isinstance(raw, list) or len(raw) != 1
                    or not isinstance(raw[0], (int, float)) or isinstance(raw[0], bool)
                    or not math.isfinite(raw[0])):
                raise InputError(f"response {j}: expected a one-element list with a finite "
                                 f"number", path=path, line=line, field="pred_score")
            value = convert(float(raw[0]))
            if not 0.0 <= value <= 1.0:
                raise InputError(f"response {j}: score {raw[0]} is outside [0, 1]; import with "
                                 f"--score-transform sigmoid", path=path, line=line,
                                 field="pred_score")
            answer = pred if pred else None
            pool.add(Sample(problem_id, j, text, steps=split_blank_lines(text), answer=answer,
                            sample_id=str(j)))
            _append(pool.grades, problem_id,  # type: ignore[arg-type]
                    Grade(problem_id, j, flag, answer, {"source": "imported"}))
            _append(scores, problem_id,
                    StepScores(problem_id, j, prm_id, [value],
                               {"kind": "outcome", "raw": raw[0], "transform": transform}))
    if not pool.samples:
        raise InputError("no problems in file", path=path)
    pool.scores = scores
    return pool


class Importer(ABC):
    """One external file format: registry kind ``importer``, constructed without options."""

    name: ClassVar[str]

    @abstractmethod
    def read(self, path: Path, prm_id: str, transform: str) -> ImportedPool:
        """The file's pool; scores (if any) labelled ``prm_id``, mapped by ``transform``."""


class FlatImporter(Importer):
    name = "flat"

    def read(self, path: Path, prm_id: str, transform: str) -> ImportedPool:
        pool = read_flat_pool(path, prm_id)
        if pool.scores and transform != "none":
            convert = SCORE_TRANSFORMS[transform]
            for entries in pool.scores.values():
                for entry in entries:
                    entry.scores = [convert(x) for x in entry.scores]
        return pool


class EvalplusImporter(Importer):
    name = "evalplus"

    def read(self, path: Path, prm_id: str, transform: str) -> ImportedPool:
        return read_evalplus_pool(path)


class QwenMathEvalImporter(Importer):
    name = "qwen-math-eval"

    def read(self, path: Path, prm_id: str, transform: str) -> ImportedPool:
        return read_qwen_math_eval_pool(path, prm_id, transform)


class CodetHumanEvalImporter(Importer):
    """CodeT's ``HumanEval_*_code_solution.jsonl``: one line per HumanEval problem, not in
    the benchmark's order (problem ``line-<n>``; ``problems[id]["entry_point"]`` is the
    function its prompt defines last), its ``samples`` the completions in the file's order
    (sample id = position)."""

    name = "codet-humaneval"

    def read(self, path: Path, prm_id: str, transform: str) -> ImportedPool:
        pool = ImportedPool()
        for line, row in read_jsonl(path):
            prompt, samples = row.get("prompt"), row.get("samples")
            if not isinstance(prompt, str):
                raise InputError("missing or not a string", path=path, line=line,
                                 field="prompt")
            if not isinstance(samples, list) or not all(isinstance(x, str) for x in samples):
                raise InputError("expected a list of strings", path=path, line=line,
                                 field="samples")
            problem_id = f"line-{line}"
            defined = re.findall(r"^def\s+(\w+)\s*\(", prompt, flags=re.MULTILINE)
            pool.problems[problem_id] = {"prompt": prompt,
                                         "entry_point": defined[-1] if defined else None}
            for j, text in enumerate(samples):
                pool.add(Sample(problem_id, j, text, steps=split_blank_lines(text) or [text],
                                sample_id=str(j)))
        if not pool.samples:
            raise InputError("no problems in file", path=path)
        return pool


def read_external(path: Path, fmt: str, prm_id: str, transform: str) -> ImportedPool:
    """An external sample file in a registered format, as a pool with grades and scores."""
    if fmt not in registry.IMPORTERS.names():
        raise InputError(f"unknown format {fmt!r}; choose from "
                         f"{', '.join(registry.IMPORTERS.names())}")
    if transform not in SCORE_TRANSFORMS:
        raise InputError(f"unknown score transform {transform!r}")
    importer: Importer = registry.IMPORTERS.build(fmt)
    return importer.read(path, prm_id, transform)
