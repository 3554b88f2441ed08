"""LiveCodeBench grading as its runner does it.

stdin/stdout tests: the program runs once per test input (LiveCodeBench's wrapping: the
``__main__`` guard removed, imports hoisted, a preamble of imports); its printed text is
compared with the expected output line by line after stripping the whole text and each
line, and a line that differs is still equal when both parse as the same list of
decimals. Functional (LeetCode) tests: ``Solution().<func_name>(*args)`` with arguments
parsed from JSON lines, the result (tuples as lists) equal to the JSON expected value.
Every test has the same time limit (6 s by default). The child only reports outputs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from harness.grading.runners.batch import grade_batch
from harness.grading.runners.verdict import Verdict, outputs_vote_key
from harness.grading.sandbox.child._sbx_values import encode, loads
from harness.grading.sandbox.core import Job, Limits, RunResult, Sandbox

# The imports LiveCodeBench puts in front of every program (its runner's preamble).
_STAR_MODULES = ("string", "re", "datetime", "collections", "heapq", "bisect", "copy",
                 "math", "random", "statistics", "itertools", "functools", "operator",
                 "io", "sys", "json", "builtins", "typing")
_PLAIN_MODULES = ("string", "re", "datetime", "collections", "heapq", "bisect", "copy",
                  "math", "random", "statistics", "itertools", "functools", "operator",
                  "io", "sys", "json")
PREAMBLE = ("".join(f"from {m} import *\n" for m in _STAR_MODULES)
            + "".join(f"import {m}\n" for m in _PLAIN_MODULES)
            + "sys.setrecursionlimit(50000)\n")


@dataclass(frozen=True)
class LiveCodeBenchTest:
    input: str
    output: str
    testtype: str  # "stdin" | "functional"


@dataclass(frozen=True)
class LiveCodeBenchProblem:
    question_id: str
    tests: tuple[LiveCodeBenchTest, ...]  # public then private, as LiveCodeBench runs them
    func_name: str | None  # set for functional (LeetCode) problems


def stripped_lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().split("\n")]


def _decimals(line: str) -> list[Decimal] | None:
    try:
        return [Decimal(x) for x in line.split()]
    except (InvalidOperation, ValueError):
        return None


def stdout_matches(printed: str, expected: str) -> bool:
    """LiveCodeBench's comparison of a program's stdout with the expected output."""
    got, want = stripped_lines(printed), stripped_lines(expected)
    if len(got) != len(want):
        return False
    for a, b in zip(got, want, strict=True):
        if a == b:
            continue
        da, db = _decimals(a), _decimals(b)
        if da is None or db is None or da != db:
            return False
    return True


class LiveCodeBenchGrader:
    def __init__(self, sandbox: Callable[[], Sandbox], *, timeout: float = 6.0,
                 memory_bytes: int = 4 << 30) -> None:
        self._sandbox = sandbox
        self.timeout = timeout
        self.memory_bytes = memory_bytes

    def identity(self) -> dict[str, Any]:
        return {"timeout": self.timeout, "memory_bytes": self.memory_bytes}

    def _job(self, problem: LiveCodeBenchProblem, program: str) -> Job:
        n = len(problem.tests)
        limits = Limits(wall_s=(self.timeout + 1) * n + 5, memory_bytes=self.memory_bytes,
                        processes=16)
        if problem.func_name is None:
            payload = {"program": program, "preamble": PREAMBLE, "time_limit": self.timeout,
                       "inputs": [t.input for t in problem.tests]}
            return Job("stdio", payload, limits)
        args = [encode([json.loads(line) for line in t.input.split("\n")])
                for t in problem.tests]
        payload = {"program": PREAMBLE + "\n\n" + program, "swallow_io": True,
                   "entry": {"name": problem.func_name, "namespace": "module",
                             "module_name": "tmp_sol", "solution_class": True},
                   "load_time_limit": self.timeout, "tuple_to_list": True,
                   "phases": [{"name": "tests", "inputs": args,
                               "time_limits": [self.timeout] * n}]}
        return Job("call", payload, limits)

    def grade(self, items: Sequence[tuple[LiveCodeBenchProblem, Sequence[str | None]]]
              ) -> list[list[Verdict]]:
        return grade_batch(items, self._sandbox(), self._job, judge)


def judge(problem: LiveCodeBenchProblem, run: RunResult) -> Verdict:
    base = {"wall_s": round(run.wall_s, 3)}
    if run.status != "ok":
        status = "timeout" if run.status == "timeout" else "fail"
        return Verdict(False, None, {**base, "status": status, "reason": run.status,
                                     "detail": run.detail})
    result = run.result
    if problem.func_name is not None:
        phase = result["phases"][0]
        if "load_error" in phase:
            return Verdict(False, None, {**base, "status": "fail",
                                         "reason": phase["load_error"]})
        outputs = loads(phase["outputs_json"])
        key_texts = [phase["outputs_json"]]
    else:
        if "load_error" in result:
            return Verdict(False, None, {**base, "status": "fail",
                                         "reason": result["load_error"]})
        outputs = result["outputs"]
        key_texts = [json.dumps([stripped_lines(o["stdout"]) if "stdout" in o else o
                                 for o in outputs])]
    reason = None
    for index, (test, got) in enumerate(zip(problem.tests, outputs, strict=False)):
        if "timeout" in got:
            reason = f"test {index}: time limit exceeded"
        elif "exc" in got:
            reason = f"test {index}: raised {got['exc']}"
        elif problem.func_name is not None:
            if got["v"] != json.loads(test.output):
                reason = f"test {index}: wrong answer"
        elif not stdout_matches(got["stdout"], test.output):
            reason = f"test {index}: wrong answer"
        if reason:
            break
    if reason is None and len(outputs) != len(problem.tests):
        reason = f"only {len(outputs)} of {len(problem.tests)} tests ran"
    abstain = any("timeout" in o for o in outputs)
    vote_key = None if abstain else outputs_vote_key(key_texts)
    if reason:
        return Verdict(False, vote_key, {**base, "status": "fail", "reason": reason})
    return Verdict(True, vote_key, {**base, "status": "pass"})
