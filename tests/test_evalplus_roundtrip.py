"""The evalplus round trip on a slice of the CodeGen-16B HumanEval pool: the run's code
samples written as evalplus ``samples.jsonl`` (``prm-harness export --format evalplus``),
graded by ``evalplus.evaluate`` itself (offline, HUMANEVAL_OVERRIDE_PATH), and its
``*_eval_results.json`` read back as grades pinned to the dataset by its ``hash``: the
verdicts equal the harness' own.

evalplus runs in a subprocess: ``PRM_HARNESS_EVALPLUS_PYTHON``, else the repository's
``.venv-evalplus``, else this interpreter when it has evalplus (extra ``evalplus``);
without one the test skips, or fails under CI=true."""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import run_cli, write_jsonl

from harness.errors import InputError
from harness.interop.evalplus_files import dataset_md5, results_grades
from harness.store.run_reader import read_run
from harness.store.rundir import RunDir

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from code_agreement import codegen_records

RELEASE = "humanevalplus/v0.1.10/HumanEvalPlus.jsonl.gz"
TASKS_IN_SLICE = ["HumanEval/0", "HumanEval/2", "HumanEval/11", "HumanEval/23",
                  "HumanEval/35", "HumanEval/53"]


def evalplus_python() -> str:
    candidates = [os.environ.get("PRM_HARNESS_EVALPLUS_PYTHON"),
                  str(Path(__file__).resolve().parents[1] / ".venv-evalplus/bin/python"),
                  sys.executable]
    for python in candidates:
        if python and Path(python).exists() and subprocess.run(
                [python, "-c", "import evalplus"], capture_output=True).returncode == 0:
            return python
    message = "no interpreter with evalplus 0.3.1 (extra prm-harness[evalplus])"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module", autouse=True)
def _fresh_cache(code_cache):
    return code_cache


def test_evalplus_round_trip_verdicts_equal(shared_data, tmp_path, capsys):
    python = evalplus_python()
    records = [r for r in codegen_records(shared_data, 2, seed=0)
               if r["task_id"] in TASKS_IN_SLICE]
    random.Random(0).shuffle(records)  # the run's order, not the file's, must decide
    pool_file = write_jsonl(tmp_path / "codegen_slice.jsonl",
                            [{"task_id": r["task_id"], "completion": r["completion"]}
                             for r in records])
    status, _, err = run_cli(["import", pool_file, "--format", "evalplus", "--task",
                              "humanevalplus", "--option", "workers=2", "--runs-dir",
                              tmp_path / "runs", "--name", "codegen"], capsys)
    assert status == 0, err
    run = RunDir.open(tmp_path / "runs" / "codegen")
    status, out, err = run_cli(["export", run.path, "--format", "evalplus", "--out",
                                tmp_path / "evalplus"], capsys)
    assert status == 0, err
    samples = tmp_path / "evalplus" / "samples.jsonl"
    assert out.strip() == str(samples)

    # evalplus grades every problem of its dataset file: give it the slice's problems
    release = tmp_path / "HumanEvalPlus-slice.jsonl"
    with gzip.open(shared_data / RELEASE, "rt", encoding="utf-8") as handle:
        rows = [line for line in handle if json.loads(line)["task_id"] in TASKS_IN_SLICE]
    release.write_text("".join(rows), encoding="utf-8")
    env = dict(os.environ, HUMANEVAL_OVERRIDE_PATH=str(release),
               XDG_CACHE_HOME=str(tmp_path / "cache"))
    code = ("from evalplus.evaluate import evaluate; "
            f"evaluate('humaneval', samples={str(samples)!r}, parallel=2)")
    done = subprocess.run([python, "-c", code], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    results = tmp_path / "evalplus" / "samples_eval_results.json"
    assert json.loads(results.read_text())["hash"] == dataset_md5(release)

    records_in_run = read_run(run)
    counts = {pid: len(records_in_run.samples[pid]) for pid in records_in_run.problem_ids}
    theirs = results_grades(results, release=release, counts=counts)
    ours = {pid: [g.correct for g in records_in_run.grades[pid]]
            for pid in records_in_run.problem_ids}
    assert {pid: [g.correct for g in grades] for pid, grades in theirs.items()} == ours
    flat = [v for verdicts in ours.values() for v in verdicts]
    assert any(flat) and not all(flat) and len(flat) == 2 * len(TASKS_IN_SLICE)
    # the hash pins the dataset: the full release is another dataset
    with pytest.raises(InputError, match="ran on another dataset"):
        results_grades(results, release=shared_data / RELEASE)
    # importer evalplus-results: the file as a run with evalplus' grades and its hash
    status, _, err = run_cli(["import", results, "--format", "evalplus-results",
                              "--runs-dir", tmp_path / "runs", "--name", "graded"], capsys)
    assert status == 0, err
    graded = RunDir.open(tmp_path / "runs" / "graded")
    imported = read_run(graded)
    assert {pid: [g.correct for g in imported.grades[pid]] for pid in imported.problem_ids} \
        == ours
    assert {info["evalplus_dataset_hash"] for info in graded.manifest()["problems"].values()} \
        == {dataset_md5(release)}
