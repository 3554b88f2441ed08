"""``smc``: sequential Monte Carlo (particle filtering) over solution prefixes.

Each tick every open particle takes one step. Weights (log domain):
- ``twist`` (default): the incremental weight log V_t - log V_(t-1), V the guiding
  aggregation of the prefix's step scores (``aggregate``, default last: the PRM's score
  of the prefix; V of the empty prefix is 1, a constant shared by all particles), so the
  weight since the last resampling is V_t / V_s and no step's score enters twice;
- ``odds``: its_hub's particle filtering weight, the odds s / (1 - s) of the guiding
  aggregation of the prefix's scores (clipped to [1e-6, 1 - 1e-6]), replacing the weight
  at every step rather than accumulating it.
Resampling (systematic, stratified, residual or multinomial) happens when the effective
sample size (sum w)^2 / sum w^2 falls below ``ess_threshold`` x particles, and resets the
weights to equal. Finished particles are absorbing: they keep their weight, are never
extended, and resampling may copy or drop them but never revive one. A round ends when
no particle is open (or the budget cut a tick short); its finished particles are the
candidates. When every weight is 0
(every particle has value 0) nothing can be resampled and the weights are reset to equal.

Tempering: ``tempering`` = beta multiplies every log weight increment (twist) or the log
odds (odds), so the weight is (V_t / V_s)^beta: beta < 1 flattens the weights (fewer
resamplings, more diversity), beta > 1 sharpens them, beta = 0 never resamples on the
PRM (plain parallel sampling), beta = 1 is the untempered filter.

Adaptive tempering (``tempering=adaptive``): each step's beta in (0, 1] is chosen so that
the ESS after reweighting is ``ess_target`` x particles (the usual adaptive-tempering
rule): beta = 1 when the untempered step keeps the ESS at or above the target, else the
beta found by bisection (60 halvings of [0, 1]; the ESS of the tempered weights is
continuous in beta for finite log increments) on ESS(beta) = target, and a step whose
beta is below 1 always resamples (its ESS sits at the target by construction; waiting
would let the next step's bisection start below it). Steps with beta = 1 resample by
``ess_threshold`` as usual. A particle whose value fell to 0 has weight 0 at every beta
> 0, so when too many do at once the target cannot be reached and the bisection ends at
its smallest beta (the trace shows the ESS reached). The chosen beta of each tick is in
the trace (``beta``); with a varying beta the filter's target is no longer p(x) V(x)^beta
for one beta, it is a path of intermediate targets, and the answer is still chosen by
``select`` among finished particles.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from harness.errors import ConfigError
from harness.strategies.base import (
    RoundSearch,
    SearchStrategy,
    as_choice,
    as_float,
    as_int,
    optional_int,
)
from harness.strategies.engine import Node, Request, Tree, keyed_rng_seed
from harness.types import Budget

RESAMPLERS = ("systematic", "stratified", "residual", "multinomial")
WEIGHTS = ("twist", "odds")
ODDS_CLIP = 1e-6
ADAPTIVE = "adaptive"
BISECTIONS = 60


def adaptive_beta(log_w: np.ndarray, increments: np.ndarray, target: float
                  ) -> tuple[float, float]:
    """(beta, ESS) with beta in (0, 1] so that ESS(log_w + beta increments) = target
    (beta = 1 when the untempered ESS already reaches it); bisection on beta."""
    def at(beta: float) -> float:
        with np.errstate(invalid="ignore"):
            return ess(log_w + np.where(np.isneginf(increments), -np.inf,
                                        beta * increments))

    full = at(1.0)
    if full >= target:
        return 1.0, full
    lo, hi = 0.0, 1.0
    for _ in range(BISECTIONS):
        mid = 0.5 * (lo + hi)
        if at(mid) >= target:
            lo = mid
        else:
            hi = mid
    beta = lo if lo > 0 else hi
    return beta, at(beta)


def resample(weights: np.ndarray, method: str, rng: np.random.Generator) -> np.ndarray:
    """Ancestor indices (sorted) of len(weights) offspring; ``weights`` sum to 1."""
    n = len(weights)
    cumulative = np.cumsum(weights)
    cumulative[-1] = 1.0
    if method == "multinomial":
        positions = np.sort(rng.random(n))
    elif method == "stratified":
        positions = (np.arange(n) + rng.random(n)) / n
    elif method == "systematic":
        positions = (np.arange(n) + rng.random()) / n
    elif method == "residual":
        counts = np.floor(n * weights).astype(int)
        rest = n - int(counts.sum())
        if rest:
            residual = n * weights - counts
            extra = rng.choice(n, size=rest, p=residual / residual.sum())
            counts += np.bincount(extra, minlength=n)
        return np.repeat(np.arange(n), counts)
    else:
        raise ValueError(f"unknown resampling method {method!r}")
    return np.minimum(np.searchsorted(cumulative, positions, side="right"), n - 1)


def ess(log_weights: np.ndarray) -> float:
    """Effective sample size of unnormalised log weights (0 when all are -inf)."""
    top = np.max(log_weights)
    if not np.isfinite(top):
        return 0.0
    w = _exp(log_weights - top)
    return float(math.fsum(w) ** 2 / math.fsum(w * w))


def normalised(log_weights: np.ndarray) -> np.ndarray:
    top = np.max(log_weights)
    if not np.isfinite(top):
        return np.full(len(log_weights), 1.0 / len(log_weights))
    w = _exp(log_weights - top)
    return w / math.fsum(w)


def _exp(values: np.ndarray) -> np.ndarray:
    """exp elementwise with libm's exp: numpy's vectorised exp differs in the last bit
    between numpy builds and CPU features (AVX2, AVX-512), and a weight's last bit can
    change a stored ESS or a resampling draw; summed with math.fsum (exactly rounded)."""
    return np.array([math.exp(v) for v in values.tolist()], dtype=float)


class Smc(SearchStrategy):
    """Registered as strategy ``smc``."""

    name = "smc"

    def __init__(self, particles: int | str = 16, ess_threshold: float | str = 0.5,
                 resampling: str = "systematic", weights: str = "twist",
                 tempering: float | str = 1.0, rounds: int | str | None = None,
                 ess_target: float | str = 0.5, **common: Any) -> None:
        super().__init__(**common)
        self.particles = as_int("particles", particles)
        self.adaptive = tempering == ADAPTIVE
        self.tempering = 1.0 if self.adaptive else as_float("tempering", tempering, 0.0)
        self.ess_target = as_float("ess_target", ess_target, 0.0, 1.0)
        if self.ess_target == 0.0:
            raise ConfigError("option ess_target must be in (0, 1], got 0.0")
        self.ess_threshold = as_float("ess_threshold", ess_threshold, 0.0, 1.0)
        self.resampling = as_choice("resampling", resampling, RESAMPLERS)
        self.weights = as_choice("weights", weights, WEIGHTS)
        self.rounds = optional_int("rounds", rounds)

    def options(self) -> dict[str, Any]:
        return {"particles": self.particles, "ess_threshold": self.ess_threshold,
                "resampling": self.resampling, "weights": self.weights,
                "tempering": ADAPTIVE if self.adaptive else self.tempering,
                "ess_target": self.ess_target, "rounds": self.rounds}

    def start(self, tree: Tree, budget: Budget) -> _SmcSearch:
        return _SmcSearch(tree, self, budget, self.rounds)


class _SmcSearch(RoundSearch):
    strategy: Smc

    def begin_round(self) -> None:
        p = self.strategy.particles
        self.particles: list[Node] = [self.tree.root] * p
        self.log_w = np.zeros(p)
        self.step = 0
        self.record: dict[str, Any] = {}
        self.active: list[int] = []
        self.cut = False
        self.beta = 1.0

    def round_propose(self) -> list[Request]:
        if self.cut:
            return []
        self.active = [i for i, node in enumerate(self.particles) if node.open]
        if not self.active:
            self._close_round()
            return []
        return [self.tree.request(self.particles[i]) for i in self.active]

    def _close_round(self) -> None:
        seen: set[str] = set()
        for node in self.particles:
            if node.finished and node.id not in seen:
                seen.add(node.id)
                self.finished.append(node)

    def _value(self, node: Node) -> float:
        """V of a prefix: the guiding aggregation of its step scores (``last``, the
        default, is the PRM's value estimate of the prefix; ``product`` makes the
        telescoped weight the product of the step scores, each counted once)."""
        if node.parent is None:
            return 1.0
        return self.tree.value(node, self.strategy.aggregate)

    def accept(self, children: list[Node]) -> None:
        s = self.strategy
        if s.adaptive:
            self._accept_adaptive(children)
        else:
            for i, child in zip(self.active, children, strict=False):
                parent = self.particles[i]
                beta = s.tempering
                if s.weights == "twist":
                    new, old = self._value(child), self._value(parent)
                    if old > 0:  # a parent of value 0 already has weight 0
                        step = (math.log(new) if new > 0 else -math.inf) - math.log(old)
                        self.log_w[i] += beta * step if beta > 0 else 0.0
                else:
                    v = min(max(self.tree.value(child, s.aggregate), ODDS_CLIP),
                            1 - ODDS_CLIP)
                    self.log_w[i] = beta * math.log(v / (1 - v))
                self.particles[i] = child
        if len(children) < len(self.active):  # the budget cut this tick: the round is over
            self.record = {"round": self.round, "step": self.step, "cut": True,
                           **self._state(), "resampled": None}
            if s.adaptive:
                self.record["beta"] = self.beta
            self.cut = True
            self._close_round()
            return
        self.step += 1
        before = ess(self.log_w)
        state = self._state()  # the weights before any resampling
        degenerate = before == 0.0
        ancestors = None
        tempered = s.adaptive and self.beta < 1.0
        if degenerate:
            self.log_w = np.zeros(len(self.particles))
        elif tempered or before < s.ess_threshold * len(self.particles):
            rng = np.random.default_rng(keyed_rng_seed(
                s.seed, self.tree.problem.id, "resample", self.round, self.step))
            weights = normalised(self.log_w)
            ancestors = resample(weights, s.resampling, rng)
            self.particles = [self.particles[a] for a in ancestors]
            self.log_w = np.zeros(len(self.particles))
        self.record = {"round": self.round, "step": self.step, "ess": before,
                       "degenerate": degenerate, **state,
                       "resampled": None if ancestors is None else ancestors.tolist()}
        if s.adaptive:
            self.record["beta"] = self.beta

    def _accept_adaptive(self, children: list[Node]) -> None:
        """This step's untempered log increments (twist) or log odds (odds), tempered by
        the beta that brings the ESS to the target (see the module docstring). Particles
        that did not move (finished) keep their weight, as with a fixed beta."""
        s = self.strategy
        moved = list(zip(self.active, children, strict=False))
        increments = np.zeros(len(self.particles))
        base = self.log_w.copy()
        for i, child in moved:
            parent = self.particles[i]
            if s.weights == "twist":
                new, old = self._value(child), self._value(parent)
                if old > 0:  # a parent of value 0 already has weight 0
                    increments[i] = (math.log(new) if new > 0 else -math.inf) - math.log(old)
            else:
                v = min(max(self.tree.value(child, s.aggregate), ODDS_CLIP), 1 - ODDS_CLIP)
                increments[i] = math.log(v / (1 - v))
                base[i] = 0.0  # odds replace the weight: only this step's odds count
            self.particles[i] = child
        self.beta, _ = adaptive_beta(base, increments, s.ess_target * len(self.particles))
        with np.errstate(invalid="ignore"):
            self.log_w = base + np.where(np.isneginf(increments), -np.inf,
                                         self.beta * increments)

    def _state(self) -> dict[str, Any]:
        return {"particles": [p.id for p in self.particles],
                "weights": normalised(self.log_w).tolist()}

    def tick_record(self) -> dict[str, Any]:
        return self.record
