"""Scores do not depend on batching or padding: one at a time == batches of 7 and 32 ==
a token budget, with left or right padding (float32 on CPU, to 1e-5), for every family."""

from __future__ import annotations

import pytest
from prm_tiny import FAMILY_CASES, as_problems_samples, make_prm, tiny_root
from prm_tiny import samples_from_processbench as draw

from harness.models.prms.batching import budget_batches, fixed_batches, padded_tokens

TOL = 1e-5


#: families that run one sequence per step: 12 samples already give them ~60 sequences
PER_STEP_SEQUENCES = {"outcome", "generative"}


@pytest.fixture(scope="module")
def items(shared_data):
    # 33 real solutions of varied length, so batches of 7 and 32 mix lengths
    return draw(shared_data, 33, seed=3)


def test_budget_plan_sorts_by_length_and_respects_the_budget():
    lengths = [5, 50, 7, 49, 300, 6, 48]
    plan = budget_batches(lengths, token_budget=100)
    assert sorted(i for b in plan for i in b) == list(range(len(lengths)))
    assert plan[0] == [4]  # longer than the budget: alone
    for batch in plan[1:]:
        assert len(batch) * max(lengths[i] for i in batch) <= 100
    assert plan[1] == [1, 3]  # 50 and 49 together, the 48 would overflow
    assert padded_tokens(lengths, plan) < padded_tokens(lengths, fixed_batches(7, 2))
    assert fixed_batches(5, 2) == [[0, 1], [2, 3], [4]]


@pytest.mark.parametrize("case", sorted(FAMILY_CASES))
def test_scores_do_not_depend_on_batch_size_or_padding(case, tmp_path_factory, shared_data,
                                                       items):
    root = tiny_root(tmp_path_factory)
    problems, samples = as_problems_samples(items[:12] if case in PER_STEP_SEQUENCES
                                            else items)
    one_by_one = make_prm(case, root, shared_data, batch_size=1)
    expected = [r.scores for r in one_by_one.score(problems, samples)]
    flat = [v for scores in expected for v in scores]
    assert max(flat) - min(flat) > 1e-3  # scores vary, so equality is informative
    settings = [dict(batch_size=7, padding_side="right"), dict(batch_size=7, padding_side="left"),
                dict(batch_size=32, padding_side="right"),
                dict(batch_size=32, padding_side="left"),
                dict(batch_tokens=20000, padding_side="left")]
    for setting in settings:
        prm = make_prm(case, root, shared_data, **setting)
        got = [r.scores for r in prm.score(problems, samples)]
        for want, have, sample in zip(expected, got, samples, strict=True):
            assert have == pytest.approx(want, abs=TOL), (setting, sample.problem_id)
