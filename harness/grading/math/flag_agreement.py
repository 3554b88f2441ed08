"""How often our math grader agrees with the correctness flags another evaluator stored.

The reference is Qwen2.5-Math's own evaluation output (``math_cot_100.jsonl`` in the data
mirror: 100 MATH test problems x 8 responses, with ``score``, the flag Qwen's grader gave
each response). Every response is extracted and graded by the harness's rules against the
file's ``answer`` field, and every disagreement is listed, so a change in the rules shows
up as a changed list (``tests/test_math_flag_agreement.py`` pins it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import InputError
from harness.grading.math.extraction import extract_answer
from harness.grading.math.grader import MathGrader
from harness.store.jsonl import jsonl_records

QWEN_POOL = "samples/qwen2.5-math_math_cot_100/math_cot_100.jsonl"
FIELDS = {"idx": int, "answer": str, "code": list, "pred": list, "score": list}


def _rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    for line, row in jsonl_records(path, FIELDS):
        n = len(row["code"])
        for name in ("pred", "score"):
            if len(row[name]) != n:
                raise InputError(f"{len(row[name])} entries for {n} responses", path=path,
                                 line=line, field=name)
        rows.append(row)
    return rows


def flag_agreement(path: Path, grader: MathGrader) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(figures, disagreements) of ``grader`` against the stored flags in ``path``."""
    rows = _rows(path)
    jobs = [(row["answer"], [extract_answer(text) for text in row["code"]]) for row in rows]
    verdicts = grader.grade_many(jobs)
    total = agree = 0
    disagreements = []
    for row, (_, answers), problem_verdicts in zip(rows, jobs, verdicts, strict=True):
        for j, verdict in enumerate(problem_verdicts):
            total += 1
            if verdict.correct == bool(row["score"][j]):
                agree += 1
                continue
            disagreements.append({
                "idx": row["idx"], "response": j, "gold": row["answer"],
                "qwen_pred": row["pred"][j], "qwen_correct": bool(row["score"][j]),
                "our_answer": answers[j], "our_correct": verdict.correct,
                "our_status": verdict.status, "tail": row["code"][j][-300:]})
    figures = {
        "responses": total, "agree": agree, "agreement": agree / total,
        "disagreements": len(disagreements),
        "qwen_accuracy": sum(bool(s) for r in rows for s in r["score"]) / total,
        "our_accuracy": sum(v.correct for pv in verdicts for v in pv) / total,
        "grader": grader.identity()}
    return figures, disagreements
