"""Final-answer extraction on hand-written completions with known answers."""

from __future__ import annotations

import time

import pytest

from harness.grading.math.extraction import extract_answer, last_boxed

CASES = [
    ("So the answer is $\\boxed{5}$.", "5"),
    ("First \\boxed{3}, then corrected: \\boxed{4}", "4"),
    ("$\\boxed{\\frac{1}{2}}$", "\\frac{1}{2}"),
    ("nested \\boxed{\\boxed{7}}", "7"),
    ("\\boxed{x = \\boxed{2}}", "2"),
    ("\\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),  # escaped braces are not groups
    ("\\boxed{\\dfrac{\\sqrt{3}}{2}}", "\\dfrac{\\sqrt{3}}{2}"),
    ("\\fbox{12}", "12"),
    ("\\boxed 9 and done", "9"),
    ("\\boxed{\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}}",
     "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}"),
    ("\\boxed{30^\\circ}", "30^\\circ"),
    ("\\boxed{\\text{(C)}}", "\\text{(C)}"),
    ("\\boxed{[-2, 7)}", "[-2, 7)"),
    ("\\boxed{ 50\\% }", "50\\%"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_boxed(text: str, expected: str) -> None:
    assert extract_answer(text) == expected


def test_unclosed_box_is_ignored_and_earlier_box_used() -> None:
    assert extract_answer("\\boxed{1} ... finally \\boxed{\\frac{2}{3") == "1"
    assert last_boxed("\\boxed{\\frac{2}{3") is None
    # a fallback must not bring the cut-off box back
    assert extract_answer("so the answer is $\\boxed{13") is None
    assert extract_answer("Answer: 12\nso the answer is $\\boxed{13") is None
    assert extract_answer("The final answer is $\\boxed{13") is None


def test_empty_box_is_no_answer() -> None:
    assert extract_answer("\\boxed{}", fallbacks=False) is None
    assert extract_answer("\\boxed{ }") is None


def test_fallbacks_and_their_switch() -> None:
    minerva = "Final Answer: The final answer is $42$. I hope it is correct."
    assert extract_answer(minerva) == "42"
    assert extract_answer(minerva, fallbacks=False) is None
    assert extract_answer("Work...\nAnswer: 17.\n") == "17"
    assert extract_answer("so the answer is 3/4.") == "3/4"
    assert extract_answer("**Answer:** $x=2$") == "x=2"


def test_a_lone_dollar_is_no_answer_and_the_next_fallback_is_tried() -> None:
    text = "So the final answer is $\n\nThe answer is 8000."
    assert extract_answer(text) == "8000"
    assert extract_answer("\\boxed{$}") is None


def test_no_answer_at_all() -> None:
    assert extract_answer("I computed 12 and then 13 but I am not sure.") is None
    assert extract_answer("") is None


def test_box_beats_fallback_and_huge_input_is_fast() -> None:
    text = "The answer is 3.\n" + "x" * 2_000_000 + "\\boxed{8}"
    deep = "\\boxed{" + "{" * 50_000 + "}" * 50_000 + "}"
    # a looping, truncated completion: 50,000 boxes that never close, then a good one
    looping = "\\boxed{" * 50_000 + " \\boxed{7} and the text stops"
    start = time.perf_counter()
    assert extract_answer(text) == "8"
    assert extract_answer(deep) == "{" * 50_000 + "}" * 50_000
    assert extract_answer(looping) == "7"
    # about 0.1 s here; a rescan per unclosed box took minutes on the looping text
    assert time.perf_counter() - start < 3.0
