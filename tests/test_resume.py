"""SIGKILL a real `prm-harness run` inside each stage, resume it, compare with a clean run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

CONFIG = {
    "task": {"name": "synthetic-arith",
             "options": {"n_problems": 60, "length": 8, "difficulty": 3, "seed": 3}},
    "policy": {"name": "sim", "options": {"error_rate": 0.08, "recovery_rate": 0.3}},
    "sampling": {"n": 16, "seed": 1},
    "prms": [
        {"name": "sim-oracle", "options": {"error_rate": 0.08, "recovery_rate": 0.3}},
        {"name": "sim-noisy", "label": "noisy", "options": {"noise": 3.0, "error_rate": 0.08,
                                                            "recovery_rate": 0.3}},
    ],
    "metrics": {"ks": [1, 2, 4, 8, 16], "aggregations": ["last", "min"], "draws": 200,
                "bootstrap": 200},
    "shard_size": 2,
    "name": "resume",
}


def _start(config: Path, runs: Path) -> subprocess.Popen:
    env = {**os.environ, "PRM_HARNESS_PROGRESS": "0"}
    return subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(config),
                             "--runs-dir", str(runs)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def _shards(run: Path, stage: str) -> int:
    folder = run / stage
    return len(list(folder.glob("*.jsonl"))) if folder.is_dir() else 0


def _kill_when(process: subprocess.Popen, ready, timeout: float = 120) -> bool:
    """SIGKILL the process as soon as ``ready()`` holds; False if it finished first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if ready():
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.002)
    process.kill()
    raise AssertionError("run did not reach the kill point in time")


def test_sigkill_in_every_stage_then_resume_gives_identical_metrics(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    clean_runs, killed_runs = tmp_path / "clean", tmp_path / "killed"

    clean = _start(config, clean_runs)
    _out, err = clean.communicate(timeout=300)
    assert clean.returncode == 0, err.decode()
    reference = (clean_runs / "resume" / "metrics.json").read_bytes()

    run = killed_runs / "resume"
    oracle_stage = next((clean_runs / "resume" / "scores").iterdir()).name
    kill_points = [
        ("pool", lambda: _shards(run, "pool") >= 7),
        ("grades", lambda: _shards(run, "grades") >= 11),
        ("scores", lambda: _shards(run, f"scores/{oracle_stage}") >= 5),
        ("metrics/report", lambda: (run / "metrics.json").exists()),
    ]
    interrupted = []
    for stage, ready in kill_points:
        process = _start(config, killed_runs)
        if _kill_when(process, ready):
            interrupted.append(stage)
    assert interrupted[:3] == ["pool", "grades", "scores"], interrupted

    final = _start(config, killed_runs)
    _out, err = final.communicate(timeout=300)
    assert final.returncode == 0, err.decode()
    assert (run / "metrics.json").read_bytes() == reference
    for stage in ("pool", "grades", f"scores/{oracle_stage}"):
        clean_files = sorted(p.name for p in (clean_runs / "resume" / stage).glob("*.jsonl"))
        killed_files = sorted(p.name for p in (run / stage).glob("*.jsonl"))
        assert clean_files == killed_files
        for name in clean_files:
            assert (run / stage / name).read_bytes() == \
                (clean_runs / "resume" / stage / name).read_bytes()
    assert not list(run.rglob("*.tmp")), "temporary files left behind"
    manifest = yaml.safe_load((run / "manifest.json").read_text())
    assert manifest["stages"]["pool"]["shards_reused"] == 30  # the last resume redid nothing
    assert len(manifest["resumed"]) >= 3
