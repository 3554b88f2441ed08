"""One job in its own child of the zygote: confine, run the mode, report; and the
zygote's clean-up of whatever a job left behind.

The child holds its report pipe, its stdout and stderr, and nothing else: the control
socket and the job's result pipe are closed before any untrusted code runs. Its first
message is written by trusted code just before the program starts (``setup``): a child
that ends before it failed in the sandbox's own setup, not in the program.
"""

import contextlib
import os
import signal
import sys

import _sbx_call
import _sbx_isolate
import _sbx_script
import _sbx_stdio
import _sbx_unittest
import _sbx_wire

_MODES = {"call": _sbx_call.run, "stdio": _sbx_stdio.run, "unittest": _sbx_unittest.run,
          "script": _sbx_script.script, "probe": _sbx_script.probe}
_exit = os._exit
_write_all = _sbx_wire.write_all
_encode = _sbx_wire.encode


class Channel:
    """The child's side of its report pipe."""

    def __init__(self, fd, isolation, limits):
        self.fd = fd
        self.isolation = isolation
        self.limits = limits
        self.started = False

    def ready(self):
        """Called by the mode right before untrusted code first runs."""
        if not self.started:
            self.started = True
            _write_all(self.fd, _encode({"setup": "ok", "isolation": self.isolation}))

    def event(self, obj):
        _write_all(self.fd, _encode(obj))


def _fresh_process_state(workdir):
    """What a fresh interpreter would have: its own HOME/TMPDIR, fresh random seeds."""
    os.environ["HOME"] = workdir
    os.environ["TMPDIR"] = workdir
    sys.argv = ["program.py"]
    tempfile = sys.modules.get("tempfile")
    if tempfile is not None:
        tempfile.tempdir = None
    random = sys.modules.get("random")
    if random is not None:
        random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()


def child(job, payload, spec, private_fs, slot_report, fds):
    """Never returns."""
    channel = None
    try:
        os.setsid()
        for fd in fds["close"]:
            os.close(fd)
        os.dup2(fds["stdout"], 1)
        os.dup2(fds["stderr"], 2)
        report_fd = fds["report"]
        os.closerange(3, report_fd)
        os.closerange(report_fd + 1, 1 << 16)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        report = dict(slot_report)
        channel = Channel(report_fd, report, job["limits"])
        workdir = _sbx_isolate.confine_job(spec, private_fs, job["limits"], job.get("workdir"),
                                           report)
        _fresh_process_state(workdir)
        sys.setrecursionlimit(max(sys.getrecursionlimit(), job.get("recursion_limit", 1000)))
        runner = _MODES[job["mode"]]
    except BaseException as exc:
        _setup_failed(channel, fds["report"], exc)
    try:
        result = runner(payload, channel)
    except BaseException as exc:
        if not channel.started:
            _setup_failed(channel, fds["report"], exc)
        result = {"internal_error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    channel.ready()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    channel.event({"final": result})
    _exit(0)


def _setup_failed(channel, fd, exc):
    with contextlib.suppress(BaseException):
        isolation = channel.isolation if channel is not None else {}
        _write_all(fd, _encode({"setup": "error", "error": f"{type(exc).__name__}: {exc}",
                                "isolation": isolation}))
    _exit(70)


def kill_job(pid, uid, init):
    """Kill a running job: its session, and every process of the slot's pid namespace
    (without one, as root: every process of its uid)."""
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)
    if init is not None:
        init.kill_all()
    elif uid is not None:
        _kill_uid(uid)


def _kill_uid(uid):
    helper = os.fork()
    if helper == 0:
        try:
            os.setgid(uid)
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)  # every process of the uid but this one
        except BaseException:
            pass
        _exit(0)
    os.waitpid(helper, 0)


def _orphans():
    """Processes reparented to this subreaper (what jobs left behind)."""
    found = []
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError), open(f"/proc/self/task/{tid}/children") as handle:
            found.extend(int(pid) for pid in handle.read().split())
    return found


def kill_leftovers(uid, init):
    """Kill and reap every process the last job left behind (with a pid namespace, its
    init inherited and now kills them all)."""
    if init is not None:
        init.kill_all()
        return
    if uid is not None:
        _kill_uid(uid)
    for _ in range(100):
        pids = _orphans()
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for pid in pids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
