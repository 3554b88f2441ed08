"""Beam lookahead, MCTS rollout leaf values, SMC adaptive tempering and the sim-bellman
PRMs, on synthetic-arith with the simulated policy (real runs, no mocks): the extra steps
are engine requests (counted, capped, traced, replayed), the default options leave traces
unchanged, adaptive tempering hits its ESS target, and the sim-bellman PRMs' measured
Bellman error scales as they promise."""

from __future__ import annotations

import json

import pytest

from harness import registry
from harness.aggregate import aggregate
from harness.errors import ConfigError
from harness.interfaces import SamplingParams
from harness.steps import split_blank_lines
from harness.store.search_dir import strip_wall
from harness.strategies.engine import replay_answer
from harness.synthetic.bellman import bellman_error
from harness.synthetic.policy import SimPolicy
from harness.synthetic.prms import SimBellmanPRM, SimNoisyPRM, SimOraclePRM
from harness.types import Budget, Sample


@pytest.fixture(scope="module")
def problems():
    return registry.TASKS.build("synthetic-arith", {"n_problems": 6, "length": 5}).load()


def _run(name, options, problems, budget, prm=None):
    strategy = registry.STRATEGIES.build(name, options)
    runs = strategy.run(problems, SimPolicy(), prm or SimOraclePRM(), budget)
    traces = [json.loads(json.dumps(t)) for t in strategy.traces(budget)]
    return strategy, runs, traces


def _stable(trace):
    """A trace without measured wall seconds (the one thing batching may change),
    as a plain JSON document."""
    return json.loads(json.dumps(strip_wall(trace)[0]))


def _check_replay(runs, traces):
    for run, trace in zip(runs, traces, strict=True):
        text, spent = replay_answer(trace)
        expected = None if run.answer is None else run.tree.text(run.answer)
        assert text == expected == trace["answer_text"]
        assert spent == run.spent.as_dict() == trace["spent"]
        assert spent["policy_calls"] == len(trace["nodes"]) - 1


# -- beam lookahead -------------------------------------------------------------------------

def test_beam_lookahead_steps_are_counted_traced_and_never_kept(problems):
    budget = Budget(policy_calls=120)
    _, runs, traces = _run("beam", {"n": 8, "m": 4, "lookahead": 2}, problems, budget)
    _check_replay(runs, traces)
    rollout_nodes = 0
    for trace in traces:
        nodes = {n["id"]: n for n in trace["nodes"]}
        assert trace["spent"]["policy_calls"] <= 120
        candidates: set[str] = set()
        for tick in trace["ticks"]:
            if tick.get("phase") == "expand":
                candidates = set(tick["tips"])
            elif tick.get("phase") == "lookahead":
                # every rollout step is a node of the trace, below its candidate
                for cid, tip in tick["tips"].items():
                    assert tip in nodes and tip.startswith(cid + ".")
                    assert tip in tick["new"] or nodes[tip]["status"] != "open"
                rollout_nodes += tick["requests"]
            elif tick.get("phase") == "select":  # the last rollout step, then the choice
                rollout_nodes += tick["requests"]
                assert all(n.startswith(tuple(c + "." for c in candidates))
                           for n in tick["new"])  # steps below the candidates
                assert set(tick["beams"]) <= candidates  # candidates, never rollouts
                for beam, value in zip(tick["beams"], tick["values"], strict=True):
                    end = nodes[tick["rollout_ends"][beam]]
                    assert end["id"].startswith(beam)
                    assert value == aggregate(end["scores"], "last")
    assert rollout_nodes > 0
    # the lookahead changes the search; with the same budget it builds other trees
    _, _, plain = _run("beam", {"n": 8, "m": 4}, problems, budget)
    assert [_stable(t)["nodes"] for t in plain] != [_stable(t)["nodes"] for t in traces]


def test_beam_lookahead_works_with_both_parameterisations(problems):
    budget = Budget(policy_calls=80)
    a = _run("beam", {"n": 6, "m": 2, "lookahead": 1, "dedupe": False}, problems, budget)[2]
    b = _run("beam", {"keep": 3, "expand": 2, "lookahead": 1, "dedupe": "false"}, problems,
             budget)[2]
    strip = [{k: v for k, v in _stable(t).items() if k != "strategy"} for t in a]
    assert strip == [{k: v for k, v in _stable(t).items() if k != "strategy"} for t in b]
    assert any(t.get("phase") == "select" for tr in a for t in tr["ticks"])


@pytest.mark.parametrize("name,default,explicit", [
    ("beam", {"n": 8, "m": 4}, {"lookahead": 0}),
    ("mcts", {"width": 3}, {"leaf_value": "prm"}),
    ("smc", {"particles": 8}, {"tempering": 1.0, "ess_target": 0.5}),
])
def test_default_options_leave_traces_byte_identical(name, default, explicit, problems):
    budget = Budget(policy_calls=100)
    before = _run(name, default, problems, budget)[2]
    after = _run(name, {**default, **explicit}, problems, budget)[2]
    assert [json.dumps(_stable(t)) for t in before] == [json.dumps(_stable(t))
                                                         for t in after]
    # and they carry none of the new options' records
    for trace in after:
        assert all("phase" not in t and "beta" not in t for t in trace["ticks"])
        assert "rollouts" not in trace["final"]


class Recording:
    """The real sim policy, recording each call's per-request temperatures."""

    takes_request_seeds = True

    def __init__(self):
        self.inner, self.temperatures = SimPolicy(), []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def step(self, prompts, prefixes, params):
        self.temperatures.append(list(getattr(params, "temperatures", [])))
        return self.inner.step(prompts, prefixes, params)


@pytest.mark.parametrize("name,options,phases", [
    ("beam", {"n": 8, "m": 4, "lookahead": 2, "lookahead_temperature": 0}, ("lookahead",
                                                                           "select")),
    ("mcts", {"width": 3, "leaf_value": "rollout", "rollout_depth": 2,
              "rollout_temperature": "0.0"}, ("rollout",)),
])
def test_rollout_steps_carry_their_own_temperature(name, options, phases, problems):
    strategy = registry.STRATEGIES.build(name, options)
    policy = Recording()
    budget = Budget(policy_calls=60)
    strategy.run(problems[:1], policy, SimOraclePRM(), budget)
    (trace,) = strategy.traces(budget)
    for tick, temperatures in zip(trace["ticks"], policy.temperatures, strict=True):
        if tick.get("phase") in phases:
            assert temperatures == [0.0] * tick["requests"]
        else:
            assert temperatures == []  # the search's own temperature, as before
    assert any(t.get("phase") in phases for t in trace["ticks"])


# -- MCTS rollouts ---------------------------------------------------------------------------

@pytest.mark.parametrize("depth", [2, None])
def test_mcts_rollout_values_are_counted_and_the_cap_holds(depth, problems):
    budget = Budget(policy_calls=60)
    options = {"width": 3, "leaf_value": "rollout", "rollout_depth": depth}
    strategy, runs, traces = _run("mcts", options, problems, budget)
    assert strategy.identity()["leaf_value"] == "rollout"
    assert strategy.identity()["rollout_depth"] == depth
    _check_replay(runs, traces)
    rolled, stopped = 0, []
    for trace in traces:
        nodes = {n["id"]: n for n in trace["nodes"]}
        stats = trace["final"]["stats"]
        assert trace["spent"]["policy_calls"] <= 60
        stopped.append(trace["stopped"])
        for cid, rollout in trace["final"]["rollouts"].items():
            end = nodes[rollout["end"]]
            assert cid in stats and rollout["end"] not in stats  # not an MCTS node
            below = end["depth"] - nodes[cid]["depth"]
            rolled += below
            assert below >= 1 and (depth is None or below <= depth)
            if depth is None and end["status"] != "open":
                # to the end: a finished rollout is worth its exactness, a cut one 0
                want = {"finished": end["scores"][-1] if end["scores"] else 0.0,
                        "cut": 0.0}[end["status"]]
                assert rollout["value"] == want
            elif rollout["scored"] != cid:
                assert rollout["value"] == aggregate(nodes[rollout["scored"]]["scores"],
                                                     "last")
        rollout_ticks = [t for t in trace["ticks"] if t["phase"] == "rollout"]
        assert rollout_ticks and all(t["requests"] >= 1 for t in rollout_ticks)
    assert rolled > 0
    # the budget ended some searches (the others closed their whole tree)
    assert "budget" in stopped and set(stopped) <= {"budget", "done"}


def test_mcts_rollout_iterations_stop_the_search(problems):
    _, runs, traces = _run("mcts", {"width": 2, "leaf_value": "rollout", "rollout_depth": 1,
                                    "iterations": 3}, problems, Budget())
    _check_replay(runs, traces)
    for trace in traces:
        assert trace["final"]["iterations"] == 3
        assert trace["stopped"] == "done"


# -- SMC adaptive tempering ----------------------------------------------------------------------

@pytest.mark.parametrize("weights,target", [("twist", 0.5), ("odds", 0.5), ("twist", 0.75)])
def test_adaptive_tempering_hits_its_ess_target(weights, target, problems):
    particles = 32
    options = {"particles": particles, "tempering": "adaptive", "weights": weights,
               "ess_target": target}
    budget = Budget(policy_calls=400)
    strategy, runs, traces = _run("smc", options, problems, budget, SimNoisyPRM())
    assert strategy.identity()["tempering"] == "adaptive"
    _check_replay(runs, traces)
    tempered = 0
    for trace in traces:
        for tick in trace["ticks"]:
            if tick.get("cut"):
                continue
            beta = tick["beta"]
            assert 0.0 < beta <= 1.0
            if beta < 1.0:
                tempered += 1
                assert tick["resampled"] is not None
                assert tick["ess"] == pytest.approx(target * particles, rel=1e-6)
            else:
                assert tick["ess"] >= target * particles * (1 - 1e-9)
            if tick["resampled"] is not None and beta == 1.0:
                assert tick["ess"] < 0.5 * particles  # the ordinary ESS rule
    assert tempered >= 3
    again = _run("smc", options, problems, budget, SimNoisyPRM())[2]
    assert [_stable(t) for t in again] == [_stable(t) for t in traces]


def test_adaptive_tempering_flattens_what_fixed_beta_one_would_not(problems):
    budget = Budget(policy_calls=400)
    fixed = _run("smc", {"particles": 32}, problems, budget, SimNoisyPRM())[2]
    adaptive = _run("smc", {"particles": 32, "tempering": "adaptive"}, problems, budget,
                    SimNoisyPRM())[2]
    low = [t["ess"] for tr in fixed for t in tr["ticks"] if not t.get("cut")]
    held = [t["ess"] for tr in adaptive for t in tr["ticks"] if not t.get("cut")]
    assert min(low) < 0.5 * 32 * 0.9  # untempered steps do fall well below the target
    assert min(held) >= 0.5 * 32 * (1 - 1e-6)


# -- option errors -------------------------------------------------------------------------------

@pytest.mark.parametrize("name,options", [
    ("beam", {"lookahead": -1}), ("beam", {"lookahead": "x"}),
    ("mcts", {"leaf_value": "oracle"}), ("mcts", {"rollout_depth": 2}),
    ("mcts", {"rollout_temperature": 0}), ("beam", {"lookahead_temperature": -1}),
    ("mcts", {"leaf_value": "rollout", "rollout_depth": 0}),
    ("smc", {"tempering": "sometimes"}), ("smc", {"ess_target": 0}),
    ("smc", {"ess_target": 1.5}),
])
def test_bad_values_are_config_errors(name, options):
    with pytest.raises(ConfigError):
        registry.STRATEGIES.build(name, options)


# -- sim-bellman -----------------------------------------------------------------------------------

def _measured(prm, horizon, n_problems=10):
    task = registry.TASKS.build("synthetic-arith", {"n_problems": n_problems,
                                                    "length": horizon, "difficulty": 3})
    problems = task.load()
    policy = SimPolicy()
    out = policy.sample([p.prompt for p in problems], SamplingParams(n=2, seed=0))
    samples = [Sample(p.id, j, c.text, steps=split_blank_lines(c.text))
               for p, completions in zip(problems, out, strict=True)
               for j, c in enumerate(completions)]
    return bellman_error(prm, {p.id: p for p in problems}, samples, policy.params).mean


def test_sim_bellman_inverse_t_error_halves_when_the_horizon_doubles():
    prm = registry.PRMS.build("sim-bellman", {"error": 1.0, "decay": "inverse_t"})
    assert isinstance(prm, SimBellmanPRM)
    e8, e16 = _measured(prm, 8), _measured(prm, 16)
    assert 0.5 / 8 <= e8 <= 1.0 / 8
    assert 0.5 / 16 <= e16 <= 1.0 / 16
    assert e16 / e8 == pytest.approx(0.5, abs=0.1)
    assert _measured(SimOraclePRM(), 8) == pytest.approx(0.0, abs=1e-12)


def test_sim_bellman_constant_error_does_not_shrink():
    prm = registry.PRMS.build("sim-bellman", {"error": 0.25, "decay": "constant"})
    e8, e16 = _measured(prm, 8), _measured(prm, 16)
    assert e8 >= 0.5 * 0.25 and e16 >= 0.5 * 0.25
    assert e16 / e8 >= 0.85


def test_sim_bellman_misleads_on_odd_depths_only(problems):
    prm = SimBellmanPRM(error=0.5, decay="constant")
    oracle = SimOraclePRM()
    policy = SimPolicy()
    out = policy.sample([p.prompt for p in problems], SamplingParams(n=4, seed=1))
    for problem, completions in zip(problems, out, strict=True):
        for j, c in enumerate(completions):
            sample = Sample(problem.id, j, c.text, steps=split_blank_lines(c.text))
            exact = oracle.score([problem], [sample])[0].scores
            got = prm.score([problem], [sample])[0].scores
            _, chain = oracle.chain_for(problem)
            for depth, (state, v, w) in enumerate(
                    zip(chain.trace(sample.steps), exact, got, strict=True), start=1):
                if depth % 2 == 0 or state.finished:
                    assert w == v
                else:
                    assert (w > v if state.wrong else w < v) or v <= 0.01 or v >= 0.99
                    assert abs(w - v) <= 0.5 + 1e-12


@pytest.mark.parametrize("options", [{"decay": "sometimes"}, {"error": -1},
                                     {"error": "x"}, {"error": float("nan")}])
def test_sim_bellman_refuses_bad_options(options):
    with pytest.raises(ConfigError):
        registry.PRMS.build("sim-bellman", options)
