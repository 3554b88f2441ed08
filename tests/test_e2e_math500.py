"""``prm-harness run`` end to end on MATH-500's first 20 problems with a tiny local policy
and a tiny local PRM (random weights, real architectures) on CPU: generate -> grade ->
score -> metrics -> report, from the shipped example config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_cli

pytest.importorskip("transformers")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory, shared_data):
    from harness.models.tiny import main as build_tiny

    out = tmp_path_factory.mktemp("tiny-models")
    assert build_tiny([str(out), "--data-dir", str(shared_data)]) == 0
    return out


def test_run_math500_with_tiny_policy_and_prm(tiny_models, shared_data, tmp_path, capsys):
    runs = tmp_path / "runs"
    args = ["run", REPO / "examples" / "math500-tiny.yaml", "--runs-dir", runs,
            "--set", f"policy.options.model={tiny_models / 'policy'}",
            "--set", f"prms.0.options.model={tiny_models / 'prm'}",
            "--set", "sampling.max_tokens=12", "--set", "sampling.n=2",
            "--set", "metrics.ks=[1,2]"]
    status, _, err = run_cli(args, capsys)
    assert status == 0, err
    (run_dir,) = [p for p in runs.iterdir() if not p.name.startswith(".")]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["n_problems"] == 20
    with (shared_data / "math500" / "test.jsonl").open() as f:
        first20 = [json.loads(line)["unique_id"] for _, line in zip(range(20), f, strict=False)]
    assert manifest["problem_ids"] == first20
    calibration = manifest["calibration"]  # the grader checked on these 20 references first
    assert (calibration["n"], calibration["passed"], calibration["mode"]) == (20, 20, "require")
    assert manifest["stages"]["pool"]["compute"]["tokens_out"] > 0
    assert manifest["stages"]["pool"]["compute"]["params"] > 0
    pool = [json.loads(line) for p in sorted((run_dir / "pool").glob("*.jsonl"))
            for line in p.read_text().splitlines()]
    assert len(pool) == 40 and {r["problem_id"] for r in pool} == set(first20)
    assert all(0 < r["completion_tokens"] <= 12 for r in pool)
    grades = [json.loads(line) for p in sorted((run_dir / "grades").glob("*.jsonl"))
              for line in p.read_text().splitlines()]
    assert len(grades) == 40
    (score_dir,) = (run_dir / "scores").iterdir()
    scores = {(r["problem_id"], r["sample_index"]): r["scores"]
              for p in sorted(score_dir.glob("*.jsonl"))
              for r in map(json.loads, p.read_text().splitlines())}
    for sample in pool:  # one score per step, each a probability
        step_scores = scores[(sample["problem_id"], sample["index"])]
        assert len(step_scores) == len(sample["steps"])
        assert all(0.0 <= s <= 1.0 for s in step_scores)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    text = json.dumps(metrics)
    for name in ("pass@2", "maj@2", "prm@2", "wmaj@2"):
        assert name in text
    report = run_dir / "report" / "best-of-n"
    for name in ("best_of_n.csv", "best_of_n.md", "best_of_n.html", "best_of_n.png",
                 "best_of_n.svg"):
        assert (report / name).stat().st_size > 0
    # a second run of the same config does no work and gives the same metrics
    before = (run_dir / "metrics.json").read_bytes()
    stamps = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*.jsonl")}
    status, _, err = run_cli(args, capsys)
    assert status == 0, err
    assert (run_dir / "metrics.json").read_bytes() == before
    assert {p: p.stat().st_mtime_ns for p in run_dir.rglob("*.jsonl")} == stamps
