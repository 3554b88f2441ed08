"""What a new user hit: each bad input is one clear line (file, line, field where there is
one) and exit status 2, never a traceback."""

from __future__ import annotations

import yaml
from helpers import run_cli, write_jsonl

ROW = {"problem_id": "p1", "sample_id": 0, "correct": True, "answer": "4", "score": 0.9}


def _one_error_line(status, out, err):
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_bellman_on_an_imported_run_says_why(tmp_path, capsys):
    flat = write_jsonl(tmp_path / "flat.jsonl", [ROW, {**ROW, "sample_id": 1, "score": 0.2}])
    status, _, err = run_cli(["import", flat, "--format", "flat", "--name", "imp",
                              "--runs-dir", tmp_path / "runs"], capsys)
    assert status == 0, err
    line = _one_error_line(*run_cli(["bellman", tmp_path / "runs" / "imp"], capsys))
    assert line.startswith(f"error: {tmp_path / 'runs' / 'imp'}: an imported run has no "
                           f"policy or PRMs to rebuild")
    assert "synthetic-arith" in line and "sim" in line


def _bad_apart_from_valid(line, bad, given_valid, valid):
    """The bad option is named, the valid ones follow apart, a valid given one is not bad."""
    cut = line.rindex(bad) + len(bad)
    assert all(v not in line[:cut] for v in given_valid), line
    assert [v.strip(" ()") for v in line[cut:].split(":", 1)[1].split(",")] == valid, line


def test_a_bad_option_is_listed_apart_from_the_valid_ones(tmp_path, capsys):
    samples = write_jsonl(tmp_path / "in.jsonl", [{"problem_id": "p", "problem": "1+1?",
                                                   "steps": ["1+1=2", "so 2"]}])
    line = _one_error_line(*run_cli(["score", samples, "--prm", "random", "--option", "seed=1",
                                     "--option", "bogus=2", "--out", tmp_path / "o.jsonl"],
                                    capsys))
    assert line.startswith("error: prm 'random': unknown option bogus; valid options: ")
    _bad_apart_from_valid(line, "bogus", ["seed"], ["seed"])
    assert not (tmp_path / "o.jsonl").exists()
    # a run's config: checked before any stage runs, named by file, line and field
    config = {"task": {"name": "synthetic-arith", "options": {"n_problems": 2}},
              "policy": {"name": "sim", "options": {"error_rate": 0.1, "bogus": 1}},
              "sampling": {"n": 2}, "report": {"kinds": []}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    line = _one_error_line(*run_cli(["run", path, "--runs-dir", tmp_path / "runs"], capsys))
    _bad_apart_from_valid(line, "bogus", ["error_rate"],
                          ["error_rate", "recovery_rate", "mul_weight"])


def test_negative_score_for_wmaj_names_file_line_and_field(tmp_path, capsys):
    rows = [ROW, {**ROW, "sample_id": 1, "score": 0.2}, {**ROW, "sample_id": 2, "score": -1.5}]
    path = write_jsonl(tmp_path / "s.jsonl", rows)
    line = _one_error_line(*run_cli(["metrics", path, "--k", "1,2", "--json"], capsys))
    assert line.startswith(f"error: {path}:3: field 'score': wmaj@k needs non-negative "
                           f"scores, got -1.5")
    steps = [{**ROW, "score": None, "step_scores": [0.5, 0.4]},
             {**ROW, "sample_id": 1, "score": None, "step_scores": [0.5, -0.25]}]
    path = write_jsonl(tmp_path / "t.jsonl", steps)
    line = _one_error_line(*run_cli(["metrics", path, "--aggregate", "min", "--json"], capsys))
    assert line.startswith(f"error: {path}:2: field 'step_scores': wmaj@k needs non-negative "
                           f"scores, got -0.25 (min)")


def test_k_larger_than_a_pool_names_file_line_and_field(tmp_path, capsys):
    rows = [ROW, {**ROW, "sample_id": 1}, {**ROW, "problem_id": "p2"},
            {**ROW, "sample_id": 2}]
    path = write_jsonl(tmp_path / "s.jsonl", rows)
    line = _one_error_line(*run_cli(["metrics", path, "--k", "1,2,3", "--json"], capsys))
    assert line == (f"error: {path}:3: field 'problem_id': k=2 is larger than the pool of "
                    f"problem 'p2' (n=1)")
