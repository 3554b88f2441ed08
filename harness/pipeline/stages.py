"""The pipeline's stages: top-level functions over a picklable shard spec.

``generate_shard``, ``grade_shard`` and ``score_shard`` each compute one shard of one stage
and write it into the run directory (meta, then rows, atomically); an executor runs them
here or elsewhere. Each stage's cache key is computed in one function (``generate_key``,
``grade_key``, ``score_key``) from the run plan, so what a key holds is decided in one
place. The checks on what a task or PRM returns (``grade_problems``, ``score_samples``)
are shared with the single-stage commands ``grade`` and ``score``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.config import PluginConfig, SamplingConfig, TaskConfig
from harness.errors import HarnessError, ScoreError
from harness.interfaces import PRM, SamplingParams, Task
from harness.models.compute import FLOPS_METHOD
from harness.pipeline import plugins
from harness.pipeline.generate import generate_pool
from harness.store.keys import key_of
from harness.store.provenance import now_utc
from harness.store.records import sample_from_row, to_row
from harness.store.rundir import RunDir
from harness.types import Compute, Grade, Problem, Sample, StepScores

if TYPE_CHECKING:
    from harness.pipeline.plan import RunPlan

STAGE_VERSION = 1  # bump when a stage's output format changes, to invalidate caches
POOL = "pool"
GRADES = "grades"


# -- cache keys: one function per stage -------------------------------------------------


def _pool_request(plan: RunPlan, problem_ids: Sequence[str]) -> dict[str, Any]:
    """What a pool shard's config asks for (the policy as configured, not resolved)."""
    cfg = plan.config
    return {"stage": "pool", "v": STAGE_VERSION, "task": plan.generation_identity,
            "problems": list(problem_ids), "prompt_style": cfg.task.prompt_style,
            "policy": cfg.policy.model_dump(mode="json", exclude={"label"}),
            "sampling": cfg.sampling.model_dump(mode="json")}


def generate_key(plan: RunPlan, problem_ids: Sequence[str]) -> str:
    """A pool shard: what decides the samples (not how they are graded), the policy's
    resolved identity included, so new weights at the same path make a new pool."""
    return key_of({**_pool_request(plan, problem_ids),
                   "policy_resolved": plan.policy_identity})


def generate_seed(plan: RunPlan, problem_ids: Sequence[str]) -> int:
    """A pool shard's sampling seed, from the request alone: a new checkpoint under the
    same config draws with the same seeds (a paired comparison), and stored seeds stay."""
    return shard_seed(plan.config.sampling.seed, key_of(_pool_request(plan, problem_ids)))


def grade_key(plan: RunPlan, pool_key: str) -> str:
    """A grades shard: the pool shard it grades and the task's grading identity."""
    return key_of({"stage": "grades", "v": STAGE_VERSION, "pool": pool_key,
                   "task": plan.task_identity})


def score_key(plan: RunPlan, prm: PluginConfig, pool_key: str) -> str:
    """A scores shard: the pool shard it scores and the PRM that scores it, resolved
    (weights' sha256 or commit, spec hash, adapter version), not only as configured."""
    return key_of({"stage": "scores", "v": STAGE_VERSION, "pool": pool_key,
                   "prm": prm.model_dump(mode="json", exclude={"label"}),
                   "prm_resolved": plan.prm_identities[prm.display()]})


def shard_seed(base_seed: int, key: str) -> int:
    """A per-shard seed derived from the run seed and the shard's content key."""
    return int(key_of([base_seed, key])[:8], 16)


def prm_stage(label: str) -> str:
    """The stage (folder) name of one PRM's scores."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in label)
    return f"scores/{safe[:60]}-{key_of(label)[:8]}"


# -- units ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShardRef:
    """Where one unit's output goes: a stage's shard in a run directory."""

    run_dir: str
    stage: str
    index: int
    key: str


@dataclass(frozen=True)
class ShardSpec(ShardRef):
    """One (stage, shard) unit with everything it needs, as picklable configs."""

    problem_ids: tuple[str, ...]
    task: TaskConfig
    policy: PluginConfig | None = None
    sampling: SamplingConfig | None = None
    prm: PluginConfig | None = None
    prm_label: str | None = None
    pool_key: str | None = None  # the pool shard a grade or score unit reads
    seed: int | None = None


@dataclass(frozen=True)
class ShardOutcome:
    """What a unit reports back (its rows are on disk already)."""

    stage: str
    index: int
    key: str
    rows: int
    identity: dict[str, Any] | None = None  # of the policy or PRM that produced it


def write_unit(ref: ShardRef, rows: list[dict[str, Any]], meta: dict[str, Any],
               started: float, identity: dict[str, Any] | None = None) -> ShardOutcome:
    """Write one unit's shard (timing and row count go into its meta)."""
    meta = {**meta, "wall_s": time.perf_counter() - started, "finished": now_utc(),
            "rows": len(rows)}
    RunDir(Path(ref.run_dir)).write_shard(ref.stage, ref.index, ref.key, rows, meta)
    return ShardOutcome(ref.stage, ref.index, ref.key, len(rows), identity)


def generate_units(plan: RunPlan) -> list[ShardSpec]:
    """One generate unit per shard of the plan."""
    cfg = plan.config
    units = []
    for index, ids in enumerate(plan.shards):
        key = generate_key(plan, ids)
        units.append(ShardSpec(str(plan.run_path), POOL, index, key, ids, cfg.task,
                               policy=cfg.policy, sampling=cfg.sampling,
                               seed=generate_seed(plan, ids)))
    return units


def grade_units(plan: RunPlan, pool: Sequence[ShardSpec]) -> list[ShardSpec]:
    """One grade unit per pool shard."""
    return [ShardSpec(str(plan.run_path), GRADES, p.index, grade_key(plan, p.key),
                      p.problem_ids, plan.config.task, pool_key=p.key) for p in pool]


def score_units(plan: RunPlan, prm: PluginConfig, pool: Sequence[ShardSpec]
                ) -> list[ShardSpec]:
    """One score unit per pool shard, for one PRM."""
    label = prm.display()
    return [ShardSpec(str(plan.run_path), prm_stage(label), p.index,
                      score_key(plan, prm, p.key), p.problem_ids, plan.config.task,
                      prm=prm, prm_label=label, pool_key=p.key) for p in pool]


# -- checks shared with the single-stage commands ------------------------------------


def grade_problems(task: Task, batch: Sequence[tuple[Problem, Sequence[Sample]]]
                   ) -> list[list[Grade]]:
    """``task.grade_batch`` with every problem's grades checked against its samples."""
    graded = task.grade_batch(batch)
    if len(graded) != len(batch):
        raise HarnessError(f"task {task.name} graded {len(graded)} problems, "
                           f"expected {len(batch)}")
    for (problem, group), grades in zip(batch, graded, strict=True):
        if [g.sample_index for g in grades] != [s.index for s in group]:
            raise HarnessError(f"task {task.name} graded samples "
                               f"{[g.sample_index for g in grades]} of problem "
                               f"{problem.id!r}, expected {[s.index for s in group]}")
    return graded


def score_samples(prm: PRM, label: str, problems: Sequence[Problem],
                  samples: Sequence[Sample]) -> list[StepScores]:
    """``prm.score`` with every result checked: one per sample, for that sample, one score
    per step, each a finite number in [0, 1]; results are named ``label``."""
    scored = prm.score(problems, samples)
    if len(scored) != len(samples):
        raise ScoreError(f"PRM {label!r} returned {len(scored)} results for "
                         f"{len(samples)} samples")
    for sample, result in zip(samples, scored, strict=True):
        where = f"PRM {label!r}, problem {sample.problem_id!r}, sample {sample.index}"
        if (result.problem_id, result.sample_index) != (sample.problem_id, sample.index):
            raise ScoreError(f"{where}: result is for "
                             f"{result.problem_id!r}/{result.sample_index}")
        if len(result.scores) != len(sample.steps):
            raise ScoreError(f"{where}: {len(result.scores)} scores for "
                             f"{len(sample.steps)} steps")
        bad = [x for x in result.scores if not (math.isfinite(x) and 0 <= x <= 1)]
        if bad:
            raise ScoreError(f"{where}: step score {bad[0]!r} is not in [0, 1]")
        result.prm_id = label
    return scored


# -- the stages -------------------------------------------------------------------------


def generate_shard(spec: ShardSpec) -> ShardOutcome:
    """Sample the policy on the shard's problems and write the pool shard."""
    started = time.perf_counter()
    assert spec.policy is not None and spec.sampling is not None and spec.seed is not None
    task = plugins.task(spec.task)
    by_id = plugins.problems(spec.task)
    chosen = [by_id[i] for i in spec.problem_ids]
    policy = plugins.policy(spec.policy)
    params = SamplingParams(**{**spec.sampling.model_dump(), "seed": spec.seed})
    before, done = policy.compute(), len(policy.compute_calls())
    samples = generate_pool(task, chosen, policy, params, spec.task.prompt_style,
                            chunk_size=len(chosen), progress=False)
    meta = {"seed": params.seed, "compute": _compute_delta(before, policy.compute()),
            "calls": policy.compute_calls()[done:]}
    return write_unit(spec, [to_row(s) for s in samples], meta, started, policy.identity())


def grade_shard(spec: ShardSpec) -> ShardOutcome:
    """Grade the shard's pool with the task and write the grades shard."""
    started = time.perf_counter()
    task = plugins.task(spec.task)
    by_id = plugins.problems(spec.task)
    by_problem: dict[str, list[Sample]] = {}
    for s in _pool_samples(spec):
        by_problem.setdefault(s.problem_id, []).append(s)
    batch = [(by_id[i], by_problem.get(i, [])) for i in spec.problem_ids]
    rows = [to_row(g) for grades in grade_problems(task, batch) for g in grades]
    provenance = task.grading_provenance()  # what graded this shard (not in its key)
    return write_unit(spec, rows, {"grading": provenance} if provenance else {}, started,
                      provenance or None)


def score_shard(spec: ShardSpec) -> ShardOutcome:
    """Score the shard's pool with one PRM and write its scores shard."""
    started = time.perf_counter()
    assert spec.prm is not None and spec.prm_label is not None
    by_id = plugins.problems(spec.task)
    samples = _pool_samples(spec)
    prm = plugins.prm(spec.prm)
    before, done = prm.compute(), len(prm.compute_calls())
    scored = score_samples(prm, spec.prm_label, [by_id[s.problem_id] for s in samples],
                           samples)
    meta = {"compute": _compute_delta(before, prm.compute()),
            "calls": prm.compute_calls()[done:]}
    return write_unit(spec, [to_row(r) for r in scored], meta, started, prm.identity())


def _pool_samples(spec: ShardSpec) -> list[Sample]:
    assert spec.pool_key is not None
    run = RunDir(Path(spec.run_dir))
    path = run.shard_path(POOL, spec.index, spec.pool_key)
    return [sample_from_row(row, path) for row in run.read_shard(POOL, spec.index,
                                                                 spec.pool_key)]


def _compute_delta(before: Compute, after: Compute) -> dict[str, Any]:
    delta = {}
    for f in fields(Compute):
        a, b = getattr(after, f.name), getattr(before, f.name)
        delta[f.name] = a - b if isinstance(a, (int, float)) and f.name != "params" else a
    return delta


def sum_compute(metas: list[dict[str, Any]]) -> dict[str, Any]:
    """A stage's compute: the sum over its shards' metas."""
    total: dict[str, Any] = {"tokens_in": 0, "tokens_out": 0, "flops": 0.0, "wall_s": 0.0,
                             "calls": 0}
    for meta in metas:
        compute = meta.get("compute") or {}
        for name in total:
            total[name] += compute.get(name, 0)
        for name in ("params", "device"):
            if compute.get(name) is not None:
                total[name] = compute[name]
    total["flops_method"] = FLOPS_METHOD
    return total
