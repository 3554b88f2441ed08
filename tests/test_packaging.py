"""Import hygiene and the README's main-job command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from helpers import write_jsonl

REPO = Path(__file__).resolve().parents[1]


def test_light_commands_do_not_import_torch(tmp_path):
    flat = write_jsonl(tmp_path / "s.jsonl", [
        {"problem_id": "p", "sample_id": i, "correct": i == 0, "answer": str(i % 2),
         "score": i / 4} for i in range(4)])
    samples = write_jsonl(tmp_path / "g.jsonl", [
        {"problem_id": "synthetic-arith/0/0", "completion": "The answer is $\\boxed{3}$."}])
    script = f"""
import sys
import harness, harness.metrics, harness.pipeline.runner, harness.cli.app
from harness.cli import main
assert main(["metrics", {str(flat)!r}, "--k", "1,2", "--json"]) == 0
assert main(["grade", "synthetic-arith", {str(samples)!r}]) == 0
heavy = sorted(m for m in ("torch", "transformers", "vllm") if m in sys.modules)
print("HEAVY", heavy)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout


def test_demo_command_writes_a_report(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "harness.cli", "demo", "--out", str(tmp_path / "demo"),
         "--problems", "20", "--n", "16"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "| N | pass@N | maj@N |" in result.stdout
    assert "sim-oracle | 0.0000 |" in result.stdout
    report = tmp_path / "demo" / "demo-20x16-seed0" / "report"
    assert (report / "best-of-n" / "best_of_n.png").stat().st_size > 10_000
    rows = json.loads((report.parent / "diagnostics" / "bellman.json").read_text())["rows"]
    assert (report / "bellman" / "bellman.csv").stat().st_size > 0
    assert [r["prm"] for r in rows] == ["sim-oracle", "sim-noisy-2.5", "sim-noisy-5"]
    assert rows[0]["bellman_error"] < 1e-12 < rows[1]["bellman_error"] < rows[2]["bellman_error"]
    assert "report: " in result.stdout
    compare = subprocess.run(
        [sys.executable, "-m", "harness.cli", "compare", str(report.parent), "sim-oracle",
         "sim-noisy-5", "--json"], capture_output=True, text=True, timeout=120)
    assert compare.returncode == 0, compare.stderr
    rows = {r["metric"]: r for r in json.loads(compare.stdout)["comparisons"]}
    assert rows["prm@1"]["difference"] == 0.0
    assert max(r["difference"] for r in rows.values()) > 0
    assert all(r["ci"][0] <= r["difference"] <= r["ci"][1] and 0 <= r["p_value"] <= 1
               for r in rows.values())
