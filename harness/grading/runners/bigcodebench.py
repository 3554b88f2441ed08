"""BigCodeBench grading as its evaluator does it: the program and the task's unittest
``TestCases`` run together (module ``__test__``) under one time limit; the program passes
only if every test passes (skipped tests do not fail it).

The harness, not the child, decides: it lists the test methods itself (from the test
code's syntax tree) and requires the child's per-test events to show each of them start,
pass and stop (see harness.grading.runners.unittest_events), with no sign of tampering. A task
whose libraries are not installed in the sandbox interpreter is reported as
``missing-library``, and a failure after the program tried to reach the network (which the
sandbox denies) as ``needs-network``, never as a plain model failure.
The voting class is what the entry point returned on the inputs the tests call it with.
"""

from __future__ import annotations

import ast
import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.grading.runners.batch import grade_batch
from harness.grading.runners.unittest_events import Accounting, account
from harness.grading.runners.verdict import Verdict, outputs_vote_key, timing_borderline
from harness.grading.sandbox.core import Job, Limits, RunResult, Sandbox


def _parse(code: str) -> ast.Module:
    """``ast.parse`` without the SyntaxWarnings task code triggers (invalid escapes)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(code)



@dataclass(frozen=True)
class BigCodeBenchProblem:
    """What grading needs of one BigCodeBench task."""

    task_id: str
    code_prompt: str
    test: str
    entry_point: str
    libs: tuple[str, ...]


def test_method_names(test_code: str, class_name: str = "TestCases") -> set[str]:
    """Names of the ``test*`` methods unittest will run for ``class_name`` (including
    ones inherited from classes defined in the same code)."""
    tree = _parse(test_code)
    classes = {node.name: node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
    names: set[str] = set()
    seen: set[str] = set()
    todo = [class_name]
    while todo:
        name = todo.pop()
        if name in seen or name not in classes:
            continue
        seen.add(name)
        node = classes[name]
        for item in node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                    and item.name.startswith("test"):
                names.add(item.name)
        todo.extend(base.id for base in node.bases if isinstance(base, ast.Name))
    return names


def imported_modules(code: str) -> set[str]:
    """Top-level names of every module ``code`` imports (anywhere in it)."""
    try:
        tree = _parse(code)
    except (SyntaxError, ValueError):
        return set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def required_modules(problem: BigCodeBenchProblem) -> set[str]:
    """What the task itself needs: its declared libraries and the imports of its code
    prompt and its tests."""
    return (set(problem.libs) | imported_modules(problem.code_prompt)
            | imported_modules(problem.test))


class BigCodeBenchGrader:
    """Grades programs for BigCodeBench tasks across a sandbox pool."""

    def __init__(self, sandbox: Callable[[], Sandbox], *, timeout: float = 240.0,
                 memory_bytes: int = 8 << 30, processes: int = 64) -> None:
        self._sandbox = sandbox
        self.timeout = timeout
        self.memory_bytes = memory_bytes
        self.processes = processes
        self._available: dict[str, bool] = {}

    def identity(self) -> dict[str, Any]:
        return {"timeout": self.timeout, "memory_bytes": self.memory_bytes,
                "processes": self.processes}

    def available(self, modules: set[str]) -> dict[str, bool]:
        """Which modules the sandbox interpreter can import (probed once, in the sandbox)."""
        unknown = sorted(m for m in modules if m not in self._available)
        if unknown:
            run = self._sandbox().run(Job("probe", {"modules": unknown}, Limits(wall_s=60)))
            if run.status != "ok":
                raise RuntimeError(f"library probe failed: {run.status} {run.detail} "
                                   f"{run.stderr[-500:]!r}")
            self._available.update(run.result["modules"])
        return {m: self._available[m] for m in modules}

    def _limits(self) -> Limits:
        return Limits(wall_s=self.timeout + 15, memory_bytes=self.memory_bytes,
                      stack_bytes=10 << 20, processes=self.processes, file_bytes=1 << 30,
                      tmpfs_bytes=1 << 30)

    def grade(self, items: Sequence[tuple[BigCodeBenchProblem, Sequence[str | None]]]
              ) -> list[list[Verdict]]:
        """Verdicts for every program (None: no code) of every problem."""
        needed = set().union(*(required_modules(p) for p, _ in items)) if items else set()
        found = self.available(needed)

        def skip(problem: BigCodeBenchProblem) -> dict[str, Any] | None:
            missing = sorted(m for m in required_modules(problem) if not found[m])
            if not missing:
                return None
            return {"status": "missing-library", "missing": missing,
                    "reason": f"not installed in the sandbox interpreter: {missing}"}

        def make_job(problem: BigCodeBenchProblem, program: str) -> Job:
            payload = {"program": program + "\n" + problem.test, "timeout": self.timeout,
                       "entry_point": problem.entry_point}
            return Job("unittest", payload, self._limits())

        def judge_run(problem: BigCodeBenchProblem, run: RunResult) -> Verdict:
            verdict = judge(problem, run)
            flag = timing_borderline(run.wall_s, self.timeout, scope="suite")
            if flag is not None:
                verdict.details["timing_borderline"] = flag
            return verdict

        return grade_batch(items, self._sandbox(), make_job, judge_run, skip)


def judge(problem: BigCodeBenchProblem, run: RunResult) -> Verdict:
    """The verdict on one run, from the harness' own accounting of the test events."""
    base: dict[str, Any] = {"wall_s": round(run.wall_s, 3)}
    report = run.result if run.status == "ok" else {}
    if report.get("network"):
        base["network_attempts"] = report["network"][:5]
    if run.status != "ok":
        status = "timeout" if run.status == "timeout" else "fail"
        running = account(test_method_names(problem.test), run.events).running
        return Verdict(False, None, {**base, "status": status, "reason": run.status,
                                     "detail": run.detail, "running": running})
    if report.get("status") == "timeout":
        return Verdict(False, None, {**base, "status": "timeout",
                                     "reason": "test suite ran past the time limit"})
    vote_key = outputs_vote_key([json.dumps(report.get("calls", []), sort_keys=True)])
    if report.get("status") != "ran":
        return _failed(base, report.get("error", "did not run"), vote_key)
    expected = test_method_names(problem.test)
    details: dict[str, Any] = {**base, "tests": len(expected)}
    accounting = account(expected, run.events)
    if accounting.passed and report.get("tampered"):
        accounting = Accounting(False, "test harness tampered with",
                                tampered=list(report["tampered"]))
    if not accounting.passed:
        if accounting.failed:
            details["failed"] = accounting.failed
        if accounting.tampered:
            details["tampered"] = accounting.tampered[:20]
        return _failed(details, accounting.reason, vote_key)
    details["status"] = "pass"
    return Verdict(True, vote_key, details)



def _failed(details: dict[str, Any], reason: str, vote_key: str | None) -> Verdict:
    """A failing verdict; ``needs-network`` when the program tried to reach the network
    (every such attempt fails in the sandbox, so the failure may be the sandbox's)."""
    status = "needs-network" if details.get("network_attempts") else "fail"
    return Verdict(False, vote_key, {**details, "status": status, "reason": reason})
