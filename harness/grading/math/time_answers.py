"""Times of day in answers, compared as times before math-verify sees them.

The full specification: docs/math-grading.md, section ``harness.grading.math.time_answers``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WRAPPERS = re.compile(r"\\(?:textnormal|textrm|textbf|text|mathrm|mbox)\s*\{([^{}]*)\}")
_SPACES = re.compile(r"\\[,;:! ]|~|\s+")
_MERIDIEM = re.compile(r"(\d{1,2})(?::(\d{2}))?([ap])\.?m\.?")
_TWENTY_FOUR = re.compile(r"(\d{1,2}):(\d{2})")


@dataclass(frozen=True)
class ClockTime:
    """A time of day as written: its minute of the day (None when the half of the day is
    unknown) and whether a.m./p.m. was given."""

    minute: int | None
    meridiem: bool


def clock_time(answer: str) -> ClockTime | None:
    """The time of day an answer states, or None when it is not one."""
    text = answer.replace("{:}", ":")
    if len(text) > 80:
        return None
    previous = None
    while previous != text:  # nested wrappers, innermost first
        previous, text = text, _WRAPPERS.sub(r"\1", text)
    text = _SPACES.sub("", text).lower()
    match = _MERIDIEM.fullmatch(text)
    if match:
        hour, minute = int(match.group(1)), int(match.group(2) or 0)
        if not 1 <= hour <= 12 or minute > 59:
            return None
        return ClockTime((hour % 12 + (12 if match.group(3) == "p" else 0)) * 60 + minute, True)
    match = _TWENTY_FOUR.fullmatch(text)
    if match:
        hour, minute = int(match.group(1)), int(match.group(2))
        if hour > 23 or minute > 59:
            return None
        return ClockTime(None if 1 <= hour <= 12 else hour * 60 + minute, False)
    return None


def same_time(gold: ClockTime | None, answer: ClockTime | None) -> bool:
    """Both are times of day and name the same minute (an unknown half never matches)."""
    return (gold is not None and answer is not None and gold.minute is not None
            and gold.minute == answer.minute)
