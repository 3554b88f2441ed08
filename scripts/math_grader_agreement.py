"""Agreement of our math grader with the correctness flags of Qwen2.5-Math's example pool.

Reads ``samples/qwen2.5-math_math_cot_100/math_cot_100.jsonl`` from the data folder
(``--data-dir`` or PRM_HARNESS_DATA): 100 MATH test problems x 8 responses, each with the
flag (``score``) that Qwen's own evaluation gave it. Every response is extracted and graded
with the harness's rules against the file's own ``answer`` field. Prints one JSON line of
figures, then one JSON line per disagreement (problem, response, both answers, both
verdicts, our grading status) for inspection.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from harness.grading.answer_extraction import extract_answer
from harness.grading.math_answers import MathGrader
from harness.store.jsonl import read_jsonl

POOL = "samples/qwen2.5-math_math_cot_100/math_cot_100.jsonl"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("PRM_HARNESS_DATA"))
    args = parser.parse_args()
    if not args.data_dir:
        parser.error("pass --data-dir or set PRM_HARNESS_DATA")
    rows = [row for _, row in read_jsonl(Path(args.data_dir) / POOL)]
    grader = MathGrader()
    jobs = []
    for row in rows:
        jobs.append((row["answer"], [extract_answer(text) for text in row["code"]]))
    verdicts = grader.grade_many(jobs)
    agree = total = 0
    disagreements = []
    for row, (_, answers), problem_verdicts in zip(rows, jobs, verdicts, strict=True):
        for j, verdict in enumerate(problem_verdicts):
            total += 1
            if verdict.correct == row["score"][j]:
                agree += 1
                continue
            disagreements.append({
                "idx": row["idx"], "response": j, "gold": row["answer"],
                "qwen_pred": row["pred"][j], "qwen_correct": row["score"][j],
                "our_answer": answers[j], "our_correct": verdict.correct,
                "our_status": verdict.status, "tail": row["code"][j][-300:]})
    qwen_acc = sum(sum(r["score"]) for r in rows) / total
    ours_acc = sum(v.correct for pv in verdicts for v in pv) / total
    print(json.dumps({"responses": total, "agree": agree, "agreement": agree / total,
                      "disagreements": len(disagreements), "qwen_accuracy": qwen_acc,
                      "our_accuracy": ours_acc, "grader": grader.identity()}))
    for d in disagreements:
        print(json.dumps(d, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
