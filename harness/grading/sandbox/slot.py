"""The harness' side of one sandbox slot: its zygote process and one job at a time.

A slot's zygote (``child/_sbx_zygote.py``) is started once and confines itself;
for each job the harness creates stdout, stderr and result pipes, sends their write ends
and the job over the control socket, then reads the pipes with caps and a deadline. The
zygote forks a confined child per job and, once the child is gone and everything it left
behind is killed, relays the child's report and a closing header to the result pipe
(``sandbox_stream``). On the deadline or an output cap
the harness asks the zygote to kill the job; a zygote that does not answer is killed and
started afresh for the next job. A job may carry a watcher that sees each report
message as it arrives and may grant the job a last budget of seconds (then it is cut).
"""

from __future__ import annotations

import array
import collections
import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from harness.grading.sandbox.child import _sbx_wire
from harness.grading.sandbox.errors import SandboxError
from harness.grading.sandbox.stream import ResultStream
from harness.grading.sandbox.types import Job, RunResult

ZYGOTE = "_sbx_zygote.py"
_START_TIMEOUT_S = 120.0
_KILL_GRACE_S = 10.0


class _Inbox:
    """Messages from the zygote's control socket, parsed as they complete."""

    def __init__(self) -> None:
        self.buffer = b""
        self.messages: collections.deque[dict[str, Any]] = collections.deque()

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while b"\n" in self.buffer:
            head, _, rest = self.buffer.partition(b"\n")
            if len(rest) < int(head):
                return
            self.messages.append(json.loads(rest[:int(head)]))
            self.buffer = rest[int(head):]


class Zygote:
    """One slot's zygote: started lazily, restarted after it dies or hangs."""

    def __init__(self, python: str, child_dir: Path, env: dict[str, str], hello: dict[str, Any],
                 errors: Path, uid: int | None) -> None:
        self.python = python
        self.child_dir = child_dir
        self.env = env
        self.hello = hello
        self.errors = errors
        self.uid = uid
        self.proc: subprocess.Popen[bytes] | None = None
        self.sock: socket.socket | None = None
        self.inbox = _Inbox()
        #: the zygote's view is private (each job then has its own tmpfs, no host workdir)
        self.private_fs = False

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with open(self.errors, "ab") as err:
            self.proc = subprocess.Popen(
                # -s, not -I: -I ignores every PYTHON* variable, PYTHONHASHSEED too, so
                # str hashes (set and dict order) changed from one slot start to the next and
                # a program's outputs, and its voting class, with them. The environment is
                # ours alone (self.env), and the zygote takes its own folder off sys.path,
                # so nothing else of -I's isolation is lost (and any Python 3 runs it).
                [self.python, "-s", str(self.child_dir / ZYGOTE), str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=err, env=self.env, cwd="/",
                start_new_session=True, close_fds=True)
        theirs.close()
        self.sock = ours
        self.inbox = _Inbox()
        self._send(self.hello)
        reply = self._next_message(time.monotonic() + _START_TIMEOUT_S)
        if reply is None or not reply.get("ready"):
            self.stop()
            why = reply.get("error") if reply else "it exited or did not answer"
            raise SandboxError(f"sandbox slot could not start ({self.python}): {why}; "
                               f"stderr: {self._stderr_tail()}")
        self.private_fs = bool(reply.get("private_fs"))

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """Close the zygote (it exits at end of input) or kill it."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            self.proc = None

    def _stderr_tail(self) -> str:
        try:
            return self.errors.read_bytes()[-2000:].decode(errors="replace")
        except OSError:
            return ""

    # -- control socket ----------------------------------------------------------------
    def _send(self, obj: dict[str, Any], fds: tuple[int, ...] = (), tail: bytes = b"") -> None:
        assert self.sock is not None
        data = _sbx_wire.encode(obj)
        if fds:
            self.sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                        array.array("i", fds).tobytes())])
        else:
            self.sock.sendall(data)
        if tail:
            self.sock.sendall(tail)

    def _read_control(self) -> bool:
        """Read what is there; False at end of file."""
        assert self.sock is not None
        try:
            data = self.sock.recv(1 << 16)
        except OSError:
            return False
        if not data:
            return False
        self.inbox.feed(data)
        return True

    def _next_message(self, deadline: float) -> dict[str, Any] | None:
        assert self.sock is not None
        while not self.inbox.messages:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.sock.settimeout(remaining)
            try:
                ok = self._read_control()
            except TimeoutError:
                return None
            finally:
                if self.sock is not None:
                    self.sock.settimeout(None)
            if not ok:
                return None
        return self.inbox.messages.popleft()

    # -- one job -----------------------------------------------------------------------
    def _job_message(self, job: Job, spec: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        payload = (job.payload_json or json.dumps(job.payload, allow_nan=False)).encode()
        return {"job": spec, "payload_len": len(payload)}, payload

    def run(self, job: Job, spec: dict[str, Any]) -> RunResult:
        """Run one job; the raw outcome (its report is read by ``sandbox_report.interpret``)."""
        if not self.alive() or self.sock is None:
            self.start()
        header, tail = self._job_message(job, spec)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        res_r, res_w = os.pipe()
        started = time.monotonic()
        try:
            try:
                self._send(header, (out_w, err_w, res_w), tail)
                sent = time.monotonic() - started
            except OSError as exc:
                self.stop()
                raise SandboxError(f"sandbox slot stopped answering: {exc}; stderr: "
                                   f"{self._stderr_tail()}") from None
            finally:
                for fd in (out_w, err_w, res_w):
                    os.close(fd)
            try:
                outcome = self._collect(job, out_r, err_r, res_r, started)
            except BaseException:
                self._kill_job("harness error", None)  # never reuse a slot in doubt
                raise
        finally:
            for fd in (out_r, err_r, res_r):
                os.close(fd)
        outcome.wall_s = time.monotonic() - started
        outcome.timings["sent"] = sent
        return outcome

    def _collect(self, job: Job, out_r: int, err_r: int, res_r: int, started: float
                 ) -> RunResult:
        limits = job.limits
        caps = {"stdout": limits.output_bytes, "stderr": limits.output_bytes,
                "result": limits.result_bytes + (1 << 16)}
        chunks: dict[str, list[bytes]] = {"stdout": [], "stderr": []}
        stream = ResultStream()
        cut_at: float | None = None
        sizes = dict.fromkeys([*chunks, "result"], 0)
        selector = selectors.DefaultSelector()
        selector.register(out_r, selectors.EVENT_READ, "stdout")
        selector.register(err_r, selectors.EVENT_READ, "stderr")
        selector.register(res_r, selectors.EVENT_READ, "result")
        assert self.sock is not None
        selector.register(self.sock, selectors.EVENT_READ, "control")
        status = ""
        done = False
        child_pid = None
        deadline = started + limits.wall_s
        drain_until = None
        timings: dict[str, float] = {}
        try:
            while True:
                now = time.monotonic()
                if not status and now >= deadline:
                    status = "timeout"
                if not status and cut_at is not None and now >= cut_at:
                    status = "cut"
                if status:
                    break
                if done and drain_until is None:
                    drain_until = now + 1.0
                streams = {key.data for key in selector.get_map().values()}
                if done and "result" not in streams and (
                        not streams & {"stdout", "stderr"} or now >= (drain_until or now)):
                    break
                wait = min(deadline - now, 0.5, (cut_at - now) if cut_at else 0.5)
                for key, _ in selector.select(timeout=max(wait, 0.001)):
                    name = key.data
                    if name == "control":
                        if not self._read_control():
                            selector.unregister(self.sock)
                            done = True  # the zygote died: what came is all there is
                        continue
                    data = os.read(key.fd, 1 << 16)
                    if not data:
                        selector.unregister(key.fd)
                        continue
                    sizes[name] += len(data)
                    if sizes[name] > caps[name]:
                        status = "output-limit"
                        break
                    if name == "result":
                        for message in stream.feed(data):
                            if "setup" in message or "final" in message:
                                timings.setdefault("setup" if "setup" in message else
                                                   "final", time.monotonic() - started)
                            budget = job.watch(message) if job.watch else None
                            if budget is not None and cut_at is None:
                                cut_at = time.monotonic() + budget
                    else:
                        chunks[name].append(data)
                while self.inbox.messages:
                    message = self.inbox.messages.popleft()
                    if "started" in message:
                        child_pid = int(message["started"])
                        timings["forked"] = time.monotonic() - started
                    if message.get("done"):
                        done = True
                        timings["done"] = time.monotonic() - started
                if stream.header is not None and "header" not in timings:
                    timings["header"] = time.monotonic() - started
        finally:
            selector.close()
        if status and not done:  # (a job that ended meanwhile needs no killing)
            self._kill_job(status, child_pid)
        return RunResult(status=status, stdout=b"".join(chunks["stdout"]),
                         stderr=b"".join(chunks["stderr"]), result=stream.finish(),
                         events=stream.messages_seen, timings=timings)

    def _kill_job(self, reason: str, child_pid: int | None) -> None:
        """Have the zygote kill the running job; kill the zygote if it does not answer."""
        with contextlib.suppress(OSError):
            self._send({"kill": reason})
            deadline = time.monotonic() + _KILL_GRACE_S
            while (message := self._next_message(deadline)) is not None:
                if message.get("done"):
                    return
        if child_pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child_pid, signal.SIGKILL)
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.stop()
