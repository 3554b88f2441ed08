"""The grader's own rules before math-verify: literals, times of day, numbers in a base."""

from __future__ import annotations

from fractions import Fraction

import pytest

from harness.grading.math.exact_values import Literal, integer_value, literal, rational_value
from harness.grading.math.grader import MathGrader
from harness.grading.math.time_answers import clock_time
from harness.grading.math.verify_workers import VerifierWorkers


@pytest.fixture(scope="module")
def pool():
    p = VerifierWorkers(n_workers=1, timeout_s=2.0)
    yield p
    p.close()


@pytest.mark.parametrize(("answer", "value"), [
    ("025", 25), ("-7", -7), ("\\text{ 7 }", 7),
    ("10{,}000", 10000), ("10,\\!080", 10080), ("11,\\! 111,\\! 111,\\! 100", 11111111100),
    ("58,500", 58500), ("-1,000", -1000),
])
def test_integer_literals(answer, value):
    assert integer_value(answer) == value


@pytest.mark.parametrize("answer", [
    "1 2",  # spaces are not separators
    "1,00", "10,0000", "1{,}000,000",  # groups of 3 only, one kind of separator
    "(113)", "\\textbf{(113) }",  # parentheses only as an answer-choice wrapper
    "1.5", "12a", "",
])
def test_not_integer_literals(answer):
    assert integer_value(answer) is None


def test_choice_wrapper_only_when_asked():
    assert integer_value("\\textbf{(113) }", choice_wrapper=True) == 113
    assert integer_value("( 25 )", choice_wrapper=True) == 25
    assert integer_value("(1,2)", choice_wrapper=True) is None
    assert rational_value("(3)") is None and rational_value("(3)", choice_wrapper=True) == 3


def test_separators_and_spaces_in_the_grader(pool):
    grader = MathGrader(verifiers=pool, timeout_s=2.0)
    verdicts = grader.grade("10{,}000", ["10000", "10,000", "10,\\!000", "10 000"])
    assert [(v.correct, v.status) for v in verdicts[:3]] == [(True, "rational")] * 3
    assert verdicts[3].status != "rational"  # left to math-verify, which says no
    assert not verdicts[3].correct
    spaced = grader.grade("12", ["1 2"])[0]
    assert spaced.status == "ok" and not spaced.correct


def test_parentheses_are_a_wrapper_only_in_integer_mode(pool):
    plain = MathGrader(verifiers=pool, timeout_s=2.0).grade("113", ["(113)"])[0]
    assert plain.status == "ok"  # math-verify decides, not the literal reader
    aime = MathGrader(verifiers=pool, timeout_s=2.0, integer_answers=True)
    verdicts = aime.grade("113", ["\\textbf{(113) }", "(113)", "1 13"])
    assert [(v.correct, v.status) for v in verdicts] == [(True, "rational"), (True, "rational"),
                                                          (False, "ok")]


@pytest.mark.parametrize(("answer", "minute", "meridiem"), [
    ("\\text{4:30 p.m.}", 990, True), ("4:30 \\text{ p.m.}", 990, True),
    ("4:30pm", 990, True), ("4:30 P.M.", 990, True), ("4:30\\,\\mathrm{pm}", 990, True),
    ("4{:}30~\\text{p.m}", 990, True), ("12 a.m.", 0, True), ("12:05 p.m.", 725, True),
    ("16:30", 990, False), ("4:30", None, False), ("0:15", 15, False),
])
def test_clock_times(answer, minute, meridiem):
    clock = clock_time(answer)
    assert clock is not None and (clock.minute, clock.meridiem) == (minute, meridiem)


@pytest.mark.parametrize("answer", ["13:00 p.m.", "4:75 pm", "24:00", "4.5", "\\frac{1}{2}"])
def test_not_clock_times(answer):
    assert clock_time(answer) is None


def test_time_answers_in_the_grader(pool):
    grader = MathGrader(verifiers=pool, timeout_s=2.0)
    answers = ["4:30 \\text{ p.m.}", "4:30pm", "16:30", "4:30", "5:30 p.m.", "5:30pm",
               "4:30 a.m.", "16.5"]
    verdicts = grader.grade("\\text{4:30 p.m.}", answers)
    assert [v.correct for v in verdicts] == [True, True, True, False, False, False, False, False]
    assert {v.status for v in verdicts} == {"time"}
    assert len({v.vote_key for v in verdicts[:3]}) == 1
    assert verdicts[4].vote_key == verdicts[5].vote_key != verdicts[6].vote_key
    assert "without a.m./p.m." in (verdicts[3].reason or "")
    # no a.m./p.m. on either side: not a time question (a ratio), math-verify decides
    ratio = grader.grade("3:45", ["3:45", "6:90"])
    assert [v.status for v in ratio] == ["exact", "ok"]


def test_numbers_in_a_base(pool):
    grader = MathGrader(verifiers=pool, timeout_s=2.0)
    answers = ["52", "52_8", "52_{8}", "052_8", "52_5", "42", "101010_2", "59_8"]
    verdicts = grader.grade("52_8", answers)
    assert [v.correct for v in verdicts] == [True, True, True, True, False, False, False,
                                             False]
    assert {v.status for v in verdicts} == {"base", "exact"}
    assert "base 5" in (verdicts[4].reason or "") and "not valid" in (verdicts[7].reason or "")
    # a plain integer gold asks for the number: the answer's digits read in its own base
    plain = grader.grade("42", ["52_8", "101010_2", "52_5", "52"])
    assert [v.correct for v in plain] == [True, True, False, False]
    # against a gold that is no integer, a based number is wrong without math-verify
    assert grader.grade("\\sqrt{2}", ["52_8"])[0].status == "base"


def test_numbers_in_a_base_in_integer_mode(pool):
    """An answer-choice wrapper is an integer in integer mode, also as a class's
    representative against a based answer (this raised ValueError before)."""
    grader = MathGrader(integer_answers=True, verifiers=pool, timeout_s=2.0)
    verdicts = grader.grade("7", ["\\textbf{(25)}", "11001_2", "111_2", "11_2"])
    assert [v.correct for v in verdicts] == [False, False, True, False]
    assert verdicts[0].vote_key == verdicts[1].vote_key  # 11001_2 is 25
    assert verdicts[2].status == "base" and verdicts[3].reason == "a different number"
    assert [v.correct for v in grader.grade("(25)", ["11001_2", "11000_2"])] == [True, False]


@pytest.mark.parametrize(("answer", "value", "decimal", "variable"), [
    ("5", Fraction(5), False, None), ("x = 5", Fraction(5), False, "x"),
    ("0.5", Fraction(1, 2), True, None), ("-.25", Fraction(-1, 4), True, None),
    ("y=\\frac{1}{2}", Fraction(1, 2), False, "y"), ("t = 2.50", Fraction(5, 2), True, "t"),
])
def test_literals(answer, value, decimal, variable):
    assert literal(answer) == Literal(value, decimal, variable)


@pytest.mark.parametrize("answer", ["e = 5", "i = 2", "X = 5", "x = y", "5.", "1 2", "2\\pi"])
def test_not_literals(answer):
    assert literal(answer) is None


def test_decimals_and_assignments_in_the_grader(pool):
    grader = MathGrader(verifiers=pool, timeout_s=2.0)
    verdicts = grader.grade("\\frac{1}{2}", ["0.5", "x = 0.5", "0.51", "x = \\frac{1}{2}",
                                             "0.5000001"])
    # 1/2 has a finite decimal, so 0.5000001 is another number (math-verify's rounding to
    # 6 decimals would call it equal); a rounded 1/3 is left to that rounding
    assert [(v.correct, v.status) for v in verdicts] == [
        (True, "decimal"), (True, "decimal"), (False, "decimal"), (True, "rational"),
        (False, "decimal")]
    assert [(v.correct, v.status) for v in grader.grade("\\frac{1}{3}", ["0.3333333"])] == [
        (True, "ok")]
    # two decimals, or a decimal against a fraction with a finite decimal: exact
    small = grader.grade(".0000672", [".0000671", "0.0000672", "\\frac{84}{1250000}"])
    assert [(v.correct, v.status) for v in small] == [(False, "decimal"), (True, "decimal"),
                                                      (True, "decimal")]
    assert grader.grade("\\frac{1}{8}", ["0.1251"])[0].status == "decimal"
    both = grader.grade("x = 5", ["y = 5", "5"])  # two assignments: math-verify's relations
    assert both[0].status == "ok" and both[1].status == "rational" and both[1].correct
