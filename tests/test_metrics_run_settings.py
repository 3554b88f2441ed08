"""A run's metrics keep its own settings: `metrics RUN` starts from the stored config (a
flag replaces only what it names), and a PRM with no configured aggregation is read the
way its spec recommends, each selector naming the aggregation it used."""

from __future__ import annotations

import json

import pytest
import yaml
from helpers import run_cli

POLICY = {"error_rate": 0.1, "recovery_rate": 0.3}


def _synthetic_run(tmp_path, capsys, metrics):
    config = {
        "name": "cfg",
        "task": {"name": "synthetic-arith", "options": {"n_problems": 6, "length": 4, "seed": 3}},
        "policy": {"name": "sim", "options": POLICY},
        "sampling": {"n": 8, "seed": 0},
        "prms": [{"name": "sim-noisy", "label": "noisy",
                  "options": {**POLICY, "noise": 2.0, "seed": 1}}],
        "metrics": metrics,
        "report": {"kinds": []},
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(config))
    status, _, err = run_cli(["run", path, "--runs-dir", tmp_path / "runs"], capsys)
    assert status == 0, err
    return tmp_path / "runs" / "cfg"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PRM_HARNESS_CACHE", str(tmp_path / "cache"))


def test_metrics_save_keeps_the_runs_configured_settings(tmp_path, capsys, cache):
    run = _synthetic_run(tmp_path, capsys, {"ks": [1, 2, 4, 8], "aggregations": ["min", "mean"],
                                            "draws": 37, "bootstrap": 211, "seed": 5})
    written = (run / "metrics.json").read_bytes()
    (run / "metrics.json").unlink()
    status, out, err = run_cli(["metrics", run, "--save", "--json"], capsys)
    assert status == 0, err
    assert (run / "metrics.json").read_bytes() == written
    doc = json.loads(written)
    assert doc["parameters"]["aggregations"] == ["min", "mean"]
    assert (doc["parameters"]["draws"], doc["parameters"]["bootstrap"]) == (37, 211)
    assert [s["aggregation"] for s in doc["selectors"][1:]] == ["min", "mean"]
    # the printed metrics select by the run's first aggregation, min
    by_min = doc["selectors"][1]["metrics"]
    assert json.loads(out)["metrics"]["prm@2"] == by_min["prm@2"]

    # a flag replaces only the setting it names
    status, _, err = run_cli(["metrics", run, "--save", "--draws", "50", "--json"], capsys)
    assert status == 0, err
    params = json.loads((run / "metrics.json").read_text())["parameters"]
    assert params["draws"] == 50
    assert params["aggregations"] == ["min", "mean"]
    assert (params["bootstrap"], params["seed"]) == (211, 5)
    status, _, err = run_cli(["metrics", run, "--save", "--aggregate", "last", "--json"],
                             capsys)
    assert status == 0, err
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["parameters"]["aggregations"] == ["last"]
    assert (saved["parameters"]["draws"], saved["parameters"]["bootstrap"]) == (37, 211)


def test_spec_recommendation_is_the_default_aggregation():
    """Read from the spec (no model is loaded: the folder need not exist); a PRM without a
    spec, or an imported one, falls back to last."""
    from harness.pipeline.run_metrics import default_aggregation

    missing = "/nonexistent/model-folder"
    shepherd = {"name": "transformers",
                "options": {"spec": "peiyi9979/math-shepherd-mistral-7b-prm", "model": missing}}
    rlhflow = {"name": "vllm", "options": {"spec": "RLHFlow/Llama3.1-8B-PRM-Mistral-Data"}}
    qwen = {"name": "http", "options": {"spec": "Qwen/Qwen2.5-Math-PRM-7B", "url": "x"}}
    assert default_aggregation(shepherd) == "min"
    assert default_aggregation(rlhflow) == "mean"
    assert default_aggregation(qwen) == "product"
    assert default_aggregation({"name": "sim-oracle", "options": POLICY}) == "last"
    assert default_aggregation(None) == "last"
    # the identity a PRM scored with wins over its options (what was used, not re-read)
    assert default_aggregation(shepherd, {"spec": {"recommended_aggregation": "mean"}}) == "mean"


def test_unconfigured_aggregation_uses_the_prms_recommendation(tmp_path, capsys, cache,
                                                              shared_data, tmp_path_factory):
    """A run of a spec PRM (the tiny Math-Shepherd model, spec recommends min) with no
    aggregation configured is aggregated with min and says so; a configured one wins."""
    from prm_tiny import build, tiny_root

    root = tiny_root(tmp_path_factory)
    model = build("math-shepherd", root, shared_data).path
    prm = {"name": "transformers", "label": "shepherd",
           "options": {"spec": "peiyi9979/math-shepherd-mistral-7b-prm", "model": str(model),
                       "dtype": "float32"}}
    config = {
        "name": "spec", "task": {"name": "synthetic-arith",
                                 "options": {"n_problems": 3, "length": 3, "seed": 2}},
        "policy": {"name": "sim", "options": POLICY}, "sampling": {"n": 4, "seed": 0},
        "prms": [prm, {"name": "sim-oracle", "label": "oracle", "options": POLICY}],
        "metrics": {"ks": [1, 4], "draws": 20, "bootstrap": 50},
        "report": {"kinds": []},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(config))
    status, _, err = run_cli(["run", path, "--runs-dir", tmp_path / "runs"], capsys)
    assert status == 0, err
    doc = json.loads((tmp_path / "runs" / "spec" / "metrics.json").read_text())
    assert {s["prm"]: s["aggregation"] for s in doc["selectors"][1:]} == {
        "shepherd": "min", "oracle": "last"}
    assert sorted(doc["parameters"]["aggregations"]) == ["last", "min"]
    assert "shepherd|min|prm@4" in doc["per_problem"]["values"]
    status, out, err = run_cli(["metrics", tmp_path / "runs" / "spec", "--prm", "shepherd",
                                "--aggregate", "last", "--json"], capsys)
    assert status == 0, err
    assert set(json.loads(out)["metrics"]) >= {"prm@1", "prm@4"}

