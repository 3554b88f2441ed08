"""``prm-harness score`` and ``prm-harness prms list`` through the real entry point."""

from __future__ import annotations

import json

import pytest
from helpers import run_cli, write_jsonl
from prm_tiny import as_problems_samples, build, make_prm, tiny_root
from prm_tiny import samples_from_processbench as draw


@pytest.fixture(scope="module")
def items(shared_data):
    return draw(shared_data, 12, seed=31)


def _lines(items, **extra):
    return [{"problem_id": it["id"], "problem": it["problem"], "steps": it["steps"], **extra}
            for it in items]


def test_score_writes_step_scores_and_a_manifest(tmp_path_factory, shared_data, items,
                                                 tmp_path, capsys):
    root = tiny_root(tmp_path_factory)
    tiny = build("qwen-prm", root, shared_data)
    samples = write_jsonl(tmp_path / "samples.jsonl", _lines(items, extra_field="kept"))
    out = tmp_path / "out" / "scores.jsonl"
    status, stdout, err = run_cli(["score", "--prm", "Qwen/Qwen2.5-Math-PRM-7B", "--model",
                                   tiny.path, "--dtype", "float32", samples, "--out", out],
                                  capsys)
    assert status == 0, err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    direct = make_prm("qwen-prm", root, shared_data).score(*as_problems_samples(items))
    for item, row, want in zip(items, rows, direct, strict=True):
        assert row["problem_id"] == item["id"] and row["extra_field"] == "kept"
        assert row["steps"] == item["steps"]
        assert row["step_scores"] == pytest.approx(want.scores, abs=1e-6)
    summary = json.loads(stdout)
    manifest = json.loads((tmp_path / "out" / "scores.jsonl.manifest.json").read_text())
    compute = manifest["compute"]
    assert compute["tokens_in"] == summary["tokens_in"] > 0
    assert compute["params"] > 0
    assert compute["flops"] == pytest.approx(2 * compute["params"] * compute["tokens_in"])
    assert compute["wall_s"] > 0 and compute["calls"] == 1
    (call,) = manifest["compute_calls"]  # the per-call record behind the total
    assert (call["kind"], call["tokens_in"], call["params"], call["flops"]) == \
        ("score", compute["tokens_in"], compute["params"], compute["flops"])
    resolved = manifest["prm"]["resolved_revisions"]["prm"]  # the folder that was loaded
    assert resolved["kind"] == "local-folder" and len(resolved["folder_sha256"]) == 64
    assert manifest["prm"]["family"] == "qwen-prm"
    assert manifest["prm"]["models"]["prm"] == str(tiny.path)
    assert manifest["prm"]["spec"]["step_tag"] == "<extra_0>"
    assert len(manifest["input"]["sha256"]) == 64


def test_score_with_baselines(tmp_path, items, capsys):
    lines = _lines(items)
    for line, item in zip(lines, items, strict=True):
        line["first_error_step"] = item["label"]
    samples = write_jsonl(tmp_path / "samples.jsonl", lines)
    out = tmp_path / "oracle.jsonl"
    status, _, err = run_cli(["score", "--prm", "step-label", samples, "--out", out], capsys)
    assert status == 0, err
    for item, row in zip(items, map(json.loads, out.read_text().splitlines()), strict=True):
        assert (min(row["step_scores"]) == 1.0) == (item["label"] == -1)
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for path in (a, b):
        status, _, err = run_cli(["score", "--prm", "random", "--option", "seed=7", samples,
                                  "--out", path], capsys)
        assert status == 0, err
    assert a.read_text() == b.read_text()


@pytest.mark.parametrize(("line", "field", "message"), [
    ({"problem": "p", "steps": ["a"]}, "problem_id", "missing"),
    ({"problem_id": 3, "problem": "p", "steps": ["a"]}, "problem_id", "expected a string"),
    ({"problem_id": "x", "steps": ["a"]}, "problem", "missing"),
    ({"problem_id": "x", "problem": "p", "steps": "a"}, "steps", "non-empty list"),
    ({"problem_id": "x", "problem": "p", "steps": []}, "steps", "non-empty list"),
    ({"problem_id": "x", "problem": "p", "steps": ["a", 2]}, "steps", "item 1 is int"),
    ({"problem_id": "x", "problem": "p", "steps": ["a"], "sample_id": [1]}, "sample_id",
     "a string or an integer"),
    ({"problem_id": "x", "problem": "p", "steps": ["a"], "step_labels": [1, 1]}, "step_labels",
     "a list of 1 labels"),
    ({"problem_id": "x", "problem": "p", "steps": ["a"], "step_labels": [2]}, "step_labels",
     "item 0 is 2"),
    ({"problem_id": "x", "problem": "p", "steps": ["a"], "first_error_step": 1},
     "first_error_step", "below 1"),
])
def test_score_input_errors_name_file_line_and_field(tmp_path, capsys, line, field, message):
    good = {"problem_id": "ok", "problem": "q", "steps": ["s"]}
    samples = write_jsonl(tmp_path / "in.jsonl", [good, line])
    out = tmp_path / "out.jsonl"
    status, _, err = run_cli(["score", "--prm", "random", samples, "--out", out], capsys)
    assert status == 2
    assert f"{samples}:2: field '{field}': " in err and message in err
    assert not out.exists()


def test_score_refuses_inconsistent_problems_and_repeated_samples(tmp_path, capsys):
    base = {"problem_id": "x", "problem": "p", "steps": ["a"]}
    samples = write_jsonl(tmp_path / "in.jsonl", [base, {**base, "problem": "other text"}])
    status, _, err = run_cli(["score", "--prm", "random", samples, "--out", tmp_path / "o"],
                             capsys)
    assert status == 2 and f"{samples}:2: field 'problem'" in err and "line 1" in err
    samples = write_jsonl(tmp_path / "in2.jsonl", [{**base, "sample_id": 4},
                                                  {**base, "sample_id": "4"}])
    status, _, err = run_cli(["score", "--prm", "random", samples, "--out", tmp_path / "o"],
                             capsys)
    assert status == 2 and f"{samples}:2: field 'sample_id'" in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"problem_id": "x", "problem": "p", "steps": ["a"]}\n{"problem_id": \n')
    status, _, err = run_cli(["score", "--prm", "random", bad, "--out", tmp_path / "o"], capsys)
    assert status == 2 and f"{bad}:2: malformed JSON" in err


def test_score_refuses_unknown_specs_without_guessing(tmp_path, capsys):
    samples = write_jsonl(tmp_path / "in.jsonl", [{"problem_id": "x", "problem": "p",
                                                   "steps": ["a"]}])
    status, _, err = run_cli(["score", "--prm", "someone/Qwen2.5-Math-PRM-clone", samples,
                              "--out", tmp_path / "o.jsonl"], capsys)
    assert status == 2 and "no PRM spec for 'someone/Qwen2.5-Math-PRM-clone'" in err


def test_prms_list(capsys):
    status, out, _ = run_cli(["prms", "list"], capsys)
    assert status == 0
    assert "qwen-prm" in out and "Qwen/Qwen2.5-Math-PRM-7B" in out and "step-label" in out
    status, out, _ = run_cli(["prms", "list", "--json"], capsys)
    listing = json.loads(out)
    assert listing["specs"]["PRIME-RL/EurusPRM-Stage1"]["family"] == "implicit"
    assert set(listing["families"]) >= {"qwen-prm", "step-tag", "generative"}
