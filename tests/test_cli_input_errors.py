"""Bad input exits non-zero with one line naming file, line and field, and writes nothing."""

from __future__ import annotations

import json

import pytest
from helpers import run_cli, write_jsonl

GOOD = {"problem_id": "p1", "sample_id": 0, "correct": True, "answer": "4", "score": 0.9}


def _flat(tmp_path, bad_line):
    rows = [GOOD, {**GOOD, "sample_id": 1, "correct": False, "answer": "5", "score": 0.2},
            bad_line]
    return write_jsonl(tmp_path / "samples.jsonl", rows)


@pytest.mark.parametrize(("bad", "expected"), [
    ('{"problem_id": "p1", "sample_id": 2,', ":3: malformed JSON"),
    ({"problem_id": "p1", "correct": True, "answer": "4", "score": 0.5},
     ":3: field 'sample_id': missing"),
    ({**GOOD, "sample_id": 2, "correct": "yes"}, ":3: field 'correct': expected true or false"),
    ({**GOOD, "sample_id": 2, "score": "high"}, ":3: field 'score': expected a number"),
    ('{"problem_id": "p1", "sample_id": 2, "correct": true, "answer": "4", "score": NaN}',
     ":3: malformed JSON: NaN is not allowed"),
    ({**GOOD, "sample_id": 0}, ":3: field 'sample_id': duplicate sample_id 0"),
    ({**GOOD, "sample_id": 2, "steps": ["a", "b"], "step_scores": [0.5]},
     ":3: field 'step_scores': 1 scores for 2 steps"),
    ({**GOOD, "sample_id": 2, "score": None}, ":3: field 'score': missing score"),
    ({**GOOD, "sample_id": True}, ":3: field 'sample_id': expected an int or a string"),
])
def test_metrics_rejects_bad_lines(tmp_path, capsys, bad, expected):
    path = _flat(tmp_path, bad)
    status, out, err = run_cli(["metrics", path, "--k", "1", "--json"], capsys)
    assert status == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {path}")
    assert expected in lines[0]


def test_k_larger_than_pool_is_an_error(tmp_path, capsys):
    path = write_jsonl(tmp_path / "s.jsonl", [GOOD, {**GOOD, "sample_id": 1}])
    status, _, err = run_cli(["metrics", path, "--k", "1,3", "--json"], capsys)
    assert status == 2
    assert "k=3 is larger than the pool of problem 'p1' (n=2)" in err


def test_metrics_contract_shape(tmp_path, capsys):
    rows = [{"problem_id": f"p{p}", "sample_id": s, "correct": (p + s) % 3 == 0,
             "answer": str((p * s) % 2), "score": ((p + 2 * s) % 5) / 5}
            for p in range(4) for s in range(4)]
    path = write_jsonl(tmp_path / "s.jsonl", rows)
    status, out, _ = run_cli(["metrics", path, "--k", "1,2,4", "--json"], capsys)
    assert status == 0
    result = json.loads(out)
    assert result["n_problems"] == 4
    assert list(result["metrics"]) == [f"{m}@{k}" for k in (1, 2, 4)
                                       for m in ("pass", "prm", "maj", "wmaj")]
    for entry in result["metrics"].values():
        assert set(entry) == {"value", "ci"}
        assert 0 <= entry["ci"][0] <= entry["value"] <= entry["ci"][1] <= 1
    no_scores = write_jsonl(tmp_path / "n.jsonl", [{**r, "score": None} for r in rows])
    status, out, _ = run_cli(["metrics", no_scores, "--k", "1,2", "--json"], capsys)
    assert list(json.loads(out)["metrics"]) == ["pass@1", "maj@1", "pass@2", "maj@2"]


def test_aggregate_selects_by_step_scores(tmp_path, capsys):
    rows = [
        {"problem_id": "p", "sample_id": 0, "correct": True, "answer": "1", "score": None,
         "step_scores": [0.9, 0.3]},
        {"problem_id": "p", "sample_id": 1, "correct": False, "answer": "2", "score": None,
         "step_scores": [0.5, 0.6]},
    ]
    path = write_jsonl(tmp_path / "s.jsonl", rows)
    results = {}
    for method in ("min", "last", "mean", "product"):
        status, out, _ = run_cli(["metrics", path, "--k", "2", "--json", "--aggregate", method],
                                 capsys)
        assert status == 0
        results[method] = json.loads(out)["metrics"]["prm@2"]["value"]
    assert results == {"min": 0.0, "last": 0.0, "mean": 1.0, "product": 0.0}


def test_import_with_bad_line_writes_no_run(tmp_path, capsys):
    path = _flat(tmp_path, {**GOOD, "sample_id": 2, "correct": 1})
    runs = tmp_path / "runs"
    status, _, err = run_cli(["import", path, "--format", "flat", "--runs-dir", runs], capsys)
    assert status == 2
    assert "field 'correct'" in err and ":3:" in err
    assert not runs.exists()
