"""Run directories: identity, locking, atomic shards, the shared cache, schema checks."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from harness.config import load_config
from harness.errors import ConfigError, InputError
from harness.pipeline.runner import Runner
from harness.store.atomic import write_bytes
from harness.store.jsonl import read_jsonl
from harness.store.records import sample_from_row
from harness.store.rundir import RunDir

BASE = {
    "task": {"name": "synthetic-arith", "options": {"n_problems": 12, "length": 4, "seed": 9}},
    "policy": {"name": "sim"},
    "sampling": {"n": 4, "seed": 0},
    "prms": [{"name": "sim-oracle"}],
    "metrics": {"ks": [1, 4], "draws": 50, "bootstrap": 50},
    "report": {"kinds": []},
    "shard_size": 5,
}


def _config(tmp_path, data, overrides=()):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_config(path, overrides)


def test_atomic_write_leaves_no_temporaries(tmp_path):
    target = tmp_path / "a" / "b.txt"
    write_bytes(target, b"one")
    write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["b.txt"]


def test_same_name_different_config_is_refused(tmp_path):
    Runner(_config(tmp_path, {**BASE, "name": "r"}), tmp_path / "runs").execute()
    changed = _config(tmp_path, {**BASE, "name": "r"}, ["sampling.temperature=0.5"])
    with pytest.raises(ConfigError, match="different configuration"):
        Runner(changed, tmp_path / "runs").execute()


def test_lock_refuses_a_second_writer(tmp_path):
    run = RunDir.create(tmp_path, "x", {"a": 1})
    with run.lock(), pytest.raises(ConfigError, match="in use"), run.lock():
        pass


def test_second_run_reuses_pool_and_grades_from_cache(tmp_path):
    runs = tmp_path / "runs"
    first = Runner(_config(tmp_path, {**BASE, "name": "one"}), runs).execute()
    data = {**BASE, "name": "two",
            "prms": [{"name": "sim-noisy", "options": {"noise": 1.0}}]}
    second = Runner(_config(tmp_path, data), runs).execute()
    manifest = second.manifest()
    assert manifest["stages"]["pool"]["shards_reused"] == 3
    assert manifest["stages"]["grades"]["shards_reused"] == 3
    scores = [name for name in manifest["stages"] if name.startswith("scores/")]
    assert manifest["stages"][scores[0]]["shards_reused"] == 0
    a = sorted((first.path / "pool").glob("*.jsonl"))
    b = sorted((second.path / "pool").glob("*.jsonl"))
    assert [p.name for p in a] == [p.name for p in b]
    assert all(os.path.samefile(x, y) for x, y in zip(a, b, strict=True))  # hard links


def test_a_grader_upgrade_regrades_the_stored_pool_without_resampling(tmp_path, monkeypatch):
    """Pools are keyed on what decides the samples, not on how they are graded."""
    import harness.grading.math.grader as math_answers

    runs = tmp_path / "runs"
    first = Runner(_config(tmp_path, BASE), runs).execute()  # unnamed: the name is a key
    pool = {p.name: p.read_bytes() for p in (first.path / "pool").glob("*.jsonl")}
    old_grades = sorted(p.name for p in (first.path / "grades").glob("*.jsonl"))
    monkeypatch.setattr(math_answers, "RULES_VERSION", math_answers.RULES_VERSION + 1)
    second = Runner(_config(tmp_path, BASE), runs).execute()
    assert second.path == first.path
    manifest = second.manifest()
    assert manifest["task_identity"]["grading"]["rules_version"] == \
        math_answers.RULES_VERSION
    assert manifest["stages"]["pool"]["shards_reused"] == 3
    assert manifest["stages"]["grades"]["shards_reused"] == 0
    assert {p.name: p.read_bytes() for p in (second.path / "pool").glob("*.jsonl")} == pool
    new_grades = sorted(set(p.name for p in (second.path / "grades").glob("*.jsonl"))
                        - set(old_grades))
    assert len(new_grades) == 3


def test_manifest_carries_provenance(tmp_path):
    run = Runner(_config(tmp_path, {**BASE, "name": "p"}), tmp_path / "runs").execute()
    manifest = run.manifest()
    env = manifest["environment"]
    assert env["harness_version"] and env["python"] and env["hardware"]["cpu_count"]
    assert manifest["config"]["sampling"] == {"n": 4, "temperature": 1.0, "top_p": 1.0,
                                              "max_tokens": 1024, "seed": 0, "stop": []}
    pool = manifest["stages"]["pool"]
    assert pool["policy_identity"]["policy"] == "sim"
    assert pool["compute"]["tokens_out"] > 0 and pool["compute"]["calls"] == 3
    assert manifest["task_identity"]["task"] == "synthetic-arith"
    assert "created" in manifest and "finished" in manifest
    metrics = json.loads((run.path / "metrics.json").read_text())
    assert "created" not in json.dumps(metrics)  # metrics carry no timestamps


def test_reader_rejects_unknown_schema(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps({"schema_version": 99, "problem_id": "p", "index": 0,
                                "text": ""}) + "\n")
    line, row = next(read_jsonl(path))
    with pytest.raises(InputError, match="unknown schema_version 99"):
        sample_from_row(row, path, line)


def test_config_errors_name_the_field(tmp_path):
    with pytest.raises(ConfigError, match=r"field 'sampling\.n'"):
        _config(tmp_path, {**BASE, "sampling": {"n": 0}})
    with pytest.raises(ConfigError, match=r"field 'task\.problems'"):
        _config(tmp_path, {**BASE, "task": {**BASE["task"], "problems": {"slice": "1:2",
                                                                          "sample": 3}}})
    with pytest.raises(ConfigError, match="unknown task 'nope'"):
        Runner(_config(tmp_path, {**BASE, "task": {"name": "nope"}}), tmp_path).execute()
