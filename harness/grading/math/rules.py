"""The grader's own rules: answer pairs decided without math-verify.

The full specification: docs/math-grading.md, section ``harness.grading.math.rules``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from harness.grading.math.base_answers import (
    BasedNumber,
    based_equals_integer,
    based_number,
    same_based_number,
)
from harness.grading.math.exact_values import Literal, integer_value, literal
from harness.grading.math.time_answers import ClockTime, clock_time, same_time

Verdict = tuple[bool, str, str | None]


@dataclass(frozen=True)
class Facts:
    """What the rules read from one answer string, computed once per pool."""

    text: str
    literal: Literal | None
    clock: ClockTime | None
    based: BasedNumber | None
    #: the integer it writes (with the answer-choice wrapper read in integer mode)
    integer: int | None

    @property
    def has_meridiem(self) -> bool:
        return self.clock is not None and self.clock.meridiem


def facts(answer: str, choice_wrapper: bool = False) -> Facts:
    return Facts(answer, literal(answer, choice_wrapper), clock_time(answer),
                 based_number(answer), integer_value(answer, choice_wrapper))


def _far(a: Fraction, b: Fraction) -> bool:
    scale: Fraction = max(Fraction(1), abs(a), abs(b))
    return abs(a - b) > Fraction(2, 10**6) * scale


def _time_verdict(gold: ClockTime | None, answer: ClockTime | None) -> Verdict:
    if same_time(gold, answer):
        return True, "time", None
    if gold is None or answer is None:
        return False, "time", "only one of gold and answer is a time of day"
    if gold.minute is None or answer.minute is None:
        return False, "time", "a time without a.m./p.m. against one with it"
    return False, "time", "a different time of day"


def _terminates(value: Fraction) -> bool:
    """Whether ``value`` has a finite decimal expansion."""
    den = value.denominator
    for prime in (2, 5):
        while den % prime == 0:
            den //= prime
    return den == 1


def _literal_verdict(gold: Literal, answer: Literal) -> Verdict | None:
    if gold.variable is not None and answer.variable is not None:
        return None
    if not gold.decimal and not answer.decimal:
        return gold.value == answer.value, "rational", None
    rounded = (gold.decimal != answer.decimal
               and not _terminates((answer if gold.decimal else gold).value))
    if rounded and not _far(gold.value, answer.value):
        return None
    return gold.value == answer.value, "decimal", None


def rule_verdict(gold: Facts, answer: Facts) -> Verdict | None:
    """The rules' verdict on (gold, answer), or None when math-verify must decide."""
    if gold.text == answer.text:
        return True, "exact", None
    if gold.has_meridiem or answer.has_meridiem:
        return _time_verdict(gold.clock, answer.clock)
    if gold.based is not None:
        equal, reason = same_based_number(gold.based, answer.based, answer.text)
        return equal, "base", reason
    if answer.based is not None and gold.integer is not None:
        equal, reason = based_equals_integer(answer.based, gold.integer)
        return equal, "base", reason
    if answer.based is not None:
        return False, "base", "a number with a base subscript against a gold that is none"
    if gold.literal is not None and answer.literal is not None:
        return _literal_verdict(gold.literal, answer.literal)
    return None
