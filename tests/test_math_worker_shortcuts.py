"""The math-verify worker's shortcuts, checked against math-verify itself, in process.

Both shortcuts claim to give what math-verify would: the integer parse (``parse`` returns
[Integer(n), the text] for plain digits) and ``surely_different`` (pairs ``verify`` can only
call different). A math-verify upgrade that changes either fails here.
"""

from __future__ import annotations

import itertools
import signal

import pytest

from harness.grading.math.verify_worker import Verifier

ANSWERS = [
    "2", "3", "-3", "025", "25", "2.0", "0.5", "\\frac{1}{2}", "1/2", "\\frac{1}{3}",
    "0.333333", "x = 2", "y = 2", "x = 3", "e", "\\pi", "2\\pi", "\\sqrt{2}", "\\sqrt2",
    "2^{1/2}", "x^2+2x+1", "(x+1)^2", "(x-1)^2", "p - q", "q - p", "(1,2)", "(1, 2)",
    "(2,1)", "(1,2,3)", "[1,2)", "[1,2]", "(-\\infty, 3]", "\\{1,2\\}", "\\{2,1\\}",
    "1,2", "(0,9) \\cup (9,36)", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}",
    "\\begin{pmatrix} 2 \\\\ 1 \\end{pmatrix}", "\\begin{pmatrix} 1 & 2 \\end{pmatrix}",
    "50\\%", "50", "0.5\\%", "\\text{(C)}", "(C)", "\\text{east}", "east", "10^{10^{10}}",
    "30^\\circ", "\\frac{\\pi}{6}", "1+i", "\\infty", "x \\in [-2,7]", "2x = 4", "52_8",
]


@pytest.fixture(scope="module")
def verifier():
    previous = signal.getsignal(signal.SIGALRM)
    yield Verifier(timeout_s=30.0)
    signal.signal(signal.SIGALRM, previous)


def test_integer_parse_is_what_math_verify_returns(verifier):
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    configs = [LatexExtractionConfig(), ExprExtractionConfig()]
    for text in ["0", "7", "-3", "025", "-0", "123456789012345678901234567890"]:
        direct = parse("\\boxed{" + text + "}", extraction_config=configs, parsing_timeout=None)
        ours = verifier.parsed(text)
        assert ours == direct and [type(x) for x in ours] == [type(x) for x in direct], text


def test_surely_different_never_contradicts_verify(verifier):
    skipped = 0
    for gold, pred in itertools.permutations(ANSWERS, 2):
        if verifier.surely_different(gold, pred):
            skipped += 1
            assert not verifier._verify(verifier.parsed(gold), verifier.parsed(pred),
                                        timeout_seconds=None), (gold, pred)
    # and it does its job: most of these pairs are settled without verify
    assert skipped > 0.6 * len(ANSWERS) * (len(ANSWERS) - 1)


def test_pairs_verify_may_call_equal_are_left_to_it(verifier):
    for gold, pred in [("\\frac{1}{3}", "0.333333"), ("2", "x = 2"), ("x^2+2x+1", "(x+1)^2"),
                       ("50\\%", "50"), ("(1,2)", "1,2"), ("e", "\\text{e}"),
                       ("x = 2", "y = 2"), ("\\{1,2\\}", "\\{2,1\\}")]:
        assert not verifier.surely_different(gold, pred), (gold, pred)
