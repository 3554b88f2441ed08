"""A set of math-verify worker processes with a hard deadline on every request.

math-verify's own timeout uses ``signal.alarm``, which only works in the main thread and
cannot interrupt a C-level computation (a huge integer power inside sympy). So comparisons
run in separate processes (``verify_worker``): each worker applies a soft timeout itself,
and the parent kills a worker whose reply is later than the hard deadline, answers that
request "killed", restarts the worker and carries on with the rest. A run can be slowed by
a bad answer, never stalled.

Requests are pipelined: a batch is written at once and the replies read back in order; the
deadline of each reply counts from the previous one, so a kill always blames the right
request.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import queue
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from harness.errors import HarnessError

#: seconds a fresh worker may take to import math-verify and answer "hello"
STARTUP_S = 120.0
#: slack on top of the soft timeouts before a worker is killed
GRACE_S = 2.0
#: bytes of requests written ahead of the replies (stays under the OS pipe buffer)
_PIPELINE_BYTES = 48_000


class _Worker:
    """One worker process and its line buffer; used by one thread at a time."""

    def __init__(self, timeout_s: float, memory_mb: int) -> None:
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.restarts = 0
        self.version = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self._start()

    def _start(self) -> None:
        cmd = [sys.executable, "-m", "harness.grading.math.verify_worker",
               "--timeout", repr(self.timeout_s), "--memory-mb", str(self.memory_mb)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, bufsize=0)
        self._buffer = b""
        self._write([{"op": "hello"}])
        reply = self._read(time.monotonic() + STARTUP_S)
        if reply is None or "math_verify" not in reply:
            self.kill()
            raise HarnessError("the math-verify worker did not start (is math-verify "
                               "installed in this interpreter?)")
        self.version = reply["math_verify"]

    def kill(self) -> None:
        proc = self._proc
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._proc = None

    def _write(self, requests: Sequence[dict[str, Any]]) -> bool:
        assert self._proc is not None and self._proc.stdin is not None
        data = b"".join(json.dumps(r).encode("utf-8") + b"\n" for r in requests)
        try:
            self._proc.stdin.write(data)
        except (BrokenPipeError, OSError):
            return False
        return True

    def _read(self, deadline: float) -> dict[str, Any] | None:
        """The next reply, or None when the deadline passes or the worker died."""
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        reply: dict[str, Any] = json.loads(line)
        return reply

    def _budget(self, request: dict[str, Any]) -> float:
        pairs = len(request["reps"]) if request.get("op") == "first" else 1
        return self.timeout_s * max(pairs, 1) + GRACE_S

    def run(self, requests: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Replies in order; a request that passes its hard deadline gets ``{"killed": ...}``."""
        replies: list[dict[str, Any]] = []
        i = 0
        while i < len(requests):
            chunk_end, size = i, 0
            while chunk_end < len(requests) and (chunk_end == i or size < _PIPELINE_BYTES):
                size += len(json.dumps(requests[chunk_end]))
                chunk_end += 1
            if self._proc is None or not self._write(requests[i:chunk_end]):
                self._restart()
                continue
            while i < chunk_end:
                reply = self._read(time.monotonic() + self._budget(requests[i]))
                if reply is None:
                    alive = self._proc is not None and self._proc.poll() is None
                    reason = ("killed after the hard deadline" if alive
                              else "the worker process died")
                    replies.append({"killed": reason})
                    i += 1
                    self._restart()
                    break
                replies.append(reply)
                i += 1
        return replies

    def _restart(self) -> None:
        self.kill()
        self.restarts += 1
        self._start()


class VerifierWorkers:
    """``n_workers`` math-verify processes, started on first use, shared by threads."""

    def __init__(self, n_workers: int | None = None, timeout_s: float = 5.0,
                 memory_mb: int = 4096) -> None:
        self.n_workers = n_workers or min(2, os.cpu_count() or 1)
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def worker(self) -> Iterator[_Worker]:
        """Borrow a worker (starting one if fewer than ``n_workers`` exist)."""
        with self._lock:
            if self._idle.empty() and len(self._all) < self.n_workers:
                self._all.append(_Worker(self.timeout_s, self.memory_mb))
                self._idle.put(self._all[-1])
        w = self._idle.get()
        try:
            yield w
        finally:
            self._idle.put(w)

    def math_verify_version(self) -> str:
        with self.worker() as w:
            return w.version

    @property
    def restarts(self) -> int:
        return sum(w.restarts for w in self._all)

    def close(self) -> None:
        with self._lock:
            for w in self._all:
                w.kill()
            self._all.clear()
            self._idle = queue.Queue()


_worker_sets: dict[tuple[float, int, int], VerifierWorkers] = {}
_pools_lock = threading.Lock()


def shared_workers(timeout_s: float = 5.0, n_workers: int | None = None,
                memory_mb: int = 4096) -> VerifierWorkers:
    """One pool per setting for the whole process, closed at exit."""
    key = (timeout_s, n_workers or 0, memory_mb)
    with _pools_lock:
        pool = _worker_sets.get(key)
        if pool is None:
            pool = _worker_sets[key] = VerifierWorkers(n_workers, timeout_s, memory_mb)
        return pool


@atexit.register
def _close_all() -> None:
    for pool in list(_worker_sets.values()):
        pool.close()
