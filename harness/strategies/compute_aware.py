"""``compute-aware``: a step-level tree search that sizes itself from the PRM's rewards.

What seed 000 states (a summary of CATS, "Reward Model Generalization for Compute-Aware
Test-Time Reasoning", not the paper): CATS is an actor-critic tree search. The policy is
the actor, the PRM the critic. It changes its sampling parameters as it goes, using the
distribution of the rewards and the PRM's sparsity, so that compute goes where the PRM's
signal can be trusted. That is all the seed says about the method.

What is reconstructed here (none of it is in the seed): the features, the rules, the
learned controller and the way a round runs. Each tick every node of the frontier is
expanded ``expand`` times and the children are scored. A controller reads four features of
their rewards r_1..r_n (the guiding aggregation of each child, finished children included,
one copy of each prefix when ``dedupe``, so identical steps do not pass for agreement):

- ``std``: the population standard deviation of r (how far apart the candidates are);
- ``margin``: the best reward minus the second best (0 when n < 2): one candidate dominates;
- ``entropy``: the entropy of softmax(r / ``softmax_temperature``) divided by log n (in
  [0, 1]; 0 when n < 2): near 1, the PRM barely tells the candidates apart;
- ``sparsity``: the share of rewards within ``extreme`` of 0 or 1. This is our proxy for
  how reliable the PRM is: a PRM that gives near-certain scores is taken to be a decisive
  critic, one that hedges near 0.5 a weak one. It is a proxy, not a measurement. A PRM
  with logit-space noise (``sim-noisy``) also pushes scores towards 0 and 1, so the
  learned controller fits its own weight for it.

From these features the controller picks the next frontier's width and the sampling
temperature. It can ``widen`` (width x ``grow``, at most ``max_width``), ``narrow``
(width // ``grow``, at least ``min_width``), ``deepen`` (keep only the best child and
spend the tick on depth) or ``hold``. The next frontier is the ``width`` best open children
(identical prefixes merged when ``dedupe``).

- ``controller=heuristic``: the first rule that fires wins. If margin >= ``deepen_margin``
  and sparsity >= ``trust_sparsity``: deepen. Else if margin >= ``narrow_margin``: narrow.
  Else if entropy >= ``widen_entropy`` or std >= ``widen_std``: widen. Else hold. The
  temperature is ``min_temperature`` + (``max_temperature`` - ``min_temperature``) x
  entropy.
- ``controller=learned``: p = sigmoid(b + w . [std, margin, entropy, sparsity]) with (w, b)
  from ``controller_file`` (by default the packaged ``data/cats_controller.json``, written
  by ``scripts/train_cats_controller.py``). p estimates the chance that the PRM's favourite
  child is not the one of highest exact value, fitted by logistic regression on candidate
  sets drawn offline from the simulator. If p >= ``widen_p``: widen. Else if p <
  ``deepen_p``: deepen. Else if p < ``narrow_p``: narrow. Else hold. The temperature is
  ``min_temperature`` + (``max_temperature`` - ``min_temperature``) x p. The three
  thresholds default to the file's (the 20%, 50% and 80% quantiles of p over the training
  sets); an option given overrides the file.

A round begins with ``initial_width`` x ``expand`` samples from the prompt (common
``temperature``). It ends when ``finished_per_round`` solutions have finished or nothing is
open. Rounds follow each other until the budget is spent (``rounds`` fixes how many). The
answer is the best finished solution by ``select``. The temperature goes to the engine as
each request's own temperature (``Request.temperature``). The simulated policy ``sim``
ignores temperature, so on the simulator only the width decisions change the search.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ConfigError
from harness.strategies.base import (
    RoundSearch,
    SearchStrategy,
    as_bool,
    as_choice,
    as_float,
    as_int,
    optional_int,
)
from harness.strategies.engine import Node, Request, Tree, rank_by_value
from harness.types import Budget

FEATURES = ("std", "margin", "entropy", "sparsity")
CONTROLLERS = ("heuristic", "learned")
DEFAULT_CONTROLLER_FILE = Path(__file__).parent / "data" / "cats_controller.json"


@dataclass(frozen=True)
class Features:
    """What the controller sees of one tick's rewards (module docstring)."""

    n: int
    std: float
    margin: float
    entropy: float
    sparsity: float

    def vector(self) -> list[float]:
        return [self.std, self.margin, self.entropy, self.sparsity]



def reward_features(rewards: Sequence[float], softmax_temperature: float = 0.1,
                    extreme: float = 0.1) -> Features:
    """The four features of a reward vector (any length; n < 2 gives margin = entropy = 0)."""
    r = np.asarray(rewards, dtype=float)
    n = len(r)
    if n == 0:
        return Features(0, 0.0, 0.0, 0.0, 0.0)
    sparsity = float(np.mean((r <= extreme) | (r >= 1.0 - extreme)))
    if n < 2:
        return Features(1, 0.0, 0.0, 0.0, sparsity)
    top = np.sort(r)[::-1]
    logits = r / softmax_temperature
    p = np.exp(logits - logits.max())
    p /= p.sum()
    nz = p[p > 0]
    entropy = float(-(nz * np.log(nz)).sum() / math.log(n))
    return Features(n, float(r.std()), float(top[0] - top[1]), min(max(entropy, 0.0), 1.0),
                    sparsity)


@dataclass(frozen=True)
class Limits:
    """The range a controller may move the width and the temperature in."""

    min_width: int = 1
    max_width: int = 8
    grow: int = 2
    min_temperature: float = 0.7
    max_temperature: float = 1.3

    def temperature(self, level: float) -> float:
        level = min(max(level, 0.0), 1.0)
        return self.min_temperature + (self.max_temperature - self.min_temperature) * level

    def resize(self, action: str, width: int) -> int:
        if action == "widen":
            return min(self.max_width, width * self.grow)
        if action == "narrow":
            return max(self.min_width, width // self.grow)
        if action == "deepen":
            return 1
        return width


@dataclass(frozen=True)
class Decision:
    """One tick's choice and the rule that made it (recorded in the trace)."""

    action: str  # widen, narrow, deepen or hold
    width: int
    temperature: float
    rule: str
    p_widen: float | None = None


@dataclass(frozen=True)
class HeuristicController:
    """Threshold rules over the features (module docstring); every threshold an option."""

    deepen_margin: float = 0.3
    trust_sparsity: float = 0.5
    narrow_margin: float = 0.15
    widen_entropy: float = 0.8
    widen_std: float = 0.2

    def decide(self, f: Features, width: int, limits: Limits) -> Decision:
        temperature = limits.temperature(f.entropy)
        if f.n < 2:
            action, rule = "hold", "fewer than two candidates"
        elif f.margin >= self.deepen_margin and f.sparsity >= self.trust_sparsity:
            action, rule = "deepen", "margin >= deepen_margin and sparsity >= trust_sparsity"
        elif f.margin >= self.narrow_margin:
            action, rule = "narrow", "margin >= narrow_margin"
        elif f.entropy >= self.widen_entropy:
            action, rule = "widen", "entropy >= widen_entropy"
        elif f.std >= self.widen_std:
            action, rule = "widen", "std >= widen_std"
        else:
            action, rule = "hold", "no rule fired"
        return Decision(action, limits.resize(action, width), temperature, rule)


@dataclass(frozen=True)
class LearnedController:
    """A logistic policy p = sigmoid(b + w . features), fitted offline on the simulator."""

    weights: tuple[float, ...]
    bias: float
    deepen_p: float
    narrow_p: float
    widen_p: float

    @classmethod
    def load(cls, path: Path, **thresholds: float | None) -> LearnedController:
        """The controller in ``path``; a threshold left None comes from the file."""
        try:
            doc = json.loads(path.read_text())
            if list(doc["features"]) != list(FEATURES):
                raise ConfigError(f"{path}: features {doc['features']} are not "
                                  f"{list(FEATURES)}")
            weights = tuple(float(w) for w in doc["weights"])
            bias = float(doc["bias"])
            stored = {k: float(v) for k, v in doc["thresholds"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"option controller_file: cannot read {path}: {exc}") from None
        chosen = {k: stored[k] if v is None else v for k, v in thresholds.items()}
        if not chosen["deepen_p"] <= chosen["narrow_p"] <= chosen["widen_p"]:
            raise ConfigError(f"options deepen_p <= narrow_p <= widen_p must hold, got "
                              f"{chosen}")
        return cls(weights, bias, **chosen)

    def p_widen(self, f: Features) -> float:
        z = self.bias + sum(w * x for w, x in zip(self.weights, f.vector(), strict=True))
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))

    def decide(self, f: Features, width: int, limits: Limits) -> Decision:
        if f.n < 2:
            return Decision("hold", width, limits.temperature(0.5), "fewer than two "
                            "candidates")
        p = self.p_widen(f)
        if p >= self.widen_p:
            action, rule = "widen", "p >= widen_p"
        elif p < self.deepen_p:
            action, rule = "deepen", "p < deepen_p"
        elif p < self.narrow_p:
            action, rule = "narrow", "p < narrow_p"
        else:
            action, rule = "hold", "narrow_p <= p < widen_p"
        return Decision(action, limits.resize(action, width), limits.temperature(p), rule, p)


class ComputeAware(SearchStrategy):
    """Registered as strategy ``compute-aware``."""

    name = "compute-aware"

    def __init__(self, controller: str = "heuristic", initial_width: int | str = 4,
                 min_width: int | str = 1, max_width: int | str = 8, grow: int | str = 2,
                 expand: int | str = 4, finished_per_round: int | str = 4,
                 dedupe: bool | str = True, softmax_temperature: float | str = 0.1,
                 extreme: float | str = 0.1, min_temperature: float | str = 0.7,
                 max_temperature: float | str = 1.3, deepen_margin: float | str = 0.3,
                 trust_sparsity: float | str = 0.5, narrow_margin: float | str = 0.15,
                 widen_entropy: float | str = 0.8, widen_std: float | str = 0.2,
                 controller_file: str | None = None, deepen_p: float | str | None = None,
                 narrow_p: float | str | None = None, widen_p: float | str | None = None,
                 rounds: int | str | None = None, **common: Any) -> None:
        super().__init__(**common)
        self.controller_name = as_choice("controller", controller, CONTROLLERS)
        self.limits = _limits(min_width, max_width, grow, min_temperature, max_temperature)
        self.initial_width = as_int("initial_width", initial_width)
        if not self.limits.min_width <= self.initial_width <= self.limits.max_width:
            raise ConfigError(f"option initial_width ({self.initial_width}) must lie in "
                              f"[min_width, max_width] = [{self.limits.min_width}, "
                              f"{self.limits.max_width}]")
        self.expand = as_int("expand", expand)
        self.finished_per_round = as_int("finished_per_round", finished_per_round)
        self.dedupe = as_bool("dedupe", dedupe)
        self.softmax_temperature = as_float("softmax_temperature", softmax_temperature, 1e-6)
        self.extreme = as_float("extreme", extreme, 0.0, 0.5)
        self.heuristic = HeuristicController(
            as_float("deepen_margin", deepen_margin, 0.0, 1.0),
            as_float("trust_sparsity", trust_sparsity, 0.0, 1.0),
            as_float("narrow_margin", narrow_margin, 0.0, 1.0),
            as_float("widen_entropy", widen_entropy, 0.0, 1.0),
            as_float("widen_std", widen_std, 0.0))
        #: None: the packaged file (reported as None so the identity holds on any machine)
        self.controller_file = None if controller_file in (None, "none") else str(
            controller_file)
        self.thresholds = {"deepen_p": _probability("deepen_p", deepen_p),
                           "narrow_p": _probability("narrow_p", narrow_p),
                           "widen_p": _probability("widen_p", widen_p)}
        path = Path(self.controller_file) if self.controller_file else DEFAULT_CONTROLLER_FILE
        self.learned = (LearnedController.load(path, **self.thresholds)
                        if self.controller_name == "learned" else None)
        self.rounds = optional_int("rounds", rounds)

    def decide(self, features: Features, width: int) -> Decision:
        """The chosen controller's decision for a tick with these features."""
        if self.learned is not None:
            return self.learned.decide(features, width, self.limits)
        return self.heuristic.decide(features, width, self.limits)

    def options(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "controller": self.controller_name, "initial_width": self.initial_width,
            **{k: v for k, v in asdict(self.limits).items()}, "expand": self.expand,
            "finished_per_round": self.finished_per_round, "dedupe": self.dedupe,
            "softmax_temperature": self.softmax_temperature, "extreme": self.extreme,
            **asdict(self.heuristic), **self.thresholds, "rounds": self.rounds,
            "controller_file": self.controller_file}
        if self.learned is not None:  # what the file gave, so the trace is self-contained
            out["learned"] = {"weights": list(self.learned.weights),
                              "bias": self.learned.bias, "deepen_p": self.learned.deepen_p,
                              "narrow_p": self.learned.narrow_p,
                              "widen_p": self.learned.widen_p}
        return out

    def start(self, tree: Tree, budget: Budget) -> _ComputeAwareSearch:
        return _ComputeAwareSearch(tree, self, budget, self.rounds)


def _probability(name: str, value: Any) -> float | None:
    return None if value is None or value == "none" else as_float(name, value, 0.0, 1.0)


def _limits(min_width: Any, max_width: Any, grow: Any, min_temperature: Any,
            max_temperature: Any) -> Limits:
    low, high = as_int("min_width", min_width), as_int("max_width", max_width)
    if low > high:
        raise ConfigError(f"option min_width ({low}) must not exceed max_width ({high})")
    t_low = as_float("min_temperature", min_temperature, 0.0)
    t_high = as_float("max_temperature", max_temperature, 0.0)
    if t_low > t_high:
        raise ConfigError(f"option min_temperature ({t_low}) must not exceed "
                          f"max_temperature ({t_high})")
    return Limits(low, high, as_int("grow", grow, least=2), t_low, t_high)


class _ComputeAwareSearch(RoundSearch):
    strategy: ComputeAware

    def begin_round(self) -> None:
        self.frontier: list[Node] = [self.tree.root]
        self.width = self.strategy.initial_width
        self.temperature: float | None = None  # the common temperature on the first tick
        self.done_this_round = 0
        self.record: dict[str, Any] = {}

    def round_propose(self) -> list[Request]:
        s = self.strategy
        if self.done_this_round >= s.finished_per_round:
            return []
        if self.frontier == [self.tree.root]:
            count = self.width * s.expand
            return [self._request(self.tree.root) for _ in range(count)]
        return [self._request(node) for node in self.frontier for _ in range(s.expand)]

    def _request(self, node: Node) -> Request:
        request = self.tree.request(node)
        request.temperature = self.temperature
        return request

    def accept(self, children: list[Node]) -> None:
        s = self.strategy
        finished = [c for c in children if c.finished]
        self.finished.extend(finished)
        self.done_this_round += len(finished)
        scored = [c for c in self._unique(children) if c.scores is not None]
        rewards = [self.tree.value(c, s.aggregate) for c in scored]
        features = reward_features(rewards, s.softmax_temperature, s.extreme)
        before = self.width
        decision = s.decide(features, self.width)
        self.width, self.temperature = decision.width, decision.temperature
        ranked = rank_by_value(self.tree, [c for c in scored if c.open], s.aggregate)
        self.frontier = ranked[:self.width]
        self.record = {"round": self.round, "features": asdict(features),
                       "decision": {**asdict(decision), "width_before": before},
                       "frontier": [n.id for n in self.frontier],
                       "values": [self.tree.value(n, s.aggregate) for n in self.frontier]}

    def _unique(self, children: list[Node]) -> list[Node]:
        """The tick's candidates: one copy of each prefix when ``dedupe``."""
        if not self.strategy.dedupe:
            return children
        seen: set[str] = set()
        unique = []
        for c in children:
            text = self.tree.text(c)
            if text not in seen:
                seen.add(text)
                unique.append(c)
        return unique

    def tick_record(self) -> dict[str, Any]:
        return self.record
