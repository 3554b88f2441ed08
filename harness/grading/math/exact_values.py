"""Answers that are exact numbers as written: integers, integer fractions, decimals.

The full specification: docs/math-grading.md, section ``harness.grading.math.exact_values``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

_INTEGER = re.compile(r"[+-]?\d+")
_WRAPPER = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mbox)\s*\{(.*)\}", re.DOTALL)
_SEPARATOR = r"(?:\{,\}|,\\!\s*|,)"
_GROUPED = re.compile(rf"[+-]?\d{{1,3}}(?:{_SEPARATOR}\d{{3}})+")
_SEPARATORS = re.compile(_SEPARATOR)
_CHOICE = re.compile(r"\(\s*([+-]?\d+)\s*\)")
_FRACTION = re.compile(r"(-?)\\[dt]?frac\s*(?:\{\s*(\d+)\s*\}|(\d))\s*(?:\{\s*(\d+)\s*\}|(\d))")
_SLASH = re.compile(r"(-?\d+)\s*/\s*(\d+)")
_DECIMAL = re.compile(r"[+-]?(?:\d+\.\d+|\.\d+)")
#: ``x = 5``: math-verify reads a lower-case letter as a variable (``e`` is Euler's number,
#: ``i`` may be the imaginary unit, capitals are folded to lower case)
_ASSIGNED = re.compile(r"([a-df-hj-z])\s*=\s*(\S.*)", re.DOTALL)


def _without_separators(text: str) -> str:
    """``text`` with its thousands separators removed, if it is a grouped integer."""
    if not _GROUPED.fullmatch(text):
        return text
    kinds = {sep.strip() for sep in _SEPARATORS.findall(text)}
    return _SEPARATORS.sub("", text) if len(kinds) == 1 else text


def integer_value(answer: str, choice_wrapper: bool = False) -> int | None:
    """The integer an answer literally is (``"025"``, ``"10{,}000"``, ``"\\text{ 7 }"``;
    ``"(113)"`` only with ``choice_wrapper``), else None."""
    text = answer.strip()
    wrapped = _WRAPPER.fullmatch(text)
    if wrapped:
        text = wrapped.group(1).strip()
    if choice_wrapper:
        choice = _CHOICE.fullmatch(text)
        if choice:
            text = choice.group(1)
    text = _without_separators(text)
    if len(text) > 40 or not _INTEGER.fullmatch(text):
        return None
    return int(text)


def rational_value(answer: str, choice_wrapper: bool = False) -> Fraction | None:
    """The exact number an integer or integer-fraction literal is (``"\\frac{3}{2}"``,
    ``"-\\dfrac12"``, ``"3/2"``, ``"025"``), else None. Decimals are not included: math-verify
    compares them to fractions after rounding, which exact arithmetic would not reproduce."""
    whole = integer_value(answer, choice_wrapper)
    if whole is not None:
        return Fraction(whole)
    text = answer.strip()
    if len(text) > 60:
        return None
    match = _FRACTION.fullmatch(text)
    if match:
        sign, num_braced, num_digit, den_braced, den_digit = match.groups()
        num, den = int(num_braced or num_digit), int(den_braced or den_digit)
    else:
        match = _SLASH.fullmatch(text)
        if not match:
            return None
        sign, num, den = "", int(match.group(1)), int(match.group(2))
    if den == 0:
        return None
    return Fraction(-num if sign else num, den)


@dataclass(frozen=True)
class Literal:
    """A number as written: its exact value, whether it has a decimal point, and the
    variable it is assigned to (``x`` in ``x = 5``), if any."""

    value: Fraction
    decimal: bool
    variable: str | None = None


def literal(answer: str, choice_wrapper: bool = False) -> Literal | None:
    """The number an answer literally is (see the module docstring), else None."""
    text = answer.strip()
    variable = None
    assigned = _ASSIGNED.fullmatch(text)
    if assigned:
        variable, text = assigned.group(1), assigned.group(2).strip()
    value = rational_value(text, choice_wrapper)
    if value is not None:
        return Literal(value, False, variable)
    if len(text) <= 40 and _DECIMAL.fullmatch(text):
        return Literal(Fraction(text), True, variable)
    return None
