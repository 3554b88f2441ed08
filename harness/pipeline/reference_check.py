"""The reference check: grade a task's own reference solutions before trusting its grader.

Used by ``prm-harness tasks check`` (the whole task) and by ``run`` (the run's problems, the
result recorded in the manifest). References that cannot pass on this machine are counted
apart, the machine's fault and not the reference's: a library that is missing in the
sandbox interpreter (``missing-library``), or a failure after the reference tried to reach
the network, which the sandbox denies (``needs-network``). References the task had to
synthesise from the gold answer (an AoPS solution without a final answer) verify nothing:
they are listed under ``synthesised``, not graded, and the pass rate is over the others.

All references are graded in one batch, so the sandbox pool streams them: a slow one holds
up only its own slot.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from harness.errors import HarnessError
from harness.interfaces import Task
from harness.progress import bar
from harness.store.keys import key_of
from harness.store.provenance import now_utc
from harness.store.rundir import RunDir
from harness.types import Problem

APART = {"missing-library": "missing", "needs-network": "network_attempts"}


def check_references(task: Task, problems: list[Problem], label: str) -> dict[str, Any]:
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
    apart: dict[str, list[dict[str, Any]]] = {status: [] for status in APART}
    statuses: Counter[str] = Counter()
    n_total = n_passed = 0
    with bar(f"checking {label} ({len(pairs)} problems)", total=len(pairs)) as advance:
        graded = task.grade_batch(pairs)  # one batch: code tasks fill their worker pool
        advance(len(pairs))
    for (problem, _), grades in zip(pairs, graded, strict=True):
        for g in grades:
            status = str(g.details.get("status", "pass" if g.correct else "fail"))
            statuses[status] += 1
            if status in APART:
                apart[status].append({"problem_id": problem.id,
                                      "why": g.details.get(APART[status]),
                                      "reason": str(g.details.get("reason"))[:300]})
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
            "missing_library": len(apart["missing-library"]),
            "missing_library_tasks": apart["missing-library"],
            "needs_network": len(apart["needs-network"]),
            "needs_network_tasks": apart["needs-network"]}


def below_threshold(result: dict[str, Any]) -> bool:
    """True when references were checked and too few of them passed."""
    rate = result["pass_rate"]
    return rate is not None and rate < result["threshold"]


def record_reference_check(run: RunDir, task: Task, task_identity: dict[str, Any],
                           problems: list[Problem], mode: str, label: str,
                           log: Callable[[str], None]) -> None:
    """The run's reference check: computed once per (task identity, problems), kept as
    ``reference_check.json``, summarised in the manifest; "require" stops a failing run."""
    if mode == "skip":
        run.update_manifest(reference_check={"mode": "skip"})
        return
    key = key_of({"stage": "reference_check", "task": task_identity,
                  "problems": [p.id for p in problems]})
    path = run.path / "reference_check.json"
    stored = run.read_json(path.name) if path.is_file() else None
    if stored is None or stored.get("key") != key:
        log(f"checking references of {len(problems)} problems")
        result = check_references(task, problems, label)
        stored = {"key": key, "checked": now_utc(), **result}
        run.write_json(path.name, stored)
    summary = {k: v for k, v in stored.items() if k not in ("failures",
                                                            "missing_library_tasks")}
    summary["failures"] = stored["failures"][:20]
    run.update_manifest(reference_check={"mode": mode, "file": path.name, **summary})
    if mode == "require" and below_threshold(stored):
        ids = sorted({f["problem_id"] for f in stored["failures"]})
        raise HarnessError(
            f"reference solutions pass {stored['pass_rate']:.1%} < threshold "
            f"{stored['threshold']:.0%} on this run's problems (failing: "
            f"{', '.join(ids[:10])}{' ...' if len(ids) > 10 else ''}); see {path}; set "
            "task.reference_check=record to run anyway")
