"""``prm-harness search``: the quick form prints one JSON object with the spend inside the
budget; names alone run with defaults; an unknown strategy, option or budget key is one
line and exit status 2."""

from __future__ import annotations

import json

import pytest

from harness.cli import main

QUICK = ["search", "--task", "synthetic-arith", "--task-option", "length=8", "--policy",
         "sim", "--prm", "sim-oracle", "--strategy", "smc", "--strategy-option",
         "particles=16", "--budget", "policy_calls=256", "--problems", "12", "--seed", "0",
         "--json"]


def test_the_quick_form_prints_one_json_object(capsys, tmp_path):
    trace = tmp_path / "traces.jsonl"
    assert main([*QUICK, "--trace-out", str(trace)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    doc = json.loads(out[0])
    assert set(doc) == {"strategy", "n_problems", "accuracy", "spent", "budget"}
    assert doc["strategy"] == "smc" and doc["n_problems"] == 12
    acc = doc["accuracy"]
    assert 0.0 <= acc["ci"][0] <= acc["value"] <= acc["ci"][1] <= 1.0
    assert acc["value"] > 0.5  # the exact-value PRM guides 16 particles well
    spent = doc["spent"]
    assert set(spent) == {"policy_tokens", "policy_calls", "prm_tokens", "flops", "wall_s"}
    assert 0.95 * 256 * 12 <= spent["policy_calls"] <= 256 * 12
    assert doc["budget"]["policy_calls"] == 256 and doc["budget"]["policy_tokens"] is None
    traces = [json.loads(line) for line in trace.read_text().splitlines()]
    assert len(traces) == 12
    assert sum(t["spent"]["policy_calls"] for t in traces) == spent["policy_calls"]
    assert all(t["spent"]["policy_calls"] <= 256 for t in traces)
    # the same command gives the same numbers (wall seconds aside)
    assert main(QUICK) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["accuracy"] == doc["accuracy"]
    assert {k: v for k, v in again["spent"].items() if k != "wall_s"} == \
        {k: v for k, v in spent.items() if k != "wall_s"}


@pytest.mark.parametrize("strategy", ["best-of-n", "majority", "weighted-majority", "beam",
                                      "dvts", "smc", "mcts"])
def test_names_alone_run_with_defaults(strategy, capsys):
    argv = ["search", "--task", "synthetic-arith", "--policy", "sim", "--prm", "sim-noisy",
            "--strategy", strategy, "--budget", "policy_calls=40", "--problems", "3",
            "--json"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["n_problems"] == 3 and doc["spent"]["policy_calls"] <= 120


@pytest.mark.parametrize(("extra", "message"), [
    (["--strategy", "nope"], "unknown strategy 'nope'; known: beam, best-of-n"),
    (["--strategy", "smc", "--strategy-option", "colour=red"],
     "strategy 'smc': unknown option colour; valid options: particles"),
    (["--strategy", "smc", "--strategy-option", "resampling=magic"],
     "option resampling: 'magic' is not one of systematic"),
    (["--strategy", "smc", "--budget", "spoons=3"], "--budget: unknown key 'spoons'"),
    (["--strategy", "smc", "--budget", "policy_calls=-1"],
     "budget policy_calls must be a positive number"),
])
def test_bad_input_is_one_line_and_exit_2(extra, message, capsys):
    argv = ["search", "--task", "synthetic-arith", "--policy", "sim", "--prm", "sim-oracle",
            "--problems", "2", "--json", *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and message in err
