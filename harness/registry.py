"""One typed registry per plug-in kind, each checking what it holds against the kind's base.

Kinds: task, policy, prm, strategy, report and executor (base classes in
harness.interfaces), and the tables that used to live beside them: PRM protocol families,
step-score aggregations, importers of external sample files, the model-free PRM baselines
and the step-level baselines of ``processbench``/``prm800k-steps``.

Built-in entries are "module:attribute" strings imported only when asked for by name, so
listing or using one plug-in never imports another one's heavy dependencies (torch, vLLM).
A base outside harness.interfaces, and the tasks' data-folder hook, are named the same
way: this module sits below every package it lists and imports none of them (an import
would make package cycles: store -> aggregate -> registry -> store). Third-party
plug-ins come from the entry-point group ``prm_harness.<kind>`` or from ``register`` at
run time.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from harness.errors import ConfigError, option_error
from harness.interfaces import PRM, Executor, Policy, Report, Strategy, Task

T = TypeVar("T")
B = TypeVar("B")


def _load(target: str) -> Any:
    module_name, attr = target.split(":")
    return getattr(importlib.import_module(module_name), attr)


class Registry(Generic[T]):
    """The named plug-ins of one kind.

    An entry is a subclass of ``base`` or, with ``instances=True``, an instance of it
    (aggregations are values, not classes). ``base`` may be "module:attribute". Every entry
    is checked when it is registered and when it is resolved, so a wrong plug-in fails with
    one line naming it, never later inside a run.
    """

    def __init__(self, kind: str, base: type | str, builtins: Mapping[str, str], *,
                 instances: bool = False,
                 context: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> None:
        self.kind = kind
        self._base = base
        self.builtins = dict(sorted(builtins.items()))
        self.instances = instances
        self._context = context
        self._resolved: dict[str, Any] = {}
        self._eps: dict[str, Any] | None = None

    @property
    def base(self) -> type:
        if isinstance(self._base, str):
            self._base = _load(self._base)
        assert isinstance(self._base, type)
        return self._base

    def _checked(self, name: str, obj: Any) -> Any:
        base = self.base
        ok = isinstance(obj, base) if self.instances else (
            isinstance(obj, type) and issubclass(obj, base))
        if not ok:
            what = "an instance" if self.instances else "a subclass"
            raise ConfigError(f"{self.kind} {name!r} is {obj!r}, not {what} of "
                              f"{base.__module__}.{base.__qualname__}")
        return obj

    def register(self, name: str, obj: Any = None) -> Any:
        """Make ``obj`` plug-in ``name``; without ``obj``, a decorator that does."""
        def add(value: Any) -> Any:
            self._checked(name, value)
            existing = self._resolved.get(name)
            if existing is not None and existing is not value:
                raise ConfigError(f"{self.kind} {name!r} is already registered to "
                                  f"{existing!r}")
            self._resolved[name] = value
            return value

        return add if obj is None else add(obj)

    def unregister(self, name: str) -> None:
        """Forget a run-time registration (built-ins and entry points stay known)."""
        if name in self.builtins or name in self._entry_points():
            raise ConfigError(f"{self.kind} {name!r} is not a run-time registration")
        if name not in self._resolved:
            raise ConfigError(f"{self.kind} {name!r} is not registered")
        del self._resolved[name]

    def _entry_points(self) -> dict[str, Any]:
        """Installed entry points of the group, read once per process (a scan is slow)."""
        if self._eps is None:
            group = f"prm_harness.{self.kind}"
            self._eps = {ep.name: ep for ep in entry_points(group=group)}
        return self._eps

    def names(self) -> list[str]:
        """Built-in, entry-point and run-time names, sorted."""
        return sorted(set(self.builtins) | set(self._entry_points()) | set(self._resolved))

    def get(self, name: str) -> T:
        """The plug-in ``name``; an unknown name lists the known ones."""
        if name in self._resolved:
            return self._resolved[name]
        if name in self.builtins:
            obj = _load(self.builtins[name])
        else:
            eps = self._entry_points()
            if name not in eps:
                known = ", ".join(self.names()) or "none"
                raise ConfigError(f"unknown {self.kind} {name!r}; known: {known}")
            obj = eps[name].load()
        self._resolved[name] = self._checked(name, obj)
        return obj

    def build(self: Registry[type[B]], name: str, options: Mapping[str, Any] | None = None,
              **context: Any) -> B:
        """``cls(**context, **options)`` for plug-in ``name``: the one constructor path.

        ``options`` are the user's (config file, ``--option``); ``context`` is what the
        caller supplies (a task's data folder). A refused option is named, apart from the
        valid ones.
        """
        cls = self.get(name)
        options = dict(options or {})
        if self._context is not None:
            context = self._context(context)
        try:
            return cls(**context, **options)
        except TypeError as exc:
            raise option_error(f"{self.kind} {name!r}", cls, options, exc) from None


def _task_context(context: dict[str, Any]) -> dict[str, Any]:
    """A task reads from ``data_dir``, else PRM_HARNESS_DATA, else the hub (None)."""
    resolve_data_dir = _load("harness.data:resolve_data_dir")  # by name: see the docstring
    return {**context, "data_dir": resolve_data_dir(context.get("data_dir"))}


# Entries per kind; keep each table sorted by name.
_PRM_BASELINES = {
    "length": "harness.models.prms.baselines:LengthPRM",
    "random": "harness.models.prms.baselines:RandomPRM",
    "step-label": "harness.models.prms.baselines:StepLabelPRM",
}

TASKS: Registry[type[Task]] = Registry("task", Task, {
    "aime24": "harness.tasks.aime24:Aime24Task",
    "bigcodebench": "harness.tasks.bigcodebench:BigCodeBenchTask",
    "bigcodebench-hard": "harness.tasks.bigcodebench:BigCodeBenchHardTask",
    "humanevalplus": "harness.tasks.humanevalplus:HumanEvalPlusTask",
    "livecodebench": "harness.tasks.livecodebench:LiveCodeBenchTask",
    "math500": "harness.tasks.math500:Math500Task",
    "mbppplus": "harness.tasks.mbppplus:MbppPlusTask",
    "prm800k": "harness.tasks.prm800k:Prm800kTask",
    "synthetic-arith": "harness.tasks.synthetic_arith:SyntheticArithTask",
}, context=_task_context)
POLICIES: Registry[type[Policy]] = Registry("policy", Policy, {
    "hf": "harness.models.policies.hf:HfPolicy",
    "http": "harness.models.policies.http:HttpPolicy",
    "lm-eval": "harness.models.policies.lm_eval_policy:LmEvalPolicy",
    "replay": "harness.models.policies.replay:ReplayPolicy",
    "sim": "harness.synthetic.policy:SimPolicy",
    "vllm": "harness.models.policies.vllm:VllmPolicy",
})
PRMS: Registry[type[PRM]] = Registry("prm", PRM, {
    **_PRM_BASELINES,
    "http": "harness.models.prms.adapter:HttpPRM",
    "sim-bellman": "harness.synthetic.prms:SimBellmanPRM",
    "sim-noisy": "harness.synthetic.prms:SimNoisyPRM",
    "sim-oracle": "harness.synthetic.prms:SimOraclePRM",
    "transformers": "harness.models.prms.adapter:TransformersPRM",
    "vllm": "harness.models.prms.adapter:VllmPRM",
})
STRATEGIES: Registry[type[Strategy]] = Registry("strategy", Strategy, {
    "beam": "harness.strategies.beam:BeamSearch",
    "best-of-n": "harness.strategies.best_of_n:BestOfN",
    "compute-aware": "harness.strategies.compute_aware:ComputeAware",
    "dvts": "harness.strategies.dvts:Dvts",
    "majority": "harness.strategies.majority:Majority",
    "mcts": "harness.strategies.mcts:Mcts",
    "smc": "harness.strategies.smc:Smc",
    "weighted-majority": "harness.strategies.majority:WeightedMajority",
})
REPORTS: Registry[type[Report]] = Registry("report", Report, {
    "bellman": "harness.reports.bellman:BellmanReport",
    "best-of-n": "harness.reports.best_of_n:BestOfNReport",
    "compute": "harness.reports.compute:ComputeReport",
    "paper": "harness.reports.paper:PaperReport",
})
EXECUTORS: Registry[type[Executor]] = Registry("executor", Executor, {
    "local": "harness.pipeline.executor:LocalExecutor",
    "ray": "harness.pipeline.ray_executor:RayExecutor",
})
FAMILIES: Registry[type[Any]] = Registry("family", "harness.models.prms.protocol:Family", {
    "chat-turn": "harness.models.prms.chat_turn:ChatTurnFamily",
    "generative": "harness.models.prms.generative:GenerativeFamily",
    "implicit": "harness.models.prms.implicit:ImplicitFamily",
    "outcome": "harness.models.prms.outcome:OutcomeFamily",
    "qwen-prm": "harness.models.prms.qwen_prm:QwenPrmFamily",
    "step-tag": "harness.models.prms.step_tag:StepTagFamily",
    "token-classification": "harness.models.prms.token_classification:TokenClassificationFamily",
    "value-head": "harness.models.prms.value_head:ValueHeadFamily",
})
AGGREGATIONS: Registry[Any] = Registry("aggregation", "harness.aggregate:Aggregation", {
    "last": "harness.aggregate:LAST",
    "mean": "harness.aggregate:MEAN",
    "min": "harness.aggregate:MIN",
    "product": "harness.aggregate:PRODUCT",
}, instances=True)
IMPORTERS: Registry[type[Any]] = Registry("importer", "harness.store.importers:Importer", {
    "codet-humaneval": "harness.store.importers:CodetHumanEvalImporter",
    "evalplus": "harness.store.importers:EvalplusImporter",
    "evalplus-results": "harness.interop.evalplus_files:EvalplusResultsImporter",
    "flat": "harness.store.importers:FlatImporter",
    "lm-eval-samples": "harness.interop.lm_eval_samples:LmEvalSamplesImporter",
    "qwen-math-eval": "harness.store.importers:QwenMathEvalImporter",
})
#: the model-free PRMs (also PRMs above, under the same names)
BASELINES: Registry[type[PRM]] = Registry("baseline", PRM, _PRM_BASELINES)
#: step-level reference scorers for processbench / prm800k-steps (not PRMs)
STEP_BASELINES: Registry[type[Any]] = Registry(
    "step-baseline", "harness.stepeval.baselines:StepBaseline", {
        "step-length": "harness.stepeval.baselines:StepLengthBaseline",
        "step-random": "harness.stepeval.baselines:StepRandomBaseline",
    })

REGISTRIES: dict[str, Registry[Any]] = {r.kind: r for r in (
    TASKS, POLICIES, PRMS, STRATEGIES, REPORTS, EXECUTORS, FAMILIES, AGGREGATIONS, IMPORTERS,
    BASELINES, STEP_BASELINES)}
KINDS = tuple(REGISTRIES)


def registry_for(kind: str) -> Registry[Any]:
    if kind not in REGISTRIES:
        raise ConfigError(f"unknown plug-in kind {kind!r}; kinds are {', '.join(KINDS)}")
    return REGISTRIES[kind]


def register(kind: str, name: str) -> Callable[[T], T]:
    """Decorator: make ``obj`` plug-in ``name`` of ``kind`` (checked against its base)."""
    add: Callable[[T], T] = registry_for(kind).register(name)
    return add


def names(kind: str) -> list[str]:
    """All plug-in names of a kind: built-in, entry points and run-time registrations."""
    return registry_for(kind).names()


def get(kind: str, name: str) -> Any:
    """Resolve a plug-in by name; an unknown name lists the known ones."""
    return registry_for(kind).get(name)


def build(kind: str, name: str, options: Mapping[str, Any] | None = None,
          **context: Any) -> Any:
    """Construct plug-in ``name`` of ``kind`` (see ``Registry.build``)."""
    return registry_for(kind).build(name, options, **context)
