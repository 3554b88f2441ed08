"""Early verdicts: the harness follows a program's outputs as they stream in; a failing
program that keeps running past the voting budget is stopped (fail, abstains), a failing
fast one keeps its voting class, and a passing one is never stopped."""

from __future__ import annotations

import time

import pytest

from harness.registry import TASKS

ADD = "def add(x: int, y: int):\n"


@pytest.fixture(scope="module")
def humaneval(shared_data, code_cache):
    task = TASKS.build("humanevalplus", {"workers": 2, "vote_budget_s": 0.5},
                       data_dir=shared_data)
    problems = {p.id: p for p in task.load()}
    yield task, problems["HumanEval/53"]
    task.close()


def test_a_slow_failing_program_is_cut_and_abstains(humaneval):
    task, problem = humaneval
    n_inputs = problem.reference["n_base"] + problem.reference["n_plus"]
    assert n_inputs * 0.02 > 2  # the slow programs would need seconds to finish
    programs = {
        "slow, wrong from the start": ADD + "    import time\n    time.sleep(0.02)\n"
                                            "    return x - y\n",
        "fast, wrong from the start": ADD + "    return x - y\n",
        "slow, right": ADD + "    import time\n    time.sleep(0.004)\n    return x + y\n",
    }
    started = time.monotonic()
    grades = task.grade(problem, [task.prepare(problem, i, t)
                                  for i, t in enumerate(programs.values())])
    slow_wrong, fast_wrong, slow_right = grades
    assert not slow_wrong.correct and "cut" in slow_wrong.details
    assert slow_wrong.details["reason"] == "base: input 0: wrong output"
    assert slow_wrong.vote_key is None
    assert slow_wrong.details["wall_s"] < n_inputs * 0.02 / 2
    assert not fast_wrong.correct and "cut" not in fast_wrong.details
    assert fast_wrong.vote_key is not None
    assert slow_right.correct and "cut" not in slow_right.details
    assert time.monotonic() - started < 60


def test_without_a_budget_no_program_is_cut_and_every_finished_one_votes(shared_data,
                                                                         code_cache):
    """maj@N needs every program's outputs on all inputs: no budget never cuts; 0 cuts
    at the first failure (evalplus' way), with the same verdicts."""
    programs = [ADD + "    import time\n    time.sleep(0.01)\n    return x - y\n",
                ADD + "    return x + y\n"]
    verdicts = {}
    for budget in (None, 0):
        task = TASKS.build("humanevalplus", {"workers": 2, "vote_budget_s": budget},
                           data_dir=shared_data)
        try:
            problem = next(p for p in task.load() if p.id == "HumanEval/53")
            grades = task.grade(problem, [task.prepare(problem, i, t)
                                          for i, t in enumerate(programs)])
        finally:
            task.close()
        verdicts[budget] = [g.correct for g in grades]
        slow_wrong = grades[0]
        if budget is None:
            assert "cut" not in slow_wrong.details and slow_wrong.vote_key is not None
        else:
            assert "cut" in slow_wrong.details and slow_wrong.vote_key is None
    assert verdicts[None] == verdicts[0] == [False, True]


def test_the_default_budget_lets_a_slow_failing_program_finish_its_class(shared_data,
                                                                         code_cache):
    """The tasks' default budget is 20 s past the first failure (recorded in the grader's
    identity, so in the grades key): a failing program that needs about a second more
    still runs on every input and votes; "none" lifts the budget."""
    from harness.tasks.evalplus_base import DEFAULT_VOTE_BUDGET_S

    assert DEFAULT_VOTE_BUDGET_S == 20.0
    none = TASKS.build("humanevalplus", {"vote_budget_s": "none"}, data_dir=shared_data)
    assert none.grader.identity()["vote_budget_s"] is None
    none.close()
    task = TASKS.build("humanevalplus", {"workers": 2}, data_dir=shared_data)
    try:
        assert task.grader.identity()["vote_budget_s"] == 20.0
        problem = next(p for p in task.load() if p.id == "HumanEval/53")
        n_inputs = problem.reference["n_base"] + problem.reference["n_plus"]
        slow_wrong = ADD + "    import time\n    time.sleep(0.002)\n    return x - y\n"
        assert 0.5 < n_inputs * 0.002 < 5
        grade, = task.grade(problem, [task.prepare(problem, 0, slow_wrong)])
    finally:
        task.close()
    assert not grade.correct and "cut" not in grade.details
    assert grade.details["reason"] == "base: input 0: wrong output"
    assert grade.vote_key is not None
