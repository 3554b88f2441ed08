"""Read a plain samples file for ``prm-harness score``, validating every field first.

Each line: ``problem_id`` (str), ``problem`` (the problem text), ``steps`` (a non-empty
list of strings); optional ``sample_id`` (str or int, unique within its problem) and step
labels for the ``step-label`` oracle: ``step_labels`` (one entry per step) or
``first_error_step`` (ProcessBench's index, -1 = all correct). Lines of one problem must
carry the same problem text. A sample's index is its position among its problem's lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import InputError
from harness.store.jsonl import read_jsonl
from harness.types import Problem, Sample

SAMPLES_TASK = "samples-file"


@dataclass
class ScoreInput:
    """Records in file order, with the Problem and Sample built from each."""

    records: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # one per record
    samples: list[Sample] = field(default_factory=list)  # one per record
    labels: dict[tuple[str, str], Any] = field(default_factory=dict)


def _string(record: dict[str, Any], name: str, path: Path, line: int) -> str:
    value = record.get(name)
    if value is None:
        raise InputError("missing", path=path, line=line, field=name)
    if not isinstance(value, str):
        raise InputError(f"expected a string, got {type(value).__name__}", path=path,
                         line=line, field=name)
    return value


def _steps(record: dict[str, Any], path: Path, line: int) -> list[str]:
    steps = record.get("steps")
    if steps is None:
        raise InputError("missing", path=path, line=line, field="steps")
    if not isinstance(steps, list) or not steps:
        raise InputError("expected a non-empty list of strings", path=path, line=line,
                         field="steps")
    for k, step in enumerate(steps):
        if not isinstance(step, str):
            raise InputError(f"item {k} is {type(step).__name__}, not a string", path=path,
                             line=line, field="steps")
    return steps


def _labels(record: dict[str, Any], n_steps: int, path: Path, line: int) -> Any:
    has_list, has_first = "step_labels" in record, "first_error_step" in record
    if has_list and has_first:
        raise InputError("give step_labels or first_error_step, not both", path=path,
                         line=line, field="step_labels")
    if has_list:
        labels = record["step_labels"]
        if not isinstance(labels, list) or len(labels) != n_steps:
            raise InputError(f"expected a list of {n_steps} labels (one per step)",
                             path=path, line=line, field="step_labels")
        for k, label in enumerate(labels):
            valid = isinstance(label, bool) or (isinstance(label, int) and label in (1, 0, -1))
            if not valid:
                raise InputError(f"item {k} is {label!r}; labels are 1, 0, -1 or booleans",
                                 path=path, line=line, field="step_labels")
        return labels
    if has_first:
        first = record["first_error_step"]
        if isinstance(first, bool) or not isinstance(first, int) or not -1 <= first < n_steps:
            raise InputError(f"expected -1 or a step index below {n_steps}", path=path,
                             line=line, field="first_error_step")
        return {"first_error_step": first}
    return None


def read_score_input(path: str | Path) -> ScoreInput:
    """Every line validated; errors name the file, the line and the field."""
    p = Path(path)
    out = ScoreInput()
    texts: dict[str, tuple[str, int]] = {}
    seen: dict[tuple[str, str], int] = {}
    counts: dict[str, int] = {}
    for line, record in read_jsonl(p):
        problem_id = _string(record, "problem_id", p, line)
        text = _string(record, "problem", p, line)
        steps = _steps(record, p, line)
        if problem_id in texts and texts[problem_id][0] != text:
            raise InputError(f"problem {problem_id!r} has a different text on line "
                             f"{texts[problem_id][1]}", path=p, line=line, field="problem")
        texts.setdefault(problem_id, (text, line))
        index = counts.get(problem_id, 0)
        counts[problem_id] = index + 1
        sample_id = record.get("sample_id")
        if sample_id is not None and (isinstance(sample_id, bool)
                                      or not isinstance(sample_id, (str, int))):
            raise InputError("expected a string or an integer", path=p, line=line,
                             field="sample_id")
        key = str(sample_id) if sample_id is not None else str(index)
        if (problem_id, key) in seen:
            raise InputError(f"sample {key!r} of problem {problem_id!r} repeats line "
                             f"{seen[(problem_id, key)]}", path=p, line=line, field="sample_id")
        seen[(problem_id, key)] = line
        labels = _labels(record, len(steps), p, line)
        if labels is not None:
            out.labels[(problem_id, key)] = labels
        out.records.append(record)
        out.problems.append(Problem(problem_id, SAMPLES_TASK, "math",
                                    [{"role": "user", "content": text}], None,
                                    {"statement": text}))
        out.samples.append(Sample(problem_id, index, "".join(steps), steps=list(steps),
                                  sample_id=None if sample_id is None else str(sample_id)))
    if not out.records:
        raise InputError("no samples in file", path=p)
    return out
