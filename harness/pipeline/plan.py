"""The run plan: the whole config checked and resolved before any stage runs.

``plan_run`` resolves every plug-in name (task, policy, PRMs, reports, executor), checks
each one's options against its constructor, k against n, the aggregations, and selects the
problems; it writes nothing, so a config that cannot run leaves no run folder behind.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness import registry
from harness.config import ProblemSelection, RunConfig
from harness.errors import ConfigError
from harness.interfaces import SamplingParams
from harness.models.policies.base import check_params
from harness.pipeline import plugins
from harness.store.keys import key_of
from harness.store.rundir import default_runs_root
from harness.types import Problem


@dataclass(frozen=True)
class RunPlan:
    """A checked config with what it resolves to: the run's folder, its problems in shards
    and the task identities the stage keys are made of."""

    config: RunConfig
    run_path: Path
    problems: tuple[Problem, ...]
    shards: tuple[tuple[str, ...], ...]  # problem ids per shard
    task_identity: dict[str, Any]
    generation_identity: dict[str, Any]
    #: the policy's and each PRM's (by label) resolved identity: weights' folder sha256
    #: or hub commit, spec hash, back-end version (``resolved_identity``); keys hold them
    policy_identity: dict[str, Any] = field(default_factory=dict)
    prm_identities: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.run_path.name


def select_problems(problems: list[Problem], selection: ProblemSelection | None
                    ) -> list[Problem]:
    """The configured subset, always in the benchmark's own order (except explicit ids)."""
    if selection is None:
        return problems
    if selection.ids is not None:
        by_id = {p.id: p for p in problems}
        missing = [i for i in selection.ids if i not in by_id]
        if missing:
            raise ConfigError(f"task.problems.ids: unknown problem ids {missing[:5]}")
        return [by_id[i] for i in selection.ids]
    if selection.slice is not None:
        start_text, stop_text = selection.slice.split(":")
        chosen = problems[int(start_text or 0): int(stop_text) if stop_text else None]
        if not chosen:
            raise ConfigError(f"task.problems.slice {selection.slice!r} selects no problems")
        return chosen
    assert selection.sample is not None
    if selection.sample > len(problems):
        raise ConfigError(f"task.problems.sample={selection.sample} but the task has "
                          f"{len(problems)} problems")
    rng = np.random.default_rng(selection.seed)
    picked = sorted(rng.choice(len(problems), size=selection.sample, replace=False))
    return [problems[i] for i in picked]


def unknown_options(target: Any, options: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Option names ``target``'s constructor does not take, and the names it does.

    A ``**options`` parameter passes the rest on to the base class, so the check follows
    the constructors up the class hierarchy until one takes no ``**options``.
    """
    taken: list[str] = []
    chain: list[Any] = [vars(c)["__init__"] for c in target.__mro__
                        if "__init__" in vars(c) and c is not object] \
        if isinstance(target, type) else [target]
    for init in chain:
        try:
            parameters = list(inspect.signature(init).parameters.values())
        except (TypeError, ValueError):
            return [], taken  # a constructor we cannot inspect: let it decide
        named = [p for p in parameters if p.name != "self"
                 and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        taken += [p.name for p in named if p.name not in taken]
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            return sorted(set(options) - set(taken)), taken
    if not chain:  # only object.__init__: no options at all
        return sorted(options), taken
    return [], taken


def _check_plugin(config: RunConfig, kind: str, plugin: Any, field: str,
                  fixed: tuple[str, ...] = ()) -> None:
    """The name is registered and every option is one its constructor takes."""
    try:
        target = registry.get(kind, plugin.name)
    except ConfigError as exc:
        raise config.error(f"{field}.name", str(exc)) from None
    bad, taken = unknown_options(target, {**plugin.options, **dict.fromkeys(fixed)})
    if bad:
        valid = ", ".join(t for t in taken if t not in fixed) or "none"
        raise config.error(f"{field}.options.{bad[0]}",
                           f"{kind} {plugin.name!r} takes no option {bad[0]!r} "
                           f"(its options: {valid})")


def strategy_budget(config: RunConfig) -> Any:
    """The strategy section's budget as a ``Budget``; a bad key or value names its field."""
    from harness.store.search_dir import BUDGET_KEYS
    from harness.strategies.engine import check_budget
    from harness.types import Budget

    assert config.strategy is not None
    values: dict[str, Any] = {}
    for key, value in config.strategy.budget.items():
        if key not in BUDGET_KEYS:
            raise config.error(f"strategy.budget.{key}", f"unknown budget key {key!r}; "
                               f"valid keys: {', '.join(BUDGET_KEYS)}")
        if BUDGET_KEYS[key] is int and float(value) != int(value):
            raise config.error(f"strategy.budget.{key}", f"{value!r} is not an integer")
        values[key] = BUDGET_KEYS[key](value)
    budget = Budget(**values)
    try:
        check_budget(budget)
    except ConfigError as exc:
        raise config.error("strategy.budget", str(exc)) from None
    return budget


def strategy_prm(config: RunConfig) -> Any:
    """The PRM config that guides the search: the one named by ``strategy.prm``, else the
    only one."""
    assert config.strategy is not None
    labels = [p.display() for p in config.prms]
    if config.strategy.prm is not None:
        if config.strategy.prm not in labels:
            raise config.error("strategy.prm", f"no PRM labelled {config.strategy.prm!r} "
                               f"in prms (labels: {', '.join(labels) or 'none'})")
        return config.prms[labels.index(config.strategy.prm)]
    if len(config.prms) != 1:
        raise config.error("strategy.prm" if config.prms else "prms",
                           f"a search needs one PRM; name it among {', '.join(labels)}"
                           if config.prms else "a strategy run needs a PRM to guide it")
    return config.prms[0]


def build_strategy(config: RunConfig) -> Any:
    """The configured strategy, built (so its options are checked)."""
    assert config.strategy is not None
    s = config.strategy
    try:
        return registry.STRATEGIES.build(s.name, {**s.options, "seed": s.seed})
    except ConfigError as exc:
        field = "strategy.name" if s.name not in registry.names("strategy") \
            else "strategy.options"
        raise config.error(field, str(exc)) from None


def check_strategy(config: RunConfig) -> None:
    """A strategy run searches instead of sampling: no sampling or metrics sections, only
    the ``compute`` report, one guiding PRM, a valid budget and strategy."""
    for section in ("sampling", "metrics"):
        if section in config.model_fields_set:
            raise config.error(section, f"a run with a strategy section has no {section} "
                               f"(the strategy's options set temperature, top_p, max_tokens)"
                               if section == "sampling" else
                               f"a run with a strategy section has no {section} "
                               f"(its summary and the compute report are its results)")
    if "report" in config.model_fields_set:
        for i, kind in enumerate(config.report.kinds):
            if kind != "compute":
                raise config.error(f"report.kinds.{i}", f"a strategy run renders only the "
                                   f"compute report, not {kind!r}")
    strategy_prm(config)
    strategy_budget(config)
    build_strategy(config)


def check_config(config: RunConfig) -> None:
    """Everything about the config that can be checked without running a model."""
    if config.strategy is not None:
        check_strategy(config)
    _check_plugin(config, "task", config.task, "task", fixed=("data_dir",))
    _check_plugin(config, "policy", config.policy, "policy")
    for i, prm in enumerate(config.prms):
        _check_plugin(config, "prm", prm, f"prms.{i}")
    _check_plugin(config, "executor", config.executor, "executor")
    for i, kind in enumerate(config.report.kinds):
        try:
            registry.get("report", kind)
        except ConfigError as exc:
            raise config.error(f"report.kinds.{i}", str(exc)) from None
    s = config.sampling
    try:
        check_params(SamplingParams(n=s.n, temperature=s.temperature, top_p=s.top_p,
                                    max_tokens=s.max_tokens, seed=s.seed, stop=s.stop))
    except ConfigError as exc:
        raise config.error("sampling", str(exc)) from None
    for i, k in enumerate(config.metrics.ks or []):
        if k < 1:
            raise config.error(f"metrics.ks.{i}", f"k={k} must be at least 1")
        if k > s.n:
            raise config.error(f"metrics.ks.{i}", f"k={k} is larger than sampling.n={s.n} "
                               "(each problem's pool has n samples)")
    if "aggregations" in config.metrics.model_fields_set and config.metrics.aggregations \
            and not config.prms:
        raise config.error("metrics.aggregations",
                           "aggregations are given but the run has no PRMs to aggregate")


def run_name(config: RunConfig, generation_identity: dict[str, Any]) -> str:
    """The configured name, else one keyed on what the run is."""
    return config.name or (f"{config.task.name}__{config.policy.name}__"
                           f"{key_of([config.identity(), generation_identity])[:12]}")


def plan_run(config: RunConfig, runs_root: Path | None = None) -> RunPlan:
    """Check the config and resolve it into a plan; nothing is written.

    Call inside ``plugins.session()``: the task built here is the one the stages use.
    """
    check_config(config)
    task = plugins.task(config.task)
    problems = select_problems(list(plugins.problems(config.task).values()),
                               config.task.problems)
    generation_identity = task.generation_identity()
    root = runs_root or Path(config.runs_dir or default_runs_root())
    size = config.shard_size
    ids = [p.id for p in problems]
    policy_identity = registry.get("policy", config.policy.name).resolved_identity(
        **config.policy.options)
    prm_identities = {prm.display(): registry.get("prm", prm.name).resolved_identity(
        **prm.options) for prm in config.prms}
    return RunPlan(config=config, run_path=root / run_name(config, generation_identity),
                   problems=tuple(problems),
                   shards=tuple(tuple(ids[i:i + size]) for i in range(0, len(ids), size)),
                   task_identity=task.identity(), generation_identity=generation_identity,
                   policy_identity=policy_identity, prm_identities=prm_identities)
