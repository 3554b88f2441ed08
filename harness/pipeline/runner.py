"""The orchestration behind ``prm-harness run``: plan -> generate -> grade -> score ->
metrics -> report.

The config is checked whole and resolved into a plan before anything is written
(harness.pipeline.plan). Problems are cut into shards of ``shard_size``; each stage is a
list of (stage, shard) units (harness.pipeline.stages) that an executor runs, every unit
writing one file atomically, named by the cache key of its inputs. A re-run (or a run
resumed after a SIGKILL) skips every shard that exists and recomputes only the rest, so it
ends with the same files, and the metrics, a pure function of those files, are the same
bytes. Policies and PRMs are only constructed when some unit actually needs them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from harness.config import RunConfig
from harness.interfaces import Executor
from harness.interop.lm_eval_export import export_beside_metrics
from harness.pipeline import plugins
from harness.pipeline.executor import build_executor
from harness.pipeline.ledger import write_ledger
from harness.pipeline.plan import RunPlan, plan_run
from harness.pipeline.reference_check import record_reference_check
from harness.pipeline.reporting import render_report, write_metrics
from harness.pipeline.run_metrics import compute_run_metrics
from harness.pipeline.stages import (
    GRADES,
    POOL,
    ShardOutcome,
    ShardRef,
    generate_shard,
    generate_units,
    grade_shard,
    grade_units,
    prm_stage,
    score_shard,
    score_units,
    sum_compute,
)
from harness.progress import bar
from harness.store.provenance import environment, now_utc
from harness.store.rundir import RunDir

UnitT = TypeVar("UnitT", bound=ShardRef)
#: where a strategy run keeps its search (store/search_dir.py's layout)
SEARCH_FOLDER = "search"


#: stage fields that describe what produced a stage's shards (set after the shards run)
PRODUCER_FIELDS = ("policy_identity", "grading_provenance", "prm_identity")


def run_stage(run: RunDir, stage: str, units: Sequence[UnitT],
              fn: Callable[[UnitT], ShardOutcome], executor: Executor, label: str,
              log: Callable[[str], None] = lambda message: None,
              extra: dict[str, Any] | None = None,
              mapper: Callable[..., Any] | None = None) -> list[ShardOutcome]:
    """Run ``fn`` on every unit whose shard is not on disk yet (through ``mapper``,
    default ``executor.map``); record the stage."""
    keys = [unit.key for unit in units]
    missing = [unit for unit in units if not run.has_shard(stage, unit.index, unit.key)]
    old = run.manifest().get("stages", {}).get(stage, {})
    run.start_stage(stage, keys, started=now_utc(), shards_total=len(keys),
                    shards_reused=len(keys) - len(missing), **(extra or {}))
    if missing:
        log(f"{label}: {len(missing)} of {len(keys)} shards to do")
    outcomes = []
    with bar(label, total=len(keys)) as advance:
        advance(len(keys) - len(missing))
        for outcome in (mapper or executor.map)(fn, missing):
            outcomes.append(outcome)
            advance(1)
    metas = [run.read_meta(stage, i, key) for i, key in enumerate(keys)]
    run.finish_stage(stage, keys, finished=now_utc(), compute=sum_compute(metas))
    if not missing and old.get("shards") == keys:
        # every shard reused: what made them (the policy's or PRM's resolved identity, the
        # sandbox's provenance) is what the earlier session recorded; keep it
        kept = {k: v for k, v in old.items() if k in PRODUCER_FIELDS}
        if kept:
            run.update_stage(stage, **kept)
    return outcomes



def _last_identity(outcomes: list[ShardOutcome]) -> dict[str, Any] | None:
    found = [o.identity for o in outcomes if o.identity is not None]
    return found[-1] if found else None


class Runner:
    """Runs (or resumes) one configured run; see the module docstring."""

    def __init__(self, config: RunConfig, runs_root: Path | None = None,
                 log: Callable[[str], None] | None = None,
                 executor: Executor | None = None) -> None:
        self.config = config
        self.runs_root = runs_root
        self.log = log or (lambda message: None)
        self.executor = executor

    def execute(self) -> RunDir:
        with plugins.session():
            plan = plan_run(self.config, self.runs_root)  # checks all; writes nothing
            executor = self.executor or build_executor(self.config.executor.name,
                                                       self.config.executor.options)
            try:
                return self._execute(plan, executor)
            finally:
                if self.executor is None:
                    executor.close()

    def _execute(self, plan: RunPlan, executor: Executor) -> RunDir:
        if plan.config.strategy is not None:
            return self._execute_search(plan)
        cfg = plan.config
        run = RunDir.create(plan.run_path.parent, plan.name, cfg.identity())
        with run.lock():
            manifest = run.manifest()
            run.update_manifest(
                config=cfg.model_dump(mode="json"),
                task_identity=plan.task_identity,
                n_problems=len(plan.problems),
                problem_ids=[p.id for p in plan.problems],
                environment=environment(),
                created=manifest.get("created", now_utc()),
                resumed=[*manifest.get("resumed", []), now_utc()] if "created" in manifest
                else [],
            )
            pool = generate_units(plan)
            grades = grade_units(plan, pool)
            scores = [(prm, score_units(plan, prm, pool)) for prm in cfg.prms]
            run.plan({POOL: [u.key for u in pool], GRADES: [u.key for u in grades],
                      **{prm_stage(prm.display()): [u.key for u in units]
                         for prm, units in scores}})
            record_reference_check(run, plugins.task(cfg.task), plan.task_identity,
                                   list(plan.problems), cfg.task.reference_check,
                                   cfg.task.name, self.log)
            done = run_stage(run, POOL, pool, generate_shard, executor, "generating",
                             self.log, {"policy": cfg.policy.model_dump(mode="json"),
                                        "sampling": cfg.sampling.model_dump(mode="json")},
                             mapper=executor.map_generation)
            identity = _last_identity(done)
            if identity is not None:
                run.update_stage(POOL, policy_identity=identity)
            done = run_stage(run, GRADES, grades, grade_shard, executor, "grading",
                             self.log, {"task": plan.task_identity})
            identity = _last_identity(done)
            if identity is not None:  # the sandbox as it graded: interpreter, libraries
                run.update_stage(GRADES, grading_provenance=identity)
            for prm, units in scores:
                label, stage = prm.display(), prm_stage(prm.display())
                done = run_stage(run, stage, units, score_shard,
                                 executor, f"scoring {label}", self.log,
                                 {"prm": label, "prm_config": prm.model_dump(mode="json")})
                identity = _last_identity(done)
                if identity is not None:
                    run.update_stage(stage, prm_identity=identity)
            run.update_manifest(compute_ledger=write_ledger(run))
            write_metrics(run, compute_run_metrics(run, cfg.metrics))
            # lm-eval's results JSON and samples log beside metrics.json
            export_beside_metrics(run, plugins.task(cfg.task), plan.problems)
            for kind in cfg.report.kinds:
                render_report(run, kind)
            run.update_manifest(finished=now_utc())
        return run

    def _execute_search(self, plan: RunPlan) -> RunDir:
        """A strategy run: the search, shard by shard and resumable, into ``RUN/search``
        (the format of ``prm-harness search --out``); the manifest records the run."""
        from harness.pipeline.plan import build_strategy, strategy_budget, strategy_prm
        from harness.pipeline.search_run import SearchJob, run_search

        cfg = plan.config
        assert cfg.strategy is not None
        run = RunDir.create(plan.run_path.parent, plan.name, cfg.identity())
        with run.lock():
            manifest = run.manifest()
            run.update_manifest(
                config=cfg.model_dump(mode="json"), task_identity=plan.task_identity,
                n_problems=len(plan.problems), problem_ids=[p.id for p in plan.problems],
                environment=environment(), created=manifest.get("created", now_utc()),
                resumed=[*manifest.get("resumed", []), now_utc()] if "created" in manifest
                else [])
            prm_config = strategy_prm(cfg)
            strategy = build_strategy(cfg)
            task = plugins.task(cfg.task)
            use_task = getattr(strategy, "use_task", None)
            if use_task is not None:
                use_task(task)  # a vote needs the task's answer keys
            job = SearchJob(
                strategy_name=cfg.strategy.name,
                strategy_options={**cfg.strategy.options, "seed": cfg.strategy.seed},
                strategy=strategy, task_name=cfg.task.name, task_options=cfg.task.options,
                task=task, problems=plan.problems, policy_name=cfg.policy.name,
                policy_options=cfg.policy.options, policy=plugins.policy(cfg.policy),
                prm_name=prm_config.name, prm_options=prm_config.options,
                prm=plugins.prm(prm_config), prm_label=prm_config.display(),
                budget=strategy_budget(cfg), seed=cfg.strategy.seed,
                shard_size=cfg.shard_size)
            summary = run_search(job, run.path / SEARCH_FOLDER, self.log)
            run.update_manifest(search=summary)
            kinds = cfg.report.kinds if "report" in cfg.model_fields_set else []
            for kind in kinds:
                render_report(run, kind)
            run.update_manifest(finished=now_utc())
        return run
