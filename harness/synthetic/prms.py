"""``sim-oracle`` and ``sim-noisy``: PRMs of known error for synthetic-arith.

The oracle scores each prefix with its exact value under the simulated policy (the
probability that the policy, continuing from it, ends right; harness.synthetic.chain).
The noisy PRM distorts that value in logit space: sigmoid(logit(clip(v)) + sigma * z), v
clipped to [0.01, 0.99], z standard normal drawn from a hash of (seed, problem, prefix), so
the same prefix always gets the same score.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from typing import Any

from harness.errors import ConfigError, ScoreError
from harness.interfaces import PRM
from harness.models.compute import ComputeLedger, Metered
from harness.synthetic.chain import Chain, PolicyParams, State
from harness.synthetic.problems import parse_problem_text, statement_from_messages
from harness.types import Problem, Sample, StepScores

CLIP = 0.01


class SimOraclePRM(Metered, PRM):
    """Registered as PRM ``sim-oracle``; its options must match the ``sim`` policy's."""

    prm_id = "sim-oracle"

    def __init__(self, error_rate: float = 0.08, recovery_rate: float = 0.3,
                 mul_weight: float = 2.0) -> None:
        self.params = PolicyParams(error_rate, recovery_rate, mul_weight)
        self._chains: dict[str, Chain] = {}
        self.ledger = ComputeLedger(params=None, device="cpu")

    def chain_for(self, problem: Problem) -> tuple[str, Chain]:
        try:
            statement = statement_from_messages(problem.prompt)
        except ValueError as exc:
            raise ScoreError(f"{self.prm_id}: problem {problem.id!r}: {exc}") from None
        if statement not in self._chains:
            self._chains[statement] = Chain(parse_problem_text(statement), statement,
                                            self.params)
        return statement, self._chains[statement]

    def values(self, problem: Problem, sample: Sample) -> tuple[str, list[float]]:
        statement, chain = self.chain_for(problem)
        try:
            states = chain.trace(sample.steps)
        except ValueError as exc:
            raise ScoreError(f"{self.prm_id}: problem {problem.id!r} sample {sample.index}: "
                             f"{exc}") from None
        return statement, [self.state_value(chain, depth, state)
                           for depth, state in enumerate(states, start=1)]

    def state_value(self, chain: Chain, depth: int, state: State) -> float:
        """The score of a prefix of ``depth`` steps ending in ``state`` (exact here)."""
        return chain.value(state)

    def transform(self, statement: str, steps: list[str], values: list[float]) -> list[float]:
        return values

    def score(self, problems: Sequence[Problem], samples: Sequence[Sample]) -> list[StepScores]:
        start = time.perf_counter()
        out = []
        for problem, sample in zip(problems, samples, strict=True):
            statement, values = self.values(problem, sample)
            scores = self.transform(statement, sample.steps, values)
            out.append(StepScores(sample.problem_id, sample.index, self.prm_id, scores))
        self.ledger.record(0, 0, time.perf_counter() - start, "score")
        return out

    def identity(self) -> dict[str, Any]:
        return {"prm_id": self.prm_id, "error_rate": self.params.error_rate,
                "recovery_rate": self.params.recovery_rate, "mul_weight": self.params.mul_weight}


class SimNoisyPRM(SimOraclePRM):
    """Registered as PRM ``sim-noisy``: the oracle's values with logit-space noise."""

    prm_id = "sim-noisy"

    def __init__(self, noise: float = 1.0, seed: int = 0, error_rate: float = 0.08,
                 recovery_rate: float = 0.3, mul_weight: float = 2.0) -> None:
        super().__init__(error_rate, recovery_rate, mul_weight)
        if noise < 0:
            raise ValueError("noise must be non-negative")
        self.noise = noise
        self.seed = seed

    def _normal(self, statement: str, prefix: str) -> float:
        """A standard normal that is a fixed function of (seed, statement, prefix)."""
        digest = hashlib.sha256(f"{self.seed}\x00{statement}\x00{prefix}".encode()).digest()
        u1 = (int.from_bytes(digest[:8], "little") + 0.5) / 2**64
        u2 = int.from_bytes(digest[8:16], "little") / 2**64
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)  # Box-Muller

    def transform(self, statement: str, steps: list[str], values: list[float]) -> list[float]:
        out = []
        prefix = ""
        for step, value in zip(steps, values, strict=True):
            prefix += step
            v = min(max(value, CLIP), 1 - CLIP)
            z = self._normal(statement, prefix)
            out.append(1.0 / (1.0 + math.exp(-(math.log(v / (1 - v)) + self.noise * z))))
        return out

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "noise_logit_sigma": self.noise, "seed": self.seed,
                "clip": CLIP}


DECAYS = ("inverse_t", "constant")


class SimBellmanPRM(SimOraclePRM):
    """Registered as PRM ``sim-bellman``: the exact values with a Bellman error of a set size.

    At a prefix of odd depth d (number of steps) that is not the final answer the score is
    V(s) + eta if the prefix's running amount is wrong, V(s) - eta if it is right: wrong
    prefixes look better and right ones worse than they are (systematically misleading
    on half the states, every other step). Prefixes of even depth and final answers keep
    their exact value (1 right, 0 wrong). ``eta`` is ``error`` / T for ``decay=inverse_t``
    (T the problem's number of operations) or ``error`` for ``decay=constant``. A
    perturbed score is clipped to [min(V, 0.01), max(V, 0.99)], so it stays a probability
    and never moves against its sign.

    Bellman error (harness.synthetic.bellman): at an odd-depth prefix it is exactly eta
    (every successor has its exact value and V is exact); at an even-depth one it is eta
    |P(right successor) - P(wrong successor)| (eta (1 - 2 eps) after a right amount, eps
    the slip rate), both less where the clip binds. So the measured mean is eta times a
    factor of the chain (about 0.9 at the default rates): c / T for ``inverse_t``, c for
    ``constant`` (tests/test_strategies_extensions.py measures both).
    """

    prm_id = "sim-bellman"

    def __init__(self, error: float | str = 1.0, decay: str = "inverse_t",
                 error_rate: float = 0.08, recovery_rate: float = 0.3,
                 mul_weight: float = 2.0) -> None:
        super().__init__(error_rate, recovery_rate, mul_weight)
        try:
            self.error = float(error)
        except (TypeError, ValueError):
            raise ConfigError(f"option error: {error!r} is not a number") from None
        if not (math.isfinite(self.error) and self.error >= 0.0):
            raise ConfigError(f"option error must be a finite number >= 0, got {error!r}")
        if decay not in DECAYS:
            raise ConfigError(f"option decay: {decay!r} is not one of {', '.join(DECAYS)}")
        self.decay = decay

    def eta(self, horizon: int) -> float:
        """The size of the perturbation on a problem of ``horizon`` operations."""
        return self.error / max(horizon, 1) if self.decay == "inverse_t" else self.error

    def state_value(self, chain: Chain, depth: int, state: State) -> float:
        value = chain.value(state)
        if state.finished or depth % 2 == 0:
            return value
        eta = self.eta(chain.length)
        moved = value + eta if state.wrong else value - eta
        return min(max(moved, min(value, CLIP)), max(value, 1 - CLIP))

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "error": self.error, "decay": self.decay,
                "rule": "odd depths: V + eta if wrong else V - eta, clipped to "
                        "[min(V, 0.01), max(V, 0.99)]; eta = error / T (inverse_t) or "
                        "error (constant)"}
