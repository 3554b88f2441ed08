"""Reading one run's result stream into a RunResult.

The zygote's header says how the job child ended; the report is the child's messages:
``setup`` first (written by trusted code just before the program started), then events
(unittest mode), then ``final``. A child that ended before ``setup`` failed in the
sandbox's own setup: that is a SandboxError, never a verdict on the program.
"""

from __future__ import annotations

from typing import Any

from harness.grading.sandbox.errors import SandboxError
from harness.grading.sandbox.types import RunResult

_EVENT_MODES = frozenset({"unittest", "call"})


def interpret(outcome: RunResult, mode: str) -> RunResult:
    frame = outcome.result
    outcome.result = None
    if outcome.status:  # timeout / output-limit / cut, decided while reading
        seen = [m for m in outcome.events if isinstance(m, dict)]
        outcome.events = seen[1:] if seen and "setup" in seen[0] else seen
        return outcome
    outcome.events = []
    if frame is None:
        outcome.status = "crashed"
        outcome.detail = "the sandbox slot sent no complete result stream"
        return outcome
    exit_status = frame.header.get("exit") or {}
    outcome.returncode = exit_status.get("code", -exit_status.get("signal", 0))
    if frame.header.get("killed") == "report-limit":
        outcome.status = "output-limit"
        outcome.detail = "report larger than the result limit"
        return outcome
    messages = frame.messages
    _check_setup(messages, outcome, exit_status)
    if frame.malformed is not None:
        outcome.status = "corrupt"
        outcome.detail = f"stray bytes on the report pipe: {frame.malformed}"
        return outcome
    return _finish(outcome, messages[1:], mode, exit_status)


def _check_setup(messages: list[Any], outcome: RunResult, exit_status: dict[str, Any]) -> None:
    first = messages[0] if messages else None
    if not isinstance(first, dict) or first.get("setup") not in ("ok", "error"):
        raise SandboxError(f"the sandboxed job ended before its setup completed (exit "
                           f"{exit_status}); stderr: "
                           f"{outcome.stderr[-1500:].decode(errors='replace')}")
    if first["setup"] == "error":
        raise SandboxError(f"sandbox setup failed: {first.get('error')}")
    outcome.isolation = first.get("isolation") or {}


def _finish(outcome: RunResult, messages: list[Any], mode: str,
            exit_status: dict[str, Any]) -> RunResult:
    final = messages[-1] if messages else None
    events = messages[:-1]
    if not isinstance(final, dict) or "final" not in final:
        outcome.status = "crashed"
        outcome.events = [m for m in messages if isinstance(m, dict)]
        outcome.detail = f"ended without a final report (exit {exit_status})"
        return outcome
    if exit_status != {"code": 0}:
        outcome.status = "crashed"
        outcome.detail = f"exited {exit_status} after its report"
        return outcome
    if (events and mode not in _EVENT_MODES) or not all(isinstance(e, dict) for e in events):
        outcome.status = "corrupt"
        outcome.detail = f"{len(events)} unexpected messages on the report pipe"
        return outcome
    outcome.status = "ok"
    outcome.events = events
    outcome.result = final["final"]
    return outcome
