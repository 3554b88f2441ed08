"""The Ray executor: the pipeline's (stage, shard) units on a Ray cluster (extra ``ray``).

Config: ``executor: {name: ray, options: {...}}`` or ``prm-harness run --executor ray``.
Options: ``address`` (a running cluster, e.g. ``ray://head:10001`` or ``auto``; none starts
Ray on this machine with ``local_cpus`` CPUs, default all), ``num_cpus`` and ``num_gpus``
(resources of one unit, default 1 and 0; for a model stage the resources of the actor that
holds its engine: give ``num_gpus`` the engine's tensor-parallel x pipeline-parallel size),
``actors`` (most engine actors per model stage, the data-parallel degree; default as many as
the cluster's resources hold), ``max_retries`` (retries of a failed unit, default 2) and
``generation`` (``actors``, the default, or ``ray_data``: the pool stage through Ray Data's
vLLM batch processor, harness.pipeline.ray_data_generation, with options ``ray_data``).

A generation or scoring unit is a call on an actor that holds the stage's engine (one
policy or PRM per actor, built on its first unit from the unit's config through the
registry, as harness.pipeline.plugins builds it locally; the actors start with the
executor, so they boot while the driver plans, and stay up across consecutive model
stages, each dropping its engine for the next stage's). A grading unit is a call on the
same actors when they hold CPUs only (``num_gpus`` 0: an actor is then the same resources
as a task, with its process started and its imports done), else a Ray task, for which the
actors are released first. Every unit writes its
shard into the run directory the driver names (a path the workers share) with the store's
atomic writes, so a worker killed mid-shard leaves no shard, only a temporary file that is
removed before the unit is retried. Seeds are in the units (per shard), so where a unit
runs never changes its bytes. Units that still fail after ``max_retries`` retries are
reported together, each by stage, shard and key with every attempt's error, after the
other units have finished (so a resumed run redoes only those).
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from harness.errors import ConfigError, HarnessError
from harness.interfaces import Executor
from harness.pipeline import plugins
from harness.store.keys import canonical_json

UnitT = TypeVar("UnitT")
ResultT = TypeVar("ResultT")

#: set before Ray starts: no auth token file in ~/.ray, no usage reporting
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
#: the driver's variables that workers need to build the same plug-ins
_PASSED_ENV = ("PRM_HARNESS_", "HF_", "TOKENIZERS_PARALLELISM", "VLLM_", "TRANSFORMERS_")


#: how the pool stage runs: units on engine actors, or Ray Data's vLLM processor
GENERATION_MODES = ("actors", "ray_data")


class UnitFailedError(HarnessError):
    """Units that failed on every attempt, each named by stage, shard and key."""


def _ray() -> Any:
    for name, value in RAY_ENV.items():
        os.environ.setdefault(name, value)
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("executor 'ray' needs Ray: pip install 'prm-harness[ray]'") from exc
    return ray


# -- what runs on a worker --------------------------------------------------------------

_session: list[str] = []  # the run (map call or executor) and engine this worker serves
_MODELS = ("policy", "prm")


def _where() -> str:
    return f"{socket.gethostname()} pid {os.getpid()}"


def run_unit(fn: Callable[[Any], Any], unit: Any, session: str, engine: str = ""
             ) -> tuple[str, Any, str]:
    """Run one unit on a worker: ("ok", result, where) or ("error", traceback, where).

    A worker may serve several runs; plug-ins built for another ``session`` are dropped
    first, so each run sees its own (an option or grader change included). An engine
    actor given another ``engine`` drops its policy or PRM (one engine per actor) and
    keeps the task and its problems."""
    if _session[:1] != [session]:
        plugins.reset()
        _session[:] = [session, ""]
    if engine and _session[1:] != [engine]:
        plugins.reset(_MODELS)
        _session[:] = [session, engine]
    # a unit without a model (grading) keeps the engine for the next model stage
    try:
        return "ok", fn(unit), _where()
    except Exception as exc:  # reported to the driver, which retries or names the unit
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return "error", f"{text}\n{traceback.format_exc()}", _where()


class EngineWorker:
    """A Ray actor holding one engine at a time: the first unit of a model stage builds
    it; a unit of another stage (another policy or PRM) drops it and builds its own."""

    def run(self, fn: Callable[[Any], Any], unit: Any, session: str, engine: str
            ) -> tuple[str, Any, str]:
        return run_unit(fn, unit, session, engine)

    def warm(self) -> str:
        """Import what every unit needs while the driver plans (a fresh worker process
        spends seconds on imports before its first unit)."""
        import harness.pipeline.stages  # noqa: F401

        return _where()


# -- the driver -------------------------------------------------------------------------


def engine_of(unit: Any) -> Any:
    """The policy or PRM config a unit needs (None for a unit without a model)."""
    return getattr(unit, "policy", None) or getattr(unit, "prm", None)


def describe(unit: Any) -> str:
    stage, index, key = (getattr(unit, name, None) for name in ("stage", "index", "key"))
    if stage is None:
        return repr(unit)
    return f"{stage} shard {index} (key {str(key)[:12]})"


def remove_partial(unit: Any) -> None:
    """Temporary files a killed writer of this unit's shard left (atomic writes write a
    temporary next to the target, then rename it)."""
    from harness.pipeline.stages import ShardRef
    from harness.store.rundir import RunDir

    if not isinstance(unit, ShardRef):
        return
    target = RunDir(Path(unit.run_dir)).shard_path(unit.stage, unit.index, unit.key)
    for name in (target.name, target.with_suffix(".meta.json").name):
        for tmp in target.parent.glob(f".{name}.*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


@dataclass
class _Slot:
    """One unit in flight: its position, and the actor running it (None for a task)."""

    index: int
    actor: Any = None


@dataclass
class Attempts:
    """What each try of a unit gave, for the report of units that never succeeded."""

    errors: list[str] = field(default_factory=list)


class RayExecutor(Executor):
    """Units as Ray tasks (no model) or calls on engine actors (one engine per actor)."""

    def __init__(self, address: str | None = None, num_cpus: float = 1, num_gpus: float = 0,
                 max_retries: int = 2, actors: int | None = None,
                 local_cpus: int | None = None, generation: str = "actors",
                 ray_data: dict[str, Any] | None = None) -> None:
        from harness.pipeline.ray_data_generation import RayDataOptions

        if generation not in GENERATION_MODES:
            raise ConfigError(f"executor ray: generation must be one of "
                              f"{list(GENERATION_MODES)}, got {generation!r}")
        if ray_data is not None and generation != "ray_data":
            raise ConfigError("executor ray: ray_data options need generation: ray_data")
        self.generation = generation
        self.ray_data = RayDataOptions.parse(ray_data)
        if max_retries < 0:
            raise ConfigError("executor ray: max_retries must be >= 0")
        if num_cpus < 0 or num_gpus < 0:
            raise ConfigError("executor ray: num_cpus and num_gpus must be >= 0")
        if actors is not None and actors < 1:
            raise ConfigError("executor ray: actors must be >= 1")
        self.ray = _ray()
        self.num_cpus, self.num_gpus = num_cpus, num_gpus
        self.max_retries, self.actors = max_retries, actors
        self.retried: list[tuple[str, str]] = []  # (unit, error) of every failed attempt
        self._owned = False
        self._calls = 0
        self._actors: list[Any] = []
        if not self.ray.is_initialized():
            env = {k: v for k, v in os.environ.items() if k.startswith(_PASSED_ENV)}
            env.update(RAY_ENV)
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                      "runtime_env": {"env_vars": env}}
            if address is None:
                address = os.environ.get("RAY_ADDRESS")
            if address is None:
                kwargs["num_cpus"] = local_cpus or os.cpu_count() or 1
            self.ray.init(address=address, **kwargs)
            self._owned = True
        self._token = f"{os.getpid()}-{id(self)}"
        self._start_actors()

    # -- scheduling ---------------------------------------------------------------------

    def _capacity(self) -> int:
        """How many engine actors the cluster holds for one model stage."""
        resources = self.ray.cluster_resources()
        fits = [math.floor(resources.get("CPU", 0) / self.num_cpus)] if self.num_cpus else []
        if self.num_gpus:
            fits.append(math.floor(resources.get("GPU", 0) / self.num_gpus))
        n = max(1, min(fits)) if fits else 1
        return min(n, self.actors) if self.actors else n

    def map(self, fn: Callable[[UnitT], ResultT], units: Sequence[UnitT]
            ) -> Iterator[ResultT]:
        if not units:
            return
        self._calls += 1
        session = f"{self._token}-{self._calls}"
        groups: dict[str, list[int]] = {}
        for i, unit in enumerate(units):
            engine = engine_of(unit)
            key = "" if engine is None else canonical_json(engine.model_dump(mode="json"))
            groups.setdefault(key, []).append(i)
        failed: dict[int, Attempts] = {}
        for key, members in groups.items():
            # units without a model run as tasks, unless the actors hold CPUs only: then
            # an actor is the same resources as a task, already started and imported
            run = self._run_engine if key or not self.num_gpus else self._run_tasks
            yield from run(fn, units, members, session, failed)
        if failed:
            lines = [f"{len(failed)} of {len(units)} units failed after "
                     f"{self.max_retries} retries:"]
            for i in sorted(failed):
                lines.append(f"  {describe(units[i])}:")
                for n, error in enumerate(failed[i].errors, 1):
                    lines.append(f"    attempt {n}: {error.splitlines()[0]}")
            raise UnitFailedError("\n".join(lines))

    def map_generation(self, fn: Callable[[UnitT], ResultT], units: Sequence[UnitT]
                       ) -> Iterator[ResultT]:
        if self.generation != "ray_data" or not units:
            yield from self.map(fn, units)
            return
        from harness.pipeline.ray_data_generation import generate_with_ray_data

        self._release_actors()  # the processor's engine replicas take the resources
        outcomes = generate_with_ray_data(list(units), self.ray_data,  # type: ignore[arg-type]
                                          self.num_cpus, self.num_gpus, self._capacity())
        yield from outcomes  # type: ignore[misc]

    def _run_tasks(self, fn: Callable[[UnitT], ResultT], units: Sequence[UnitT],
                   members: list[int], session: str, failed: dict[int, Attempts]
                   ) -> Iterator[ResultT]:
        self._release_actors()  # their CPUs (and GPUs) go to the tasks
        remote = self.ray.remote(run_unit).options(
            num_cpus=self.num_cpus, num_gpus=self.num_gpus, max_retries=0)

        def submit(i: int) -> Any:
            return remote.remote(fn, units[i], session)

        yield from self._drive(units, members, failed, submit, lambda i, ref, dead: None)

    def _run_engine(self, fn: Callable[[UnitT], ResultT], units: Sequence[UnitT],
                    members: list[int], session: str, failed: dict[int, Attempts]
                    ) -> Iterator[ResultT]:
        """Units of one engine (or of none) on the executor's actors, which stay up for
        the next stage (one actor start per run, not per stage) until a stage of tasks
        needs the resources back."""
        actor_cls = self._actor_class()
        model = engine_of(units[members[0]])
        engine = "" if model is None else canonical_json(model.model_dump(mode="json"))
        while len(self._actors) < min(len(members), self._capacity()):
            self._actors.append(actor_cls.remote())
        idle = deque(self._actors)
        busy: dict[Any, Any] = {}

        def submit(i: int) -> Any:
            if not idle:
                return None
            actor = idle.popleft()
            ref = actor.run.remote(fn, units[i], self._token, engine)
            busy[ref] = actor
            return ref

        def finished(i: int, ref: Any, dead: bool = False) -> None:
            actor = busy.pop(ref)
            if dead:  # the process is gone; a fresh actor takes its place
                with contextlib.suppress(Exception):
                    self.ray.kill(actor)
                self._actors.remove(actor)
                actor = actor_cls.remote()
                self._actors.append(actor)
            idle.append(actor)

        try:
            yield from self._drive(units, members, failed, submit, finished)
        except BaseException:
            self._release_actors()
            raise

    def _actor_class(self) -> Any:
        return self.ray.remote(EngineWorker).options(
            num_cpus=self.num_cpus, num_gpus=self.num_gpus, max_restarts=0,
            max_task_retries=0)

    def _start_actors(self) -> None:
        """Start the actors a model stage will use now, so their processes boot and
        import while the driver plans the run (nothing waits for them here)."""
        actor_cls = self._actor_class()
        while len(self._actors) < self._capacity():
            actor = actor_cls.remote()
            actor.warm.remote()
            self._actors.append(actor)

    def _release_actors(self) -> None:
        for actor in self._actors:
            with contextlib.suppress(Exception):
                self.ray.kill(actor)
        self._actors = []

    def _drive(self, units: Sequence[Any], members: list[int], failed: dict[int, Attempts],
               submit: Callable[[int], Any], finished: Callable[..., None]) -> Iterator[Any]:
        """Submit units as slots free up, yield results as they finish, retry failures."""
        pending = deque(members)
        attempts = {i: Attempts() for i in members}
        flight: dict[Any, _Slot] = {}
        errors = self.ray.exceptions
        while pending or flight:
            while pending:
                ref = submit(pending[0])
                if ref is None:
                    break
                flight[ref] = _Slot(pending.popleft())
            ready, _ = self.ray.wait(list(flight), num_returns=1)
            for ref in ready:
                i = flight.pop(ref).index
                dead = False
                try:
                    status, value, where = self.ray.get(ref)
                except (errors.RayActorError, errors.WorkerCrashedError,
                        errors.NodeDiedError, errors.ObjectLostError) as exc:
                    dead = True
                    status, value, where = "error", f"worker died: {type(exc).__name__}", "?"
                except errors.RayTaskError as exc:  # e.g. the unit could not be unpickled
                    status, value, where = "error", str(exc), "?"
                finished(i, ref, dead)
                if status == "ok":
                    yield value
                    continue
                error = f"{value.splitlines()[0] if value else 'error'} (on {where})"
                attempts[i].errors.append(error)
                self.retried.append((describe(units[i]), error))
                remove_partial(units[i])
                if len(attempts[i].errors) <= self.max_retries:
                    pending.append(i)
                else:
                    failed[i] = attempts[i]

    def close(self) -> None:
        if self._owned and self.ray.is_initialized():
            self._actors = []  # shutting down the Ray this executor started ends them all
            self.ray.shutdown()
        elif self.ray.is_initialized():
            self._release_actors()  # a cluster we joined: end only our actors
        self._owned = False
