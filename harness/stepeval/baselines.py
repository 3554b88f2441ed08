"""Reference scorers that need no model, to anchor step-level results.

- ``random``: each step an independent uniform [0, 1) draw, seeded per (seed, item id), so
  a score does not depend on which other items are in the file.
- ``length``: 1 / (1 + characters / 500): longer steps look riskier. A heuristic with no
  knowledge of the content; any useful PRM should beat it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

BASELINES = ("random", "length")


def _rng(seed: int, item_id: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}\0{item_id}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def baseline_scores(name: str, item_id: str, steps: Sequence[str], seed: int = 0) -> list[float]:
    """The baseline's score for every step of one item."""
    if name == "random":
        return [float(x) for x in _rng(seed, item_id).random(len(steps))]
    if name == "length":
        return [1.0 / (1.0 + len(step) / 500.0) for step in steps]
    raise ValueError(f"unknown baseline {name!r}; choose from {BASELINES}")
