"""The ``compute-aware`` strategy on synthetic-arith with the simulated policy and the
sim-oracle / sim-noisy PRMs: the budget stays a hard cap, runs are deterministic per problem,
traces record why each tick widened or narrowed, the controllers react the right way to
hand-made reward vectors, and the learned controller's JSON is what its script writes."""

from __future__ import annotations

import collections
import importlib.util
import json
import math
import random
from pathlib import Path

import numpy as np
import pytest

from harness import registry
from harness.errors import ConfigError
from harness.store.search_dir import strip_wall
from harness.strategies.compute_aware import (
    DEFAULT_CONTROLLER_FILE,
    HeuristicController,
    LearnedController,
    Limits,
    reward_features,
)
from harness.strategies.engine import replay_answer
from harness.synthetic.policy import SimPolicy
from harness.synthetic.prms import SimNoisyPRM, SimOraclePRM
from harness.types import Budget

ROOT = Path(__file__).resolve().parents[1]
PRMS = {"sim-oracle": SimOraclePRM, "sim-noisy": SimNoisyPRM}
SPREAD = [0.9, 0.85, 0.2, 0.1]  # two good candidates far from two bad ones
FLAT = [0.5, 0.48, 0.52, 0.49]  # the PRM cannot tell them apart
DOMINANT = [0.97, 0.2, 0.15, 0.05]  # one candidate dominates, scores near 0 or 1


@pytest.fixture(scope="module")
def problems():
    return registry.TASKS.build("synthetic-arith", {"n_problems": 6, "length": 6}).load()


def _run(problems, budget, prm="sim-noisy", **options):
    strategy = registry.STRATEGIES.build("compute-aware", options)
    runs = strategy.run(problems, SimPolicy(), PRMS[prm](), budget)
    return strategy, runs


def _stable(trace):
    """A trace without measured wall seconds (the one thing batching may change),
    as a plain JSON document."""
    return json.loads(json.dumps(strip_wall(trace)[0]))


def test_registered_buildable_and_every_option_is_reported():
    cls = registry.STRATEGIES.get("compute-aware")
    assert cls.name == "compute-aware"
    strategy = registry.STRATEGIES.build("compute-aware", {
        "controller": "heuristic", "max_width": "6", "widen_std": "0.3", "dedupe": "false"})
    opts = strategy.identity()
    assert opts["strategy"] == "compute-aware"
    assert (opts["max_width"], opts["widen_std"], opts["dedupe"]) == (6, 0.3, False)
    for name in ("initial_width", "min_width", "grow", "expand", "finished_per_round",
                 "softmax_temperature", "extreme", "min_temperature", "max_temperature",
                 "deepen_margin", "trust_sparsity", "narrow_margin", "widen_entropy",
                 "deepen_p", "narrow_p", "widen_p", "rounds", "controller_file"):
        assert name in opts
    learned = registry.STRATEGIES.build("compute-aware", {"controller": "learned"})
    doc = json.loads(DEFAULT_CONTROLLER_FILE.read_text())
    assert learned.identity()["learned"]["weights"] == doc["weights"]
    assert learned.identity()["learned"]["widen_p"] == doc["thresholds"]["widen_p"]


@pytest.mark.parametrize("options, message", [
    ({"controller": "oracle"}, "option controller"),
    ({"min_width": 5, "max_width": 2}, "must not exceed max_width"),
    ({"initial_width": 9}, "initial_width"),
    ({"grow": 1}, "option grow must be at least 2"),
    ({"widen_std": -0.1}, "option widen_std"),
    ({"extreme": 0.7}, "option extreme"),
    ({"min_temperature": 2, "max_temperature": 1}, "min_temperature"),
    ({"expand": "x"}, "option expand"),
    ({"dedupe": "maybe"}, "option dedupe"),
    ({"controller": "learned", "deepen_p": 0.9, "widen_p": 0.1}, "deepen_p <= narrow_p"),
    ({"controller": "learned", "controller_file": "/nonexistent/c.json"}, "controller_file"),
])
def test_bad_options_are_config_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        registry.STRATEGIES.build("compute-aware", options)


def test_features_of_hand_made_rewards():
    f = reward_features([0.9, 0.5, 0.1, 0.05], softmax_temperature=0.1, extreme=0.1)
    assert f.n == 4
    assert f.std == pytest.approx(np.std([0.9, 0.5, 0.1, 0.05]))
    assert f.margin == pytest.approx(0.4)
    assert f.sparsity == pytest.approx(0.75)  # 0.9, 0.1 and 0.05 are within 0.1 of an end
    p = np.exp(np.array([9.0, 5.0, 1.0, 0.5]) - 9.0)
    p /= p.sum()
    assert f.entropy == pytest.approx(-(p * np.log(p)).sum() / math.log(4))
    assert reward_features(FLAT).entropy > 0.9 > reward_features(DOMINANT).entropy
    one = reward_features([0.7])
    assert (one.n, one.margin, one.entropy) == (1, 0.0, 0.0)


def test_heuristic_controller_widens_on_spread_or_uncertain_rewards_and_narrows_on_a_winner():
    limits = Limits(min_width=1, max_width=8, grow=2)
    c = HeuristicController()
    for rewards in (SPREAD, FLAT):
        d = c.decide(reward_features(rewards), 4, limits)
        assert (d.action, d.width) == ("widen", 8), (rewards, d)
    d = c.decide(reward_features(DOMINANT), 4, limits)
    assert (d.action, d.width) == ("deepen", 1)
    # a clear winner without a confident PRM only narrows
    d = c.decide(reward_features([0.75, 0.5, 0.45, 0.4]), 4, limits)
    assert (d.action, d.width) == ("narrow", 2)
    # the widths stay within their limits and the temperature follows the entropy
    assert c.decide(reward_features(FLAT), 8, limits).width == 8
    assert c.decide(reward_features([0.75, 0.5, 0.45, 0.4]), 1, limits).width == 1
    hot = c.decide(reward_features(FLAT), 4, limits).temperature
    cold = c.decide(reward_features(DOMINANT), 4, limits).temperature
    assert limits.min_temperature <= cold < hot <= limits.max_temperature
    # every threshold is live: raising widen_entropy and widen_std stops the widening
    strict = HeuristicController(widen_entropy=1.0, widen_std=1.0)
    assert strict.decide(reward_features(FLAT), 4, limits).action == "hold"


def test_learned_controller_wants_width_more_for_spread_than_for_a_winner():
    c = LearnedController.load(DEFAULT_CONTROLLER_FILE, deepen_p=None, narrow_p=None,
                               widen_p=None)
    limits = Limits()
    spread = c.decide(reward_features(SPREAD), 4, limits)
    winner = c.decide(reward_features(DOMINANT), 4, limits)
    assert spread.p_widen is not None and winner.p_widen is not None
    assert spread.p_widen > winner.p_widen
    assert spread.width > winner.width
    assert winner.action in ("narrow", "deepen")
    # rewards the PRM cannot tell apart are the learned controller's clearest widen
    assert c.decide(reward_features(FLAT), 4, limits).action == "widen"


@pytest.mark.parametrize("controller", ["heuristic", "learned"])
@pytest.mark.parametrize("prm", ["sim-oracle", "sim-noisy"])
def test_the_call_budget_is_a_hard_cap_and_is_used(controller, prm, problems):
    _, runs = _run(problems, Budget(policy_calls=80), prm, controller=controller)
    for run in runs:
        assert 0.95 * 80 <= run.spent.policy_calls <= 80, run.spent
        assert run.stopped == "budget"
        assert run.spent.policy_calls == sum(t["requests"] for t in run.ticks)


def test_the_token_budget_lands_within_its_band(problems):
    cap = 1500
    _, runs = _run(problems, Budget(policy_tokens=cap))
    for run in runs:
        assert 0.95 * cap <= run.spent.policy_tokens <= cap, run.spent


@pytest.mark.parametrize("controller", ["heuristic", "learned"])
def test_deterministic_and_independent_of_problem_order(controller, problems):
    budget = Budget(policy_calls=60)
    strategy, _ = _run(problems, budget, controller=controller)
    first = {t["problem_id"]: _stable(t) for t in strategy.traces(budget)}
    strategy, _ = _run(problems, budget, controller=controller)
    assert {t["problem_id"]: _stable(t) for t in strategy.traces(budget)} == first
    shuffled = list(problems)
    random.Random(5).shuffle(shuffled)
    strategy, _ = _run(shuffled, budget, controller=controller)
    assert {t["problem_id"]: _stable(t) for t in strategy.traces(budget)} == first
    strategy, _ = _run([problems[2]], budget, controller=controller)
    assert _stable(strategy.traces(budget)[0]) == first[problems[2].id]
    strategy, _ = _run(problems, budget, controller=controller, seed=1)
    assert {t["problem_id"]: _stable(t) for t in strategy.traces(budget)} != first


@pytest.mark.parametrize("controller", ["heuristic", "learned"])
def test_traces_say_why_and_rebuild_the_answer(controller, problems):
    budget = Budget(policy_calls=100)
    strategy, runs = _run(problems, budget, controller=controller)
    actions: collections.Counter[str] = collections.Counter()
    for run, trace in zip(runs, strategy.traces(budget), strict=True):
        text, spent = replay_answer(json.loads(json.dumps(trace)))
        assert text == trace["answer_text"] == (
            None if run.answer is None else run.tree.text(run.answer))
        assert spent == trace["spent"] == run.spent.as_dict()
        for tick in trace["ticks"]:
            features, decision = tick["features"], tick["decision"]
            assert set(features) == {"n", "std", "margin", "entropy", "sparsity"}
            assert {"action", "width", "width_before", "temperature", "rule"} <= set(decision)
            assert len(tick["frontier"]) <= decision["width"]
            actions[decision["action"]] += 1
    assert actions["widen"] > 0 and actions["narrow"] + actions["deepen"] > 0, actions


class Recording(SimPolicy):
    """The sim policy, keeping the per-request temperatures of every call."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def step(self, prompts, prefixes, params):
        self.calls.append((len(prompts), list(params.temperatures), params.temperature))
        return super().step(prompts, prefixes, params)


def test_the_decided_temperature_reaches_the_policy_per_request(problems):
    policy = Recording()
    strategy = registry.STRATEGIES.build("compute-aware", {"rounds": 1, "temperature": 0.9})
    runs = strategy.run(problems[:1], policy, SimNoisyPRM(), Budget(policy_calls=60))
    ticks = runs[0].ticks
    assert len(policy.calls) == len(ticks)
    size, temperatures, common = policy.calls[0]
    assert temperatures == [] and common == 0.9  # the first tick: the common temperature
    for (size, temperatures, _), before in zip(policy.calls[1:], ticks, strict=False):
        assert temperatures == [before["decision"]["temperature"]] * size
    # strategies that set no temperature send none (the engine's default is unchanged)
    policy = Recording()
    registry.STRATEGIES.build("beam", {"n": 4, "m": 2}).run(
        problems[:1], policy, SimNoisyPRM(), Budget(policy_calls=12))
    assert all(t == [] for _, t, _ in policy.calls)


def _train_module():
    path = ROOT / "scripts" / "train_cats_controller.py"
    spec = importlib.util.spec_from_file_location("train_cats_controller", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_packaged_controller_is_what_the_training_script_writes(tmp_path, capsys):
    module = _train_module()
    assert module.main(["--check"]) == 0
    assert capsys.readouterr().out.strip() == "same"
    out = tmp_path / "c.json"
    assert module.main(["--out", str(out)]) == 0
    assert out.read_bytes() == DEFAULT_CONTROLLER_FILE.read_bytes()
    doc = json.loads(out.read_text())
    assert doc["fit"]["log_loss"] < doc["fit"]["base_log_loss"]  # the features say something
    out.write_text(out.read_text().replace(str(doc["bias"]), "0.0", 1))
    assert module.main(["--check", "--out", str(out)]) == 1
