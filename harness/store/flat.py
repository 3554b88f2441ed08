"""The flat sample format: one graded (and optionally scored) sample per JSON line.

Fields: ``problem_id`` (str), ``sample_id`` (int or str), ``correct`` (bool), ``answer``
(str or null: the voting key; null abstains), ``score`` (number or null: the aggregated
PRM score), optional ``step_scores`` (list of numbers) and optional ``steps`` (list of
str; when both are present their lengths must agree).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.aggregate import aggregate, check_aggregation
from harness.errors import InputError
from harness.metrics import ProblemPool
from harness.store.jsonl import read_jsonl


@dataclass
class FlatSample:
    problem_id: str
    sample_id: int | str
    correct: bool
    answer: str | None
    score: float | None
    step_scores: list[float] | None
    line: int


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_flat_row(row: dict[str, Any], path: str | Path, line: int) -> FlatSample:
    """Validate one flat-format object; errors name the file, line and field."""

    def fail(field: str, message: str) -> InputError:
        return InputError(message, path=path, line=line, field=field)

    for required in ("problem_id", "sample_id", "correct"):
        if required not in row:
            raise fail(required, "missing")
    problem_id = row["problem_id"]
    if not isinstance(problem_id, str) or not problem_id:
        raise fail("problem_id", f"expected a non-empty string, got {problem_id!r}")
    sample_id = row["sample_id"]
    if isinstance(sample_id, bool) or not isinstance(sample_id, (int, str)):
        raise fail("sample_id", f"expected an int or a string, got {sample_id!r}")
    correct = row["correct"]
    if not isinstance(correct, bool):
        raise fail("correct", f"expected true or false, got {correct!r}")
    answer = row.get("answer")
    if answer is not None and not isinstance(answer, str):
        raise fail("answer", f"expected a string or null, got {answer!r}")
    score = row.get("score")
    if score is not None and not _number(score):
        raise fail("score", f"expected a number or null, got {score!r}")
    step_scores = row.get("step_scores")
    if step_scores is not None:
        if not isinstance(step_scores, list) or not all(_number(s) for s in step_scores):
            raise fail("step_scores", "expected a list of numbers")
        steps = row.get("steps")
        if steps is not None:
            if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
                raise fail("steps", "expected a list of strings")
            if len(steps) != len(step_scores):
                raise fail("step_scores",
                           f"{len(step_scores)} scores for {len(steps)} steps")
    return FlatSample(problem_id, sample_id, correct, answer,
                      None if score is None else float(score),
                      None if step_scores is None else [float(s) for s in step_scores], line)


def read_flat(path: str | Path) -> list[FlatSample]:
    """All samples of a flat file, validated, duplicates (problem, sample id) refused."""
    samples: list[FlatSample] = []
    first_line: dict[tuple[str, str], int] = {}
    for line, row in read_jsonl(path):
        sample = parse_flat_row(row, path, line)
        key = (sample.problem_id, repr(sample.sample_id))
        if key in first_line:
            raise InputError(
                f"duplicate sample_id {sample.sample_id!r} for problem {sample.problem_id!r} "
                f"(first on line {first_line[key]})", path=path, line=line, field="sample_id")
        first_line[key] = line
        samples.append(sample)
    if not samples:
        raise InputError("no samples in file", path=path)
    return samples


def selection_scores(samples: Iterable[FlatSample], path: str | Path,
                     aggregation: str | None) -> list[float] | None:
    """The score each sample is selected by: its ``score`` field, or the aggregation of its
    ``step_scores``. None when no sample carries one; a partial set is an error."""
    samples = list(samples)
    if aggregation is not None:
        try:
            check_aggregation(aggregation)
        except ValueError as exc:
            raise InputError(str(exc), path=path) from None
        out = []
        for s in samples:
            if s.step_scores is None:
                raise InputError(f"--aggregate {aggregation} needs step scores on every line",
                                 path=path, line=s.line, field="step_scores")
            if not s.step_scores:
                raise InputError("empty list: a sample with no step scores has no score",
                                 path=path, line=s.line, field="step_scores")
            out.append(aggregate(s.step_scores, aggregation))
        return out
    if all(s.score is None for s in samples):
        return None
    missing = next((s for s in samples if s.score is None), None)
    if missing is not None:
        raise InputError("missing score (other samples have one; prm@k and wmaj@k need a "
                         "score on every sample, a missing one is never taken as zero)",
                         path=path, line=missing.line, field="score")
    return [s.score for s in samples]  # type: ignore[misc]


def check_flat(samples: list[FlatSample], scores: list[float] | None, ks: Iterable[int],
               kinds: Iterable[str], path: str | Path, aggregation: str | None) -> None:
    """What the metrics would refuse, named by file, line and field: a k above a
    problem's pool (at the problem's first line) and, for wmaj@k, a negative score."""
    first: dict[str, int] = {}
    sizes: dict[str, int] = {}
    for s in samples:
        first.setdefault(s.problem_id, s.line)
        sizes[s.problem_id] = sizes.get(s.problem_id, 0) + 1
    for k in sorted(set(ks)):
        small = next((pid for pid in first if sizes[pid] < k), None)
        if small is not None:
            raise InputError(f"k={k} is larger than the pool of problem {small!r} "
                             f"(n={sizes[small]})", path=path, line=first[small],
                             field="problem_id")
    if "wmaj" in kinds and scores is not None:
        for s, score in zip(samples, scores, strict=True):
            if score < 0:
                field = "score" if aggregation is None else "step_scores"
                raise InputError(f"wmaj@k needs non-negative scores, got {score:g}"
                                 + ("" if aggregation is None else f" ({aggregation})")
                                 + "; map them to [0, 1] first (e.g. a sigmoid)",
                                 path=path, line=s.line, field=field)


def to_pools(samples: list[FlatSample], scores: list[float] | None) -> list[ProblemPool]:
    """Group samples into per-problem arrays; answers become classes. The pools carry
    the sample ids, so the metrics put them in id order, not file order."""
    order: dict[str, list[int]] = {}
    for i, s in enumerate(samples):
        order.setdefault(s.problem_id, []).append(i)
    pools = []
    for problem_id, indices in order.items():
        classes: dict[str, int] = {}
        answers = [samples[i].answer for i in indices]
        vote = np.array([-1 if a is None else classes.setdefault(a, len(classes))
                         for a in answers], dtype=np.int64)
        correct = np.array([samples[i].correct for i in indices], dtype=bool)
        score = None if scores is None else np.array([scores[i] for i in indices])
        pools.append(ProblemPool(problem_id, correct, vote, score,
                                 [samples[i].sample_id for i in indices]))
    return pools
