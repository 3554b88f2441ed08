"""What a sandbox run takes and gives back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Limits:
    """Per-run resource limits."""

    wall_s: float = 10.0
    cpu_s: float | None = None  # default: wall_s + 1
    memory_bytes: int = 4 << 30
    stack_bytes: int | None = None
    processes: int = 16
    file_bytes: int = 64 << 20
    open_files: int = 1024
    output_bytes: int = 1 << 20  # stdout and stderr, each
    capture_bytes: int = 16 << 20  # stdio mode: the stdout captured for one input
    result_bytes: int = 512 << 20
    tmpfs_bytes: int = 256 << 20  # all a job may write: workdir, /tmp, /dev/shm together

    def for_child(self) -> dict[str, Any]:
        out = asdict(self)
        out["cpu_s"] = int(self.cpu_s if self.cpu_s is not None else self.wall_s + 1) + 1
        return out


@dataclass
class Job:
    """One program run: the mode, its payload and the limits."""

    mode: str  # call | stdio | unittest | script | probe
    payload: dict[str, Any]
    limits: Limits = field(default_factory=Limits)
    recursion_limit: int = 1000
    #: the payload already rendered as JSON; used instead of ``payload`` when set
    payload_json: str | None = None
    #: sees every report message as it arrives; a number it returns is a last budget of
    #: seconds for the job, after which the job is killed (status ``cut``)
    watch: Callable[[dict[str, Any]], float | None] | None = None


@dataclass
class RunResult:
    """What came back from one run.

    ``status``: ok (the program's report is complete), timeout (wall clock),
    output-limit, cut (killed when its watcher's budget ran out), crashed (ended without
    its final report: early exit, signal, rlimit), corrupt (bytes on the report pipe that
    are not the report). ``events``: the messages the child sent while it ran (unittest
    mode: one per test event; call mode: outputs as they come, when asked to stream).
    """

    status: str
    result: Any = None
    returncode: int | None = None
    stdout: bytes = b""
    stderr: bytes = b""
    wall_s: float = 0.0
    isolation: dict[str, Any] = field(default_factory=dict)
    detail: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    #: seconds from the job's start at which the harness saw each step: ``sent`` (job
    #: handed to the zygote), ``forked`` (child started), ``setup`` (child confined, the
    #: program about to load), ``final`` (its last report), ``header`` (child reaped and
    #: its leftovers killed), ``done``; where the time of a run goes
    timings: dict[str, float] = field(default_factory=dict)

