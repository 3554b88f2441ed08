"""Progress bars for long work (rich, on stderr); silent when stderr is not a terminal."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


def _enabled() -> bool:
    if os.environ.get("PRM_HARNESS_PROGRESS") == "1":
        return True
    if os.environ.get("PRM_HARNESS_PROGRESS") == "0":
        return False
    return sys.stderr.isatty()


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate ``items`` with a progress bar."""
    if not _enabled():
        yield from items
        return
    from rich.progress import track as rich_track

    yield from rich_track(items, description=description, total=total, transient=False)


@contextmanager
def bar(description: str, total: int) -> Iterator[callable]:  # type: ignore[valid-type]
    """A bar advanced by calling the yielded function with a step count."""
    if not _enabled():
        yield lambda n=1: None
        return
    from rich.progress import Progress

    with Progress(transient=False) as progress:
        task_id = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task_id, n)
