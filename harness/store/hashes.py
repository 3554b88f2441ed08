"""Whole-pool, whole-grades and whole-scores content hashes.

A leaderboard pins a pool by its hash, and a reader proves what it read by recomputing
it. Each hash is order-independent: records are sorted by (problem id, sample index)
before hashing, so the same content in other shards or line orders gives the same hash.

Canonical form: sha256 over the UTF-8 bytes of a header line (``prm-harness pool v1``,
``... grades v1``, ``... scores v1``), then one line per record, in sorted order, each the
canonical JSON (sorted keys, no spaces, see ``keys.canonical_json``) of a list:

- pool:   ``[problem_id, index, sample_id, text, steps]`` (``sample_id``: the imported
  file's id, or null; ``index``: the sample's position in its problem's pool, the id
  grades and scores refer to)
- grades: ``[problem_id, sample_index, correct, vote_key]`` (what the metrics read; the
  details, timings among them, are left out)
- scores: ``[problem_id, sample_index, scores]`` (the per-step scores as stored)

A (problem id, index) pair present twice is an error: it would make the hash depend on
which copy a reader keeps.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.store.keys import canonical_json
from harness.store.records import grade_from_row, sample_from_row, step_scores_from_row
from harness.types import Grade, Sample, StepScores

HASH_VERSION = 1


def _digest(kind: str, records: Iterable[tuple[str, int, list[Any]]]) -> str:
    ordered = sorted(records, key=lambda r: (r[0], r[1]))
    digest = hashlib.sha256(f"prm-harness {kind} v{HASH_VERSION}\n".encode())
    previous: tuple[str, int] | None = None
    for problem_id, index, fields in ordered:
        if previous == (problem_id, index):
            raise HarnessError(f"{kind}: sample {index} of problem {problem_id!r} "
                               f"appears twice")
        previous = (problem_id, index)
        digest.update((canonical_json(fields) + "\n").encode("utf-8"))
    return digest.hexdigest()


def pool_sha256(samples: Iterable[Sample]) -> str:
    """The whole-pool hash: problem ids, sample ids, texts and steps."""
    return _digest("pool", ((s.problem_id, s.index,
                             [s.problem_id, s.index, s.sample_id, s.text, list(s.steps)])
                            for s in samples))


def grades_sha256(grades: Iterable[Grade]) -> str:
    """The whole-grades hash: verdicts and vote keys."""
    return _digest("grades", ((g.problem_id, g.sample_index,
                               [g.problem_id, g.sample_index, g.correct, g.vote_key])
                              for g in grades))


def scores_sha256(scores: Iterable[StepScores]) -> str:
    """The whole-scores hash of one PRM: every sample's step scores."""
    return _digest("scores", ((s.problem_id, s.sample_index,
                               [s.problem_id, s.sample_index, list(s.scores)])
                              for s in scores))


def stage_sha256(stage: str, rows: Iterable[tuple[str | Path, dict[str, Any]]]) -> str | None:
    """The content hash of a stage's stored rows (pool, grades or ``scores/...``); None
    for a stage kind that has none."""
    if stage == "pool":
        return pool_sha256(sample_from_row(row, path) for path, row in rows)
    if stage == "grades":
        return grades_sha256(grade_from_row(row, path) for path, row in rows)
    if stage.startswith("scores/"):
        return scores_sha256(step_scores_from_row(row, path) for path, row in rows)
    return None
