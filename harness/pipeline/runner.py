"""The pipeline behind ``prm-harness run``: generate -> grade -> score -> metrics -> report.

Problems are cut into shards of ``shard_size``; every stage writes one file per shard,
atomically, named by the cache key of its inputs. A re-run (or a run resumed after a
SIGKILL) skips every shard that exists and recomputes only the rest, so it ends with the
same files, and the metrics, a pure function of those files, are the same bytes.
Policies and PRMs are only constructed when some shard actually needs them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from harness import registry
from harness.build import build_policy, build_prm, build_task
from harness.config import ProblemSelection, RunConfig
from harness.errors import ConfigError, HarnessError, ScoreError
from harness.interfaces import PRM, Policy, SamplingParams, Task
from harness.models.compute import FLOPS_METHOD
from harness.pipeline.generate import generate_pool
from harness.pipeline.ledger import write_ledger
from harness.pipeline.reference_check import below_threshold, check_references
from harness.pipeline.run_metrics import compute_run_metrics
from harness.progress import bar
from harness.store.keys import canonical_json, key_of
from harness.store.provenance import environment, now_utc
from harness.store.records import sample_from_row, to_row
from harness.store.rundir import RunDir, default_runs_root
from harness.types import Compute, Problem, Sample

STAGE_VERSION = 1  # bump when a stage's output format changes, to invalidate caches


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


def shard_seed(base_seed: int, key: str) -> int:
    """A per-shard seed derived from the run seed and the shard's content key."""
    return int(key_of([base_seed, key])[:8], 16)


def run_stage(run: RunDir, stage: str, keys: list[str],
              produce: Callable[[int, str], tuple[list[dict], dict]], label: str,
              log: Callable[[str], None] = lambda message: None,
              extra: dict[str, Any] | None = None) -> None:
    """Run ``produce`` for every shard not yet on disk; record the stage in the manifest."""
    missing = [i for i, key in enumerate(keys) if not run.has_shard(stage, i, key)]
    run.update_stage(stage, started=now_utc(), shards_total=len(keys),
                     shards_reused=len(keys) - len(missing), **(extra or {}))
    if missing:
        log(f"{label}: {len(missing)} of {len(keys)} shards to do")
    with bar(label, total=len(keys)) as advance:
        advance(len(keys) - len(missing))
        for index in missing:
            start = time.perf_counter()
            rows, meta = produce(index, keys[index])
            meta = {**meta, "wall_s": time.perf_counter() - start,
                    "finished": now_utc(), "rows": len(rows)}
            run.write_shard(stage, index, keys[index], rows, meta)
            advance(1)
    metas = [run.read_meta(stage, i, key) for i, key in enumerate(keys)]
    run.update_stage(stage, shards=keys, finished=now_utc(), compute=_sum_compute(metas))


def _compute_delta(before: Compute, after: Compute) -> dict[str, Any]:
    delta = {}
    for f in fields(Compute):
        a, b = getattr(after, f.name), getattr(before, f.name)
        delta[f.name] = a - b if isinstance(a, (int, float)) and f.name != "params" else a
    return delta


def _sum_compute(metas: list[dict[str, Any]]) -> dict[str, Any]:
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


def prm_slug(label: str) -> str:
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in label)
    return f"{safe[:60]}-{key_of(label)[:8]}"


class Runner:
    """Runs (or resumes) one configured run; see the module docstring."""

    def __init__(self, config: RunConfig, runs_root: Path | None = None,
                 log: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.runs_root = runs_root or Path(config.runs_dir or default_runs_root())
        self.log = log or (lambda message: None)
        self._policy: Policy | None = None
        self._prms: dict[str, PRM] = {}

    # -- plug-ins, built on first use ---------------------------------------------------

    def policy(self) -> Policy:
        if self._policy is None:
            self._policy = build_policy(self.config.policy.name, **self.config.policy.options)
        return self._policy

    def prm(self, index: int) -> PRM:
        label = self.config.prms[index].display()
        if label not in self._prms:
            cfg = self.config.prms[index]
            self._prms[label] = build_prm(cfg.name, **cfg.options)
        return self._prms[label]

    # -- the pipeline -------------------------------------------------------------------

    def execute(self) -> RunDir:
        cfg = self.config
        task = build_task(cfg.task.name, cfg.task.data_dir, **cfg.task.options)
        problems = select_problems(task.load(), cfg.task.problems)
        task_identity = task.identity()
        generation_identity = task.generation_identity()
        identity = cfg.identity()
        name = cfg.name or (f"{cfg.task.name}__{cfg.policy.name}__"
                            f"{key_of([identity, generation_identity])[:12]}")
        run = RunDir.create(self.runs_root, name, identity)
        with run.lock():
            manifest = run.manifest()
            run.update_manifest(
                config=cfg.model_dump(mode="json"),
                task_identity=task_identity,
                n_problems=len(problems),
                problem_ids=[p.id for p in problems],
                environment=environment(),
                created=manifest.get("created", now_utc()),
                resumed=[*manifest.get("resumed", []), now_utc()] if "created" in manifest
                else [],
            )
            self._calibrate(run, task, task_identity, problems)
            shards = [problems[i:i + cfg.shard_size]
                      for i in range(0, len(problems), cfg.shard_size)]
            pool_keys = self._generate(run, task, generation_identity, shards)
            self._grade(run, task, task_identity, shards, pool_keys)
            for index in range(len(cfg.prms)):
                self._score(run, index, shards, pool_keys)
            run.update_manifest(compute_ledger=write_ledger(run))
            self._metrics(run)
            self._report(run)
            run.update_manifest(finished=now_utc())
        return run

    def _calibrate(self, run: RunDir, task: Task, task_identity: dict,
                   problems: list[Problem]) -> None:
        """Check the grader on the run's own references first (kept once per run)."""
        mode = self.config.task.reference_check
        if mode == "skip":
            run.update_manifest(calibration={"mode": "skip"})
            return
        key = key_of({"stage": "calibration", "task": task_identity,
                      "problems": [p.id for p in problems]})
        path = run.path / "calibration.json"
        stored = run.read_json(path.name) if path.is_file() else None
        if stored is None or stored.get("key") != key:
            self.log(f"checking references of {len(problems)} problems")
            result = check_references(task, problems, self.config.task.name)
            stored = {"key": key, "checked": now_utc(), **result}
            run.write_json(path.name, stored)
        summary = {k: v for k, v in stored.items() if k not in ("failures",
                                                                "missing_library_tasks")}
        summary["failures"] = stored["failures"][:20]
        run.update_manifest(calibration={"mode": mode, "file": path.name, **summary})
        if mode == "require" and below_threshold(stored):
            ids = sorted({f["problem_id"] for f in stored["failures"]})
            raise HarnessError(
                f"reference solutions pass {stored['pass_rate']:.1%} < threshold "
                f"{stored['threshold']:.0%} on this run's problems (failing: "
                f"{', '.join(ids[:10])}{' ...' if len(ids) > 10 else ''}); see {path}; set "
                "task.reference_check=record to run anyway")

    def _stage(self, run: RunDir, stage: str, keys: list[str],
               produce: Callable[[int, str], tuple[list[dict], dict]], label: str,
               extra: dict[str, Any] | None = None) -> None:
        run_stage(run, stage, keys, produce, label, self.log, extra)

    def _generate(self, run: RunDir, task: Task, generation_identity: dict,
                  shards: list[list[Problem]]) -> list[str]:
        cfg = self.config
        keys = [key_of({"stage": "pool", "v": STAGE_VERSION, "task": generation_identity,
                        "problems": [p.id for p in shard], "prompt_style": cfg.task.prompt_style,
                        "policy": cfg.policy.model_dump(mode="json", exclude={"label"}),
                        "sampling": cfg.sampling.model_dump(mode="json")})
                for shard in shards]

        def produce(index: int, key: str) -> tuple[list[dict], dict]:
            shard = shards[index]
            policy = self.policy()
            params = SamplingParams(**{**cfg.sampling.model_dump(),
                                       "seed": shard_seed(cfg.sampling.seed, key)})
            before, done = policy.compute(), len(policy.compute_calls())
            samples = generate_pool(task, shard, policy, params, cfg.task.prompt_style,
                                    chunk_size=len(shard), progress=False)
            rows = [to_row(sample) for sample in samples]
            return rows, {"seed": params.seed,
                          "compute": _compute_delta(before, policy.compute()),
                          "calls": policy.compute_calls()[done:]}

        self._stage(run, "pool", keys, produce, "generating",
                    {"policy": cfg.policy.model_dump(mode="json"),
                     "sampling": cfg.sampling.model_dump(mode="json")})
        if self._policy is not None:
            run.update_stage("pool", policy_identity=self._policy.identity())
        return keys

    def _load_samples(self, run: RunDir, stage: str, index: int, key: str) -> list[Sample]:
        path = run.shard_path(stage, index, key)
        return [sample_from_row(row, path) for row in run.read_shard(stage, index, key)]

    def _grade(self, run: RunDir, task: Task, task_identity: dict,
               shards: list[list[Problem]], pool_keys: list[str]) -> None:
        keys = [key_of({"stage": "grades", "v": STAGE_VERSION, "pool": pk,
                        "task": task_identity}) for pk in pool_keys]

        def produce(index: int, key: str) -> tuple[list[dict], dict]:
            samples = self._load_samples(run, "pool", index, pool_keys[index])
            by_problem: dict[str, list[Sample]] = {}
            for s in samples:
                by_problem.setdefault(s.problem_id, []).append(s)
            batch = [(p, by_problem.get(p.id, [])) for p in shards[index]]
            rows: list[dict] = []
            for (problem, group), grades in zip(batch, task.grade_batch(batch), strict=True):
                if [g.sample_index for g in grades] != [s.index for s in group]:
                    raise HarnessError(f"task {task.name} graded samples "
                                       f"{[g.sample_index for g in grades]} of problem "
                                       f"{problem.id!r}, expected {[s.index for s in group]}")
                rows.extend(to_row(g) for g in grades)
            return rows, {}

        self._stage(run, "grades", keys, produce, "grading", {"task": task_identity})

    def _score(self, run: RunDir, prm_index: int, shards: list[list[Problem]],
               pool_keys: list[str]) -> None:
        cfg = self.config.prms[prm_index]
        label = cfg.display()
        stage = f"scores/{prm_slug(label)}"
        keys = [key_of({"stage": "scores", "v": STAGE_VERSION, "pool": pk,
                        "prm": cfg.model_dump(mode="json", exclude={"label"})})
                for pk in pool_keys]

        def produce(index: int, key: str) -> tuple[list[dict], dict]:
            samples = self._load_samples(run, "pool", index, pool_keys[index])
            by_id = {p.id: p for p in shards[index]}
            prm = self.prm(prm_index)
            before, done = prm.compute(), len(prm.compute_calls())
            scored = prm.score([by_id[s.problem_id] for s in samples], samples)
            if len(scored) != len(samples):
                raise ScoreError(f"PRM {label!r} returned {len(scored)} results for "
                                 f"{len(samples)} samples")
            rows = []
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
                rows.append(to_row(result))
            return rows, {"compute": _compute_delta(before, prm.compute()),
                          "calls": prm.compute_calls()[done:]}

        self._stage(run, stage, keys, produce, f"scoring {label}",
                    {"prm": label, "prm_config": cfg.model_dump(mode="json")})
        if label in self._prms:
            run.update_stage(stage, prm_identity=self._prms[label].identity())

    def _metrics(self, run: RunDir) -> None:
        document = compute_run_metrics(run, self.config.metrics)
        write_metrics(run, document)

    def _report(self, run: RunDir) -> None:
        for kind in self.config.report.kinds:
            render_report(run, kind)


def write_metrics(run: RunDir, document: dict[str, Any]) -> Path:
    """metrics.json, byte-stable: sorted keys, fixed float rendering."""
    from harness.store.atomic import write_text

    path = run.path / "metrics.json"
    write_text(path, canonical_json(document) + "\n")
    return path


def render_report(run: RunDir, kind: str, out_dir: Path | None = None) -> list[Path]:
    report_cls = registry.get("report", kind)
    target = out_dir or run.path / "report" / kind
    return list(report_cls().render(run, target))
