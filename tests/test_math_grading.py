"""math-verify grading through the worker pool: hard cases, voting classes, timeouts."""

from __future__ import annotations

import os
import signal
import time

import pytest

from harness.grading.math.exact_values import integer_value
from harness.grading.math.grader import MathGrader
from harness.grading.math.result_cache import ResultCache
from harness.grading.math.verify_workers import VerifierWorkers


@pytest.fixture(scope="module")
def pool():
    p = VerifierWorkers(n_workers=1, timeout_s=2.0)
    yield p
    p.close()


@pytest.fixture
def grader(pool):
    return MathGrader(verifiers=pool, timeout_s=2.0)


EQUIVALENT = [
    ("\\frac{1}{2}", "\\dfrac{1}{2}"),
    ("\\frac{1}{2}", "0.5"),
    ("\\frac{1}{2}", "1/2"),
    ("\\frac{\\sqrt{3}}{2}", "\\dfrac{\\sqrt3}{2}"),
    ("30^\\circ", "30"),
    ("10\\text{ cm}", "10"),
    ("[-2,7)", "[-2, 7)"),
    ("(1,2)", "(1, 2)"),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}"),
    ("50\\%", "50"),
    ("\\text{(C)}", "(C)"),
    ("x^2+2x+1", "(x+1)^2"),
    ("025", "25"),
]
DIFFERENT = [
    ("\\frac{1}{2}", "\\frac{1}{3}"),
    ("[-2,7)", "[-2,7]"),
    ("(1,2)", "(2,1)"),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} 2 \\\\ 1 \\end{pmatrix}"),
    ("30^\\circ", "60"),
    ("\\text{(C)}", "(D)"),
    ("5", "6"),
]


@pytest.mark.parametrize(("gold", "answer"), EQUIVALENT)
def test_equivalent_answers_are_correct(grader, gold, answer):
    assert grader.equivalent(gold, answer)


@pytest.mark.parametrize(("gold", "answer"), DIFFERENT)
def test_different_answers_are_wrong(grader, gold, answer):
    assert not grader.equivalent(gold, answer)


def test_voting_classes_and_keys(grader):
    answers = ["\\frac12", "0.5", "1/2", "3", "03", "\\frac{6}{2}", None, "7"]
    verdicts = grader.grade("\\frac{1}{2}", answers)
    assert [v.correct for v in verdicts] == [True, True, True, False, False, False, False, False]
    keys = [v.vote_key for v in verdicts]
    assert keys[0] == keys[1] == keys[2] == "1/2"  # integers, then fractions, then the rest
    assert keys[3] == keys[4] == keys[5] == "3"  # the integer literal leads its class
    assert keys[6] is None and verdicts[6].status == "no-answer"
    assert keys[7] == "7"
    statuses = [v.status for v in grader.grade("3", ["03", "3", "\\frac{6}{2}"])]
    assert statuses == ["rational", "exact", "rational"]
    # exact arithmetic on rational literals; a decimal is decided by value when it equals
    # the gold or is far from it, else by math-verify's rounding (1/3 = 0.333333 there)
    fast = grader.grade("\\frac{1}{1000000}", ["\\frac{1}{1000001}", "0.000001", "2/2000000"])
    assert [(v.correct, v.status) for v in fast] == [(False, "rational"), (True, "decimal"),
                                                     (True, "rational")]
    third = grader.grade("\\frac{1}{3}", ["0.333333", "0.33", "x = 0.333333"])
    assert [(v.correct, v.status) for v in third] == [(True, "ok"), (False, "decimal"),
                                                      (True, "ok")]


def test_vote_keys_do_not_depend_on_pool_order(grader):
    answers = ["2x+2", "2(x+1)", "x", "2 + 2x"]
    forward = grader.grade("2(x+1)", answers)
    backward = grader.grade("2(x+1)", answers[::-1])[::-1]
    assert forward == backward
    assert forward[0].vote_key == forward[1].vote_key == forward[3].vote_key


def test_unparseable_latex_is_wrong_not_an_error(grader):
    verdict = grader.grade("\\frac{1}{2}", ["\\frac{1}{"])[0]
    assert not verdict.correct and verdict.status == "unparsed"
    # the same unparseable string twice still votes together
    a, b = grader.grade("2", ["\\frac{1}{", "\\frac{1}{"])
    assert a.vote_key == b.vote_key == "\\frac{1}{"


def test_integer_mode_compares_integers():
    g = MathGrader(integer_answers=True, timeout_s=2.0, verifiers=VerifierWorkers(1, 2.0))
    try:
        verdicts = g.grade("025", ["25", "025", "\\textbf{(25)}", "26", "25.0", "\\frac{50}{2}"])
        assert [v.correct for v in verdicts] == [True, True, True, False, True, True]
        assert {v.vote_key for v in verdicts if v.correct} == {"25"}
        with pytest.raises(ValueError, match="integer gold"):
            g.grade("\\frac{1}{2}", ["1"])
    finally:
        g.verifiers.close()
    assert integer_value("\\text{ 7 }") == 7 and integer_value("1.5") is None


def test_huge_expression_times_out_and_never_hangs():
    pool = VerifierWorkers(n_workers=1, timeout_s=1.0)
    g = MathGrader(timeout_s=1.0, verifiers=pool)
    try:
        start = time.monotonic()
        verdicts = g.grade("2", ["9^{9^{9^{9}}}", "2", "10^{10^{10}}"])
        elapsed = time.monotonic() - start
        assert [v.correct for v in verdicts] == [False, True, False]
        assert verdicts[0].status == verdicts[2].status == "timeout"
        # one timeout per pathological answer (no class search against it)
        assert elapsed < 2 * (1.0 + 2.0) + 3.0
        # not cached: a timeout depends on the machine's load
        assert len(g.cache) == 0
    finally:
        pool.close()


def test_a_stalled_worker_is_killed_and_replaced():
    pool = VerifierWorkers(n_workers=1, timeout_s=0.5)
    try:
        with pool.worker() as w:
            os.kill(w._proc.pid, signal.SIGSTOP)  # alive but silent, like a C-level hang
            start = time.monotonic()
            replies = w.run([{"op": "eq", "gold": "1", "pred": "1"},
                             {"op": "eq", "gold": "1", "pred": "2"}])
            assert time.monotonic() - start < 0.5 + 2.0 + 30
            assert "killed" in replies[0]
            assert replies[1] == {"eq": False, "status": "ok", "reason": None}
            assert w.restarts == 1
    finally:
        pool.close()


def test_results_are_cached_by_content(tmp_path, pool):
    path = tmp_path / "grades.sqlite"
    g = MathGrader(verifiers=pool, cache=path)
    first = g.grade("\\frac{1}{2}", ["0.5", "1/3"])
    assert len(g.cache) == 1
    again = MathGrader(verifiers=pool, cache=ResultCache(path))  # a new process would do this
    assert again.cache.get(g._cache_key("\\frac{1}{2}", ["1/3", "0.5"])) is not None
    assert again.grade("\\frac{1}{2}", ["1/3", "0.5"])[::-1] == first
