"""Construct plug-ins from their registered names and options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness import registry
from harness.data import resolve_data_dir
from harness.errors import ConfigError
from harness.interfaces import PRM, Policy, Task


def build_task(name: str, data_dir: str | Path | None = None, **options: Any) -> Task:
    """The task ``name`` reading from ``data_dir`` (or PRM_HARNESS_DATA, or the hub)."""
    cls = registry.get("task", name)
    try:
        return cls(data_dir=resolve_data_dir(data_dir), **options)
    except TypeError as exc:
        raise ConfigError(f"task {name!r}: bad options {sorted(options)}: {exc}") from None


def build_policy(name: str, **options: Any) -> Policy:
    """The policy back-end ``name`` constructed with ``options`` (model, revision, ...)."""
    cls = registry.get("policy", name)
    try:
        return cls(**options)
    except TypeError as exc:
        raise ConfigError(f"policy {name!r}: bad options {sorted(options)}: {exc}") from None


def build_prm(name: str, **options: Any) -> PRM:
    """The PRM adapter ``name`` constructed with ``options`` (spec, model, backend, ...)."""
    cls = registry.get("prm", name)
    try:
        return cls(**options)
    except TypeError as exc:
        raise ConfigError(f"prm {name!r}: bad options {sorted(options)}: {exc}") from None
