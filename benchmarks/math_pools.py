"""Seeded MATH-500-shaped pools of completion texts for the grading benchmark.

Each completion is a MATH-500 reference solution with its final ``\\boxed{}`` replaced, so
texts have real lengths and real LaTeX. What goes into the box is drawn per problem like a
sampled policy's answers:

- accuracy p ~ Beta(2, 2); a correct completion writes the gold answer in one of its
  equivalent spellings (``\\frac{1}{2}``, ``\\dfrac{1}{2}``, ``\\frac12``, ``1/2``, ``0.5``;
  ``5``, ``5.0``, ``x = 5``; with and without spaces after commas);
- a wrong one draws from the problem's own list of distinct wrong answers, about
  64 (1 - p)^1.5 of them (a hard problem has many), Zipf-weighted (a few common mistakes, a
  long tail): near misses of the gold (integers +/- 1, 2, 10, doubled, halved, negated;
  fractions with a changed numerator or denominator, or inverted; one digit changed) and
  other problems' golds; each wrong answer in its own varied spellings too;
- 3% stop before the box (no answer), 2% end "The answer is X." instead of a box (found by
  the fallback), 1% leave the box unclosed (a truncated completion: no answer).

``intended`` records whether each completion was built correct, to check the grading.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from harness.grading.math.exact_values import integer_value

_INT = re.compile(r"-?\d+")
_FRAC = re.compile(r"(-?)\\frac\{(\d+)\}\{(\d+)\}")


@dataclass
class Pool:
    """One problem's completion texts and whether each was built to be correct."""

    texts: list[str] = field(default_factory=list)
    intended: list[bool] = field(default_factory=list)


def _decimal(value: Fraction) -> str | None:
    """The terminating decimal of ``value`` with at most 4 places, else None."""
    for places in range(5):
        scaled = value * 10**places
        if scaled.denominator == 1:
            text = f"{abs(scaled.numerator):0{places + 1}d}"
            whole, frac = text[:len(text) - places], text[len(text) - places:]
            sign = "-" if value < 0 else ""
            return f"{sign}{whole}.{frac}" if places else f"{sign}{whole}"
    return None


def _latex_fraction(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    sign = "-" if value < 0 else ""
    return f"{sign}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"


def spellings(answer: str) -> list[str]:
    """Equivalent ways to write ``answer`` (each one grades equal to it)."""
    forms = {answer, answer.replace("\\frac", "\\dfrac")}
    if integer_value(answer) is None:  # not "58,500": there the comma is a separator
        forms |= {answer.replace(",", ", "), answer.replace(", ", ",")}
    if _INT.fullmatch(answer):
        forms |= {f"{answer}.0", f"x = {answer}"}
    frac = _FRAC.fullmatch(answer)
    if frac:
        sign, num, den = frac.groups()
        forms.add(f"{sign}{num}/{den}")
        if len(num) == 1 and len(den) == 1:
            forms.add(f"{sign}\\frac{num}{den}")
        decimal = _decimal(Fraction(int(f"{sign}{num}"), int(den))) if int(den) else None
        if decimal is not None:
            forms.add(decimal)
    return sorted(forms)


def _near_misses(gold: str, rng: np.random.Generator) -> set[str]:
    out: set[str] = set()
    if _INT.fullmatch(gold):
        g = int(gold)
        out |= {str(g + d) for d in (1, -1, 2, -2, 10, -10)}
        out |= {str(2 * g), str(g // 2), str(-g), str(g * g)}
        out |= {str(g + int(d)) for d in rng.integers(-60, 60, size=12)}
    frac = _FRAC.fullmatch(gold)
    if frac:
        sign, num, den = frac.groups()
        n, d = int(num), int(den)
        s = -1 if sign else 1
        for num_, den_ in ((s * (n + 1), d), (s * n, d + 1), (s * d, n), (-s * n, d),
                           (s * n, 2 * d), (s * 2 * n, d)):
            if den_:
                out.add(_latex_fraction(Fraction(num_, den_)))
    digits = [i for i, ch in enumerate(gold) if ch.isdigit()]
    for _ in range(12 if digits else 0):
        i = digits[rng.integers(len(digits))]
        new = str((int(gold[i]) + int(rng.integers(1, 10))) % 10)
        out.add(gold[:i] + new + gold[i + 1:])
    return out


def wrong_answers(gold: str, golds: list[str], n_wrong: int,
                  rng: np.random.Generator) -> list[str]:
    """Up to ``n_wrong`` distinct wrong answers for ``gold``, most common first."""
    near = sorted(_near_misses(gold, rng) - {gold})
    rng.shuffle(near)
    others = [g for g in rng.choice(golds, size=min(len(golds), 2 * n_wrong), replace=False)
              if g != gold]
    pool: list[str] = []
    gold_spellings = set(spellings(gold))
    for source in (near, others):  # near misses are the common mistakes
        for answer in source:
            if answer not in pool and answer not in gold_spellings:
                pool.append(answer)
    return pool[:max(n_wrong, 1)]


def _with_answer(head: str, rest: str, answer: str, form: float) -> str:
    if form < 0.02:
        return f"{head.rstrip()}\n\nThe answer is {answer}."
    if form < 0.03:
        return f"{head}\\boxed{{{answer}"  # truncated inside the box
    return f"{head}\\boxed{{{answer}}}{rest}"


def build_pools(problems: list[dict], n: int, seed: int = 0) -> list[Pool]:
    """``n`` completion texts per problem (see the module docstring)."""
    rng = np.random.default_rng(seed)
    golds = [p["answer"] for p in problems]
    pools = []
    for p in problems:
        solution, gold = p["solution"], p["answer"]
        cut = solution.rfind("\\boxed")
        head = solution[:cut]
        close = solution.find("}", cut)
        rest = solution[close + 1:] if close >= 0 else ""
        accuracy = rng.beta(2, 2)
        wrong = wrong_answers(gold, golds, round(64 * (1 - accuracy) ** 1.5), rng)
        weights = 1.0 / np.arange(1, len(wrong) + 1) ** 1.2
        weights /= weights.sum()
        gold_forms = spellings(gold)
        wrong_forms = [spellings(w) for w in wrong]
        pool = Pool()
        for _ in range(n):
            u = rng.random()
            if u < 0.03:
                pool.texts.append(head.rstrip())
                pool.intended.append(False)
                continue
            correct = rng.random() < accuracy or not wrong
            forms = gold_forms if correct else wrong_forms[rng.choice(len(wrong), p=weights)]
            answer = forms[rng.integers(len(forms))]
            form = rng.random()
            pool.texts.append(_with_answer(head, rest, answer, form))
            pool.intended.append(correct and not 0.02 <= form < 0.03)
        pools.append(pool)
    return pools
