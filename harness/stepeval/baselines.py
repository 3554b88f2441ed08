"""Step-level reference scorers that need no model, to anchor ProcessBench and PRM800K
results (registry kind ``step-baseline``; not PRMs, so not named like the PRM baselines).

- ``step-random``: each step an independent uniform [0, 1) draw, seeded per (seed, item
  id), so a score does not depend on which other items are in the file.
- ``step-length``: 1 / (1 + characters / 500): longer steps look riskier. A heuristic with
  no knowledge of the content; any useful PRM should beat it.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from harness import registry


class StepBaseline(ABC):
    """A model-free scorer of one item's steps; constructed without options."""

    name: ClassVar[str]

    @abstractmethod
    def scores(self, item_id: str, steps: Sequence[str], seed: int = 0) -> list[float]:
        """A score in [0, 1] for every step of one item."""


class StepRandomBaseline(StepBaseline):
    name = "step-random"

    def scores(self, item_id: str, steps: Sequence[str], seed: int = 0) -> list[float]:
        digest = hashlib.sha256(f"{seed}\0{item_id}".encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        return [float(x) for x in rng.random(len(steps))]


class StepLengthBaseline(StepBaseline):
    name = "step-length"

    def scores(self, item_id: str, steps: Sequence[str], seed: int = 0) -> list[float]:
        return [1.0 / (1.0 + len(step) / 500.0) for step in steps]


def baseline_scores(name: str, item_id: str, steps: Sequence[str], seed: int = 0) -> list[float]:
    """The step baseline ``name``'s score for every step of one item."""
    baseline: StepBaseline = registry.STEP_BASELINES.build(name)
    return baseline.scores(item_id, steps, seed)
