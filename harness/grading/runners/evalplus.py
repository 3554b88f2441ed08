"""HumanEval+ / MBPP+ grading with evalplus' semantics, programs run in the sandbox.

Expected outputs come from running each task's canonical solution on its base and plus
inputs (in the sandbox too), cached on disk by content. A program passes when it loads and
every base and every plus input gives a matching output within its time limit,
``max(min_time_limit, gt_time_limit_factor * ground-truth time)`` per input, as evalplus
sets it. The child only reports what the program returned; the harness compares.

Unlike evalplus, the program runs on *all* inputs (not stopping at the first failure), so
its outputs can serve as its voting class: programs with equal outputs on the task's
inputs vote together; a program that does not load, crashes or times out abstains. The
harness follows the outputs as they stream in (evalplus_early) and stops a failing
program once it has run ``vote_budget_s`` past its first failure; it then abstains. The
tasks default to 20 s (docs/sandbox.md, "Voting budget"); None never stops one, so every
program that finishes has its full voting class; ``vote_budget_s=0`` stops at the first
failure, as evalplus does (pass/fail only, the fastest).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.grading.runners.batch import grade_batch
from harness.grading.runners.evalplus_compare import MBPP_NOT_NONE, PhaseChecker, digest_inputs
from harness.grading.runners.evalplus_early import EarlyVerdict, replay
from harness.grading.runners.verdict import Verdict, outputs_vote_key, timing_borderline
from harness.grading.sandbox.child._sbx_values import encode, loads
from harness.grading.sandbox.core import DRIVER_VERSION, Job, Limits, RunResult, Sandbox
from harness.store import cache

PHASES = ("base", "plus")


@dataclass(frozen=True)
class EvalplusProblem:
    """What evalplus needs of one HumanEval+/MBPP+ task (inputs already converted)."""

    task_id: str
    dataset: str  # "humaneval" | "mbpp"
    prompt: str
    entry_point: str
    canonical_solution: str
    base_inputs: list[Any]
    plus_inputs: list[Any]
    atol: float


@dataclass
class _Expected:
    outputs: dict[str, list[Any]]
    times: dict[str, list[float]]
    error: str | None = None
    # per phase: input index -> digest of its (long, exact-match) expected output
    digests: dict[str, dict[int, str]] = field(default_factory=dict)


def _encoded_phase_inputs(problem: EvalplusProblem) -> dict[str, list[Any]]:
    return {"base": [encode(list(a)) for a in problem.base_inputs],
            "plus": [encode(list(a)) for a in problem.plus_inputs]}


class EvalplusGrader:
    """Grades programs for HumanEval+ or MBPP+ problems across a sandbox pool."""

    def __init__(self, sandbox: Callable[[], Sandbox], *, min_time_limit: float = 1.0,
                 gt_time_limit_factor: float = 4.0, timeout_per_task: float = 60.0,
                 memory_bytes: int = 4 << 30, vote_budget_s: float | None = None) -> None:
        self._sandbox = sandbox
        self.vote_budget_s = vote_budget_s
        self.min_time_limit = min_time_limit
        self.gt_time_limit_factor = gt_time_limit_factor
        self.timeout_per_task = timeout_per_task
        self.memory_bytes = memory_bytes
        self._inputs_json: dict[str, tuple[dict[str, list[Any]], dict[str, str]]] = {}
        self._expected: dict[str, _Expected] = {}

    def identity(self) -> dict[str, Any]:
        return {"min_time_limit": self.min_time_limit,
                "gt_time_limit_factor": self.gt_time_limit_factor,
                "timeout_per_task": self.timeout_per_task,
                "memory_bytes": self.memory_bytes, "vote_budget_s": self.vote_budget_s}

    # -- inputs and expected outputs -------------------------------------------------
    def _inputs(self, problem: EvalplusProblem
                ) -> tuple[dict[str, list[Any]], dict[str, str]]:
        """Encoded inputs per phase, and the same rendered as JSON once per problem."""
        if problem.task_id not in self._inputs_json:
            trees = _encoded_phase_inputs(problem)
            texts = {name: json.dumps(trees[name], separators=(",", ":"), allow_nan=False)
                     for name in PHASES}
            self._inputs_json[problem.task_id] = (trees, texts)
        return self._inputs_json[problem.task_id]

    def _limits(self, wall_s: float) -> Limits:
        return Limits(wall_s=wall_s, memory_bytes=self.memory_bytes,
                      stack_bytes=self.memory_bytes, processes=8)

    def _call_job(self, problem: EvalplusProblem, program: str, limits_by_phase:
                  dict[str, list[float]], *, guard: bool, wall_s: float,
                  stream: bool = False, digests: dict[str, dict[int, str]] | None = None
                  ) -> Job:
        _, phase_texts = self._inputs(problem)
        head = {"program": program, "entry": {"name": problem.entry_point},
                "guard": "evalplus" if guard else None, "swallow_io": True,
                "filename": "<program>", "stream": stream}
        digests = digests or {}
        parts = ['{"name":' + json.dumps(name) + ',"inputs":' + phase_texts[name] +
                 ',"time_limits":' + json.dumps(limits_by_phase[name]) +
                 ',"digest":' + json.dumps(sorted(digests.get(name, {}))) + "}"
                 for name in PHASES]
        payload = json.dumps(head, allow_nan=False)[:-1] + ',"phases":[' + ",".join(parts) + "]}"
        return Job("call", {}, self._limits(wall_s), payload_json=payload)

    def _expected_key(self, problem: EvalplusProblem, python: str) -> str:
        _, texts = self._inputs(problem)
        digest = hashlib.sha256("".join(texts[n] for n in PHASES).encode()).hexdigest()
        return cache.cache_key({
            "kind": "evalplus-expected", "driver": DRIVER_VERSION,
            "dataset": problem.dataset, "task_id": problem.task_id,
            "program": problem.prompt + problem.canonical_solution,
            "entry_point": problem.entry_point,
            "inputs": digest,
            "python": python})

    def expected(self, problems: Sequence[EvalplusProblem]) -> dict[str, _Expected]:
        """Expected outputs and ground-truth times (cached on disk; missing ones are
        computed by running the canonical solutions in the sandbox, in parallel)."""
        missing = [p for p in problems if p.task_id not in self._expected]
        if not missing:
            return {p.task_id: self._expected[p.task_id] for p in problems}
        sandbox = self._sandbox()
        python = _python_version(sandbox.python)
        to_run = []
        for problem in missing:
            stored = cache.load("evalplus-expected", self._expected_key(problem, python))
            if stored is not None:
                self._expected[problem.task_id] = self._decode_expected(problem, stored)
            else:
                to_run.append(problem)
        jobs = []
        for problem in to_run:
            trees, _ = self._inputs(problem)
            generous = {name: [60.0] * len(trees[name]) for name in PHASES}
            jobs.append(self._call_job(problem, problem.prompt + problem.canonical_solution,
                                       generous, guard=False, wall_s=900.0))
        for problem, run in zip(to_run, sandbox.run_many(jobs), strict=True):
            stored = _expected_from_run(problem, run)
            if stored.get("error") is None:
                cache.store("evalplus-expected", self._expected_key(problem, python), stored)
            self._expected[problem.task_id] = self._decode_expected(problem, stored)
        return {p.task_id: self._expected[p.task_id] for p in problems}

    def _decode_expected(self, problem: EvalplusProblem, stored: dict[str, Any]) -> _Expected:
        if stored.get("error"):
            return _Expected({}, {}, stored["error"])
        outputs = {}
        for name in PHASES:
            values = [o["v"] for o in loads(stored[name])]
            if problem.dataset == "mbpp" and problem.entry_point in MBPP_NOT_NONE:
                values = [v is not None for v in values]
            outputs[name] = values
        digests = {name: digest_inputs(problem.entry_point, problem.atol, outputs[name])
                   for name in PHASES}
        return _Expected(outputs, {n: stored[n + "_time"] for n in PHASES}, digests=digests)

    # -- grading -----------------------------------------------------------------
    def time_limits(self, expected: _Expected) -> dict[str, list[float]]:
        return {name: [max(self.min_time_limit, self.gt_time_limit_factor * t)
                       for t in expected.times[name]] for name in PHASES}

    def grade(self, items: Sequence[tuple[EvalplusProblem, Sequence[str | None]]]
              ) -> list[list[Verdict]]:
        """Verdicts for every program (None: no code, abstains) of every problem."""
        expected = self.expected([p for p, _ in items])

        def skip(problem: EvalplusProblem) -> dict[str, Any] | None:
            error = expected[problem.task_id].error
            if error is None:
                return None
            return {"status": "error", "reason": f"ground truth failed: {error}"}

        def make_job(problem: EvalplusProblem, program: str) -> Job:
            limits = self.time_limits(expected[problem.task_id])
            wall = sum(min(self.timeout_per_task, sum(limits[n])) + 1 for n in PHASES)
            early = self.vote_budget_s is not None
            job = self._call_job(problem, program, limits, guard=True, wall_s=wall + 2,
                                 stream=early, digests=expected[problem.task_id].digests)
            if early:
                job.watch = self._watcher(problem, expected[problem.task_id])
            return job

        def judge(problem: EvalplusProblem, run: RunResult) -> Verdict:
            return self._judge(problem, expected[problem.task_id], run)

        return grade_batch(items, self._sandbox(), make_job, judge, skip)

    def _watcher(self, problem: EvalplusProblem, exp: _Expected) -> EarlyVerdict:
        assert self.vote_budget_s is not None
        return EarlyVerdict(problem.dataset, problem.entry_point, problem.atol,
                            [problem.base_inputs, problem.plus_inputs],
                            [exp.outputs[n] for n in PHASES], PHASES, self.vote_budget_s,
                            [exp.digests.get(n, {}) for n in PHASES])

    def _judge(self, problem: EvalplusProblem, exp: _Expected, run: RunResult) -> Verdict:
        if run.status == "cut":
            reason = replay(self._watcher(problem, exp), run.events)
            return Verdict(False, None, {
                "status": "fail", "reason": reason, "wall_s": round(run.wall_s, 3),
                "cut": f"still running {self.vote_budget_s} s after its first failure: "
                       "stopped, abstains from voting"})
        if run.status != "ok":
            return Verdict(False, None, {"status": "timeout" if run.status == "timeout"
                                         else "fail", "reason": run.status,
                                         "detail": run.detail, "wall_s": round(run.wall_s, 3)})
        phases = run.result["phases"]
        details: dict[str, Any] = {"wall_s": round(run.wall_s, 3)}
        key_texts = []
        correct = True
        abstain = False
        inputs = {"base": problem.base_inputs, "plus": problem.plus_inputs}
        for name, phase in zip(PHASES, phases, strict=True):
            if "load_error" in phase:
                details[f"{name}_status"] = "fail"
                details.setdefault("reason", phase["load_error"])
                correct = False
                abstain = True
                continue
            outputs = loads(phase["outputs_json"])
            status, reason = _check_phase(problem, inputs[name], exp.outputs[name], outputs,
                                          exp.digests.get(name, {}))
            details[f"{name}_status"] = status
            if status != "pass":
                correct = False
                details.setdefault("reason", f"{name}: {reason}")
            timed_out = [i for i, o in enumerate(outputs) if "timeout" in o]
            if timed_out:
                abstain = True
                details.setdefault("abstains", f"{name}: input {timed_out[0]} ran past its "
                                               "time limit")
            key_texts.append(phase["outputs_json"])
        details["status"] = "pass" if correct else "fail"
        borderline = _closest_to_limit(phases, self.time_limits(exp))
        if borderline is not None:
            details["timing_borderline"] = borderline
        vote_key = None if abstain else outputs_vote_key(key_texts)
        return Verdict(correct, vote_key, details)


def _closest_to_limit(phases: list[dict[str, Any]], limits: dict[str, list[float]]
                      ) -> dict[str, Any] | None:
    """The input whose run time came closest to its limit, when within 20% of it."""
    best: dict[str, Any] | None = None
    for name, phase in zip(PHASES, phases, strict=True):
        for index, (used, limit) in enumerate(zip(phase.get("times", []), limits[name],
                                                   strict=False)):
            flag = timing_borderline(used, limit, phase=name, input=index)
            if flag is not None and (best is None or flag["share"] > best["share"]):
                best = flag
    return best


def _check_phase(problem: EvalplusProblem, inputs: list[Any], expected: list[Any],
                 outputs: list[dict[str, Any]], digests: dict[int, str]
                 ) -> tuple[str, str]:
    checker = PhaseChecker(problem.dataset, problem.entry_point, problem.atol)
    if len(outputs) < len(expected):
        last = outputs[-1] if outputs else {}
        if "timeout" in last:
            return "fail", f"input {len(outputs) - 1}: time limit exceeded"
    for index, (args, exp, got) in enumerate(zip(inputs, expected, outputs, strict=False)):
        if "timeout" in got:
            return "fail", f"input {index}: time limit exceeded"
        if "exc" in got:
            return "fail", f"input {index}: raised {got['exc']}"
        if "d" in got:
            if index not in digests or got["d"] != digests[index]:
                return "fail", f"input {index}: wrong output"
            continue
        if "v" not in got or not checker.matches(args, got["v"], exp):
            return "fail", f"input {index}: wrong output"
    if len(outputs) != len(expected):
        return "fail", f"only {len(outputs)} of {len(expected)} outputs"
    return "pass", ""


def _expected_from_run(problem: EvalplusProblem, run: RunResult) -> dict[str, Any]:
    if run.status != "ok":
        return {"error": f"canonical solution {run.status}: {run.detail}; stderr: "
                         f"{run.stderr[-300:].decode(errors='replace')}"}
    stored: dict[str, Any] = {}
    for name, phase in zip(PHASES, run.result["phases"], strict=True):
        if "load_error" in phase:
            return {"error": f"canonical solution did not load: {phase['load_error']}"}
        for index, out in enumerate(loads(phase["outputs_json"])):
            if "v" not in out:
                return {"error": f"canonical solution failed on {name} input {index}: {out}"}
        stored[name] = phase["outputs_json"]
        stored[name + "_time"] = phase["times"]
    return stored


_PY_VERSIONS: dict[str, str] = {}


def _python_version(python: str) -> str:
    if python not in _PY_VERSIONS:
        import subprocess
        _PY_VERSIONS[python] = subprocess.run(
            [python, "-I", "-c", "import sys; print(sys.version)"], capture_output=True,
            text=True, check=True).stdout.strip() if python != sys.executable else sys.version
    return _PY_VERSIONS[python]
