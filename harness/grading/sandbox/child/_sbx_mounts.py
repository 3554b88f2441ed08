"""The sandbox's filesystem view: an allow-list, built in two stages.

Slot stage (the zygote, once): a private mount namespace whose root is a fresh tmpfs
holding only what is allowed, bound read-only: the system directories (``/usr``, ``/etc``,
``/lib*``, ``/bin``, ``/sbin``), ``/dev`` (its nodes only, not its sub-mounts), the CPU
list in ``/sys``, and the directories to expose (the interpreter's prefixes, the child
code, any extra the task names). Everything else on the host (homes, ``/work``,
``/var``, ``/tmp``, ``/mnt``...) does not exist in the view. Directories to hide that lie
under an exposed one are covered by empty tmpfs mounts. ``/proc`` is mounted by the
slot's pid-namespace init (``_sbx_pidns``) and shows only the slot's own processes.

Job stage (each job child): another private mount namespace with one fresh size-capped
tmpfs on ``/tmp`` that holds everything the job may write: its working directory (also
HOME and TMPDIR), ``/tmp`` itself and ``/dev/shm`` (a directory of the same tmpfs). The
exposed directories that lay under ``/tmp`` are bound back read-only. It disappears with
the job's last process: nothing reaches the host's disk and there is nothing to clean up.
"""

import os

from _sbx_syscalls import (
    CLONE_NEWNS,
    MS_BIND,
    MS_NODEV,
    MS_NOSUID,
    MS_PRIVATE,
    MS_REC,
    mount,
    pivot_root_here,
    set_readonly,
    umount_detach,
    unshare,
)

SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc",
          "/sys/devices/system/cpu")
_STAGE = "/tmp"  # where the new root is assembled, covered by it (host /tmp is not kept)
JOB_TMP = "/tmp"
JOB_WORKDIR = "/tmp/job"
_JOB_SHM = "/tmp/.shm"


def _under(path, top):
    return path == top or path.startswith(top.rstrip("/") + "/")


def _ensure_dirs(path):
    if not os.path.isdir(path):
        os.makedirs(path, mode=0o755)


def _outermost(paths):
    keep = sorted({os.path.realpath(p) for p in paths if os.path.exists(p)}, key=len)
    outer = []
    for path in keep:
        if not any(_under(path, o) for o in outer):
            outer.append(path)
    return outer


def _symlinks(paths, binds):
    """(link, target) for the first symlinked component of each allowed path, so that
    e.g. ``/lib -> usr/lib`` or a venv under a symlinked folder resolves as on the host."""
    links = {}
    for path in paths:
        current = ""
        for part in os.path.normpath(path).strip("/").split("/"):
            current += "/" + part
            if any(_under(current, b) for b in binds):
                break
            if os.path.islink(current):
                links[current] = os.readlink(current)
                break
            if not os.path.isdir(current):
                break
    return sorted(links.items())


def _bind(fd, target, is_dir, flags=MS_BIND | MS_REC):
    if is_dir:
        _ensure_dirs(target)
    else:
        _ensure_dirs(os.path.dirname(target))
        if not os.path.exists(target):
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o644))
    mount(f"/proc/self/fd/{fd}", target, None, flags, None, "expose " + target)


def slot_root(expose, hide, report):
    """Assemble the zygote's new root under ``_STAGE`` (not yet entered: see ``enter``)."""
    unshare(CLONE_NEWNS, "unshare(CLONE_NEWNS)")
    mount(None, "/", None, MS_REC | MS_PRIVATE, None, "make mounts private")
    allowed = [p for p in [*SYSTEM, *expose] if os.path.exists(p)]
    binds = _outermost(allowed)
    links = _symlinks(allowed, binds)
    hidden = sorted({os.path.realpath(h) for h in hide if os.path.isdir(h)})
    covers = [h for h in hidden if any(_under(h, b) for b in binds)]
    fds = {path: os.open(path, os.O_PATH) for path in binds}
    is_dir = {path: os.path.isdir(path) for path in binds}  # (host /tmp is covered next)
    dev = os.open("/dev", os.O_PATH)
    try:
        mount("tmpfs", _STAGE, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755",
              "tmpfs for the new root")
        for path in binds:
            _bind(fds[path], _STAGE + path, is_dir[path])
        _bind(dev, _STAGE + "/dev", True, MS_BIND)  # not recursive: no host /dev/shm
        for link, target in links:
            if not os.path.lexists(_STAGE + link):
                _ensure_dirs(os.path.dirname(_STAGE + link))
                os.symlink(target, _STAGE + link)
        for target in covers:
            mount("tmpfs", _STAGE + target, "tmpfs", MS_NOSUID | MS_NODEV,
                  "size=4k,mode=0755", "tmpfs over " + target)
        for name, mode in (("/proc", 0o555), ("/tmp", 0o1777)):
            os.makedirs(_STAGE + name, mode, exist_ok=True)
            os.chmod(_STAGE + name, mode)
    finally:
        for fd in [*fds.values(), dev]:
            os.close(fd)
    report["filesystem"] = ("allow-list, read-only; writable: one private tmpfs "
                            "(workdir, /tmp, /dev/shm)")
    report["exposed"] = binds
    if covers:
        report["hidden"] = covers
    return _STAGE


def abandon(stage):
    """Undo ``slot_root`` (before ``enter``): the host's tree is seen again."""
    umount_detach(stage)


def bind_host_proc(stage):
    """The host's /proc in the new root, where a private one could not be mounted."""
    mount("/proc", stage + "/proc", None, MS_BIND | MS_REC, None, "bind the host's /proc")


def enter(stage):
    """Make the assembled tree the root (after ``/proc`` is mounted in it), read-only."""
    os.chdir(stage)
    pivot_root_here("pivot_root to the sandbox's root")
    set_readonly("/", True, True)


def job_view(expose, tmpfs_bytes, uid):
    """The job child's namespace on top of the slot's: one capped tmpfs for all it may
    write. Returns the working directory."""
    unshare(CLONE_NEWNS, "unshare(CLONE_NEWNS)")
    exposed = [p for p in _outermost(expose) if _under(p, JOB_TMP)]
    fds = {path: os.open(path, os.O_PATH) for path in exposed}
    is_dir = {path: os.path.isdir(path) for path in exposed}
    try:
        inodes = max(1024, tmpfs_bytes // 4096)
        mount("tmpfs", JOB_TMP, "tmpfs", MS_NOSUID | MS_NODEV,
              f"size={tmpfs_bytes},nr_inodes={inodes},mode=1777", "the job's tmpfs")
        for path in exposed:
            _bind(fds[path], path, is_dir[path])
    finally:
        for fd in fds.values():
            os.close(fd)
    os.mkdir(_JOB_SHM, 0o1777)
    os.chmod(_JOB_SHM, 0o1777)
    mount(_JOB_SHM, "/dev/shm", None, MS_BIND, None, "bind /dev/shm")
    os.mkdir(JOB_WORKDIR, 0o700)
    if uid is not None:
        os.chown(JOB_WORKDIR, uid, uid)
    return JOB_WORKDIR
