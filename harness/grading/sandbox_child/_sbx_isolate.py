"""Confinement applied by the sandbox driver to itself before any untrusted code runs.

Order matters: namespaces and mounts need root (or a user namespace), so they come first;
resource limits next; dropping to the slot's unprivileged uid last. Every step reports
what it did into ``report``; a step the parent required that fails raises IsolationError.
"""

import ctypes
import errno
import fcntl
import os
import resource
import socket
import stat
import struct

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
SYS_MOUNT_SETATTR = 442  # same number on every architecture (new syscall table)
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
PR_SET_NO_NEW_PRIVS = 38
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1

_libc = ctypes.CDLL(None, use_errno=True)


class IsolationError(Exception):
    """A confinement step the parent asked for could not be applied."""


def _check(result, what):
    if result != 0:
        err = ctypes.get_errno()
        raise IsolationError(f"{what} failed: {os.strerror(err)}")


def _unshare(flags, what):
    _check(_libc.unshare(ctypes.c_int(flags)), what)


def _mount(source, target, fstype, flags, data, what):
    _check(_libc.mount(
        None if source is None else source.encode(),
        target.encode(),
        None if fstype is None else fstype.encode(),
        ctypes.c_ulong(flags),
        None if data is None else data.encode(),
    ), what)


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def _set_readonly(path, readonly, recursive):
    attr = _MountAttr(MOUNT_ATTR_RDONLY if readonly else 0,
                      0 if readonly else MOUNT_ATTR_RDONLY, 0, 0)
    flags = AT_RECURSIVE if recursive else 0
    res = _libc.syscall(ctypes.c_long(SYS_MOUNT_SETATTR), ctypes.c_int(AT_FDCWD),
                        path.encode(), ctypes.c_uint(flags), ctypes.byref(attr),
                        ctypes.c_size_t(ctypes.sizeof(attr)))
    _check(res, f"mount_setattr({path}, rdonly={readonly})")


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
        _unshare(CLONE_NEWNET, "unshare(CLONE_NEWNET)")
    else:
        uid, gid = os.getuid(), os.getgid()
        _unshare(CLONE_NEWUSER | CLONE_NEWNET, "unshare(CLONE_NEWUSER|CLONE_NEWNET)")
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
        report["user_namespace"] = True
    _loopback_up()
    report["network"] = "private namespace, loopback only"


def _blocked_ancestor(path):
    """The top-most ancestor of ``path`` that others may not traverse, or None."""
    parts = path.strip("/").split("/")
    current = ""
    for part in parts[:-1]:
        current += "/" + part
        mode = os.stat(current).st_mode
        if not mode & stat.S_IXOTH:
            return current
    return None


def _ensure_dirs(path):
    if not os.path.isdir(path):
        os.makedirs(path, mode=0o755)


def private_filesystem(workdir, expose, tmpfs_bytes, report):
    """Everything read-only, a fresh /tmp and /dev/shm, the working dir writable, and the
    interpreter's directories reachable even under a home the sandbox uid cannot enter."""
    _unshare(CLONE_NEWNS, "unshare(CLONE_NEWNS)")
    _mount(None, "/", None, MS_REC | MS_PRIVATE, None, "make mounts private")
    keep = sorted({os.path.realpath(p) for p in expose if os.path.isdir(p)}, key=len)
    outer = []
    for path in keep:
        if not any(path == o or path.startswith(o + "/") for o in outer):
            outer.append(path)
    fds = {path: os.open(path, os.O_PATH) for path in outer}
    work_fd = os.open(workdir, os.O_PATH)
    size = f"size={tmpfs_bytes}"
    for target in ("/tmp", "/dev/shm"):
        _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, size + ",mode=1777",
               "tmpfs on " + target)
    covered = []
    for path in outer:
        blocked = _blocked_ancestor(path)
        if blocked is None:
            continue
        if blocked not in covered:
            _mount("tmpfs", blocked, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755",
                   "tmpfs over " + blocked)
            covered.append(blocked)
        _ensure_dirs(path)
        _mount(f"/proc/self/fd/{fds[path]}", path, None, MS_BIND | MS_REC, None,
               "expose " + path)
    _ensure_dirs(workdir)
    _mount(f"/proc/self/fd/{work_fd}", workdir, None, MS_BIND, None, "bind workdir")
    for fd in [*list(fds.values()), work_fd]:
        os.close(fd)
    _set_readonly("/", True, True)
    for target in ("/tmp", "/dev/shm", workdir):
        _set_readonly(target, False, False)
    report["filesystem"] = "read-only except workdir, private /tmp and /dev/shm"
    if covered:
        report["covered"] = covered


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


def no_new_privileges(report):
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    report["no_new_privs"] = True


def apply(spec, limits, workdir, report):
    """Apply ``spec`` (from the parent) to this process; raise IsolationError on a
    required step that fails."""
    as_root = os.geteuid() == 0
    if spec.get("network"):
        try:
            new_network_namespace(as_root, report)
        except (IsolationError, OSError) as exc:
            if spec["network"] == "require":
                raise IsolationError(f"network isolation: {exc}") from None
            report["network"] = f"not isolated ({exc})"
    if spec.get("filesystem"):
        try:
            private_filesystem(workdir, spec.get("expose", []), limits["tmpfs_bytes"], report)
        except (IsolationError, OSError) as exc:
            if spec["filesystem"] == "require":
                raise IsolationError(f"filesystem isolation: {exc}") from None
            report["filesystem"] = f"not isolated ({exc})"
    os.chdir(workdir)
    set_limits(limits, as_root and spec.get("uid") is not None, report)
    no_new_privileges(report)
    if spec.get("uid") is not None:
        drop_privileges(spec["uid"], spec["gid"], report)
    try:
        os.chdir(workdir)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise
