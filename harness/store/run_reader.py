"""Read a finished run's shards back as records, in the order the manifest lists them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from harness.aggregate import aggregate
from harness.errors import HarnessError, InputError
from harness.metrics import ProblemPool
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


def _stage_rows(run: RunDir, stage: str, directory: str) -> list[tuple[str, dict]]:
    info = run.manifest().get("stages", {}).get(stage)
    if not info or "shards" not in info:
        raise HarnessError(f"run {run.path}: stage {stage!r} has not finished")
    rows: list[tuple[str, dict]] = []
    for index, key in enumerate(info["shards"]):
        path = run.shard_path(directory, index, key)
        if not path.exists():
            raise InputError("shard listed in the manifest is missing", path=path)
        rows.extend((str(path), row) for row in run.read_shard(directory, index, key))
    return rows


def score_stages(run: RunDir) -> dict[str, str]:
    """PRM label -> stage name, for every finished scoring stage."""
    stages = run.manifest().get("stages", {})
    return {info["prm"]: name for name, info in stages.items()
            if name.startswith("scores/") and "shards" in info}


def read_run(run: RunDir) -> RunRecords:
    samples: dict[str, list[Sample]] = {}
    for path, row in _stage_rows(run, "pool", "pool"):
        sample = sample_from_row(row, path)
        samples.setdefault(sample.problem_id, []).append(sample)
    grades: dict[str, list[Grade]] = {}
    for path, row in _stage_rows(run, "grades", "grades"):
        grade = grade_from_row(row, path)
        grades.setdefault(grade.problem_id, []).append(grade)
    records = RunRecords(list(samples), samples, grades)
    for label, stage in score_stages(run).items():
        per_problem: dict[str, list[StepScores]] = {}
        for path, row in _stage_rows(run, stage, stage):
            scored = step_scores_from_row(row, path)
            per_problem.setdefault(scored.problem_id, []).append(scored)
        records.scores[label] = per_problem
    _check_aligned(records)
    return records


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
