"""Run untrusted programs in confined child processes, many at once.

Each program runs in a fresh child interpreter (never in the harness process), in its own
session and process group, in a throw-away working directory, with a clean environment.
The child (``sandbox_child/_sbx_driver.py``) confines itself before it reads the program:

* **as root** (the CI and development machines): a private network namespace (loopback
  only, no route out); a private mount namespace in which the whole filesystem is
  read-only except the working directory and fresh size-capped ``/tmp`` and ``/dev/shm``
  (homes the sandbox uid cannot enter are covered by an empty tmpfs, exposing only the
  interpreter's own directories); rlimits; ``no_new_privs``; then it becomes an
  unprivileged uid reserved for its worker slot (a lock file per uid keeps concurrent
  harness processes apart). That uid makes ``RLIMIT_NPROC`` bite (a fork bomb stops at
  ``processes``), forbids signalling the harness or anything else not its own, and lets the
  harness kill every process the program left behind, even ones that escaped the process
  group with ``setsid``, by ``kill -KILL -1`` run as that uid.
* **as an ordinary user**: rlimits (``RLIMIT_NPROC`` counts all of the user's threads, so
  it is set to the current count plus ``processes``), and, where unprivileged user
  namespaces are allowed, the same network and filesystem namespaces. Without root the
  program runs as the harness' own uid, so it could signal the harness or touch the user's
  files outside the read-only view when namespaces are unavailable; ``isolation()``
  reports what was in force and the tests say which guarantees they could check.

Limits: CPU seconds, address space (and data segment), stack, file size, open files,
processes, stdout/stderr bytes kept (a program writing more is killed: "output-limit"),
result bytes, and wall-clock time after which the whole group (and, as root, the uid) is
killed.

Not stopped: CPU and memory use below the limits (a program may use ``processes`` times
``memory_bytes`` in total; there is no cgroup), reads of world-readable files, use of the
loopback interface inside its own namespace, timing side channels. As an ordinary user
without namespaces, also network access and writes to the user's files.

The verdict never rests on anything the program prints: the driver writes one framed
result, with a per-run nonce, to a pipe on an unpredictable descriptor; the harness
rejects a missing, partial or corrupted frame, and compares outputs itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

CHILD_DIR = Path(__file__).resolve().parent / "sandbox_child"
DRIVER = CHILD_DIR / "_sbx_driver.py"
def _driver_digest() -> str:
    """sha256 of the child code: part of every cache key built on what the child reports."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(CHILD_DIR.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


DRIVER_VERSION = _driver_digest()
UID_BASE_ENV = "PRM_HARNESS_SANDBOX_UID_BASE"
DEFAULT_UID_BASE = 1_900_000_000
UID_RANGE = 4096
POLICY_ENV = "PRM_HARNESS_SANDBOX"  # "auto" (default) or "strict"
_FRAME_MAGIC = b"PRMSBX1 "
_KILL_BIN = shutil.which("kill")
# "kill every process I may signal": as the slot's uid that is exactly the program's
# leftovers (procps and util-linux kill both take "-9 -1"; Python when neither exists)
_KILL_ALL = ([_KILL_BIN, "-9", "-1"] if _KILL_BIN else
             [sys.executable, "-I", "-S", "-c", "import os; os.kill(-1, 9)"])
_CHILD_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONHASHSEED": "0",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "MPLBACKEND": "Agg",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "USER": "sandbox",
    "LOGNAME": "sandbox",
}


class SandboxError(ConfigError):
    """The sandbox itself could not be set up (not a verdict on the program)."""


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
    result_bytes: int = 512 << 20
    tmpfs_bytes: int = 256 << 20

    def for_child(self) -> dict[str, Any]:
        out = asdict(self)
        out["cpu_s"] = int(self.cpu_s if self.cpu_s is not None else self.wall_s + 1) + 1
        return out


@dataclass
class Job:
    """One program run: the driver mode, its payload and the limits."""

    mode: str  # call | stdio | unittest | script | probe
    payload: dict[str, Any]
    limits: Limits = field(default_factory=Limits)
    recursion_limit: int = 1000
    #: the payload already rendered as JSON (large inputs shared by many jobs are
    #: rendered once); used instead of ``payload`` when set
    payload_json: str | None = None


@dataclass
class RunResult:
    """What came back from one run.

    ``status``: ok (a valid result frame), timeout (wall clock), output-limit, crashed
    (ended without a valid frame: early exit, signal, rlimit), corrupt (stray or
    malformed bytes on the result pipe).
    """

    status: str
    result: Any = None
    returncode: int | None = None
    stdout: bytes = b""
    stderr: bytes = b""
    wall_s: float = 0.0
    isolation: dict[str, Any] = field(default_factory=dict)
    detail: str = ""


@cache
def interpreter_paths(python: str) -> tuple[str, ...]:
    """Directories the interpreter reads at run time (prefixes, its own folder)."""
    probe = ("import json, sys; print(json.dumps([sys.prefix, sys.base_prefix, "
             "sys.exec_prefix, sys.base_exec_prefix]))")
    try:
        out = subprocess.run([python, "-I", "-c", probe], capture_output=True, text=True,
                             timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise SandboxError(f"cannot run the sandbox interpreter {python}: {exc}") from None
    paths = set(json.loads(out))
    paths.add(str(Path(python).resolve().parent))
    return tuple(sorted(paths))


class _UidPool:
    """Unprivileged uids reserved for this process by an exclusive lock file each."""

    def __init__(self, count: int) -> None:
        base = int(os.environ.get(UID_BASE_ENV, DEFAULT_UID_BASE))
        lock_dir = Path(tempfile.gettempdir()) / "prm-harness-sandbox-uids"
        lock_dir.mkdir(mode=0o700, exist_ok=True)
        self._handles: list[Any] = []
        self.uids: list[int] = []
        for uid in range(base, base + UID_RANGE):
            if len(self.uids) == count:
                break
            handle = open(lock_dir / f"{uid}.lock", "a+")  # noqa: SIM115 - held open
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                continue
            self._handles.append(handle)
            self.uids.append(uid)
        if len(self.uids) < count:
            raise SandboxError(f"could not reserve {count} sandbox uids from {base}")

    def close(self) -> None:
        for handle in self._handles:
            handle.close()
        self._handles.clear()


def _policy() -> str:
    policy = os.environ.get(POLICY_ENV, "auto")
    if policy not in ("auto", "strict"):
        raise ConfigError(f"{POLICY_ENV} must be 'auto' or 'strict', not {policy!r}")
    return policy


class Sandbox:
    """A pool of ``workers`` confined runners; ``run_many`` keeps them all busy."""

    def __init__(self, workers: int | None = None, python: str | None = None,
                 root_dir: str | Path | None = None) -> None:
        self.workers = max(1, workers or len(os.sched_getaffinity(0)))
        self.python = str(python or sys.executable)
        if not Path(self.python).exists():
            raise SandboxError(f"sandbox interpreter not found: {self.python}")
        self.as_root = os.geteuid() == 0
        self._uids = _UidPool(self.workers) if self.as_root else None
        self._slots: list[int] = list(range(self.workers))
        self._slot_lock = threading.Condition()
        base = Path(root_dir) if root_dir else Path(tempfile.gettempdir())
        self._root = Path(tempfile.mkdtemp(prefix="prm-sandbox-", dir=base))
        self._root.chmod(0o711)
        self._expose = [*interpreter_paths(self.python), str(CHILD_DIR)]
        self._pool: ThreadPoolExecutor | None = None

    # -- lifecycle -------------------------------------------------------------------
    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        shutil.rmtree(self._root, ignore_errors=True)
        if self._uids is not None:
            self._uids.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def identity(self) -> dict[str, Any]:
        """What the manifest records about the sandbox."""
        return {"driver_version": DRIVER_VERSION, "python": self.python,
                "workers": self.workers, "as_root": self.as_root,
                "policy": _policy()}

    # -- running ---------------------------------------------------------------------
    def run_many(self, jobs: Sequence[Job]) -> list[RunResult]:
        """Run all jobs across the worker pool; results in the jobs' order."""
        if not jobs:
            return []
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="sandbox")
        return list(self._pool.map(self.run, jobs))

    def run(self, job: Job) -> RunResult:
        with self._slot() as slot:
            return self._run_in_slot(job, slot)

    @contextlib.contextmanager
    def _slot(self) -> Iterator[int]:
        with self._slot_lock:
            while not self._slots:
                self._slot_lock.wait()
            slot = self._slots.pop()
        try:
            yield slot
        finally:
            with self._slot_lock:
                self._slots.append(slot)
                self._slot_lock.notify()

    def _isolation_spec(self, uid: int | None) -> dict[str, Any]:
        if self.as_root:
            return {"network": "require", "filesystem": "require", "uid": uid, "gid": uid,
                    "expose": self._expose}
        wanted = "require" if _policy() == "strict" else "try"
        return {"network": wanted, "filesystem": wanted, "uid": None, "expose": []}

    def _run_in_slot(self, job: Job, slot: int) -> RunResult:
        uid = self._uids.uids[slot] if self._uids is not None else None
        workdir = Path(tempfile.mkdtemp(prefix=f"w{slot}-", dir=self._root))
        read_fd, write_fd = os.pipe()
        nonce = secrets.token_hex(16)
        try:
            if uid is not None:
                os.chown(workdir, uid, uid)
            workdir.chmod(0o700)
            job_file = workdir / "job.json"
            spec = {"nonce": nonce, "result_fd": write_fd, "mode": job.mode,
                    "limits": job.limits.for_child(),
                    "isolation": self._isolation_spec(uid), "workdir": str(workdir),
                    "recursion_limit": job.recursion_limit}
            payload = job.payload_json or json.dumps(job.payload, allow_nan=False)
            text = json.dumps(spec, allow_nan=False)[:-1] + ', "payload": ' + payload + "}"
            fd = os.open(job_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            env = dict(_CHILD_ENV, HOME=str(workdir), TMPDIR=str(workdir))
            started = time.monotonic()
            proc = subprocess.Popen(
                [self.python, "-I", str(DRIVER), str(job_file)], cwd=workdir, env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                pass_fds=(write_fd,), start_new_session=True, close_fds=True)
            os.close(write_fd)
            write_fd = -1
            try:
                outcome = _collect(proc, read_fd, job.limits, started)
            finally:
                _kill_group(proc)
                if uid is not None:
                    _kill_uid(uid)
                proc.wait()
            outcome.returncode = proc.returncode
            outcome.wall_s = time.monotonic() - started
            return _interpret(outcome, nonce)
        finally:
            if write_fd >= 0:
                os.close(write_fd)
            os.close(read_fd)
            shutil.rmtree(workdir, ignore_errors=True)


def _collect(proc: subprocess.Popen[bytes], result_fd: int, limits: Limits,
             started: float) -> RunResult:
    """Read stdout, stderr and the result pipe until all close, a cap or the deadline."""
    caps = {"stdout": limits.output_bytes, "stderr": limits.output_bytes,
            "result": limits.result_bytes}
    chunks: dict[str, list[bytes]] = {"stdout": [], "stderr": [], "result": []}
    sizes = dict.fromkeys(chunks, 0)
    selector = selectors.DefaultSelector()
    assert proc.stdout is not None and proc.stderr is not None
    selector.register(proc.stdout, selectors.EVENT_READ, "stdout")
    selector.register(proc.stderr, selectors.EVENT_READ, "stderr")
    selector.register(result_fd, selectors.EVENT_READ, "result")
    status = None
    deadline = started + limits.wall_s
    try:
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                status = "timeout"
                break
            for key, _ in selector.select(timeout=min(remaining, 0.1)):
                fd = key.fd if isinstance(key.fileobj, int) else key.fileobj.fileno()
                data = os.read(fd, 1 << 16)
                if not data:
                    selector.unregister(key.fileobj)
                    continue
                name = key.data
                sizes[name] += len(data)
                if sizes[name] > caps[name]:
                    status = "output-limit"
                    break
                chunks[name].append(data)
            if status:
                break
            # The driver is gone and its frame is complete (or the pipe closed): stop even
            # if a leftover child still holds a pipe open.
            if proc.poll() is not None and (
                    result_fd not in _registered_fds(selector)
                    or _frame_complete(chunks["result"])):
                break
    finally:
        selector.close()
    return RunResult(status=status or "", stdout=b"".join(chunks["stdout"]),
                     stderr=b"".join(chunks["stderr"]),
                     result=b"".join(chunks["result"]))


def _registered_fds(selector: selectors.BaseSelector) -> set[int]:
    return {key.fd for key in selector.get_map().values()}


def _frame_complete(chunks: list[bytes]) -> bool:
    raw = b"".join(chunks)
    header, sep, body = raw.partition(b"\n")
    if not sep:
        return False
    size = header.rsplit(b" ", 1)[-1]
    return size.isdigit() and len(body) >= int(size)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _kill_uid(uid: int) -> None:
    """Kill every process of the slot's uid (including ones that left the group)."""
    subprocess.run(_KILL_ALL, user=uid, group=uid, extra_groups=[],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def _interpret(outcome: RunResult, nonce: str) -> RunResult:
    raw = outcome.result
    outcome.result = None
    if outcome.status:  # timeout / output-limit decided while reading
        return outcome
    frame = _parse_frame(raw, nonce)
    if frame is None:
        outcome.status = "crashed" if not raw else "corrupt"
        outcome.detail = f"no valid result frame ({len(raw)} bytes on the result pipe)"
        return outcome
    outcome.isolation = frame.get("isolation", {})
    if "sandbox_error" in frame:
        raise SandboxError(f"sandbox setup failed: {frame['sandbox_error']}")
    outcome.status = "ok"
    outcome.result = frame.get("result")
    return outcome


def _parse_frame(raw: bytes, nonce: str) -> dict[str, Any] | None:
    header, sep, body = raw.partition(b"\n")
    if not sep or not header.startswith(_FRAME_MAGIC):
        return None
    parts = header[len(_FRAME_MAGIC):].split(b" ")
    if len(parts) != 2 or parts[0] != nonce.encode() or not parts[1].isdigit():
        return None
    if int(parts[1]) != len(body):
        return None
    try:
        frame = json.loads(body)
    except ValueError:
        return None
    return frame if isinstance(frame, dict) else None


def with_wall(limits: Limits, wall_s: float) -> Limits:
    """``limits`` with a different wall-clock limit (and the CPU limit following it)."""
    return replace(limits, wall_s=wall_s, cpu_s=None)
