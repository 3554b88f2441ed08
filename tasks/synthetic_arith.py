"""``synthetic-arith``: generated multi-step integer word problems with known answers.

Seeded and offline: the embedded default that lets ``prm-harness demo`` run anywhere, and
the test bed for search strategies and PRM diagnostics (the simulated policy ``sim`` and
PRMs ``sim-oracle`` / ``sim-noisy`` model it exactly).

Options: ``n_problems`` (100), ``length`` T (operations per problem, 6), ``difficulty``
(1-5, 3), ``seed`` (0).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from harness.synthetic.chain import Chain, PolicyParams
from harness.synthetic.problems import generate, problem_text
from harness.tasks.math_common import MathTask
from harness.types import Problem


class SyntheticArithTask(MathTask):
    """Generated multi-step integer arithmetic word problems (offline, seeded)."""

    name = "synthetic-arith"

    def __init__(self, data_dir: Path | None = None, n_problems: int | str = 100,
                 length: int | str = 6, difficulty: int | str = 3, seed: int | str = 0,
                 **options: Any) -> None:
        super().__init__(data_dir=data_dir, **options)
        self.n_problems = int(n_problems)
        self.length = int(length)
        self.difficulty = int(difficulty)
        self.seed = int(seed)
        if self.n_problems < 1 or self.length < 1:
            raise ValueError("n_problems and length must be at least 1")

    def load(self) -> list[Problem]:
        rng = np.random.default_rng([self.seed, self.length, self.difficulty])
        problems = []
        for i in range(self.n_problems):
            arith = generate(rng, self.length, self.difficulty)
            statement = problem_text(arith)
            reference_steps = Chain(arith, statement, PolicyParams(0.0, 0.0)).rollout(
                Chain(arith, statement, PolicyParams(0.0, 0.0)).start(),
                np.random.default_rng(0))[0]
            problems.append(Problem(
                id=f"synthetic-arith/{self.seed}/{i}",
                task=self.name,
                domain="math",
                prompt=self.messages(statement),
                reference=str(arith.answer),
                metadata={"statement": statement, "length": self.length,
                          "difficulty": self.difficulty, "solution": "".join(reference_steps)},
            ))
        return problems

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "n_problems": self.n_problems, "length": self.length,
                "difficulty": self.difficulty, "seed": self.seed, "generator_version": 1}
