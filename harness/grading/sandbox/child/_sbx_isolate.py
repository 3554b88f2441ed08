"""Confinement of the sandbox processes, in two stages.

``confine_slot`` runs once in the zygote (the trusted per-slot process that never runs
untrusted code): a private network namespace (loopback only), the slot's allow-list
filesystem view (see _sbx_mounts) and its pid namespace (see _sbx_pidns).
``confine_job`` runs in each job child before any untrusted code: its own mount namespace
with one capped tmpfs for everything it may write, rlimits, ``no_new_privs``, then the
slot's unprivileged uid (as root) or no capabilities (in a user namespace). Every step
reports what it did into ``report``; a step the parent required that fails raises
IsolationError.
"""

import errno
import fcntl
import os
import resource
import socket
import struct

import _sbx_mounts
import _sbx_pidns
from _sbx_syscalls import (
    CLONE_NEWNET,
    CLONE_NEWUSER,
    PR_SET_NO_NEW_PRIVS,
    IsolationError,
    drop_capabilities,
    prctl,
    unshare,
)

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def _loopback_up():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        request = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(sock, SIOCGIFFLAGS, request)[:18])[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP))
    finally:
        sock.close()


def _write(path, text):
    with open(path, "w") as handle:
        handle.write(text)


def new_network_namespace(as_root, report):
    """An empty network namespace: only a private loopback, no route to anything."""
    if as_root:
        unshare(CLONE_NEWNET, "unshare(CLONE_NEWNET)")
    else:
        uid, gid = os.getuid(), os.getgid()
        unshare(CLONE_NEWUSER | CLONE_NEWNET, "unshare(CLONE_NEWUSER|CLONE_NEWNET)")
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
        report["user_namespace"] = True
    _loopback_up()
    report["network"] = "private namespace, loopback only"


def _step(spec, key, report, action):
    """Run a confinement step the spec asks for; 'require' makes a failure fatal."""
    wanted = spec.get(key)
    if not wanted:
        return False
    try:
        action()
    except (IsolationError, OSError) as exc:
        if wanted == "require":
            raise IsolationError(f"{key} isolation: {exc}") from None
        report[key] = f"not isolated ({exc})"
        return False
    return True


def _private_filesystem(spec, report, state):
    stage = _sbx_mounts.slot_root(spec.get("expose", []), spec.get("hide", []), report)
    try:
        init = _sbx_pidns.Init(stage + "/proc")
    except BaseException:
        _sbx_mounts.abandon(stage)  # the host's view again, for a "try" that failed
        raise
    state["init"] = init
    if init.proc_error is None:
        report["processes"] = "private pid namespace: /proc shows the slot's processes only"
    elif os.geteuid() == 0:
        raise IsolationError(f"no private /proc: {init.proc_error}")
    else:
        _sbx_mounts.bind_host_proc(stage)
        report["processes"] = f"private pid namespace, host /proc ({init.proc_error})"
    _sbx_mounts.enter(stage)


def confine_slot(spec, report):
    """The zygote's namespaces. Returns the private filesystem's state (its pid
    namespace's init), or None when the filesystem view is the host's."""
    as_root = os.geteuid() == 0
    _step(spec, "network", report, lambda: new_network_namespace(as_root, report))
    state = {}
    if _step(spec, "filesystem", report, lambda: _private_filesystem(spec, report, state)):
        return state
    return None


def confine_job(spec, private_fs, limits, workdir, report):
    """Everything a job child does to itself before untrusted code runs. Returns the
    working directory (in a private view: inside the job's own tmpfs)."""
    uid = spec.get("uid")
    if private_fs is not None:
        workdir = _sbx_mounts.job_view(spec.get("expose", []), limits["tmpfs_bytes"], uid)
    os.chdir(workdir)
    set_limits(limits, os.geteuid() == 0 and uid is not None, report)
    prctl(PR_SET_NO_NEW_PRIVS, 1, "prctl(NO_NEW_PRIVS)")
    report["no_new_privs"] = True
    if uid is not None:
        drop_privileges(uid, spec["gid"], report)
    elif report.get("user_namespace"):
        drop_capabilities()
        report["capabilities"] = "none"
    try:
        os.chdir(workdir)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise
    return workdir


def set_limits(limits, as_root, report):
    """rlimits on CPU seconds, address space, stack, file size, open files, processes."""
    def setlim(which, value):
        if value is not None:
            resource.setrlimit(which, (int(value), int(value)))
    setlim(resource.RLIMIT_CORE, 0)
    setlim(resource.RLIMIT_CPU, limits["cpu_s"])
    setlim(resource.RLIMIT_AS, limits["memory_bytes"])
    setlim(resource.RLIMIT_DATA, limits["memory_bytes"])
    setlim(resource.RLIMIT_STACK, limits.get("stack_bytes"))
    setlim(resource.RLIMIT_FSIZE, limits["file_bytes"])
    setlim(resource.RLIMIT_NOFILE, limits["open_files"])
    processes = limits["processes"]
    if not as_root:
        processes += _count_own_tasks()
    setlim(resource.RLIMIT_NPROC, processes)
    report["rlimits"] = {"cpu_s": limits["cpu_s"], "memory_bytes": limits["memory_bytes"],
                         "file_bytes": limits["file_bytes"], "processes": processes,
                         "open_files": limits["open_files"]}


def _count_own_tasks():
    """Threads of this uid on the machine (RLIMIT_NPROC counts them all)."""
    uid = os.getuid()
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat("/proc/" + entry).st_uid == uid:
                count += len(os.listdir(f"/proc/{entry}/task"))
        except OSError:
            continue
    return count


def drop_privileges(uid, gid, report):
    """Become the slot's own unprivileged uid; no way back (no_new_privs)."""
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise IsolationError(f"setuid({uid}) did not take")
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:
        raise IsolationError("could regain root after dropping privileges")
    report["uid"] = uid
