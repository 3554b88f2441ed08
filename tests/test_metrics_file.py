"""The typed reader of metrics.json: the values a run wrote, and refusals of bad files."""

from __future__ import annotations

import json

import pytest
import yaml
from helpers import run_cli

from harness.config import load_config
from harness.errors import HarnessError, InputError
from harness.pipeline.runner import Runner
from harness.store.metrics_file import parse_metrics, read_metrics, read_run_metrics

CONFIG = {
    "name": "m",
    "task": {"name": "synthetic-arith", "options": {"n_problems": 10, "length": 4, "seed": 3}},
    "policy": {"name": "sim"}, "sampling": {"n": 4, "seed": 0},
    "prms": [{"name": "sim-oracle"}, {"name": "sim-noisy", "options": {"noise": 1.0}}],
    "metrics": {"ks": [1, 2, 4], "aggregations": ["last", "min"], "draws": 40,
                "bootstrap": 40},
    "report": {"kinds": []}, "shard_size": 4,
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("metrics-file")
    (folder / "c.yaml").write_text(yaml.safe_dump(CONFIG))
    return Runner(load_config(folder / "c.yaml"), folder / "runs").execute()


def test_every_number_of_the_file_is_read_back(run):
    raw = json.loads((run.path / "metrics.json").read_text())
    typed = read_run_metrics(run)
    assert typed.ks == [1, 2, 4] and typed.n_problems == 10
    assert typed.selectors()[0] == (None, None)
    assert set(typed.prms()) == {"sim-oracle", "sim-noisy"}
    count = 0
    for selector in raw["selectors"]:
        for name, body in selector["metrics"].items():
            kind, k = name.split("@")
            entry = typed.get(selector["prm"], selector["aggregation"], kind, int(k))
            assert entry is not None
            assert (entry.value, list(entry.ci)) == (body["value"], body["ci"])
            count += 1
    assert count == len(typed.entries)
    for key, values in raw["per_problem"]["values"].items():
        *selector, name = key.split("|") if "|" in key else (None, None, key)
        kind, k = name.split("@")
        assert typed.values(selector[0], selector[1], kind, int(k)) == values


def test_compare_reads_through_the_typed_reader(run, capsys):
    status, out, err = run_cli(["compare", str(run.path), "sim-oracle", "sim-noisy",
                                "--aggregate", "min", "--json", "--bootstrap", "50"], capsys)
    assert status == 0, err
    rows = json.loads(out)["comparisons"]
    assert [r["metric"] for r in rows] == ["prm@1", "wmaj@1", "prm@2", "wmaj@2", "prm@4",
                                           "wmaj@4"]
    status, _, err = run_cli(["compare", str(run.path), "sim-oracle", "nope",
                              "--aggregate", "last"], capsys)
    assert status != 0 and "no per-problem values for 'nope|last|prm@1'" in err
    # without --aggregate each PRM is read under its own aggregation, if it has one
    status, _, err = run_cli(["compare", str(run.path), "sim-oracle", "sim-noisy"], capsys)
    assert status == 2 and err.count("\n") == 1
    assert "metrics.json: PRM 'sim-oracle' has aggregations last, min here" in err


def test_an_unknown_schema_version_is_refused(run, tmp_path):
    doc = json.loads((run.path / "metrics.json").read_text())
    doc["schema_version"] = 7
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=r"metrics.json: field 'schema_version': unknown "
                                         r"schema_version 7"):
        read_metrics(path)


def test_a_malformed_entry_names_its_field(run):
    doc = json.loads((run.path / "metrics.json").read_text())
    doc["selectors"][1]["metrics"]["prm@3x"] = {"value": 0.5, "ci": [0.1, 0.9]}
    with pytest.raises(InputError, match=r"field 'selectors\[1\]\.metrics\.prm@3x'"):
        parse_metrics(doc, "m.json")
    doc = json.loads((run.path / "metrics.json").read_text())
    doc["selectors"][0]["metrics"]["pass@1"]["ci"] = [0.1]
    with pytest.raises(InputError, match=r"field 'selectors\[0\]\.metrics\.pass@1\.ci'"):
        parse_metrics(doc, "m.json")


def test_a_hand_edited_metrics_file_is_refused_for_a_run(run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run.path, copy)
    from harness.store.rundir import RunDir

    moved = RunDir.open(copy)
    doc = json.loads((copy / "metrics.json").read_text())
    doc["selectors"][0]["metrics"]["pass@1"]["value"] = 1.0
    (copy / "metrics.json").write_text(json.dumps(doc))
    with pytest.raises(HarnessError, match="changed after it was written"):
        read_run_metrics(moved)
