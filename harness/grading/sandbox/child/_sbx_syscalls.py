"""The few Linux system calls the sandbox needs that Python's os module lacks."""

import ctypes
import os

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
SYS_MOUNT_SETATTR = 442  # same number on every architecture (new syscall table)
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
MNT_DETACH = 0x2
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
_CAP_VERSION_3 = 0x20080522

_libc = ctypes.CDLL(None, use_errno=True)


class IsolationError(Exception):
    """A confinement step the parent asked for could not be applied."""


def check(result, what):
    if result != 0:
        err = ctypes.get_errno()
        raise IsolationError(f"{what} failed: {os.strerror(err)}")


def unshare(flags, what):
    check(_libc.unshare(ctypes.c_int(flags)), what)


def mount(source, target, fstype, flags, data, what):
    check(_libc.mount(
        None if source is None else source.encode(),
        target.encode(),
        None if fstype is None else fstype.encode(),
        ctypes.c_ulong(flags),
        None if data is None else data.encode(),
    ), what)


def pivot_root_here(what):
    """``pivot_root(".", ".")`` then detach the old root: the current directory becomes /."""
    number = SYS_PIVOT_ROOT.get(os.uname().machine)
    if number is None:
        raise IsolationError(f"{what}: pivot_root number unknown on {os.uname().machine}")
    check(_libc.syscall(ctypes.c_long(number), b".", b"."), what)
    check(_libc.umount2(b".", ctypes.c_int(MNT_DETACH)), what + " (detach the old root)")
    os.chdir("/")


def umount_detach(path):
    """Detach the mount on ``path`` (errors ignored: used to undo a partial view)."""
    _libc.umount2(path.encode(), ctypes.c_int(MNT_DETACH))


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def set_readonly(path, readonly, recursive):
    attr = _MountAttr(MOUNT_ATTR_RDONLY if readonly else 0,
                      0 if readonly else MOUNT_ATTR_RDONLY, 0, 0)
    flags = AT_RECURSIVE if recursive else 0
    res = _libc.syscall(ctypes.c_long(SYS_MOUNT_SETATTR), ctypes.c_int(AT_FDCWD),
                        path.encode(), ctypes.c_uint(flags), ctypes.byref(attr),
                        ctypes.c_size_t(ctypes.sizeof(attr)))
    check(res, f"mount_setattr({path}, rdonly={readonly})")


def prctl(option, value, what):
    check(_libc.prctl(option, value, 0, 0, 0), what)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def drop_capabilities():
    """Clear every capability of this thread (a user-namespace root keeps them otherwise)."""
    header = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)()
    check(_libc.capset(ctypes.byref(header), data), "capset(empty)")
