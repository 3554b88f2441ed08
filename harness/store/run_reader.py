"""Read a finished run's shards back as records, in the order the manifest lists them.

Before anything is returned the reader checks that every stage finished (a stage
interrupted since its last start has no shard list), that its shards are the ones the
current configuration planned (not those of an older grader or checkpoint), that the
shards cover exactly the manifest's problems, and that the content hashes recorded at
each stage's end match what was read. Any failure is one line naming stage and shard.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.aggregate import aggregate
from harness.errors import HarnessError, InputError
from harness.metrics import ProblemPool
from harness.store.hashes import grades_sha256, pool_sha256, scores_sha256
from harness.store.records import grade_from_row, sample_from_row, step_scores_from_row
from harness.store.rundir import RunDir
from harness.types import Grade, Sample, StepScores


@dataclass
class RunRecords:
    """Everything the metrics need: samples, grades and each PRM's step scores."""

    problem_ids: list[str]
    samples: dict[str, list[Sample]]
    grades: dict[str, list[Grade]]
    scores: dict[str, dict[str, list[StepScores]]] = field(default_factory=dict)  # prm -> pid
    #: the verified content hashes of what was read (see store/hashes.py)
    content: dict[str, Any] = field(default_factory=dict)


def _stage_rows(run: RunDir, stage: str, directory: str) -> list[tuple[str, dict]]:
    manifest = run.manifest()
    info = manifest.get("stages", {}).get(stage)
    if not info or "shards" not in info:
        started = f" (started {info['started']}, never finished)" if info and \
            "started" in info else ""
        raise HarnessError(f"run {run.path}: stage {stage!r} has not finished{started}; "
                           f"run it again before reading it")
    planned = manifest.get("plan", {}).get(stage)
    if planned is None:
        raise HarnessError(f"run {run.path}: stage {stage!r} is not in the manifest's plan")
    stored = info["shards"]
    for index in range(max(len(stored), len(planned))):
        have = stored[index] if index < len(stored) else None
        want = planned[index] if index < len(planned) else None
        if have != want:
            raise HarnessError(
                f"run {run.path}: stage {stage!r} shard {index:05d} is stale: its key "
                f"{(have or 'none')[:20]} is not the current configuration's "
                f"{(want or 'none')[:20]}; run the stage again")
    rows: list[tuple[str, dict]] = []
    for index, key in enumerate(stored):
        path = run.shard_path(directory, index, key)
        if not path.exists():
            raise InputError("shard listed in the manifest is missing", path=path)
        rows.extend((str(path), row) for row in run.read_shard(directory, index, key))
    return rows


def score_stages(run: RunDir) -> dict[str, str]:
    """PRM label -> stage name, for every scoring stage (finished or not: an unfinished
    one is refused when read, never silently left out)."""
    stages = run.manifest().get("stages", {})
    return {info.get("prm", name): name for name, info in stages.items()
            if name.startswith("scores/")}


def _check_hash(run: RunDir, stage: str, got: str) -> None:
    want = run.manifest()["stages"][stage].get("content_sha256")
    if want is None:
        raise HarnessError(f"run {run.path}: stage {stage!r} records no content_sha256")
    if want != got:
        raise HarnessError(f"run {run.path}: stage {stage!r} shards hash to {got[:16]}, "
                           f"the manifest recorded {want[:16]}: a shard changed after the "
                           f"stage finished")


def read_run(run: RunDir) -> RunRecords:
    samples: dict[str, list[Sample]] = {}
    all_samples: list[Sample] = []
    for path, row in _stage_rows(run, "pool", "pool"):
        sample = sample_from_row(row, path)
        all_samples.append(sample)
        samples.setdefault(sample.problem_id, []).append(sample)
    content: dict[str, Any] = {"pool_sha256": pool_sha256(all_samples)}
    _check_hash(run, "pool", content["pool_sha256"])
    grades: dict[str, list[Grade]] = {}
    for path, row in _stage_rows(run, "grades", "grades"):
        grade = grade_from_row(row, path)
        grades.setdefault(grade.problem_id, []).append(grade)
    content["grades_sha256"] = grades_sha256(g for gs in grades.values() for g in gs)
    _check_hash(run, "grades", content["grades_sha256"])
    records = RunRecords(list(samples), samples, grades, content=content)
    content["scores_sha256"] = {}
    for label, stage in score_stages(run).items():
        per_problem: dict[str, list[StepScores]] = {}
        for path, row in _stage_rows(run, stage, stage):
            scored = step_scores_from_row(row, path)
            per_problem.setdefault(scored.problem_id, []).append(scored)
        records.scores[label] = per_problem
        digest = scores_sha256(s for ss in per_problem.values() for s in ss)
        _check_hash(run, stage, digest)
        content["scores_sha256"][label] = digest
    _check_problems(run, records)
    _check_aligned(records)
    return records


def _check_problems(run: RunDir, records: RunRecords) -> None:
    """The shards must cover exactly the manifest's problem list."""
    listed = run.manifest().get("problem_ids")
    if listed is None:
        raise HarnessError(f"run {run.path}: the manifest lists no problem_ids")
    missing = [pid for pid in listed if pid not in records.samples]
    if missing:
        raise HarnessError(f"run {run.path}: the pool has no samples for {len(missing)} of "
                           f"the manifest's {len(listed)} problems: "
                           f"{', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}")
    extra = [pid for pid in records.samples if pid not in set(listed)]
    if extra:
        raise HarnessError(f"run {run.path}: the pool has problems the manifest does not "
                           f"list: {', '.join(extra[:10])}")
    if list(records.samples) != list(listed):
        records.problem_ids = list(listed)


def _check_aligned(records: RunRecords) -> None:
    for pid, samples in records.samples.items():
        indices = [s.index for s in samples]
        graded = [g.sample_index for g in records.grades.get(pid, [])]
        if graded != indices:
            raise HarnessError(f"problem {pid!r}: grades cover samples {graded}, "
                               f"pool has {indices}")
        for label, per_problem in records.scores.items():
            scored = [s.sample_index for s in per_problem.get(pid, [])]
            if scored != indices:
                raise HarnessError(f"problem {pid!r}: PRM {label!r} scored samples {scored}, "
                                   f"pool has {indices}")


def build_pools(records: RunRecords, prm: str | None = None,
                aggregation: str | None = None) -> list[ProblemPool]:
    """Per-problem arrays; with ``prm`` the selection score is its aggregated step scores."""
    pools = []
    for pid in records.problem_ids:
        grades = records.grades[pid]
        classes: dict[str, int] = {}
        vote = np.array([-1 if g.vote_key is None else classes.setdefault(g.vote_key, len(classes))
                         for g in grades], dtype=np.int64)
        correct = np.array([g.correct for g in grades], dtype=bool)
        score = None
        if prm is not None:
            if aggregation is None:
                raise HarnessError("an aggregation is needed to select by step scores")
            score = np.array([
                aggregate(s.scores, aggregation, where=f"problem {pid!r} sample {s.sample_index}")
                for s in records.scores[prm][pid]
            ])
        pools.append(ProblemPool(pid, correct, vote, score))
    return pools
