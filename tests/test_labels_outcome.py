"""Outcome labels: programs from a samples file, graded in the sandbox by the task's own
grader, label their steps (correct: all 1.0; wrong: last 0.0, the rest null)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness.errors import ConfigError
from harness.labels import read_labels
from harness.labels.build import build
from harness.labels.config import load_labels_config

GOOD = ("def shared(a, b):\n    return set(a) & set(b)\n\n\n"
        "def similar_elements(list1, list2):\n    return tuple(sorted(shared(list1, list2)))\n")
WRONG = GOOD.replace("&", "|")
PRIME = ("def is_not_prime(n):\n    if n < 2:\n        return True\n"
         "    return any(n % d == 0 for d in range(2, int(n ** 0.5) + 1))\n")


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _config(tmp_path: Path, files: list[str], **extra) -> Path:
    doc = {"out": "labels.jsonl", "dev": {"fraction": 0.0},
           "sources": [{"kind": "outcome", "task": {"name": "mbppplus",
                                                    "options": {"workers": 2}},
                        "files": files, **extra}]}
    path = tmp_path / "labels.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_graded_programs_label_their_steps(shared_data, tmp_path, code_cache):
    _write(tmp_path / "a.jsonl", [
        {"task_id": "Mbpp/2", "solution": GOOD},
        {"task_id": "Mbpp/2", "solution": WRONG},
        {"task_id": "Mbpp/9999", "solution": "def f(): pass\n"},  # not in this MBPP+
        {"task_id": "Mbpp/3", "solution": PRIME}])
    _write(tmp_path / "b.jsonl", [{"task_id": "Mbpp/3", "solution": "def is_not_prime(n):\n"
                                   "    return n % 2 == 0\n"}])
    summary = build(load_labels_config(_config(tmp_path, ["a.jsonl", "b.jsonl"],
                                               labelers=["good", "bad"])))
    records = {r.id: r for r in read_labels(summary["out"])}
    assert sorted(records) == ["outcome/Mbpp/2/good.s000", "outcome/Mbpp/2/good.s001",
                               "outcome/Mbpp/3/bad.s000", "outcome/Mbpp/3/good.s000"]
    good, wrong = records["outcome/Mbpp/2/good.s000"], records["outcome/Mbpp/2/good.s001"]
    assert "".join(good.steps) == GOOD and len(good.steps) >= 2
    assert list(good.labels) == [1.0] * len(good.steps) and good.meta["correct"] is True
    assert list(wrong.labels) == [None] * (len(wrong.steps) - 1) + [0.0]
    assert wrong.meta["correct"] is False and len(wrong.steps) >= 2
    assert list(records["outcome/Mbpp/3/good.s000"].labels) == [1.0]
    assert list(records["outcome/Mbpp/3/bad.s000"].labels) == [0.0]
    assert {r.domain for r in records.values()} == {"code"}
    assert "similar_elements" in good.problem  # the PRM sees the task's prompt
    prov = json.loads(Path(f"{summary['out']}.provenance.json").read_text())
    files = prov["sources"][0]["files"]
    assert files[0]["lines_dropped_unknown_problem"] == 1
    assert files[0]["unknown_problems"] == ["Mbpp/9999"]
    assert (files[0]["solutions"], files[0]["correct"]) == (3, 2)
    assert (files[1]["solutions"], files[1]["correct"]) == (1, 0)


def test_unknown_problems_can_be_refused_and_names_must_match_files(shared_data, tmp_path):
    _write(tmp_path / "a.jsonl", [{"task_id": "Mbpp/9999", "solution": "x = 1\n"}])
    with pytest.raises(Exception, match=r"a\.jsonl:1: field 'task_id': unknown problem"):
        build(load_labels_config(_config(tmp_path, ["a.jsonl"], unknown_problems="error")))
    with pytest.raises(ConfigError, match=r"labels\.yaml:\d+: field 'sources\.0'.*1 labelers "
                                          r"for 2 files"):
        load_labels_config(_config(tmp_path, ["a.jsonl", "b.jsonl"], labelers=["x"]))
