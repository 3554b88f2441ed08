"""One registry for every plug-in kind: tasks, policies, PRMs, strategies and reports.

Built-in plug-ins are listed here as "module:attribute" strings and imported only when
asked for by name, so listing or using one plug-in never imports another one's heavy
dependencies (torch, vLLM). Third-party plug-ins come from the entry-point group
``prm_harness.<kind>`` or from ``register`` at run time.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, TypeVar

from harness.errors import ConfigError

KINDS = ("task", "policy", "prm", "strategy", "report")

T = TypeVar("T")

# name -> "module:attribute", per kind. Keep each list sorted by name.
_BUILTINS: dict[str, dict[str, str]] = {
    "task": {
        "aime24": "harness.tasks.aime24:Aime24Task",
        "bigcodebench": "harness.tasks.bigcodebench:BigCodeBenchTask",
        "bigcodebench-hard": "harness.tasks.bigcodebench:BigCodeBenchHardTask",
        "humanevalplus": "harness.tasks.humanevalplus:HumanEvalPlusTask",
        "livecodebench": "harness.tasks.livecodebench:LiveCodeBenchTask",
        "math500": "harness.tasks.math500:Math500Task",
        "mbppplus": "harness.tasks.mbppplus:MbppPlusTask",
        "prm800k": "harness.tasks.prm800k:Prm800kTask",
        "synthetic-arith": "harness.tasks.synthetic_arith:SyntheticArithTask",
    },
    "policy": {
        "hf": "harness.models.policies.hf:HfPolicy",
        "http": "harness.models.policies.http:HttpPolicy",
        "replay": "harness.models.policies.replay:ReplayPolicy",
        "sim": "harness.synthetic.policy:SimPolicy",
        "vllm": "harness.models.policies.vllm:VllmPolicy",
    },
    "prm": {
        "http": "harness.models.prms.adapter:HttpPRM",
        "length": "harness.models.prms.baselines:LengthPRM",
        "random": "harness.models.prms.baselines:RandomPRM",
        "sim-noisy": "harness.synthetic.prms:SimNoisyPRM",
        "sim-oracle": "harness.synthetic.prms:SimOraclePRM",
        "step-label": "harness.models.prms.baselines:StepLabelPRM",
        "transformers": "harness.models.prms.adapter:TransformersPRM",
        "vllm": "harness.models.prms.adapter:VllmPRM",
    },
    "strategy": {},
    "report": {
        "bellman": "harness.reports.bellman:BellmanReportKind",
        "best-of-n": "harness.reports.best_of_n:BestOfNReport",
    },
}

_runtime: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ConfigError(f"unknown plug-in kind {kind!r}; kinds are {', '.join(KINDS)}")


def register(kind: str, name: str) -> Callable[[T], T]:
    """Decorator: make ``obj`` available as plug-in ``name`` of ``kind``."""
    _check_kind(kind)

    def deco(obj: T) -> T:
        existing = _runtime[kind].get(name)
        if existing is not None and existing is not obj:
            raise ConfigError(f"{kind} {name!r} is already registered to {existing!r}")
        _runtime[kind][name] = obj
        return obj

    return deco


def _entry_points(kind: str) -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=f"prm_harness.{kind}")}


def names(kind: str) -> list[str]:
    """All plug-in names of a kind: built-in, entry points and run-time registrations."""
    _check_kind(kind)
    return sorted(set(_BUILTINS[kind]) | set(_entry_points(kind)) | set(_runtime[kind]))


def get(kind: str, name: str) -> Any:
    """Resolve a plug-in by name; an unknown name lists the known ones."""
    _check_kind(kind)
    if name in _runtime[kind]:
        return _runtime[kind][name]
    target = _BUILTINS[kind].get(name)
    if target is not None:
        module_name, attr = target.split(":")
        obj = getattr(importlib.import_module(module_name), attr)
        _runtime[kind][name] = obj
        return obj
    eps = _entry_points(kind)
    if name in eps:
        obj = eps[name].load()
        _runtime[kind][name] = obj
        return obj
    known = ", ".join(names(kind)) or "none"
    raise ConfigError(f"unknown {kind} {name!r}; known: {known}")
