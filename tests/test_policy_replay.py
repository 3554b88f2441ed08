"""The replay policy serves a stored pool: the same samples in pool order, step by step
replays that re-join to the stored texts, and clear errors for what the pool cannot give."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import write_jsonl

from harness.errors import ConfigError, InputError
from harness.interfaces import SamplingParams
from harness.models.policies.replay import REGEX_COUNT, ReplayPolicy
from harness.pipeline.generate import generate_pool, pool_provenance, write_pool
from harness.registry import POLICIES, TASKS
from harness.store.records import to_row


@pytest.fixture(scope="module")
def task():
    return TASKS.build("synthetic-arith", {"n_problems": 6})


@pytest.fixture(scope="module")
def pool(task, tmp_path_factory) -> tuple[Path, list]:
    """A pool of 4 samples for each of 6 problems, written by the sim policy."""
    sim = POLICIES.build("sim")
    params = SamplingParams(n=4, seed=2)
    problems = task.load()
    samples = generate_pool(task, problems, sim, params)
    path = tmp_path_factory.mktemp("replay") / "pool.jsonl"
    write_pool(path, samples, pool_provenance(task, problems, sim, params, "default",
                                              {"name": "sim"}, 0.0))
    return path, samples


def test_sample_serves_the_pool_in_order(task, pool) -> None:
    path, stored = pool
    replay = ReplayPolicy(path, task)
    problems = task.load()
    params = SamplingParams(n=3, seed=99)
    again = generate_pool(task, problems[1:4], replay, params)
    by_key = {(s.problem_id, s.index): s for s in stored}
    assert [to_row(s) for s in again] == [to_row(by_key[(s.problem_id, s.index)])
                                          for s in again]
    assert [s.index for s in again] == [0, 1, 2] * 3
    assert replay.identity()["token_counts"] == "stored"
    assert replay.compute().tokens_out == sum(s.completion_tokens for s in again)


def test_asking_for_more_than_the_pool_holds(task, pool) -> None:
    replay = ReplayPolicy(pool[0], task)
    problem = task.load()[0]
    with pytest.raises(ConfigError, match=r"asked for 5 samples of problem "
                                          r"'synthetic-arith/0/0', but pool .* holds 4"):
        replay.sample([task.prompt(problem)], SamplingParams(n=5))


def test_unknown_problems_are_errors(task, pool, tmp_path: Path) -> None:
    replay = ReplayPolicy(pool[0], task)
    with pytest.raises(ConfigError, match="is not a prompt of task synthetic-arith"):
        replay.sample([[{"role": "user", "content": "What is 1 + 1?"}]], SamplingParams(n=1))
    bigger = TASKS.build("synthetic-arith", {"n_problems": 8})
    with pytest.raises(ConfigError, match="has no samples for problem 'synthetic-arith/0/7'"):
        ReplayPolicy(pool[0], bigger).sample([bigger.load()[7].prompt], SamplingParams(n=1))
    stray = write_jsonl(tmp_path / "stray.jsonl", [
        {"problem_id": "synthetic-arith/0/0", "completion": "x"},
        {"problem_id": "nope/1", "completion": "y"}])
    with pytest.raises(InputError, match=r"1 problem ids are not in task synthetic-arith: "
                                         r"\['nope/1'\]"):
        ReplayPolicy(stray, task)


def test_step_replays_stored_solutions(task, pool) -> None:
    path, stored = pool
    replay = ReplayPolicy(path, task)
    problem = task.load()[2]
    first_two = [s for s in stored if s.problem_id == problem.id][:2]
    prompt = task.prompt(problem)
    params = SamplingParams(n=1, stop=["\n\n"])
    prefix, finish, steps = "", None, []
    while finish != "stop":
        (step,) = replay.step([prompt], [prefix], params)[0]
        steps.append(step.text)
        prefix += step.text
        finish = step.finish_reason
    assert steps == first_two[0].steps and prefix == first_two[0].text
    both = replay.step([prompt], [""], SamplingParams(n=2, stop=["\n\n"]))[0]
    assert [c.text for c in both] == [s.steps[0] for s in first_two]
    assert all(c.finish_reason == "step" for c in both)
    done = replay.step([prompt], [first_two[0].text], params)[0]
    assert (done[0].text, done[0].finish_reason) == ("", "stop")
    with pytest.raises(ConfigError, match="holds 0"):
        replay.step([prompt], [first_two[0].steps[0][:-3]], params)


def test_imported_pool_without_counts_or_index(task, tmp_path: Path) -> None:
    problem = task.load()[0]
    path = write_jsonl(tmp_path / "imported.jsonl", [
        {"problem_id": problem.id, "sample_id": "b", "completion": "One step.\n\nSo 4."},
        {"problem_id": problem.id, "sample_id": "a", "completion": "Answer: 7"}])
    replay = ReplayPolicy(path, task)
    (group,) = replay.sample([problem.prompt], SamplingParams(n=2))
    assert [c.text for c in group] == ["One step.\n\nSo 4.", "Answer: 7"]
    assert [c.completion_tokens for c in group] == [6, 3]  # words and marks
    assert replay.identity()["token_counts"] == REGEX_COUNT


@pytest.mark.parametrize(("rows", "expected"), [
    ([{"problem_id": "p", "index": 0, "text": "a"}, {"problem_id": "p", "index": 0,
                                                     "text": "b"}],
     r"pool.jsonl:2: field 'index': duplicate index 0 for problem 'p' \(first on line 1\)"),
    ([{"problem_id": "p", "index": 0, "text": "a"}, {"problem_id": "p", "index": 2,
                                                     "text": "b"}],
     r"field 'index': problem 'p': indices must run 0..1, missing \[1\]"),
    ([{"problem_id": "p", "index": 0}], r"pool.jsonl:1: field 'text': missing"),
    ([{"index": 0, "text": "a"}], r"pool.jsonl:1: field 'problem_id'"),
    ([{"problem_id": "p", "text": "a", "completion_tokens": -1}],
     r"field 'completion_tokens': expected a non-negative integer"),
    ([], r"no samples in the pool"),
])
def test_bad_pool_files_name_the_line_and_field(task, tmp_path: Path, rows: list,
                                                expected: str) -> None:
    path = tmp_path / "pool.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(InputError, match=expected):
        ReplayPolicy(path, task)
