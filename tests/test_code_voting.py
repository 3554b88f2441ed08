"""maj@N on code: voting classes from real CodeGen-16B HumanEval programs, graded in the
sandbox. Programs with equal outputs on the task's inputs share a class, a class never
holds both a correct and an incorrect program, and maj@N follows the largest class."""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from code_agreement import codegen_records, grade_records

from harness import registry
from harness.metrics import ProblemPool, voting_values

TASKS = ("HumanEval/0", "HumanEval/2", "HumanEval/13", "HumanEval/23", "HumanEval/35",
         "HumanEval/60")
PER_PROBLEM = 20


@pytest.fixture(scope="module")
def graded(shared_data, code_cache):
    records = [r for r in codegen_records(shared_data, PER_PROBLEM, 0) if r["task_id"] in TASKS]
    task = registry.TASKS.build("humanevalplus", {"workers": 2}, data_dir=shared_data)
    problems = {p.id: p for p in task.load()}
    grades = grade_records(task, problems, records)
    task.close()
    return records, grades


def test_classes_group_equal_outputs_and_never_mix_verdicts(graded):
    records, grades = graded
    classes: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, (record, grade) in enumerate(zip(records, grades, strict=True)):
        if grade.vote_key is not None:
            classes[(record["task_id"], grade.vote_key)].append(index)
    assert classes
    for members in classes.values():
        assert len({grades[i].correct for i in members}) == 1
    shared = [m for m in classes.values() if len({records[i]["completion"] for i in m}) > 1]
    assert any(grades[m[0]].correct for m in shared)  # different texts, same outputs
    assert any(not grades[m[0]].correct for m in shared)


def test_maj_at_n_is_the_largest_class(graded):
    records, grades = graded
    pools = []
    expected = []
    for task_id in TASKS:
        mine = [g for r, g in zip(records, grades, strict=True) if r["task_id"] == task_id]
        keys = sorted({g.vote_key for g in mine if g.vote_key is not None})
        vote = np.array([keys.index(g.vote_key) if g.vote_key is not None else -1
                         for g in mine])
        pools.append(ProblemPool(task_id, np.array([g.correct for g in mine]), vote))
        sizes = Counter(v for v in vote.tolist() if v >= 0).most_common()
        if len(sizes) == 1 or sizes[0][1] > sizes[1][1]:  # a unique winner decides
            winner = sizes[0][0]
            expected.append((len(pools) - 1, float(pools[-1].correct[vote == winner][0])))
    values = voting_values(pools, [PER_PROBLEM], weighted=False)[PER_PROBLEM]
    assert len(expected) >= 4
    for index, value in expected:
        assert values[index] == pytest.approx(value)
