"""``majority`` and ``weighted-majority`` on synthetic-arith: best-of-n's samples, the
answer by a vote over the task grader's vote keys (counted, or weighted by the PRM's
aggregated score), rebuilt from the trace alone."""

from __future__ import annotations

import json

import pytest

from harness import registry
from harness.errors import ConfigError
from harness.strategies.engine import replay_answer
from harness.strategies.vote import tally
from harness.synthetic.policy import SimPolicy
from harness.synthetic.prms import SimNoisyPRM
from harness.types import Budget

BUDGET = Budget(policy_calls=60)


@pytest.fixture(scope="module")
def task():
    return registry.TASKS.build("synthetic-arith", {"n_problems": 8, "length": 4})


def _run(name, task, budget=BUDGET, **options):
    strategy = registry.STRATEGIES.build(name, {"n": 6, **options})
    strategy.use_task(task)
    runs = strategy.run(task.load(), SimPolicy(), SimNoisyPRM(), budget)
    return strategy, runs


def _keys(task, run, nodes):
    samples = [task.prepare(run.problem, i, run.tree.text(n)) for i, n in enumerate(nodes)]
    return [g.vote_key for g in task.grade(run.problem, samples)]


def test_the_tally_counts_then_weighs_then_takes_the_first_class():
    keys = ["a", "b", "b", "a", None, "c"]
    values = [0.9, 0.2, 0.3, 0.1, 5.0, 1.5]
    # counts: a=2 (sum 1.0), b=2 (0.5), c=1 (1.5); the abstainer never counts
    assert tally(keys, values, weighted=False) == [("a", 2, 1.0), ("b", 2, 0.5),
                                                   ("c", 1, 1.5)]
    assert [k for k, _, _ in tally(keys, values, weighted=True)] == ["c", "a", "b"]
    assert [k for k, _, _ in tally(["x", "y"], [0.5, 0.5], weighted=True)] == ["x", "y"]
    assert tally([None, None], [1.0, 2.0], weighted=False) == []


@pytest.mark.parametrize(("name", "weighted"), [("majority", False),
                                                 ("weighted-majority", True)])
def test_the_answer_is_the_best_member_of_the_winning_class(name, weighted, task):
    strategy, runs = _run(name, task)
    split = 0
    for run in runs:
        finished = run.search.finished
        assert run.answer is not None and finished
        keys = _keys(task, run, finished)
        values = [run.tree.value(n, "last") for n in finished]
        score = {}
        for k, v in zip(keys, values, strict=True):
            if k is not None:
                count, total = score.get(k, (0, 0.0))
                score[k] = (count + 1, total + v)
        split += len(score) > 1
        best = max(s[1] if weighted else s[0] for s in score.values())
        mine = keys[finished.index(run.answer)]
        assert (score[mine][1] if weighted else score[mine][0]) == pytest.approx(best)
        members = [v for k, v in zip(keys, values, strict=True) if k == mine]
        assert run.tree.value(run.answer, "last") == max(members)
    assert split >= 2  # the policy errs: some votes are contested
    for trace in strategy.traces(Budget(policy_calls=60)):
        assert trace["selection"]["by"] == "vote"
        assert sum(v["votes"] for v in trace["final"]["votes"]) <= len(
            trace["selection"]["candidates"])


@pytest.mark.parametrize("name", ["majority", "weighted-majority"])
def test_the_vote_is_rebuilt_from_the_trace_alone(name, task):
    budget = Budget(policy_calls=60)
    strategy, runs = _run(name, task, budget)
    for run, line in zip(runs, map(json.dumps, strategy.traces(budget)), strict=True):
        trace = json.loads(line)
        text, spent = replay_answer(trace)
        assert text == run.tree.text(run.answer) == trace["answer_text"]
        assert spent == run.spent.as_dict()


def test_votes_sample_exactly_what_best_of_n_samples(task):
    budget = Budget(policy_calls=40)
    bon = registry.STRATEGIES.build("best-of-n", {"n": 6})
    bon.run(task.load(), SimPolicy(), SimNoisyPRM(), budget)
    strategy, runs = _run("majority", task, budget)
    drop = ("wall_s",)
    assert [[{k: v for k, v in n.items() if k not in drop} for n in t["nodes"]]
            for t in strategy.traces(budget)] == \
        [[{k: v for k, v in n.items() if k not in drop} for n in t["nodes"]]
         for t in bon.traces(budget)]
    assert all(r.spent.policy_calls <= 40 for r in runs)


def test_a_vote_without_the_task_is_refused(task):
    strategy = registry.STRATEGIES.build("majority", {"n": 2})
    with pytest.raises(ConfigError, match="use_task"):
        strategy.run(task.load(), SimPolicy(), SimNoisyPRM(), Budget(policy_calls=4))
