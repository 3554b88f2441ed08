"""Verdict agreement with the reference graders on seeded subsets (the full comparison is
``scripts/code_agreement.py``): the stored evalplus / BigCodeBench results of the
Qwen2.5-Coder samples in the data mirror, and evalplus 0.3.1's verdicts on CodeGen-16B
samples recorded in tests/fixtures by that script."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from code_agreement import codegen_records, grade_records, stored_agreement

from harness.grading.runners.bigcodebench import required_modules
from harness.registry import TASKS

FIXTURE = Path(__file__).parent / "fixtures" / "evalplus_codegen16b_verdicts.json"
STORED_BCB = ("samples/qwen2.5-coder_base_bigcodebench_hard/7b-base/"
              "completion-sanitized-calibrated_hard_eval_results.json")


@pytest.fixture(scope="module", autouse=True)
def _fresh_cache(code_cache):
    return code_cache


def _draw(ids: list[str], k: int, seed: int) -> list[str]:
    return sorted(random.Random(seed).sample(sorted(ids), k))


@pytest.mark.parametrize(("task_name", "model", "total"), [
    ("humanevalplus", "7b-base", 164),
    ("mbppplus", "1.5b-base", 399),
])
def test_agrees_with_stored_evalplus_results(shared_data, task_name, model, total):
    relpath = {"humanevalplus": "humaneval", "mbppplus": "mbpp"}[task_name]
    stored = json.loads((shared_data / "samples/qwen2.5-coder_base_evalplus" / model /
                         relpath / "generated_eval_results.json").read_text())["eval"]
    assert len(stored) == total
    ids = _draw(list(stored), 12, seed=1)
    report = stored_agreement(task_name, model, shared_data, None, 2, task_ids=ids)
    assert report["compared"] == 12
    assert report["disagreements"] == []
    assert 0 < report["reference_pass"] < 12  # the draw holds passes and failures


def test_agrees_with_stored_bigcodebench_results(shared_data):
    stored = json.loads((shared_data / STORED_BCB).read_text())["eval"]
    task = TASKS.build("bigcodebench-hard", data_dir=shared_data)
    problems = {p.id: p for p in task.load()}
    needed = {pid: required_modules(task.bigcodebench_problem(p))
              for pid, p in problems.items()}
    available = task.grader.available(set().union(*needed.values()))
    runnable = [pid for pid, mods in needed.items()
                if all(available[m] for m in mods) and stored[pid][0]["status"] != "timeout"]
    assert len(runnable) >= 5, "too few BigCodeBench-Hard tasks runnable with this Python"
    ids = _draw(runnable, min(8, len(runnable)), seed=2)
    report = stored_agreement("bigcodebench-hard", "7b-base", shared_data, None, 2,
                              task_ids=ids, timeout="30")
    assert report["compared"] == len(ids)
    assert report["disagreements"] == []


def test_agrees_with_recorded_evalplus_verdicts(shared_data):
    recorded = json.loads(FIXTURE.read_text())
    records = codegen_records(shared_data, recorded["per_problem"], recorded["seed"])
    verdicts = {(v["task_id"], v["pool_index"]): v["evalplus"] for v in recorded["verdicts"]}
    assert [(r["task_id"], r["pool_index"]) for r in records] == list(verdicts)
    subset = _draw(sorted({r["task_id"] for r in records}), 20, seed=3)
    chosen = [r for r in records if r["task_id"] in subset]
    task = TASKS.build("humanevalplus", {"workers": 2}, data_dir=shared_data)
    problems = {p.id: p for p in task.load()}
    grades = grade_records(task, problems, chosen)
    task.close()
    ours = [g.correct for g in grades]
    theirs = [verdicts[(r["task_id"], r["pool_index"])] for r in chosen]
    assert any(theirs) and not all(theirs)
    assert ours == theirs
