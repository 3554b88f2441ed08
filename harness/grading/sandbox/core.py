"""Run untrusted programs in confined child processes, many at once.

Programs never run in the harness process. Each of ``workers`` slots has a *zygote*: a
child interpreter (``child/_sbx_zygote.py``) that imports the runner code, confines
itself once and then forks one confined child per program (see the zygote's docstring and
docs/sandbox.md). The zygote never runs untrusted code; it alone holds the job's result
pipe and reports how the child ended.

* **as root** (the CI and development machines): a private network namespace (loopback
  only); a private mount namespace whose root holds only an allow-list, read-only (system
  directories, the interpreter's prefixes, the child code: docs/sandbox.md); a private pid
  namespace whose own ``/proc`` shows no other process; each job's working directory,
  HOME, TMPDIR, ``/tmp`` and ``/dev/shm`` are one size-capped tmpfs of its own that
  vanishes with it; rlimits; ``no_new_privs``; then the job becomes an unprivileged uid
  reserved for its slot (a lock file per uid in ``UID_LOCK_DIR`` keeps concurrent harness
  processes apart, and a uid with live processes is never taken): a fork bomb stops at
  ``processes``, it cannot signal the harness or its zygote, and every process it leaves
  behind dies before the next job starts.
* **as an ordinary user**: rlimits (``RLIMIT_NPROC`` counts all of the user's threads, so
  it is set to the current count plus ``processes``), and, where unprivileged user
  namespaces are allowed, the same namespaces (the job drops its capabilities). The
  program runs with the harness' uid: it could signal the harness, and without namespaces
  reach the network and the user's files. ``isolation()`` says what was in force.

Not stopped: CPU and memory use below the limits (no cgroup), reads of world-readable
files inside the allow-list, use of the loopback interface inside its own namespace, timing
side channels.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.grading.sandbox.cleanup import remove_tree
from harness.grading.sandbox.errors import SandboxError
from harness.grading.sandbox.interpreter import describe, verdict_identity
from harness.grading.sandbox.report import interpret
from harness.grading.sandbox.slot import Zygote
from harness.grading.sandbox.types import Job, Limits, RunResult

__all__ = ["DRIVER_VERSION", "Job", "Limits", "RunResult", "Sandbox", "SandboxError"]

CHILD_DIR = Path(__file__).resolve().parent / "child"


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
#: one place for every harness process on the machine, whatever its TMPDIR
UID_LOCK_DIR = Path("/run/prm-harness-sandbox-uids")
#: where earlier versions kept them (under TMPDIR, by default /tmp): also taken, so that an
#: older harness running at the same time cannot be handed the same uid
_LEGACY_LOCK_DIR = Path("/tmp/prm-harness-sandbox-uids")
POLICY_ENV = "PRM_HARNESS_SANDBOX"  # "auto" (default) or "strict"
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
    "HOME": "/nonexistent",
}


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


def default_hidden() -> list[Path]:
    """What programs must not see: the data mirror (``PRM_HARNESS_DATA``) and the
    harness cache (expected outputs)."""
    from harness.store.cache import cache_root

    hidden = [cache_root()]
    data = os.environ.get("PRM_HARNESS_DATA")
    if data:
        hidden.append(Path(data).expanduser())
    return hidden


def _try_lock(path: Path) -> Any:
    """An open file holding an exclusive lock on ``path``, or None when someone holds it."""
    handle = open(path, "a+")  # noqa: SIM115 - held open while the uid is ours
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def uids_in_use() -> set[int]:
    """Every uid (real, effective, saved, filesystem) some live process holds."""
    used: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", "rb") as handle:
                for line in handle:
                    if line.startswith(b"Uid:"):
                        used.update(int(v) for v in line.split()[1:])
                        break
        except OSError:
            continue
    return used


class _UidPool:
    """Unprivileged uids reserved for this process by an exclusive lock file each, in
    one fixed directory; a uid that some process still runs as is skipped."""

    def __init__(self, count: int, lock_dir: Path = UID_LOCK_DIR) -> None:
        base = int(os.environ.get(UID_BASE_ENV, DEFAULT_UID_BASE))
        lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        legacy = _LEGACY_LOCK_DIR if lock_dir == UID_LOCK_DIR else None
        if legacy is not None:
            with contextlib.suppress(OSError):
                legacy.mkdir(mode=0o700, exist_ok=True)
        self._handles: list[Any] = []
        self.uids: list[int] = []
        busy: set[int] | None = None
        for uid in range(base, base + UID_RANGE):
            if len(self.uids) == count:
                break
            handle = _try_lock(lock_dir / f"{uid}.lock")
            if handle is None:
                continue
            old = None
            if legacy is not None and legacy.is_dir():
                try:
                    old = _try_lock(legacy / f"{uid}.lock")
                except OSError:  # not ours to create there: the fixed lock decides alone
                    old = False
                if old is None:
                    handle.close()
                    continue
            busy = uids_in_use() if busy is None else busy
            if uid in busy:  # a process left by a harness that died: not ours to reuse
                handle.close()
                if old:
                    old.close()
                continue
            self._handles.append(handle)
            if old:
                self._handles.append(old)
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
    """A pool of ``workers`` confined slots; ``run_many`` keeps them all busy.

    ``python``: the interpreter programs run in (made absolute here; a venv's ``bin/python``
    is kept as given, not resolved, so the venv stays in force). ``expose``: directories
    programs may read besides the system ones, the interpreter's and the child code (e.g.
    a data folder a benchmark's programs legitimately read). ``hide``: directories programs
    must not see even where they lie inside an exposed one, besides ``default_hidden()``.
    ``preload``: modules each slot imports once before forking its jobs (trusted library
    code; a module that fails to import is skipped).
    """

    def __init__(self, workers: int | None = None, python: str | None = None,
                 root_dir: str | Path | None = None, hide: Sequence[str | Path] = (),
                 preload: Sequence[str] = (), child_dir: Path | None = None,
                 expose: Sequence[str | Path] = ()) -> None:
        self.workers = max(1, workers or len(os.sched_getaffinity(0)))
        self.python = os.path.abspath(python or sys.executable)
        if not Path(self.python).exists():
            raise SandboxError(f"sandbox interpreter not found: {self.python}")
        self.as_root = os.geteuid() == 0
        self.child_dir = child_dir or CHILD_DIR
        self.hidden = sorted({str(Path(p).resolve()) for p in [*default_hidden(), *hide]})
        self.preload = list(preload)
        self._uids = _UidPool(self.workers) if self.as_root else None
        base = Path(root_dir) if root_dir else Path(tempfile.gettempdir())
        self._root = Path(tempfile.mkdtemp(prefix="prm-sandbox-", dir=base))
        self._root.chmod(0o711)
        self._expose = [*interpreter_paths(self.python), str(self.child_dir),
                        *(str(Path(p).resolve()) for p in expose)]
        self._free: list[int] = list(range(self.workers))
        self._slot_lock = threading.Condition()
        self._zygotes = [self._zygote(slot) for slot in range(self.workers)]
        self._pool: ThreadPoolExecutor | None = None

    def _zygote(self, slot: int) -> Zygote:
        uid = self._uids.uids[slot] if self._uids is not None else None
        hello = {"isolation": self._isolation_spec(uid), "preload": self.preload}
        return Zygote(self.python, self.child_dir, dict(_CHILD_ENV), hello,
                      self._root / f"slot{slot}.stderr", uid)

    # -- lifecycle -------------------------------------------------------------------
    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for zygote in self._zygotes:
            zygote.stop()
            if zygote.uid is not None:
                _kill_uid(zygote.uid)
        remove_tree(self._root)
        if self._uids is not None:
            self._uids.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def identity(self) -> dict[str, Any]:
        """What of the sandbox can decide a verdict (it goes into grades keys): the child
        code, the interpreter's version and libraries, the isolation in force. Not where
        the interpreter lives, how many workers run, or which paths are hidden: moving a
        run to another machine must not regrade it."""
        return {"driver_version": DRIVER_VERSION,
                "interpreter": verdict_identity(self.python, tuple(self.preload)),
                "as_root": self.as_root, "policy": _policy()}

    def provenance(self) -> dict[str, Any]:
        """``identity`` and the machine-specific rest, for the record (never in keys)."""
        facts = describe(self.python, tuple(self.preload))
        return {**self.identity(), "python": self.python, "workers": self.workers,
                "hidden": self.hidden, "preload": self.preload,
                "libraries": facts["distributions"]}

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
            while not self._free:
                self._slot_lock.wait()
            slot = self._free.pop()
        try:
            yield slot
        finally:
            with self._slot_lock:
                self._free.append(slot)
                self._slot_lock.notify()

    def _isolation_spec(self, uid: int | None) -> dict[str, Any]:
        if self.as_root:
            return {"network": "require", "filesystem": "require", "uid": uid, "gid": uid,
                    "expose": self._expose, "hide": self.hidden}
        wanted = "require" if _policy() == "strict" else "try"
        return {"network": wanted, "filesystem": wanted, "uid": None,
                "expose": self._expose, "hide": self.hidden}

    def _run_in_slot(self, job: Job, slot: int) -> RunResult:
        zygote = self._zygotes[slot]
        if not zygote.alive():
            zygote.start()
        spec = {"mode": job.mode, "limits": job.limits.for_child(),
                "recursion_limit": job.recursion_limit}
        # a private view gives the job its own tmpfs; only without one is there a host
        # directory (then removed without recursion: see cleanup)
        workdir = None if zygote.private_fs else Path(
            tempfile.mkdtemp(prefix=f"w{slot}-", dir=self._root))
        try:
            if workdir is not None:
                if zygote.uid is not None:
                    os.chown(workdir, zygote.uid, zygote.uid)
                workdir.chmod(0o700)
                spec["workdir"] = str(workdir)
            outcome = zygote.run(job, spec)
            if not zygote.alive() and zygote.uid is not None:
                _kill_uid(zygote.uid)  # its zygote is gone: nobody else cleans up
            return interpret(outcome, job.mode)
        finally:
            if workdir is not None:
                remove_tree(workdir)


def _kill_uid(uid: int) -> None:
    """Kill every process of the slot's uid (including ones that left the group)."""
    subprocess.run(_KILL_ALL, user=uid, group=uid, extra_groups=[],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


