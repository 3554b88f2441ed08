"""Construct plug-ins from their registered names and options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness import registry
from harness.data import resolve_data_dir
from harness.errors import ConfigError
from harness.interfaces import Task


def build_task(name: str, data_dir: str | Path | None = None, **options: Any) -> Task:
    """The task ``name`` reading from ``data_dir`` (or PRM_HARNESS_DATA, or the hub)."""
    cls = registry.get("task", name)
    try:
        return cls(data_dir=resolve_data_dir(data_dir), **options)  # type: ignore[no-any-return]
    except TypeError as exc:
        raise ConfigError(f"task {name!r}: bad options {sorted(options)}: {exc}") from None
