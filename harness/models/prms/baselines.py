"""Baseline PRMs: ``random``, ``length`` and the ``step-label`` oracle.

- random: step k's score is a uniform number drawn from the sha256 of (seed, problem id,
  steps 1..k), so it is the same for the same prefix in any run, order or batch.
- length: step k's score grows with the characters written so far,
  L / (L + scale) (or 1 minus that with ``prefer="shorter"``); with ``last`` it ranks
  solutions by length.
- step-label: human step labels passed with the samples (PRM800K ratings, ProcessBench's
  first-error index) become the oracle score of each prefix: 1.0 while no step so far is
  labelled bad, else 0.0. Labels come from the ``labels`` mapping given to the
  constructor, else from ``problem.metadata["step_labels"]`` (a mapping from the sample's
  id, or its index as a string, to the labels). A sample without labels is a ScoreError.

Label forms: a list with one entry per step (1 or True = good, 0 = neutral, -1 or False =
bad; neutral counts as good unless ``neutral="bad"``), or ``{"first_error_step": i}``
(-1 when every step is right; the steps from i on are scored 0).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from typing import Any

from harness.errors import ConfigError, ScoreError
from harness.interfaces import PRM
from harness.models.compute import ComputeLedger, Metered
from harness.models.prms.protocol import sample_label
from harness.types import Problem, Sample, StepScores


class _Baseline(Metered, PRM):
    def __init__(self) -> None:
        self.ledger = ComputeLedger(params=0, device="cpu")

    def step_scores(self, problem: Problem, sample: Sample) -> list[float]:
        raise NotImplementedError

    def score(self, problems: Sequence[Problem], samples: Sequence[Sample]) -> list[StepScores]:
        start = time.perf_counter()
        out = []
        for problem, sample in zip(problems, samples, strict=True):
            if not sample.steps:
                raise ScoreError(f"{sample_label(sample.problem_id, sample.index)}: the "
                                 f"sample has no steps")
            out.append(StepScores(sample.problem_id, sample.index, self.prm_id,
                                  self.step_scores(problem, sample)))
        self.ledger.record(0, 0, time.perf_counter() - start, "score")
        return out


class RandomPRM(_Baseline):
    """PRM plug-in ``random``: seeded, a pure function of the step prefix."""

    prm_id = "random"

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.seed = int(seed)

    def step_scores(self, problem: Problem, sample: Sample) -> list[float]:
        digest = hashlib.sha256(f"{self.seed}\x00{sample.problem_id}".encode())
        out = []
        for step in sample.steps:
            digest.update(b"\x00" + step.encode("utf-8"))
            value = int.from_bytes(digest.copy().digest()[:8], "little")
            out.append(value / 2**64)
        return out

    def identity(self) -> dict[str, Any]:
        return {"prm_id": self.prm_id, "seed": self.seed,
                "method": "sha256(seed, problem_id, steps[:k]) -> uniform [0, 1)"}


class LengthPRM(_Baseline):
    """PRM plug-in ``length``: a monotone function of the characters written so far."""

    prm_id = "length"

    def __init__(self, scale: float = 1000.0, prefer: str = "longer") -> None:
        super().__init__()
        if scale <= 0:
            raise ConfigError("length baseline: scale must be positive")
        if prefer not in ("longer", "shorter"):
            raise ConfigError("length baseline: prefer must be 'longer' or 'shorter'")
        self.scale = float(scale)
        self.prefer = prefer

    def step_scores(self, problem: Problem, sample: Sample) -> list[float]:
        out, written = [], 0
        for step in sample.steps:
            written += len(step)
            value = written / (written + self.scale)
            out.append(value if self.prefer == "longer" else 1.0 - value)
        return out

    def identity(self) -> dict[str, Any]:
        return {"prm_id": self.prm_id, "scale": self.scale, "prefer": self.prefer,
                "method": "L / (L + scale), L = characters in steps 1..k"}


def oracle_scores(labels: Any, steps: int, neutral_good: bool, where: str) -> list[float]:
    """Prefix-correctness scores from one sample's labels (see the module docstring)."""
    if isinstance(labels, Mapping):
        if set(labels) != {"first_error_step"}:
            raise ScoreError(f"{where}: label mapping must be {{'first_error_step': i}}")
        first = labels["first_error_step"]
        if isinstance(first, bool) or not isinstance(first, int) or not -1 <= first < steps:
            raise ScoreError(f"{where}: first_error_step {first!r} is not -1 or a step index "
                             f"below {steps}")
        return [1.0 if first == -1 or k < first else 0.0 for k in range(steps)]
    if not isinstance(labels, list) or len(labels) != steps:
        got = len(labels) if isinstance(labels, list) else type(labels).__name__
        raise ScoreError(f"{where}: {got} step labels for {steps} steps")
    out, ok = [], True
    for k, label in enumerate(labels):
        if label is True or (not isinstance(label, bool) and label == 1):
            good = True
        elif label is False or (not isinstance(label, bool) and label == -1):
            good = False
        elif not isinstance(label, bool) and label == 0:
            good = neutral_good
        else:
            raise ScoreError(f"{where}: step {k + 1} label {label!r} is not 1, 0, -1 or a bool")
        ok = ok and good
        out.append(1.0 if ok else 0.0)
    return out


class StepLabelPRM(_Baseline):
    """PRM plug-in ``step-label``: the oracle from human step labels."""

    prm_id = "step-label"

    def __init__(self, labels: Mapping[tuple[str, str], Any] | None = None,
                 neutral: str = "good") -> None:
        super().__init__()
        if neutral not in ("good", "bad"):
            raise ConfigError("step-label: neutral must be 'good' or 'bad'")
        self.labels = dict(labels or {})
        self.neutral = neutral

    def _labels_for(self, problem: Problem, sample: Sample, where: str) -> Any:
        key = sample.sample_id if sample.sample_id is not None else str(sample.index)
        if (sample.problem_id, key) in self.labels:
            return self.labels[(sample.problem_id, key)]
        by_sample = problem.metadata.get("step_labels")
        if isinstance(by_sample, Mapping) and key in by_sample:
            return by_sample[key]
        raise ScoreError(f"{where}: no step labels for this sample (pass them with the "
                         f"samples, or in problem.metadata['step_labels'][{key!r}])")

    def step_scores(self, problem: Problem, sample: Sample) -> list[float]:
        where = sample_label(sample.problem_id, sample.index)
        return oracle_scores(self._labels_for(problem, sample, where), len(sample.steps),
                             self.neutral == "good", where)

    def identity(self) -> dict[str, Any]:
        return {"prm_id": self.prm_id, "neutral": self.neutral,
                "method": "1 while no step so far is labelled bad, else 0"}
