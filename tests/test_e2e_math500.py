"""``prm-harness run`` end to end on MATH-500's first 20 problems with a tiny local policy
and a tiny local PRM (random weights, real architectures) on CPU: generate -> grade ->
score -> metrics -> report, from the shipped example config; the run's compute ledger
holds every generation and scoring call, and the manifest pins the folders loaded."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from helpers import run_cli

from harness.models.model_files import folder_sha256

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
            "--set", f"prms.0.options.model={tiny_models / 'prm'}"]  # otherwise as shipped
    status, _, err = run_cli(args, capsys)
    assert status == 0, err
    (run_dir,) = [p for p in runs.iterdir() if not p.name.startswith(".")]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["n_problems"] == 20
    with (shared_data / "math500" / "test.jsonl").open() as f:
        first20 = [json.loads(line)["unique_id"] for _, line in zip(range(20), f, strict=False)]
    assert manifest["problem_ids"] == first20
    checked = manifest["reference_check"]  # the grader checked on these 20 references first
    assert (checked["n"], checked["passed"], checked["mode"]) == (20, 20, "require")
    assert manifest["stages"]["pool"]["compute"]["tokens_out"] > 0
    assert manifest["stages"]["pool"]["compute"]["params"] > 0
    pool = [json.loads(line) for p in sorted((run_dir / "pool").glob("*.jsonl"))
            for line in p.read_text().splitlines()]
    assert len(pool) == 80 and {r["problem_id"] for r in pool} == set(first20)
    assert all(0 < r["completion_tokens"] <= 48 for r in pool)
    # random weights write an empty completion now and then: one empty step, still scored
    assert all(r["steps"] == [""] for r in pool if not r["text"])
    grades = [json.loads(line) for p in sorted((run_dir / "grades").glob("*.jsonl"))
              for line in p.read_text().splitlines()]
    assert len(grades) == 80
    (score_dir,) = (run_dir / "scores").iterdir()
    scores = {(r["problem_id"], r["sample_index"]): r["scores"]
              for p in sorted(score_dir.glob("*.jsonl"))
              for r in map(json.loads, p.read_text().splitlines())}
    for sample in pool:  # one score per step, each a probability
        step_scores = scores[(sample["problem_id"], sample["index"])]
        assert len(step_scores) == len(sample["steps"])
        assert all(0.0 <= s <= 1.0 for s in step_scores)
    _check_compute_ledger(run_dir, manifest, tiny_models)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    text = json.dumps(metrics)
    for name in ("pass@4", "maj@4", "prm@4", "wmaj@4"):
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


def _stored_params(folder: Path) -> int:
    from safetensors.torch import load_file

    return sum(t.numel() for t in load_file(str(folder / "model.safetensors")).values())


def _check_compute_ledger(run_dir: Path, manifest: dict, tiny_models: Path) -> None:
    """Every generation and scoring call is a record of the run's ledger file, which the
    manifest references; the records add up to the stage totals."""
    entry = manifest["compute_ledger"]
    data = (run_dir / entry["file"]).read_bytes()
    assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    records = [json.loads(line) for line in data.decode().splitlines()]
    assert len(records) == entry["records"] and not entry["shards_without_calls"]
    assert all(set(r) == set(entry["fields"]) for r in records)
    prm_stage = next(s for s in manifest["stages"] if s.startswith("scores/"))
    models = {"pool": tiny_models / "policy", prm_stage: tiny_models / "prm"}
    for stage, folder in models.items():
        mine = [r for r in records if r["stage"] == stage]
        total = manifest["stages"][stage]["compute"]
        params = _stored_params(folder)
        assert mine and all(r["params"] == params for r in mine), stage
        for record in mine:
            tokens = record["tokens_in"] + record["tokens_out"]
            assert record["flops"] == 2.0 * params * tokens and record["wall_s"] > 0
        for name in ("tokens_in", "tokens_out", "flops", "wall_s"):
            assert sum(r[name] for r in mine) == pytest.approx(total[name]), (stage, name)
        assert len(mine) == total["calls"]
        assert {r["shard"] for r in mine} == set(range(len(manifest["stages"][stage]["shards"])))
    assert all(r["kind"] == "sample" and r["tokens_out"] > 0 for r in records
               if r["stage"] == "pool")
    assert all(r["kind"] == "score" and r["tokens_out"] == 0 for r in records
               if r["stage"] != "pool")
    # what was loaded, pinned: the content hash of each local model folder
    resolved = manifest["stages"][prm_stage]["prm_identity"]["resolved_revisions"]["prm"]
    policy = manifest["stages"]["pool"]["policy_identity"]["resolved_revision"]
    assert resolved["folder_sha256"] == folder_sha256(tiny_models / "prm")
    assert policy["folder_sha256"] == folder_sha256(tiny_models / "policy")
