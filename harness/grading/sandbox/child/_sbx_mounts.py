"""The sandbox's filesystem view, built in two stages.

Slot stage (the zygote, once): a private mount namespace in which everything is
read-only; directories the sandbox uid may not traverse (e.g. ``/root`` holding the
interpreter) and the directories to hide (the data mirror, the harness cache) are
covered by empty tmpfs mounts, and the interpreter's own directories are bound back.

Job stage (each job child): another private mount namespace with fresh size-capped
``/tmp`` and ``/dev/shm``, the directories to expose that lay under them bound back
read-only, and the job's working directory bound back writable.
"""

import os
import stat

from _sbx_syscalls import (
    CLONE_NEWNS,
    MS_BIND,
    MS_NODEV,
    MS_NOSUID,
    MS_PRIVATE,
    MS_REC,
    mount,
    set_readonly,
    unshare,
)

_SCRATCH = ("/tmp", "/dev/shm")


def _under(path, top):
    return path == top or path.startswith(top.rstrip("/") + "/")


def _blocked_ancestor(path):
    """The top-most ancestor of ``path`` that others may not traverse, or None."""
    current = ""
    for part in path.strip("/").split("/")[:-1]:
        current += "/" + part
        if not os.stat(current).st_mode & stat.S_IXOTH:
            return current
    return None


def _ensure_dirs(path):
    if not os.path.isdir(path):
        os.makedirs(path, mode=0o755)


def _outermost(paths):
    keep = sorted({os.path.realpath(p) for p in paths if os.path.isdir(p)}, key=len)
    outer = []
    for path in keep:
        if not any(_under(path, o) for o in outer):
            outer.append(path)
    return outer


def _cover(target, data, fds, exposed):
    """An empty tmpfs over ``target``, then the exposed directories under it bound back."""
    mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, data, "tmpfs over " + target)
    for path in exposed:
        if _under(path, target) and path != target:
            _ensure_dirs(path)
            mount(f"/proc/self/fd/{fds[path]}", path, None, MS_BIND | MS_REC, None,
                  "expose " + path)


def slot_view(expose, hide, report):
    """The zygote's namespace: read-only everything, hidden and untraversable directories
    covered, the interpreter's directories (``expose``) reachable."""
    unshare(CLONE_NEWNS, "unshare(CLONE_NEWNS)")
    mount(None, "/", None, MS_REC | MS_PRIVATE, None, "make mounts private")
    exposed = _outermost(expose)
    fds = {path: os.open(path, os.O_PATH) for path in exposed}
    covers = {b for b in (_blocked_ancestor(p) for p in exposed) if b is not None}
    hidden = sorted({os.path.realpath(h) for h in hide if os.path.isdir(h)})
    covers.update(hidden)
    done = []
    try:
        for target in sorted(covers, key=len):
            if not os.path.isdir(target) or any(_under(target, s) for s in _SCRATCH):
                continue  # inside an earlier cover (gone) or under per-job scratch space
            _cover(target, "size=1m,mode=0755", fds, exposed)
            done.append(target)
    finally:
        for fd in fds.values():
            os.close(fd)
    set_readonly("/", True, True)
    report["filesystem"] = "read-only except workdir, private /tmp and /dev/shm"
    report["hidden"] = [h for h in hidden
                        if any(_under(h, c) for c in [*done, *_SCRATCH])]
    covered = [c for c in done if c not in hidden]
    if covered:
        report["covered"] = covered


def job_view(workdir, expose, tmpfs_bytes):
    """The job child's namespace on top of the slot's: fresh scratch space, the exposed
    directories under it bound back, the working directory writable."""
    unshare(CLONE_NEWNS, "unshare(CLONE_NEWNS)")
    exposed = [p for p in _outermost(expose) if any(_under(p, s) for s in _SCRATCH)]
    fds = {path: os.open(path, os.O_PATH) for path in exposed}
    work_fd = os.open(workdir, os.O_PATH)
    try:
        data = f"size={tmpfs_bytes},mode=1777"
        for target in _SCRATCH:
            _cover(target, data, fds, exposed)
        _ensure_dirs(workdir)
        mount(f"/proc/self/fd/{work_fd}", workdir, None, MS_BIND, None, "bind workdir")
    finally:
        for fd in [*fds.values(), work_fd]:
            os.close(fd)
    set_readonly(workdir, False, False)
