"""Early verdicts for evalplus grading: the harness follows a program's outputs as the
sandbox streams them and knows it has failed at its first wrong output, as evalplus does.

evalplus stops a program there. The harness goes on, because the outputs on all inputs
are the program's voting class, but only within a budget: a program still running
``budget_s`` seconds after its first failure is cut. Its verdict (fail) is the same; it
abstains from voting. Programs that pass are never cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.grading.runners.evalplus_compare import PhaseChecker
from harness.grading.sandbox.child._sbx_values import loads


class EarlyVerdict:
    """A job watcher: returns the budget once, at the first failing output."""

    def __init__(self, dataset: str, entry_point: str, atol: float,
                 inputs: Sequence[Sequence[Any]], expected: Sequence[Sequence[Any]],
                 phase_names: Sequence[str], budget_s: float,
                 digests: Sequence[dict[int, str]] | None = None) -> None:
        self.args = (dataset, entry_point, atol)
        self.inputs = inputs
        self.expected = expected
        self.names = phase_names
        self.budget_s = budget_s
        self.digests = digests or [{} for _ in phase_names]
        self.checkers: dict[int, tuple[PhaseChecker, int]] = {}
        self.reason: str | None = None

    def __call__(self, message: dict[str, Any]) -> float | None:
        if self.reason is not None or "progress" not in message:
            return None
        index = message["progress"]
        if not isinstance(index, int) or not 0 <= index < len(self.names):
            return None
        name = self.names[index]
        if "load_error" in message:
            self.reason = f"{name}: {message['load_error']}"
            return self.budget_s
        checker, position = self.checkers.get(index, (PhaseChecker(*self.args), 0))
        if message.get("start") != position:
            return None  # not the next chunk: not from the runner
        try:
            outputs = loads(message["outputs_json"])
        except (KeyError, TypeError, ValueError):
            return None
        for offset, got in enumerate(outputs):
            i = position + offset
            reason = self._check(name, i, checker, got, index)
            if reason is not None:
                self.reason = reason
                return self.budget_s
        self.checkers[index] = (checker, position + len(outputs))
        return None

    def _check(self, name: str, i: int, checker: PhaseChecker, got: Any,
               index: int) -> str | None:
        if i >= len(self.expected[index]) or not isinstance(got, dict):
            return f"{name}: unexpected output {i}"
        if "timeout" in got:
            return f"{name}: input {i}: time limit exceeded"
        if "exc" in got:
            return f"{name}: input {i}: raised {got['exc']}"
        if "d" in got:
            if got["d"] != self.digests[index].get(i):
                return f"{name}: input {i}: wrong output"
            return None
        if "v" not in got or not checker.matches(self.inputs[index][i], got["v"],
                                                 self.expected[index][i]):
            return f"{name}: input {i}: wrong output"
        return None


def replay(watcher: EarlyVerdict, events: list[dict[str, Any]]) -> str | None:
    """The failure a fresh watcher finds in ``events`` (why a cut program failed)."""
    for event in events:
        watcher(event)
    return watcher.reason
