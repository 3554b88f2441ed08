"""Plug-ins the stage functions use, built once per process and per run session.

A stage unit carries only configs (it must pickle); the objects behind them (a task and
its problems, a loaded policy or PRM) are built here on first use and kept until the
session ends, so the local executor builds each model once per run, as a Ray worker
would once per worker.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from harness.config import PluginConfig, TaskConfig
from harness.interfaces import PRM, Policy, Task
from harness.registry import POLICIES, PRMS, TASKS
from harness.store.keys import canonical_json
from harness.types import Problem

_built: dict[str, Any] = {}


def _key(kind: str, config: TaskConfig | PluginConfig) -> str:
    return canonical_json([kind, config.model_dump(mode="json", exclude={"label"})])


def _cached(kind: str, config: TaskConfig | PluginConfig, make: Callable[[], Any]) -> Any:
    key = _key(kind, config)
    if key not in _built:
        _built[key] = make()
    return _built[key]


def task(config: TaskConfig) -> Task:
    built: Task = _cached("task", config, lambda: TASKS.build(
        config.name, config.options, data_dir=config.data_dir))
    return built


def problems(config: TaskConfig) -> dict[str, Problem]:
    """The task's problems by id (loaded once)."""
    loaded: dict[str, Problem] = _cached("problems", config,
                                         lambda: {p.id: p for p in task(config).load()})
    return loaded


def policy(config: PluginConfig) -> Policy:
    built: Policy = _cached("policy", config,
                            lambda: POLICIES.build(config.name, config.options))
    return built


def prm(config: PluginConfig) -> PRM:
    built: PRM = _cached("prm", config, lambda: PRMS.build(config.name, config.options))
    return built


def reset(kinds: tuple[str, ...] | None = None) -> None:
    """Drop everything built (a Ray worker starting another run's units), or only the
    plug-ins of ``kinds`` ("policy", "prm": an engine actor switching engines)."""
    if kinds is None:
        _built.clear()
        return
    for key in [k for k in _built if json.loads(k)[0] in kinds]:
        del _built[key]


@contextmanager
def session() -> Iterator[None]:
    """Start with nothing built and drop everything at the end (models free their memory,
    and a later run sees a grader or option change)."""
    _built.clear()
    try:
        yield
    finally:
        _built.clear()
