"""Step-level evaluation: hand-computed metrics, strict scores files, real-data runs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import run_cli, write_jsonl

from harness.errors import InputError
from harness.stepeval import prm800k_steps, processbench
from harness.stepeval.baselines import baseline_scores
from harness.stepeval.scores_file import StepItem, read_step_scores
from harness.tasks.prm800k import RatedStep, read_rated_steps
from harness.tasks.processbench import SPLITS, ProcessBenchItem, load_split


def _item(item_id: str, label: int, n: int) -> ProcessBenchItem:
    return ProcessBenchItem(item_id, "toy", "p", tuple(f"s{k}" for k in range(n)), label,
                            label < 0, "g")


TOY = [_item("A", 1, 3), _item("B", -1, 2), _item("C", 0, 2)]
TOY_SCORES = {"A": [0.9, 0.2, 0.8], "B": [0.7, 0.6], "C": [0.3, 0.9]}


def test_first_error_prediction():
    assert processbench.predicted_first_error([0.9, 0.2, 0.8], 0.5) == 1
    assert processbench.predicted_first_error([0.9, 0.6], 0.5) == -1
    assert processbench.predicted_first_error([0.5], 0.5) == -1  # below, not at


def test_split_metrics_by_hand():
    # τ = 0.8: A -> 1 (hit), B -> 0 (false alarm), C -> 0 (hit)
    m = processbench.split_metrics(TOY, TOY_SCORES, 0.8)
    assert (m["acc_erroneous"], m["acc_correct"], m["f1"]) == (1.0, 0.0, 0.0)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == 1.0
    assert m["f1_pr"] == pytest.approx(0.8)
    # τ = 0.25: A -> 1 (hit), B -> -1 (right), C -> -1 (miss)
    m = processbench.split_metrics(TOY, TOY_SCORES, 0.25)
    assert (m["acc_erroneous"], m["acc_correct"]) == (0.5, 1.0)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["precision"] == 1.0 and m["f1_pr"] == pytest.approx(2 / 3)


def test_tau_is_chosen_by_f1():
    # running minima 0.2 0.3 0.6 0.7 0.9 -> candidates -0.8 .25 .45 .65 .8 1.9; 0.45 is perfect
    tau, f1 = processbench.choose_tau(TOY, TOY_SCORES)
    assert tau == pytest.approx(0.45) and f1 == 1.0
    result = processbench.evaluate({"gsm8k": TOY, "other": TOY[:2]}, TOY_SCORES)
    assert result["tau"] == pytest.approx(0.45)
    assert result["splits"]["other"]["f1"] == 1.0


def test_the_tau_split_is_in_sample_and_out_of_the_held_out_mean():
    # τ = 0.45 is perfect on TOY (the τ split); on "other" it misses D's error (no score
    # below τ) and raises a false alarm on the correct E (0.2 < τ): F1 0
    other = [_item("D", 1, 2), _item("E", -1, 2)]
    scores = {**TOY_SCORES, "D": [0.9, 0.8], "E": [0.2, 0.9]}
    result = processbench.evaluate({"gsm8k": TOY, "other": other}, scores)
    assert result["splits"]["gsm8k"]["in_sample"] is True
    assert result["splits"]["other"]["in_sample"] is False
    assert result["splits"]["gsm8k"]["f1"] == 1.0 and result["splits"]["other"]["f1"] == 0.0
    assert result["held_out_splits"] == ["other"]
    assert result["mean_f1_held_out"] == 0.0 and result["mean_f1_all_splits"] == 0.5
    only_tau_split = processbench.evaluate({"gsm8k": TOY}, TOY_SCORES)
    assert only_tau_split["mean_f1_held_out"] is None
    fixed = processbench.evaluate({"gsm8k": TOY}, TOY_SCORES, tau=0.8)
    assert fixed["splits"]["gsm8k"]["f1"] == 0.0 and fixed["tau_selection"] == "given"
    assert fixed["splits"]["gsm8k"]["in_sample"] is False
    assert fixed["held_out_splits"] == ["gsm8k"] and fixed["mean_f1_held_out"] == 0.0


def test_auroc_by_hand():
    # pairs: 0.9>0.5, 0.9>0.1, 0.5=0.5 (half), 0.5>0.1 -> 3.5 / 4
    assert prm800k_steps.auroc(np.array([0.9, 0.5]), np.array([0.5, 0.1])) == 0.875
    assert prm800k_steps.auroc(np.array([1.0]), np.array([0.0])) == 1.0
    with pytest.raises(ValueError):
        prm800k_steps.auroc(np.array([1.0]), np.array([]))


def test_weighted_auroc_equals_auroc_on_repeated_items():
    rng = np.random.default_rng(0)
    score = np.round(rng.random(300), 2)  # ties on purpose
    good = rng.random(300) < 0.6
    assert prm800k_steps.weighted_auroc(score, good, np.ones(300)) == pytest.approx(
        prm800k_steps.auroc(score[good], score[~good]), abs=1e-12)
    weight = rng.integers(0, 4, 300)
    rep = np.repeat(np.arange(300), weight)
    assert prm800k_steps.weighted_auroc(score, good, weight.astype(float)) == pytest.approx(
        prm800k_steps.auroc(score[rep][good[rep]], score[rep][~good[rep]]), abs=1e-12)


def test_prm800k_neutral_options_by_hand():
    steps = [RatedStep(0, "p", (), "a", 1, False), RatedStep(1, "p", ("a",), "b", -1, False),
             RatedStep(2, "p", ("a",), "c", 0, True)]
    scores = {"phase1_test-0": [0.8], "phase1_test-1": [0.9, 0.3],
              "phase1_test-2": [0.9, 0.6]}
    excl = prm800k_steps.evaluate(steps, scores)
    assert (excl["n"], excl["n_neutral"], excl["auroc"], excl["accuracy"]) == (2, 1, 1.0, 1.0)
    pos = prm800k_steps.evaluate(steps, scores, neutral="positive")
    assert pos["auroc"] == 1.0 and pos["accuracy"] == 1.0 and pos["n_good"] == 2
    neg = prm800k_steps.evaluate(steps, scores, neutral="negative", threshold=0.7)
    # good 0.8 vs bad {0.3, 0.6}: AUROC 1; at 0.7 all three right
    assert neg["auroc"] == 1.0 and neg["accuracy"] == 1.0 and neg["n_bad"] == 2
    neg_low = prm800k_steps.evaluate(steps, scores, neutral="negative", threshold=0.5)
    assert neg_low["accuracy"] == pytest.approx(2 / 3)


def test_scores_file_is_strict(tmp_path):
    items = {"a": StepItem("p", ("s0", "s1"), "toy"), "b": StepItem("q", ("t0",), "toy")}
    good = write_jsonl(tmp_path / "ok.jsonl", [
        {"problem_id": "a", "step_scores": [0.1, 1]},
        {"problem_id": "b", "problem": "q", "steps": ["t0"], "split": "toy",
         "first_error_step": -1, "step_scores": [0.5]}])
    assert read_step_scores(good, items) == {"a": [0.1, 1.0], "b": [0.5]}
    bad_rows = {
        "count": ([{"problem_id": "a", "step_scores": [0.1]}], 1, "step_scores"),
        "unknown": ([{"problem_id": "z", "step_scores": [0.1]}], 1, "problem_id"),
        "bool": ([{"problem_id": "b", "step_scores": [True]}], 1, "step_scores"),
        "extra": ([{"problem_id": "b", "step_scores": [0.1], "prm": "x"}], 1, "prm"),
        "old key": ([{"id": "b", "step_scores": [0.1]}], 1, "id"),
        "dup": ([{"problem_id": "b", "step_scores": [0.1]},
                 {"problem_id": "b", "step_scores": [0.2]}], 2, "problem_id"),
        "steps": ([{"problem_id": "b", "steps": ["t1"], "step_scores": [0.1]}], 1, "steps"),
        "problem": ([{"problem_id": "b", "problem": "p", "step_scores": [0.1]}], 1, "problem"),
        "split": ([{"problem_id": "b", "split": "math", "step_scores": [0.1]}], 1, "split"),
    }
    for name, (rows, line, field) in bad_rows.items():
        path = write_jsonl(tmp_path / f"{name}.jsonl", rows)
        with pytest.raises(InputError) as info:
            read_step_scores(path, items)
        assert (info.value.line, info.value.field) == (line, field), name
    with pytest.raises(InputError, match="the item key is problem_id"):
        read_step_scores(tmp_path / "old key.jsonl", items)
    nan = write_jsonl(tmp_path / "nan.jsonl", ['{"problem_id": "b", "step_scores": [NaN]}'])
    with pytest.raises(InputError, match="NaN"):
        read_step_scores(nan, items)
    missing = write_jsonl(tmp_path / "missing.jsonl",
                          [{"problem_id": "b", "step_scores": [0.5]}])
    with pytest.raises(InputError, match="1 of 2 items have no scores"):
        read_step_scores(missing, items)


def test_label_oracle_is_perfect_on_real_processbench(shared_data):
    splits = {s: load_split(s, shared_data)[0] for s in SPLITS}
    assert [len(v) for v in splits.values()] == [400, 1000, 1000, 1000]
    oracle = {it.id: [0.0 if k == it.label else 1.0 for k in range(len(it.steps))]
              for items in splits.values() for it in items}
    result = processbench.evaluate(splits, oracle)
    assert 0.0 < result["tau"] <= 1.0
    assert all(m["f1"] == 1.0 and m["f1_pr"] == 1.0 for m in result["splits"].values())
    # 207 erroneous / 193 correct (PROVENANCE.md calls 207 the count of -1: it is not)
    assert [result["splits"][s]["n_correct"] for s in SPLITS] == [193, 406, 339, 241]


def test_rating_oracle_and_baselines_on_real_prm800k(shared_data):
    steps, source = read_rated_steps(shared_data)
    rated = prm800k_steps.rated_items(steps)
    assert len(steps) == 5449 and len(rated) == 5082 and source["source"] == "mirror"
    oracle = {prm800k_steps.item_id(s): [0.5] * len(s.previous) + [(s.rating + 1) / 2]
              for s in rated}
    result = prm800k_steps.evaluate(rated, oracle)
    assert (result["n_good"], result["n_bad"], result["n_neutral"]) == (2245, 1970, 867)
    assert result["auroc"] == 1.0 and result["accuracy"] == 1.0
    rnd = {prm800k_steps.item_id(s): baseline_scores("step-random", prm800k_steps.item_id(s),
                                                      [*s.previous, s.step]) for s in rated}
    assert 0.45 < prm800k_steps.evaluate(rated, rnd)["auroc"] < 0.55


def test_random_baseline_is_seeded_per_item():
    a = baseline_scores("step-random", "x", ["s", "t"], seed=1)
    assert a == baseline_scores("step-random", "x", ["s", "t"], seed=1)
    assert a != baseline_scores("step-random", "y", ["s", "t"], seed=1)
    assert baseline_scores("step-length", "x", ["a" * 500]) == [0.5]


def test_processbench_cli_end_to_end(tmp_path, capsys, shared_data):
    items = tmp_path / "items.jsonl"
    status, out, err = run_cli(["processbench", "items", items, "--split", "gsm8k"], capsys)
    assert status == 0, err
    rows = [json.loads(x) for x in items.read_text().splitlines()]
    assert len(rows) == 400 and rows[0]["problem_id"] == "gsm8k-0" and "label" not in rows[0]
    scores = tmp_path / "scores.jsonl"
    write_jsonl(scores, [{"problem_id": r["problem_id"],
                          "step_scores": [1.0 / (1 + len(s) / 500) for s in r["steps"]]}
                         for r in rows])
    status, out, err = run_cli(["processbench", "eval", scores, "--split", "gsm8k"], capsys)
    assert status == 0, err
    from_file = json.loads(out)
    status, out, err = run_cli(["processbench", "baseline", "step-length",
                                tmp_path / "b.jsonl", "--split", "gsm8k"], capsys)
    assert status == 0, err
    status, out, _ = run_cli(["processbench", "eval", tmp_path / "b.jsonl", "--split",
                              "gsm8k"], capsys)
    assert json.loads(out)["splits"] == from_file["splits"]
    write_jsonl(scores, [{"problem_id": r["problem_id"], "step_scores": [0.5]}
                         for r in rows[:1]])
    status, _, err = run_cli(["processbench", "eval", scores, "--split", "gsm8k"], capsys)
    assert status == 2 and "scores for" in err and "line 1" not in err


def test_prm800k_steps_cli_end_to_end(tmp_path, capsys, shared_data):
    status, out, err = run_cli(["prm800k-steps", "items", tmp_path / "items.jsonl"], capsys)
    assert status == 0, err
    assert json.loads(out)["items"] == 5082
    first = json.loads((tmp_path / "items.jsonl").read_text().splitlines()[0])
    assert set(first) == {"problem_id", "problem", "steps"}
    scores = tmp_path / "len.jsonl"
    status, _, err = run_cli(["prm800k-steps", "baseline", "length", scores], capsys)
    assert status == 2 and "'step-length'" in err  # the PRM baseline's name is not this one
    status, _, err = run_cli(["prm800k-steps", "baseline", "step-length", scores], capsys)
    assert status == 0, err
    status, out, err = run_cli(["prm800k-steps", "eval", scores, "--neutral", "negative",
                                "--out", tmp_path / "r.json"], capsys)
    assert status == 0, err
    result = json.loads(out)
    assert result == json.loads((tmp_path / "r.json").read_text())
    assert (result["n"], result["n_bad"], result["neutral"]) == (5082, 1970 + 867, "negative")
    steps, _ = read_rated_steps(shared_data)
    rated = prm800k_steps.rated_items(steps)
    direct = {prm800k_steps.item_id(s): baseline_scores("step-length", "", [*s.previous, s.step])
              for s in rated}
    assert result["auroc"] == prm800k_steps.evaluate(rated, direct, neutral="negative")["auroc"]
    status, out, err = run_cli(["prm800k-steps", "eval", scores, "--bootstrap", "200",
                                "--seed", "3"], capsys)
    assert status == 0, err
    boot = json.loads(out)
    low, high = boot["bootstrap"]["auroc"]
    assert low < boot["auroc"] < high and high - low < 0.2
    assert boot["bootstrap"]["problems"] == boot["n_problems"] > 1


def test_processbench_items_score_eval_chain(tmp_path, capsys, shared_data):
    """items -> ``prm-harness score`` (the step-label oracle, labels added by the test from
    the mirror) -> eval: the oracle must come out perfect, so ids, steps and scores line up
    through all three commands."""
    items = tmp_path / "items.jsonl"
    status, _, err = run_cli(["processbench", "items", items, "--split", "gsm8k"], capsys)
    assert status == 0, err
    labels = {it.id: it.label for it in load_split("gsm8k", shared_data)[0]}
    rows = [json.loads(x) for x in items.read_text().splitlines()]
    labelled = write_jsonl(tmp_path / "labelled.jsonl",
                           [{**r, "first_error_step": labels[r["problem_id"]]} for r in rows])
    scored = tmp_path / "scored.jsonl"
    status, _, err = run_cli(["score", "--prm", "step-label", labelled, "--out", scored],
                             capsys)
    assert status == 0, err
    status, out, err = run_cli(["processbench", "eval", scored, "--split", "gsm8k"], capsys)
    assert status == 0, err
    result = json.loads(out)
    gsm8k = result["splits"]["gsm8k"]
    assert gsm8k["f1"] == 1.0 and gsm8k["f1_pr"] == 1.0 and gsm8k["in_sample"] is True
    # the length baseline through ``score`` chains the same way (no labels needed)
    status, _, err = run_cli(["score", "--prm", "length", items, "--out", scored], capsys)
    assert status == 0, err
    status, out, err = run_cli(["processbench", "eval", scored, "--split", "gsm8k"], capsys)
    assert status == 0, err
    assert 0.0 <= json.loads(out)["splits"]["gsm8k"]["f1"] < 1.0


def test_prm800k_items_score_eval_chain(tmp_path, capsys, shared_data):
    items = tmp_path / "items.jsonl"
    status, _, err = run_cli(["prm800k-steps", "items", items], capsys)
    assert status == 0, err
    steps, _ = read_rated_steps(shared_data)
    rating = {prm800k_steps.item_id(s): s.rating for s in steps}
    rows = [json.loads(x) for x in items.read_text().splitlines()]
    labelled = write_jsonl(tmp_path / "labelled.jsonl", [
        {**r, "step_labels": [1] * (len(r["steps"]) - 1) + [rating[r["problem_id"]]]}
        for r in rows])
    scored = tmp_path / "scored.jsonl"
    status, _, err = run_cli(["score", "--prm", "step-label", labelled, "--out", scored],
                             capsys)
    assert status == 0, err
    status, out, err = run_cli(["prm800k-steps", "eval", scored], capsys)
    assert status == 0, err
    result = json.loads(out)
    assert result["n"] == 5082 - 867 and result["auroc"] == 1.0 and result["accuracy"] == 1.0
    # a scores line whose steps are not the item's is refused, naming the line
    first = json.loads(scored.read_text().splitlines()[0])
    first["steps"] = [*first["steps"][:-1], "edited"]
    bad = write_jsonl(tmp_path / "bad.jsonl", [first])
    status, _, err = run_cli(["prm800k-steps", "eval", bad], capsys)
    assert status == 2 and ":1: field 'steps'" in err


def test_bootstrap_cis_hold_the_estimate_and_pair_the_draws(tmp_path, capsys, shared_data):
    """CIs over items around the point F1s; a file against itself differs by exactly 0 in
    every draw; the step-length baseline against step-random on real gsm8k + math."""
    args = ["--split", "gsm8k", "--split", "math"]
    for name in ("step-length", "step-random"):
        status, _, err = run_cli(["processbench", "baseline", name, tmp_path / f"{name}.jsonl",
                                  *args], capsys)
        assert status == 0, err
    length = tmp_path / "step-length.jsonl"
    status, out, err = run_cli(["processbench", "eval", length, *args, "--bootstrap", "300",
                                "--against", length], capsys)
    assert status == 0, err
    result = json.loads(out)
    boot = result["bootstrap"]
    assert boot["draws"] == 300 and result["held_out_splits"] == ["math"]
    for split, row in boot["splits"].items():
        lo, hi = row["f1"]
        assert lo <= result["splits"][split]["f1"] <= hi and lo < hi
        assert row["diff_f1"] == [0.0, 0.0] and row["diff_f1_pr"] == [0.0, 0.0]
    status, out, _ = run_cli(["processbench", "eval", length, *args, "--bootstrap", "300",
                              "--against", tmp_path / "step-random.jsonl"], capsys)
    diff = json.loads(out)["bootstrap"]["mean_diff_f1_held_out"]
    assert diff[0] < diff[1]
    status, _, err = run_cli(["processbench", "eval", length, *args, "--against", length],
                             capsys)
    assert status == 2 and "--bootstrap" in err
