"""Executors run the pipeline's (stage, shard) units; the local one is today's loop."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from harness import registry
from harness.interfaces import Executor

UnitT = TypeVar("UnitT")
ResultT = TypeVar("ResultT")


class LocalExecutor(Executor):
    """One unit after another in this process, in the order given (no options)."""

    def map(self, fn: Callable[[UnitT], ResultT], units: Sequence[UnitT]
            ) -> Iterator[ResultT]:
        for unit in units:
            yield fn(unit)


def build_executor(name: str, options: dict[str, Any]) -> Executor:
    """The executor ``name`` (registry kind "executor") constructed with ``options``."""
    return registry.EXECUTORS.build(name, options)
