"""Removing a directory tree a program built, however deep: never raises, never recurses.

``shutil.rmtree`` recurses once per level (a tree thousands of levels deep raised
RecursionError) and builds paths longer than PATH_MAX. This walks down and back up with
one directory descriptor at a time, checking on the way up that ``..`` is the directory
it came from, so neither depth nor path length matters.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _open_dir(name: str, dir_fd: int | None) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except PermissionError:  # a directory its owner made unreadable
        os.chmod(name, 0o700, dir_fd=dir_fd, follow_symlinks=False)
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)


def _first_subdir(fd: int) -> str | None:
    """Unlink every non-directory in ``fd``; the name of a subdirectory, if any."""
    with os.scandir(fd) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                return entry.name
            os.unlink(entry.name, dir_fd=fd)
    return None


def remove_tree(path: str | Path) -> bool:
    """Remove ``path`` and everything under it; False (logged) when something stayed."""
    path = os.fspath(path)
    try:
        if not os.path.isdir(path) or os.path.islink(path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            return True
        _remove(path)
        return True
    except Exception as exc:  # cleanup must never take the run down
        log.warning("could not remove %s: %s: %s", path, type(exc).__name__, exc)
        return False


def _remove(path: str) -> None:
    fd = _open_dir(path, None)
    top = os.fstat(fd)
    trail: list[tuple[str, int, int]] = []  # (name in parent, parent dev, parent inode)
    try:
        while True:
            name = _first_subdir(fd)
            if name is not None:
                here = os.fstat(fd)
                child = _open_dir(name, fd)
                trail.append((name, here.st_dev, here.st_ino))
                os.close(fd)
                fd = child
                continue
            if not trail:
                break
            name, dev, ino = trail.pop()
            parent = os.open("..", _DIR_FLAGS, dir_fd=fd)
            seen = os.fstat(parent)
            if (seen.st_dev, seen.st_ino) != (dev, ino) or not stat.S_ISDIR(seen.st_mode):
                os.close(parent)
                raise OSError(f"'..' of {name!r} changed while removing {path}")
            os.close(fd)
            fd = parent
            os.rmdir(name, dir_fd=fd)
    finally:
        os.close(fd)
    if (os.lstat(path).st_dev, os.lstat(path).st_ino) == (top.st_dev, top.st_ino):
        os.rmdir(path)
