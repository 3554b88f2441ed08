"""synthetic-arith: exact values vs rollouts, PRM ordering under noise, Bellman error."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from helpers import run_cli

from harness.config import MetricsConfig, PluginConfig, RunConfig, SamplingConfig, TaskConfig
from harness.interfaces import SamplingParams
from harness.pipeline.runner import Runner
from harness.registry import TASKS
from harness.steps import split_blank_lines
from harness.store.run_reader import read_run
from harness.synthetic.bellman import bellman_error
from harness.synthetic.chain import Chain, PolicyParams
from harness.synthetic.policy import SimPolicy
from harness.synthetic.prms import SimNoisyPRM, SimOraclePRM
from harness.synthetic.problems import generate, parse_problem_text, problem_text

POLICY = {"error_rate": 0.1, "recovery_rate": 0.3}
ROLLOUTS = 2000


def test_problem_statements_parse_back():
    rng = np.random.default_rng(0)
    for difficulty in range(1, 6):
        for _ in range(50):
            problem = generate(rng, 7, difficulty)
            assert parse_problem_text(problem_text(problem)) == problem


def test_closed_form_values_match_monte_carlo_rollouts():
    """Every visited prefix's exact value lies within 4 standard errors of the success rate
    of 2000 rollouts of the simulated policy continued from that prefix."""
    task = TASKS.build("synthetic-arith",
                       {"n_problems": 4, "length": 6, "difficulty": 4, "seed": 2})
    params = PolicyParams(**POLICY)
    rng = np.random.default_rng(7)
    checked = 0
    for problem in task.load():
        statement = problem.metadata["statement"]
        chain = Chain(parse_problem_text(statement), statement, params)
        steps, _ = chain.rollout(chain.start(), rng)
        states = chain.trace(steps)
        for state in [chain.start(), *states[:-1]]:
            wins = sum(chain.rollout(state, rng)[1].final_right for _ in range(ROLLOUTS))
            value = chain.value(state)
            standard_error = max(math.sqrt(value * (1 - value) / ROLLOUTS), 1e-3)
            assert abs(wins / ROLLOUTS - value) <= 4 * standard_error, (state, value)
            checked += 1
    assert checked >= 20


def test_policy_step_interface_follows_the_same_chain():
    task = TASKS.build("synthetic-arith", {"n_problems": 3, "length": 5, "seed": 4})
    policy = SimPolicy(**POLICY)
    for problem in task.load():
        prompt = task.prompt(problem)
        whole = policy.sample([prompt], SamplingParams(n=3, seed=11))[0]
        again = policy.sample([prompt], SamplingParams(n=3, seed=11))[0]
        assert [c.text for c in whole] == [c.text for c in again]
        # grow a solution one step at a time through Policy.step
        prefix = ""
        for _ in range(40):
            nxt = policy.step([prompt], [prefix], SamplingParams(n=1, seed=5))[0][0]
            if not nxt.text:
                break
            prefix += nxt.text
        _, chain = policy.chain_for(prompt)
        states = chain.trace(split_blank_lines(prefix))
        assert states[-1].finished
        assert "".join(split_blank_lines(prefix)) == prefix


def _pipeline(tmp_path, noise_levels):
    prms = [PluginConfig(name="sim-oracle", options=POLICY)]
    prms += [PluginConfig(name="sim-noisy", label=f"noisy-{s}", options={**POLICY, "noise": s})
             for s in noise_levels]
    config = RunConfig(
        name="syn", task=TaskConfig(name="synthetic-arith",
                                    options={"n_problems": 60, "length": 8, "seed": 5}),
        policy=PluginConfig(name="sim", options=POLICY), sampling=SamplingConfig(n=32),
        prms=prms, metrics=MetricsConfig(ks=[1, 2, 4, 8, 16, 32], aggregations=["last"],
                                         draws=300, bootstrap=100),
        shard_size=20, report={"kinds": []})
    return config, Runner(config, tmp_path).execute()


def test_oracle_between_majority_and_pass_and_noise_hurts(tmp_path):
    noise = (3.0, 6.0, 10.0)
    _config, run = _pipeline(tmp_path, noise)
    doc = json.loads((run.path / "metrics.json").read_text())
    base = doc["selectors"][0]["metrics"]
    by_prm = {s["prm"]: s["metrics"] for s in doc["selectors"][1:]}
    for k in doc["ks"]:
        oracle = by_prm["sim-oracle"][f"prm@{k}"]["value"]
        assert base[f"maj@{k}"]["value"] - 1e-12 <= oracle <= base[f"pass@{k}"]["value"] + 1e-12
    for k in doc["ks"][1:]:
        values = [by_prm["sim-oracle"][f"prm@{k}"]["value"]]
        values += [by_prm[f"noisy-{s}"][f"prm@{k}"]["value"] for s in noise]
        assert values == sorted(values, reverse=True), (k, values)
    at16 = [by_prm[f"noisy-{s}"]["prm@16"]["value"] for s in noise]
    assert at16[0] > at16[1] > at16[2]

    task = TASKS.build("synthetic-arith", {"n_problems": 60, "length": 8, "seed": 5})
    problems = {p.id: p for p in task.load()}
    records = read_run(run)
    samples = [s for pid in records.problem_ids for s in records.samples[pid]]
    params = PolicyParams(**POLICY)
    oracle_error = bellman_error(SimOraclePRM(**POLICY), problems, samples, params,
                                 max_samples=300)
    assert oracle_error.mean < 1e-12 and oracle_error.n_prefixes > 1000
    errors = [bellman_error(SimNoisyPRM(noise=s, **POLICY), problems, samples, params,
                            max_samples=300).mean for s in noise]
    assert errors[0] < errors[1] < errors[2]


def test_noisy_prm_is_a_function_of_the_prefix():
    task = TASKS.build("synthetic-arith", {"n_problems": 2, "length": 4, "seed": 1})
    problem = task.load()[0]
    policy = SimPolicy(**POLICY)
    texts = [c.text for c in policy.sample([task.prompt(problem)], SamplingParams(n=20))[0]]
    samples = [task.prepare(problem, i, t) for i, t in enumerate(texts)]
    prm = SimNoisyPRM(noise=2.0, **POLICY)
    first = prm.score([problem] * len(samples), samples)
    second = prm.score([problem] * len(samples), samples[::-1])[::-1]
    assert [f.scores for f in first] == [s.scores for s in second]
    by_prefix: dict[str, float] = {}
    for sample, scored in zip(samples, first, strict=True):
        for i, value in enumerate(scored.scores):
            prefix = "".join(sample.steps[:i + 1])
            assert by_prefix.setdefault(prefix, value) == value


def test_tasks_check_synthetic(capsys):
    status, out, err = run_cli(["tasks", "check", "synthetic-arith"], capsys)
    assert status == 0, err
    result = json.loads(out)
    assert result["pass_rate"] == 1.0 and result["n"] == 100


def test_sim_prm_rejects_foreign_text():
    task = TASKS.build("synthetic-arith", {"n_problems": 1, "length": 3, "seed": 1})
    problem = task.load()[0]
    sample = task.prepare(problem, 0, "Let me think.\n\nThe answer is $\\boxed{3}$.")
    from harness.errors import ScoreError

    with pytest.raises(ScoreError, match="not a step of the simulated policy"):
        SimOraclePRM(**POLICY).score([problem], [sample])


def test_bellman_command_diagnoses_any_prm_of_a_stored_run(tmp_path, capsys):
    """`prm-harness bellman RUN` rebuilds the run's PRMs (simulated and a baseline), stores
    diagnostics/bellman.json and renders the report next to each PRM's prm@N."""
    config = {
        "name": "diag", "shard_size": 10,
        "task": {"name": "synthetic-arith", "options": {"n_problems": 20, "length": 5,
                                                        "seed": 2}},
        "policy": {"name": "sim", "options": POLICY},
        "sampling": {"n": 8},
        "prms": [{"name": "sim-oracle", "options": POLICY},
                 {"name": "sim-noisy", "label": "noisy", "options": {**POLICY, "noise": 4.0}},
                 {"name": "length"}],
        "metrics": {"ks": [1, 8], "draws": 50, "bootstrap": 50},
    }
    path = tmp_path / "diag.yaml"
    path.write_text(json.dumps(config))
    status, _out, err = run_cli(["run", path, "--runs-dir", tmp_path / "runs"], capsys)
    assert status == 0, err
    run = tmp_path / "runs" / "diag"
    status, out, err = run_cli(["bellman", run, "--samples", "60", "--json"], capsys)
    assert status == 0, err
    rows = {r["prm"]: r for r in json.loads(out)["rows"]}
    assert set(rows) == {"sim-oracle", "noisy", "length"}
    assert rows["sim-oracle"]["bellman_error"] < 1e-12
    assert rows["noisy"]["bellman_error"] > 0.05 and rows["length"]["bellman_error"] > 0.01
    assert all(r["n_samples"] == 60 and r["n_prefixes"] > 100 for r in rows.values())
    stored = json.loads((run / "diagnostics" / "bellman.json").read_text())
    assert stored["rows"] == json.loads(out)["rows"]
    assert stored["policy"]["error_rate"] == POLICY["error_rate"] and stored["seed"] == 0
    markdown = (run / "report" / "bellman" / "bellman.md").read_text()
    metrics = json.loads((run / "metrics.json").read_text())
    oracle = next(s for s in metrics["selectors"] if s["prm"] == "sim-oracle")
    assert f"{100 * oracle['metrics']['prm@8']['value']:.1f}" in markdown
    for name in ("bellman.csv", "bellman.html", "bellman.png", "bellman.svg"):
        assert (run / "report" / "bellman" / name).stat().st_size > 0
    # the same subset again gives the same numbers (seeded, never the first samples)
    status, again, _ = run_cli(["bellman", run, "--samples", "60", "--json"], capsys)
    assert status == 0 and json.loads(again) == json.loads(out)


def test_bellman_needs_the_simulated_policy(tmp_path, capsys):
    from harness.diagnostics.bellman import policy_params
    from harness.errors import ConfigError

    config = RunConfig(name="x", task=TaskConfig(name="math500"),
                       policy=PluginConfig(name="replay", options={"pool": "p.jsonl"}))
    with pytest.raises(ConfigError, match="only runs of task 'synthetic-arith'"):
        policy_params(config)
