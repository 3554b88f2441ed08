"""The slot's pid namespace and its init.

The zygote unshares a pid namespace once; its first child becomes the namespace's init
(pid 1) and every job child forked later lives in the namespace. The init mounts the
slot's ``/proc`` (so a job sees only the slot's processes: never the harness or its
command line), inherits every process a job leaves behind, and on request kills every
other process of the namespace (``kill(-1)`` from an init reaches exactly those) and reaps
them: one pipe round trip per job instead of a helper process. It dies with the zygote
(``PR_SET_PDEATHSIG``), and the kernel then kills the whole namespace.
"""

import contextlib
import os
import signal

from _sbx_syscalls import (
    CLONE_NEWPID,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    PR_SET_DUMPABLE,
    PR_SET_PDEATHSIG,
    mount,
    prctl,
    unshare,
)


class Init:
    """The zygote's handle on its namespace's init."""

    def __init__(self, proc_target):
        unshare(CLONE_NEWPID, "unshare(CLONE_NEWPID)")
        ask_r, ask_w = os.pipe()
        ack_r, ack_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(ask_w)
            os.close(ack_r)
            _serve(proc_target, ask_r, ack_w)  # (a zygote gone: EOF on ``ask``)
        os.close(ask_r)
        os.close(ack_w)
        self.pid, self.ask, self.ack = pid, ask_w, ack_r
        reply = os.read(self.ack, 512)
        #: why the init could not mount /proc (it serves all the same), or None
        self.proc_error = None
        if reply.startswith(b"noproc:"):
            self.proc_error = reply[7:].decode(errors="replace")
        elif reply != b"ok":
            raise OSError(f"pid namespace init: {reply.decode(errors='replace') or 'died'}")

    def kill_all(self):
        """Kill and reap every process of the namespace but the init."""
        os.write(self.ask, b"k")
        if os.read(self.ack, 1) != b"k":
            raise OSError("the pid namespace's init is gone")


def _serve(proc_target, ask, ack):
    """The init's life: never returns."""
    try:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, "prctl(PDEATHSIG)")
        prctl(PR_SET_DUMPABLE, 0, "prctl(SET_DUMPABLE, 0)")
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        ready = b"ok"
        try:
            mount("proc", proc_target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None,
                  "mount /proc in the pid namespace")
        except Exception as exc:  # e.g. a user namespace in a container with a masked /proc
            ready = f"noproc:{exc}".encode()[:500]
        for fd in range(3, 1 << 10):  # keep only the two pipes
            if fd not in (ask, ack):
                with contextlib.suppress(OSError):
                    os.close(fd)
        os.write(ack, ready)
    except BaseException as exc:
        with contextlib.suppress(BaseException):
            os.write(ack, f"{type(exc).__name__}: {exc}".encode()[:500])
        os._exit(70)
    while True:
        try:
            request = os.read(ask, 1)
        except InterruptedError:
            continue
        except BaseException:
            os._exit(0)
        if not request:
            os._exit(0)
        with contextlib.suppress(OSError):
            os.kill(-1, signal.SIGKILL)
        while True:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                break
            except InterruptedError:
                continue
        os.write(ack, b"k")
