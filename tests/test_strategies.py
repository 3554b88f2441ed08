"""The batched search engine and the strategies on synthetic-arith with the simulated
policy and its exact-value PRM: one policy and one PRM call a tick, budgets as hard caps,
per-request seeds (problem order and batching never change a result), traces from which
the answer and the spend are rebuilt, and each strategy's own rules."""

from __future__ import annotations

import itertools
import json
import math
import random

import numpy as np
import pytest

from harness import registry
from harness.errors import ConfigError
from harness.store.search_dir import strip_wall
from harness.strategies.engine import ROOT, replay_answer
from harness.strategies.smc import ess, resample
from harness.synthetic.policy import SimPolicy
from harness.synthetic.prms import SimOraclePRM
from harness.types import Budget

CONFIGS = {
    "best-of-n": {"n": 4},
    "beam": {"n": 8, "m": 4},
    "compute-aware": {"initial_width": 2, "max_width": 4, "expand": 2},
    "dvts": {"n": 8, "m": 2},
    "smc": {"particles": 8},
    "mcts": {"width": 3},
}


@pytest.fixture(scope="module")
def problems():
    task = registry.TASKS.build("synthetic-arith", {"n_problems": 6, "length": 5})
    return task.load()


class Counting:
    """Wraps a policy or PRM and records the batch size of every call."""

    def __init__(self, inner, method):
        self.inner, self.method, self.sizes = inner, method, []
        self.takes_request_seeds = getattr(inner, "takes_request_seeds", False)

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def step(self, prompts, prefixes, params):
        self.sizes.append(len(prompts))
        return self.inner.step(prompts, prefixes, params)

    def score(self, problems, samples):
        self.sizes.append(len(samples))
        return self.inner.score(problems, samples)


def _run(name, problems, budget, **extra):
    strategy = registry.STRATEGIES.build(name, {**CONFIGS[name], **extra})
    runs = strategy.run(problems, SimPolicy(), SimOraclePRM(), budget)
    return strategy, runs


def _stable(trace):
    """A trace without measured wall seconds (the one thing batching may change),
    as a plain JSON document."""
    return json.loads(json.dumps(strip_wall(trace)[0]))


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_one_policy_call_and_one_prm_call_per_tick(name, problems):
    policy, prm = Counting(SimPolicy(), "step"), Counting(SimOraclePRM(), "score")
    strategy = registry.STRATEGIES.build(name, CONFIGS[name])
    runs = strategy.run(problems, policy, prm, Budget(policy_calls=40))
    ticks = max(len(r.ticks) for r in runs)
    assert len(policy.sizes) == ticks
    assert len(prm.sizes) <= ticks
    # tick t's one call holds the requests of every problem still searching at t
    for t, size in enumerate(policy.sizes):
        assert size == sum(r.ticks[t]["requests"] for r in runs if len(r.ticks) > t)
    assert sum(policy.sizes) == sum(r.spent.policy_calls for r in runs)
    assert policy.inner.compute().calls == ticks
    assert policy.inner.compute().tokens_out == sum(r.spent.policy_tokens for r in runs)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_the_call_budget_is_a_hard_cap_and_is_used(name, problems):
    _, runs = _run(name, problems, Budget(policy_calls=50))
    for run in runs:
        assert run.spent.policy_calls <= 50
        assert run.spent.policy_calls >= 0.95 * 50 or run.stopped == "done", run.stopped
        assert run.stopped == "budget" or name == "mcts"


@pytest.mark.parametrize("name", ["best-of-n", "smc", "beam"])
def test_the_token_budget_lands_within_its_band(name, problems):
    cap = 1500  # the slack left is below one longest step (~25 tokens)
    _, runs = _run(name, problems, Budget(policy_tokens=cap))
    for run in runs:
        assert 0.95 * cap <= run.spent.policy_tokens <= cap, run.spent


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_problem_order_and_batching_never_change_a_result(name, problems):
    budget = Budget(policy_calls=30)
    strategy, _ = _run(name, problems, budget)
    together = {t["problem_id"]: _stable(t) for t in strategy.traces(budget)}
    shuffled = list(problems)
    random.Random(3).shuffle(shuffled)
    strategy, _ = _run(name, shuffled, budget)
    assert {t["problem_id"]: _stable(t) for t in strategy.traces(budget)} == together
    for problem in problems[:2]:
        strategy, _ = _run(name, [problem], budget)
        assert _stable(strategy.traces(budget)[0]) == together[problem.id]
    # a different seed is a different search
    strategy, _ = _run(name, problems, budget, seed=1)
    assert {t["problem_id"]: _stable(t) for t in strategy.traces(budget)} != together


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_the_answer_and_the_spend_are_rebuilt_from_the_trace_alone(name, problems):
    budget = Budget(policy_calls=100)
    strategy, runs = _run(name, problems, budget)
    traces = [json.loads(line) for line in map(json.dumps, strategy.traces(budget))]
    answered = 0
    for run, trace in zip(runs, traces, strict=True):
        text, spent = replay_answer(trace)
        expected = None if run.answer is None else run.tree.text(run.answer)
        assert text == expected == trace["answer_text"]
        answered += text is not None
        assert spent == run.spent.as_dict() == trace["spent"]
        assert trace["ticks"][-1]["spent"] == trace["spent"]
        # finished nodes are absorbing: none is ever a parent
        status = {n["id"]: n["status"] for n in trace["nodes"]}
        assert all(status[n["parent"]] == "open" for n in trace["nodes"] if n["parent"])
    assert answered >= len(runs) - 1


def test_search_finds_more_right_answers_than_single_samples():
    """With the exact-value PRM, 16 particles beat what one sample does on average."""
    task = registry.TASKS.build("synthetic-arith", {"n_problems": 30, "length": 6})
    problems = task.load()
    strategy = registry.STRATEGIES.build("smc", {"particles": 16, "rounds": 1})
    runs = strategy.run(problems, SimPolicy(), SimOraclePRM(), Budget())
    prm = SimOraclePRM()
    v0 = [prm.chain_for(p)[1].right_value[0] for p in problems]
    right = [task.grade(r.problem, [task.prepare(r.problem, 0, r.tree.text(r.answer))])[0]
             .correct if r.answer else False for r in runs]
    assert np.mean(right) > np.mean(v0) + 0.1


def test_smc_twist_weights_telescope_to_the_final_value(problems):
    """Without resampling the weight of a particle is V_T / V_0 = its last score."""
    _strategy, runs = _run("smc", problems, Budget(), ess_threshold=0.0, rounds=1)
    for run in runs:
        last = run.ticks[-1]
        assert last["resampled"] is None
        nodes = [run.tree.nodes[i] for i in last["particles"]]
        values = np.array([n.score for n in nodes])
        if values.sum() > 0:
            assert np.allclose(last["weights"], values / values.sum())


@pytest.mark.parametrize("beta", [0.5, 2.0])
def test_smc_tempering_raises_the_telescoped_weight_to_its_exponent(beta, problems):
    _strategy, runs = _run("smc", problems, Budget(), ess_threshold=0.0, rounds=1,
                          tempering=beta)
    checked = 0
    for run in runs:
        last = run.ticks[-1]
        values = np.array([run.tree.nodes[i].score for i in last["particles"]]) ** beta
        if values.sum() > 0:
            assert np.allclose(last["weights"], values / values.sum())
            checked += not np.allclose(values, values[0])
    assert checked > 0


def test_smc_tempering_zero_never_resamples_and_odds_are_tempered_too(problems):
    _, runs = _run("smc", problems, Budget(), ess_threshold=1.0, rounds=1, tempering=0)
    for run in runs:
        assert all(t["resampled"] is None and t["ess"] == pytest.approx(8)
                   for t in run.ticks)
    _, runs = _run("smc", problems, Budget(), ess_threshold=0.0, weights="odds", rounds=1,
                   tempering=2)
    for run in runs:
        last = run.ticks[-1]
        v = np.clip([run.tree.nodes[i].score for i in last["particles"]], 1e-6, 1 - 1e-6)
        odds = (v / (1 - v)) ** 2
        assert np.allclose(last["weights"], odds / odds.sum())
    with pytest.raises(ConfigError, match="option tempering must be in"):
        registry.STRATEGIES.build("smc", {"tempering": -1})


def test_smc_odds_weights_are_the_odds_of_the_current_score(problems):
    _strategy, runs = _run("smc", problems, Budget(), ess_threshold=0.0, weights="odds",
                          rounds=1)
    for run in runs:
        last = run.ticks[-1]
        v = np.clip([run.tree.nodes[i].score for i in last["particles"]], 1e-6, 1 - 1e-6)
        odds = v / (1 - v)
        assert np.allclose(last["weights"], odds / odds.sum())


def test_smc_resamples_when_the_ess_falls_below_the_threshold(problems):
    _, runs = _run("smc", problems, Budget(), ess_threshold=1.0, rounds=1)
    seen = 0
    for run in runs:
        for tick in run.ticks:
            expected = tick["ess"] < 8 and not tick["degenerate"]
            assert (tick["resampled"] is not None) == expected
            assert math.isclose(tick["ess"], ess(np.log(np.maximum(tick["weights"], 1e-300))))
            seen += expected
    assert seen > 0


@pytest.mark.parametrize("method", ["systematic", "stratified", "residual", "multinomial"])
def test_resampling_schemes_keep_the_population_and_follow_the_weights(method):
    rng = np.random.default_rng(0)
    w = np.array([0.5, 0.3, 0.15, 0.05, 0.0])
    counts = np.zeros(5)
    for _ in range(400):
        idx = resample(w, method, rng)
        assert len(idx) == 5 and idx.min() >= 0 and idx.max() < 5
        one = np.bincount(idx, minlength=5)
        assert one[4] == 0  # zero weight is never drawn
        if method in ("systematic", "residual"):
            assert np.all(one >= np.floor(5 * w))  # low variance: at least floor(n w)
        counts += one
    assert np.allclose(counts / counts.sum(), w, atol=0.03)


def test_beam_parameterisations_agree(problems):
    budget = Budget(policy_calls=40)
    a = registry.STRATEGIES.build("beam", {"n": 8, "m": 4})
    b = registry.STRATEGIES.build("beam", {"keep": 2, "expand": 4})
    a.run(problems, SimPolicy(), SimOraclePRM(), budget)
    b.run(problems, SimPolicy(), SimOraclePRM(), budget)
    assert [_stable(t)["nodes"] for t in a.traces(budget)] == \
        [_stable(t)["nodes"] for t in b.traces(budget)]
    with pytest.raises(ConfigError, match="multiple of m"):
        registry.STRATEGIES.build("beam", {"n": 10, "m": 4})
    with pytest.raises(ConfigError, match="give one pair"):
        registry.STRATEGIES.build("beam", {"n": 8, "keep": 2})


def test_beam_returns_the_best_finished_beam_not_the_first(problems):
    _, runs = _run("beam", problems, Budget(policy_calls=60), select="min")
    for run in runs:
        found = run.search.candidates()
        values = [run.tree.value(n, "min") for n in found]
        assert values == sorted(values, reverse=True)
        assert all(n.finished for n in found)


@pytest.mark.parametrize("rule", ["uct", "puct"])
def test_mcts_root_visits_grow_every_iteration(rule, problems):
    _, runs = _run("mcts", problems, Budget(policy_calls=45), rule=rule, backup="max",
                   output="value")
    for run in runs:
        visits = [t["root_visits"] for t in run.ticks]
        assert all(b > a for a, b in itertools.pairwise(visits))
        stats = run.search.final_record()["stats"]
        kids = stats[ROOT]["children"]
        assert stats[ROOT]["visits"] == sum(stats[k]["visits"] for k in kids)


def test_mcts_needs_a_budget_or_iterations(problems):
    strategy = registry.STRATEGIES.build("mcts", {})
    with pytest.raises(ConfigError, match="budget cap or the option iterations"):
        strategy.run(problems, SimPolicy(), SimOraclePRM(), Budget())
    strategy = registry.STRATEGIES.build("mcts", {"iterations": 3})
    runs = strategy.run(problems[:1], SimPolicy(), SimOraclePRM(), Budget())
    assert runs[0].spent.policy_calls == 3 * 4


def test_a_policy_without_request_seeds_is_refused(problems):
    class Plain(SimPolicy):
        takes_request_seeds = False

    with pytest.raises(ConfigError, match="per-request seeds"):
        registry.STRATEGIES.build("smc", {}).run(problems, Plain(), SimOraclePRM(),
                                                  Budget(policy_calls=4))


def test_every_strategy_carries_its_registered_name():
    for name in registry.STRATEGIES.builtins:
        assert registry.STRATEGIES.get(name).name == name


def test_request_seeds_make_each_request_independent_of_its_call(problems):
    """Copies of one prefix in one call differ by their seeds; a request's step is the
    same alone or inside any batch."""
    from harness.strategies.engine import SeededParams, request_seed

    policy = SimPolicy()
    prompt = problems[0].prompt
    seeds = [request_seed(0, problems[0].id, "0", i) for i in range(12)]
    batch = policy.step([prompt] * 12, [""] * 12,
                        SeededParams(n=1, stop=["\n\n"], seeds=seeds))
    texts = [c[0].text for c in batch]
    assert len(set(texts)) > 1
    for i in (0, 5, 11):
        alone = policy.step([prompt], [""], SeededParams(n=1, stop=["\n\n"],
                                                         seeds=[seeds[i]]))
        assert alone[0][0].text == texts[i]
    assert len({request_seed(0, "p", "0", 0), request_seed(1, "p", "0", 0),
                request_seed(0, "q", "0", 0), request_seed(0, "p", "0.1", 0),
                request_seed(0, "p", "0", 1)}) == 5


class TokenPRM(SimOraclePRM):
    """The oracle, recording one token per word of each scored prefix (as a real PRM
    records its input tokens)."""

    def score(self, problems, samples):
        out = SimOraclePRM.score(self, problems, samples)
        self.ledger.record(sum(len(s.text.split()) for s in samples), 0, 0.0, "score")
        return out


def test_prm_tokens_are_the_prms_measured_tokens_and_their_cap_holds(problems):
    prm = TokenPRM()
    strategy = registry.STRATEGIES.build("beam", {"n": 8, "m": 4})
    runs = strategy.run(problems, SimPolicy(), prm, Budget(prm_tokens=3000))
    assert sum(r.spent.prm_tokens for r in runs) == prm.compute().tokens_in > 0
    for run in runs:
        assert 0.9 * 3000 <= run.spent.prm_tokens <= 3000
        for node in run.tree.nodes.values():
            if node.scores is not None:  # shared in proportion to the prefix's length
                assert node.prm_tokens > 0


def test_flops_count_the_policy_size_and_their_cap_holds(problems):
    from harness.models.compute import ComputeLedger

    policy = SimPolicy()
    policy.ledger = ComputeLedger(params=1000)
    strategy = registry.STRATEGIES.build("smc", {"particles": 4})
    runs = strategy.run(problems, policy, SimOraclePRM(), Budget(flops=2e6))
    for run in runs:
        tokens = run.spent.prompt_tokens + run.spent.policy_tokens
        assert run.spent.flops == pytest.approx(2 * 1000 * tokens)
        assert 0.9 * 2e6 <= run.spent.flops <= 2e6
    assert sum(r.spent.flops for r in runs) == pytest.approx(policy.compute().flops)
