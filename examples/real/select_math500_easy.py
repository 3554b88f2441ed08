"""The MATH-500 easy slice of the stored runs: a seeded sample of the level-1 and level-2
problems (133 of the 500), printed as the ``task.problems.ids`` list of a run config.

    python examples/real/select_math500_easy.py --k 8 --seed 13

Criterion: levels 1-2 only (the zoo policies solve almost nothing harder), then
``numpy.random.default_rng(seed).choice`` without replacement, kept in file order. The
configs under examples/real/ hold the ids this prints, so a run never depends on it.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from harness.tasks.math500 import Math500Task


def easy_ids(k: int, seed: int, data_dir: Path | None = None) -> list[str]:
    problems = Math500Task(data_dir=data_dir).load()
    easy = [p.id for p in problems if p.metadata["level"] in (1, 2)]
    picked = sorted(np.random.default_rng(seed).choice(len(easy), size=k, replace=False))
    return [easy[i] for i in picked]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, required=True)
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args()
    data = os.environ.get("PRM_HARNESS_DATA")
    for problem_id in easy_ids(args.k, args.seed, Path(data) if data else None):
        print(f"    - {problem_id}")


if __name__ == "__main__":
    main()
