"""A self-test of the math grader: fixed answer pairs with known verdicts, run for real.

``tasks check`` grades a task's reference solutions, but on MATH-500 every reference
matches its gold answer letter for letter, so that check never reaches math-verify. These
pairs do: known-equivalent and known-different answers (``\\dfrac``, ``a/b``, decimals,
intervals, tuples, matrices, degrees, percentages, sets, times of day, thousands
separators, numbers in a base) and pools whose voting classes are known, graded through
the grader's own math-verify workers. Integer-mode graders (AIME) get integer golds. A wrong
verdict, a wrong class, or no pair reaching math-verify at all (status ``ok``) is a
failure, with the pair and the grader's status and reason (``message``: one line for the
terminal).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from harness.grading.math.grader import MathGrader

# (gold, answer, equal)
PAIRS: list[tuple[str, str, bool]] = [
    ("\\frac{1}{2}", "\\dfrac{1}{2}", True),
    ("\\frac{1}{2}", "0.5", True),
    ("\\frac{1}{2}", "1/2", True),
    ("\\frac{\\sqrt{3}}{2}", "\\dfrac{\\sqrt3}{2}", True),
    ("[-2,7)", "[-2, 7)", True),
    ("(-\\infty, 3]", "(-\\infty,3]", True),
    ("(1,2)", "(1, 2)", True),
    ("x^2+2x+1", "(x+1)^2", True),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", True),
    ("30^\\circ", "30", True),
    ("2\\pi", "\\pi\\cdot 2", True),
    ("50\\%", "50", True),
    ("\\{1,2\\}", "\\{2,1\\}", True),
    ("10{,}000", "10000", True),
    ("\\text{4:30 p.m.}", "4:30 \\text{ p.m.}", True),
    ("52_8", "52", True),
    ("\\frac{1}{3}", "0.333333", True),
    ("\\frac{1}{2}", "\\frac{1}{3}", False),
    ("\\frac{1}{2}", "0.51", False),
    ("\\frac{1}{1000000}", "\\frac{1}{1000001}", False),
    ("[-2,7)", "[-2,7]", False),
    ("(-\\infty, 3]", "(-\\infty,3)", False),
    ("(1,2)", "(2,1)", False),
    ("\\sqrt{2}", "\\sqrt{3}", False),
    ("x^2+2x+1", "(x-1)^2", False),
    ("12", "1 2", False),
    ("\\text{4:30 p.m.}", "4:30 \\text{ a.m.}", False),
    ("52_8", "52_5", False),
]
INTEGER_PAIRS: list[tuple[str, str, bool]] = [
    ("025", "25", True),
    ("113", "\\textbf{(113) }", True),
    ("25", "25.0", True),
    ("25", "\\frac{50}{2}", True),
    ("204", "2.04\\times 10^2", True),
    ("33", "\\sqrt{1089}", True),
    ("144", "12^2", True),
    ("10", "2 \\cdot 5", True),
    ("7", "x = \\sqrt{49}", True),
    ("25", "26", False),
    ("25", "25.5", False),
    ("12", "1 2", False),
    ("5", "\\sqrt{26}", False),
]
# (gold, answers, the class of each answer by first appearance: equal numbers vote together)
CLASS_POOLS: list[tuple[str, list[str], list[int]]] = [
    ("3", ["1/2", "0.5", "\\dfrac{1}{2}", "2", "\\frac{4}{2}"], [0, 0, 0, 1, 1]),
]
INTEGER_CLASS_POOLS: list[tuple[str, list[str], list[int]]] = [
    ("7", ["25", "25.0", "\\frac{50}{2}", "26"], [0, 0, 0, 1]),
]


def _classes(keys: list[str | None]) -> list[int]:
    ids: dict[str | None, int] = {}
    return [ids.setdefault(key, len(ids)) for key in keys]


def run_self_test(grader: MathGrader) -> dict[str, Any]:
    """Grade the fixed pairs and pools with ``grader``'s settings and math-verify workers (a fresh
    in-memory result cache, so nothing is answered from an earlier run)."""
    fresh = MathGrader(integer_answers=grader.integer_answers, timeout_s=grader.timeout_s,
                       verifiers=grader.verifiers)
    pairs = INTEGER_PAIRS if fresh.integer_answers else PAIRS
    pools = INTEGER_CLASS_POOLS if fresh.integer_answers else CLASS_POOLS
    verdicts = fresh.grade_many([(gold, [answer]) for gold, answer, _ in pairs]
                                + [(gold, answers) for gold, answers, _ in pools])
    failures: list[dict[str, Any]] = []
    statuses: Counter[str] = Counter()
    for (gold, answer, equal), (verdict,) in zip(pairs, verdicts, strict=False):
        statuses[verdict.status] += 1
        if verdict.correct != equal:
            failures.append({"gold": gold, "answer": answer, "expected": equal,
                             "got": verdict.correct, "status": verdict.status,
                             "reason": verdict.reason})
    for (gold, answers, expected), pool_verdicts in zip(pools, verdicts[len(pairs):],
                                                        strict=True):
        got = _classes([v.vote_key for v in pool_verdicts])
        if got != expected:
            failures.append({"gold": gold, "answers": answers, "expected_classes": expected,
                             "got_classes": got,
                             "statuses": [v.status for v in pool_verdicts]})
    if statuses["ok"] == 0:
        failures.append({"reason": "no pair was decided by math-verify (status ok)",
                         "statuses": dict(statuses)})
    for failure in failures:
        failure["message"] = _describe(failure)
    return {"pairs": len(pairs), "pools": len(pools), "passed": not failures,
            "statuses": dict(sorted(statuses.items())), "failures": failures}


def _describe(failure: dict[str, Any]) -> str:
    if "answer" in failure:
        return (f"{failure['answer']!r} against gold {failure['gold']!r}: expected "
                f"{'equal' if failure['expected'] else 'different'}, graded "
                f"{'equal' if failure['got'] else 'different'} (status {failure['status']}"
                f"{', ' + failure['reason'] if failure['reason'] else ''})")
    if "answers" in failure:
        return (f"voting classes of {failure['answers']!r}: expected "
                f"{failure['expected_classes']}, got {failure['got_classes']} (statuses "
                f"{failure['statuses']})")
    return str(failure["reason"])
