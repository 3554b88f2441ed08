"""Ground-truth calibration: grade a task's own reference solutions before trusting its grader.

Used by ``prm-harness tasks check`` (the whole task) and by ``run`` (the run's problems, the
result recorded in the manifest). References whose library is missing on this machine are
counted apart: the machine's fault, not the reference's. References the task had to
synthesise from the gold answer (an AoPS solution without a final answer) verify nothing:
they are listed under ``synthesised``, not graded, and the pass rate is over the others.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from harness.interfaces import Task
from harness.progress import track
from harness.types import Problem


def check_references(task: Task, problems: list[Problem], label: str,
                     chunk: int = 32) -> dict[str, Any]:
    """Grade every reference completion of ``problems``; the pass rate, failures and why."""
    pairs = []
    synthesised = []
    for problem in problems:
        if task.reference_is_synthesised(problem):
            synthesised.append(problem.id)
            continue
        texts = task.reference_completions(problem)
        pairs.append((problem, [task.prepare(problem, i, t) for i, t in enumerate(texts)]))
    failures: list[dict[str, Any]] = []
    unavailable: list[dict[str, Any]] = []
    statuses: Counter[str] = Counter()
    n_total = n_passed = 0
    batches = [pairs[i:i + chunk] for i in range(0, len(pairs), chunk)]
    for batch in track(batches, f"checking {label}", total=len(batches)):
        for (problem, _), grades in zip(batch, task.grade_batch(batch), strict=True):
            for g in grades:
                status = str(g.details.get("status", "pass" if g.correct else "fail"))
                statuses[status] += 1
                if status == "missing-library":
                    unavailable.append({"problem_id": problem.id,
                                        "missing": g.details.get("missing")})
                    continue
                n_total += 1
                if g.correct:
                    n_passed += 1
                else:
                    reason = g.details.get("reason") or g.details.get("error") or g.details
                    failures.append({"problem_id": problem.id, "sample_index": g.sample_index,
                                     "reason": reason})
    return {"n": n_total, "passed": n_passed,
            "pass_rate": n_passed / n_total if n_total else None,
            "pass_rate_over": "verifiable references (synthesised ones excluded)",
            "synthesised": synthesised,
            "threshold": task.check_threshold,
            "statuses": dict(sorted(statuses.items())), "failures": failures,
            "missing_library": len(unavailable), "missing_library_tasks": unavailable}


def below_threshold(result: dict[str, Any]) -> bool:
    """True when references were checked and too few of them passed."""
    rate = result["pass_rate"]
    return rate is not None and rate < result["threshold"]
