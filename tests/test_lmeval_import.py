"""Importer ``lm-eval-samples``: a samples log that lm-eval itself wrote (its ``dummy``
model on a local task, ``repeats`` giving N responses per document) becomes a pool,
graded by the task, scored by the metrics, with lm-eval's hashes in the provenance; and
the harness' own export reads back as the same pool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_cli, write_jsonl
from lmeval_helpers import lm_eval_samples_log, need_lm_eval

from harness.registry import TASKS
from harness.store.run_reader import read_run
from harness.store.rundir import RunDir

OPTIONS = {"n_problems": 5, "length": 2, "seed": 3}


@pytest.fixture(scope="module")
def samples_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_lm_eval()
    task = TASKS.build("synthetic-arith", OPTIONS)
    docs = [{"problem_id": p.id, "question": p.prompt[-1]["content"],
             "answer": str(p.reference)} for p in task.load()]
    return lm_eval_samples_log(tmp_path_factory.mktemp("lmeval-log"), docs, repeats=3)


def _import(path: Path, tmp_path: Path, capsys, *extra: str) -> tuple[int, str, str]:
    return run_cli(["import", path, "--format", "lm-eval-samples", "--runs-dir",
                    tmp_path / "runs", "--name", "imp", *extra], capsys)


def test_an_lm_eval_log_is_imported_graded_and_scored(samples_log, tmp_path, capsys):
    opts = [f"--option={k}={v}" for k, v in OPTIONS.items()]
    status, out, err = _import(samples_log, tmp_path, capsys, "--task", "synthetic-arith",
                               *opts)
    assert status == 0, err
    run = RunDir.open(tmp_path / "runs" / "imp")
    records = read_run(run)
    assert len(records.problem_ids) == 5
    assert all([s.text for s in records.samples[pid]] == ["lol"] * 3
               for pid in records.problem_ids)  # lm-eval's dummy model, 3 repeats
    assert not any(g.correct for pid in records.problem_ids for g in records.grades[pid])
    logged = {json.loads(line)["doc"]["problem_id"]: json.loads(line)
              for line in samples_log.read_text().splitlines()}
    problems = run.manifest()["problems"]
    for pid, row in logged.items():
        for name in ("doc_hash", "prompt_hash", "target_hash"):
            assert problems[pid][name] == row[name]
        assert problems[pid]["lm_eval_doc_id"] == row["doc_id"]
    assert run.manifest()["stages"]["grades"]["source"] == "task"
    status, out, err = run_cli(["metrics", run.path, "--json"], capsys)
    assert status == 0, err
    doc = json.loads(out)
    assert "pass@1" in json.dumps(doc) and "maj@2" in json.dumps(doc)


def test_without_a_task_it_asks_for_one(samples_log, tmp_path, capsys):
    status, _, err = _import(samples_log, tmp_path, capsys)
    assert status != 0 and "give --task" in err


def test_a_loglikelihood_log_is_refused_by_field(tmp_path, capsys):
    row = {"doc_id": 0, "doc": {}, "target": "1", "arguments": {},
           "resps": [[["-1.5", "False"]], [["-0.5", "True"]]], "filtered_resps": [],
           "filter": "none", "metrics": ["acc"], "doc_hash": "a", "prompt_hash": "b",
           "target_hash": "c", "acc": 1.0}
    path = write_jsonl(tmp_path / "samples_mc_2024.jsonl", [row])
    status, _, err = _import(path, tmp_path, capsys, "--task", "synthetic-arith")
    assert status != 0 and "jsonl:1: field 'resps'" in err


def test_the_harness_export_imports_back_as_the_same_pool(tmp_path, capsys):
    need_lm_eval()
    import yaml

    config = {"name": "src", "task": {"name": "synthetic-arith", "options": OPTIONS},
              "policy": {"name": "sim"}, "sampling": {"n": 4, "seed": 1},
              "prms": [{"name": "sim-oracle"}], "metrics": {"ks": [1, 4], "draws": 20,
                                                          "bootstrap": 20},
              "report": {"kinds": []}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    assert run_cli(["run", tmp_path / "c.yaml", "--runs-dir", tmp_path / "src"], capsys)[0] == 0
    source = RunDir.open(tmp_path / "src" / "src")
    (log,) = source.path.glob("samples_*.jsonl")
    opts = [f"--option={k}={v}" for k, v in OPTIONS.items()]
    status, _, err = _import(log, tmp_path, capsys, "--task", "synthetic-arith", *opts)
    assert status == 0, err
    theirs, ours = read_run(source), read_run(RunDir.open(tmp_path / "runs" / "imp"))
    assert ours.problem_ids == theirs.problem_ids
    for pid in ours.problem_ids:
        assert [s.text for s in ours.samples[pid]] == [s.text for s in theirs.samples[pid]]
        assert [g.correct for g in ours.grades[pid]] == [g.correct for g in theirs.grades[pid]]
