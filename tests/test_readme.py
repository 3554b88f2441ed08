"""The README's commands work as written: the real-pool example runs through the installed
``prm-harness`` entry point and prints the README's table; the tiny-model builder fails at
once, in one line, when no data is reachable."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _block_after(heading: str) -> list[str]:
    """The first indented code block after ``heading``, continuation lines joined."""
    lines = (REPO / "README.md").read_text().splitlines()
    start = lines.index(heading)
    block: list[str] = []
    for line in lines[start + 1:]:
        if line.startswith("    "):
            block.append(line[4:])
        elif block:
            break
    return block


def _entry_point() -> Path:
    found = Path(sys.executable).parent / "prm-harness"
    if not found.exists():
        which = shutil.which("prm-harness")
        assert which, "the prm-harness entry point is not installed"
        found = Path(which)
    return found


def test_readme_real_pool_example_runs_as_written(shared_data, tmp_path):
    block = _block_after("## Example: a real pool with reward-model scores")
    script = "\n".join(block)
    assert ".venv/bin/prm-harness import" in script and "--save" in script
    # a fresh clone's layout: the commands run from the checkout, whose venv is .venv
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "prm-harness").symlink_to(_entry_point())
    env = {k: v for k, v in os.environ.items() if k != "PRM_HARNESS_RUNS"}
    env.update(PRM_HARNESS_DATA=str(shared_data), PRM_HARNESS_PROGRESS="0")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    run = tmp_path / "runs" / "qwen25-math-cot-100"
    assert (run / "metrics.json").is_file()
    assert (run / "report" / "best-of-n" / "best_of_n.md").is_file()
    shown = subprocess.run([str(_entry_point()), "metrics", str(run), "--k", "1,2,4,8",
                            "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    metrics = json.loads(shown.stdout)["metrics"]
    readme = (REPO / "README.md").read_text()
    rows = re.findall(r"^\| (\d+) \|(.*)\|$", readme[readme.index(block[-1]):], re.M)
    assert [int(n) for n, _ in rows[:4]] == [1, 2, 4, 8]
    for n, cells in rows[:4]:
        for kind, cell in zip(("pass", "maj", "prm", "wmaj"), cells.split("|"), strict=True):
            value, low, high = (float(x) for x in re.findall(r"[\d.]+", cell))
            got = metrics[f"{kind}@{n}"]
            assert abs(100 * got["value"] - value) <= 0.051, (kind, n, got, cell)
            assert abs(100 * got["ci"][0] - low) <= 0.051, (kind, n, got, cell)
            assert abs(100 * got["ci"][1] - high) <= 0.051, (kind, n, got, cell)


def test_readme_names_the_venv_in_every_command():
    blocks = re.findall(r"(?:^    .*\n)+", (REPO / "README.md").read_text(), re.M)
    commands = [line.strip() for b in blocks for line in b.splitlines()]
    bare = [c for c in commands
            if re.match(r"(prm-harness|python|pip) ", c) or " && prm-harness" in c
            or re.match(r"[A-Z_]+=\S+ (prm-harness|python) ", c)]
    assert not bare, bare  # `prm-harness: command not found` on a fresh clone


def test_tiny_models_fail_in_one_line_when_no_data_is_reachable(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PRM_HARNESS_DATA",
                                                            "HF_HUB_OFFLINE")}
    env.update(HF_HOME=str(tmp_path / "hf"), HF_ENDPOINT="http://127.0.0.1:9")  # refused
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "harness.models.tiny", str(tmp_path / "m")],
                          env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - start
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "hub is unreachable" in done.stderr, done.stderr
    assert "PRM_HARNESS_DATA" in done.stderr
    assert elapsed < 10, elapsed
    assert not (tmp_path / "m").exists()


def test_tiny_models_build_offline_from_the_data_folder(shared_data, tmp_path):
    pytest.importorskip("transformers")
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env.update(PRM_HARNESS_DATA=str(shared_data), HF_HOME=str(tmp_path / "hf"),
               HF_ENDPOINT="http://127.0.0.1:9")
    done = subprocess.run([sys.executable, "-m", "harness.models.tiny", str(tmp_path / "m")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for part in ("policy", "prm"):
        assert (tmp_path / "m" / part / "config.json").is_file()
