"""Numbers written in a base with a subscript (``52_8``, ``4210_{5}``), compared as such.

The full specification: docs/math-grading.md, section ``harness.grading.math.base_answers``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_BASED = re.compile(r"([0-9A-Za-z]+)_(?:\{\s*(\d+)\s*\}|(\d+))")
_PLAIN = re.compile(r"[0-9A-Za-z]+")


@dataclass(frozen=True)
class BasedNumber:
    """Digits as written (lower case, leading zeros dropped) and the stated base."""

    digits: str
    base: int


def based_number(answer: str) -> BasedNumber | None:
    """The number an answer writes with a base subscript, or None."""
    match = _BASED.fullmatch(answer.strip())
    if not match:
        return None
    base = int(match.group(2) or match.group(3))
    if not 2 <= base <= 36:
        return None
    return BasedNumber(match.group(1).lower().lstrip("0") or "0", base)


def _value(digits: str, base: int) -> int | None:
    try:
        return int(digits, base)
    except ValueError:
        return None


def based_equals_integer(answer: BasedNumber, number: int) -> tuple[bool, str | None]:
    """(equal, reason when not) for an answer with a base subscript against a plain
    integer gold: the answer's value in its own base."""
    value = _value(answer.digits, answer.base)
    if value is None:
        return False, f"digits not valid in base {answer.base}"
    return value == number, None if value == number else "a different number"


def same_based_number(gold: BasedNumber, answer_based: BasedNumber | None,
                      answer: str) -> tuple[bool, str | None]:
    """(equal, reason when not) for a gold with a base subscript; ``answer_based`` is
    ``based_number(answer)``."""
    base = gold.base
    if answer_based is not None and answer_based.base != base:
        return False, f"written in base {answer_based.base}, the gold in base {base}"
    text = answer_based.digits if answer_based is not None else answer.strip()
    if not _PLAIN.fullmatch(text):
        return False, f"not a number in base {base}"
    value = _value(text, base)
    if value is None:
        return False, f"digits not valid in base {base}"
    equal = value == _value(gold.digits, base)
    return equal, None if equal else "a different number"
