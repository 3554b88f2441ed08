"""Baseline PRMs on real data: random (seeded, per prefix), length, the step-label oracle."""

from __future__ import annotations

import json

import pytest
from prm_tiny import as_problems_samples
from prm_tiny import samples_from_processbench as draw

from harness import registry
from harness.errors import ConfigError, ScoreError
from harness.models.prms.baselines import LengthPRM, RandomPRM, StepLabelPRM
from harness.types import Problem, Sample


@pytest.fixture(scope="module")
def data(shared_data):
    items = draw(shared_data, 30, seed=21)
    return items, *as_problems_samples(items)


def test_random_is_seeded_and_a_function_of_the_prefix(data):
    _, problems, samples = data
    first = [r.scores for r in RandomPRM(seed=1).score(problems, samples)]
    again = [r.scores for r in RandomPRM(seed=1).score(problems[::-1], samples[::-1])][::-1]
    other = [r.scores for r in RandomPRM(seed=2).score(problems, samples)]
    assert first == again
    assert first != other
    flat = [v for s in first for v in s]
    assert all(0.0 <= v < 1.0 for v in flat) and len(set(flat)) == len(flat)
    assert 0.3 < sum(flat) / len(flat) < 0.7
    # a shared prefix gets the same scores, a changed step changes that step and later ones
    steps = samples[0].steps
    edited = Sample(samples[0].problem_id, 1, "", steps=[*steps[:-1], steps[-1] + " (edited)"])
    scores = RandomPRM(seed=1).score([problems[0]], [edited])[0].scores
    assert scores[:-1] == first[0][:-1] and scores[-1] != first[0][-1]


def test_length_grows_with_the_text_written(data):
    _, problems, samples = data
    results = LengthPRM(scale=500).score(problems, samples)
    for sample, result in zip(samples, results, strict=True):
        written = 0
        for step, value in zip(sample.steps, result.scores, strict=True):
            written += len(step)
            assert value == pytest.approx(written / (written + 500))
        assert result.scores == sorted(result.scores)
    shorter = LengthPRM(scale=500, prefer="shorter").score(problems, samples)
    assert [r.scores for r in shorter] == [[1 - v for v in r.scores] for r in results]
    with pytest.raises(ConfigError):
        LengthPRM(prefer="random")


def test_step_label_oracle_on_processbench_labels(data):
    items, problems, samples = data
    labels = {(item["id"], "0"): {"first_error_step": item["label"]} for item in items}
    results = StepLabelPRM(labels=labels).score(problems, samples)
    assert {item["label"] == -1 for item in items} == {True, False}  # both kinds present
    for item, result in zip(items, results, strict=True):
        first = item["label"]
        want = [1.0] * len(item["steps"]) if first == -1 else \
            [1.0] * first + [0.0] * (len(item["steps"]) - first)
        assert result.scores == want
        assert (min(result.scores) == 1.0) == (first == -1)


def test_step_label_oracle_on_prm800k_ratings(shared_data):
    rows = [json.loads(line) for line in
            (shared_data / "prm800k" / "samples_prm800k.jsonl").read_text().splitlines()]
    problems, samples, expected = [], [], []
    for n, row in enumerate(rows):
        steps, ratings = [], []
        for step in row["label"]["steps"]:
            chosen = step["chosen_completion"]
            if chosen is None:
                break
            steps.append(step["completions"][chosen]["text"])
            ratings.append(step["completions"][chosen]["rating"])
        if not steps:
            continue
        pid = f"prm800k-{n}"
        problems.append(Problem(pid, "prm800k", "math", [], None,
                                {"statement": row["question"]["problem"],
                                 "step_labels": {"0": ratings}}))
        samples.append(Sample(pid, 0, "", steps=steps))
        ok, want = True, []
        for r in ratings:
            ok = ok and r != -1
            want.append(1.0 if ok else 0.0)
        expected.append(want)
    assert samples
    results = StepLabelPRM().score(problems, samples)  # labels read from problem metadata
    assert [r.scores for r in results] == expected
    strict = StepLabelPRM(neutral="bad").score(problems, samples)
    has_neutral = any(0 in p.metadata["step_labels"]["0"] for p in problems)
    assert ([r.scores for r in strict] != expected) == has_neutral


def test_step_label_oracle_refuses_missing_or_bad_labels(data):
    _, problems, samples = data
    with pytest.raises(ScoreError, match=rf"sample '{samples[0].problem_id}' #0: no step labels"):
        StepLabelPRM().score(problems[:1], samples[:1])
    n = len(samples[0].steps)
    bad = {(samples[0].problem_id, "0"): [1] * (n + 1)}
    with pytest.raises(ScoreError, match=f"{n + 1} step labels for {n} steps"):
        StepLabelPRM(labels=bad).score(problems[:1], samples[:1])


def test_baselines_and_backends_are_registered():
    names = registry.names("prm")
    for name in ("random", "length", "step-label", "transformers", "vllm", "http"):
        assert name in names
    assert registry.get("prm", "random") is RandomPRM
