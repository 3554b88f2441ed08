"""The one reader of a stored pool file (what ``generate`` writes, what ``replay`` serves).

A pool line names its problem and carries the completion (``completion`` or ``text``),
optional token counts and finish reason, and optionally its ``index`` within the problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import InputError
from harness.store.jsonl import read_jsonl


class StoredSample:
    """One stored sample."""

    def __init__(self, text: str, prompt_tokens: int | None, completion_tokens: int | None,
                 finish_reason: str | None) -> None:
        self.text = text
        self.prompt_tokens, self.completion_tokens = prompt_tokens, completion_tokens
        self.finish_reason = finish_reason


def _optional_int(row: dict[str, Any], name: str, path: Path, line: int) -> int | None:
    value = row.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or value < 0):
        raise InputError("expected a non-negative integer", path=path, line=line, field=name)
    return value


def read_pool(path: Path) -> dict[str, list[StoredSample]]:
    """Samples per problem, in pool order; indices, when given, must be 0..k-1 per problem."""
    indexed: dict[str, dict[int, tuple[int, StoredSample]]] = {}
    ordered: dict[str, list[StoredSample]] = {}
    for line, row in read_jsonl(path):
        problem_id = row.get("problem_id")
        if not isinstance(problem_id, str):
            raise InputError("missing or not a string", path=path, line=line,
                             field="problem_id")
        field = "completion" if "completion" in row else "text"
        text = row.get(field)
        if not isinstance(text, str):
            raise InputError("missing or not a string (a pool line needs 'completion' or "
                             "'text')", path=path, line=line, field=field)
        stored = StoredSample(text, _optional_int(row, "prompt_tokens", path, line),
                         _optional_int(row, "completion_tokens", path, line),
                         row.get("finish_reason"))
        index = _optional_int(row, "index", path, line)
        if index is None:
            if problem_id in indexed:
                raise InputError("this problem's other lines carry 'index'", path=path,
                                 line=line, field="index")
            ordered.setdefault(problem_id, []).append(stored)
            continue
        if problem_id in ordered:
            raise InputError("this problem's other lines carry no 'index'", path=path,
                             line=line, field="index")
        seen = indexed.setdefault(problem_id, {})
        if index in seen:
            raise InputError(f"duplicate index {index} for problem {problem_id!r} (first on "
                             f"line {seen[index][0]})", path=path, line=line, field="index")
        seen[index] = (line, stored)
    for problem_id, by_index in indexed.items():
        if sorted(by_index) != list(range(len(by_index))):
            missing = sorted(set(range(max(by_index) + 1)) - set(by_index))
            raise InputError(f"problem {problem_id!r}: indices must run 0..{len(by_index) - 1}"
                             f", missing {missing[:5]}", path=path, field="index")
        ordered[problem_id] = [by_index[i][1] for i in range(len(by_index))]
    if not ordered:
        raise InputError("no samples in the pool", path=path)
    return ordered
