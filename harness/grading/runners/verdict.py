"""The grading result every code runner returns, and how outputs become voting keys."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Verdict:
    """The outcome for one program: verdict, voting class and what went wrong."""

    correct: bool
    vote_key: str | None
    details: dict[str, Any] = field(default_factory=dict)


BORDERLINE = 0.8  # a run that used this share of its time limit may flip between runs


def timing_borderline(used_s: float, limit_s: float, **where: Any) -> dict[str, Any] | None:
    """What ``details["timing_borderline"]`` records when ``used_s`` is within 20% of
    ``limit_s`` (the verdict is then at the mercy of the machine's speed), else None."""
    share = used_s / limit_s if limit_s > 0 else 0.0
    if share < BORDERLINE:
        return None
    return {**where, "time_s": round(used_s, 3), "limit_s": round(limit_s, 3),
            "share": round(share, 3)}


ROUND_LIMIT = 1 << 20
_FLOAT_LITERAL = re.compile(r"-?\d+(?:\.\d+(?:[eE][-+]?\d+)?|[eE][-+]?\d+)")


def _round_literal(match: re.Match[str]) -> str:
    return format(float(match.group(0)), ".10g")


def outputs_vote_key(outputs_json: Sequence[str]) -> str:
    """sha256 of a program's outputs on the task's inputs, given as the JSON texts the
    sandbox returned (its voting class). Float literals count to 10 significant digits,
    so float noise does not split a class (outputs over 1 MB count exactly: rounding
    millions of literals would cost more than the run)."""
    digest = hashlib.sha256()
    for text in outputs_json:
        if len(text) <= ROUND_LIMIT:
            text = _FLOAT_LITERAL.sub(_round_literal, text)
        digest.update(text.encode())
        digest.update(b"\x1e")
    return digest.hexdigest()
