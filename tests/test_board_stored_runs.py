"""Boards over the project's stored runs (``build.config``): the pools are the runs a run
config makes, resumed in the board's ``pools_dir``, so a stored run is checked against the
pins at no cost; and the shipped zoo-policy boards validate from the committed runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from helpers import run_cli

from harness.errors import ConfigError
from harness.leaderboard.board import load_board
from harness.pipeline.board_pools import build_pools, make_entries

RUN = {"name": "tiny-sim",
       "task": {"name": "synthetic-arith", "options": {"n_problems": 6, "length": 4,
                                                         "difficulty": 2, "seed": 0}},
       "policy": {"name": "sim", "options": {"error_rate": 0.2, "recovery_rate": 0.3}},
       "sampling": {"n": 4, "seed": 0},
       "prms": [{"name": "length"}],
       "metrics": {"ks": [1, 2, 4]}, "shard_size": 2}


def _board(tmp_path: Path, pins: dict | None, config: str = "tiny-sim.yaml") -> Path:
    doc = {"schema_version": 1, "name": "tiny", "title": "t", "description": "d",
           "pools_dir": "runs", "ns": [1, 2, 4], "metrics": ["prm", "wmaj"],
           "reference_metrics": ["maj", "pass"], "aggregations": ["last"],
           "ranking": {"metric": "prm@4", "order": "descending", "over_tasks": "mean"},
           "ci": {"method": "percentile bootstrap over problems", "level": 0.95,
                  "bootstrap": 200, "draws": 100, "seed": 0},
           "tasks": {"tiny-sim": {**(pins or {"pool_sha256": "0" * 64,
                                              "grades_sha256": "0" * 64}),
                                  "n_problems": 6, "n_samples": 4,
                                  "build": {"config": config}}},
           "entries": [{"name": "length", "prm": {"name": "length"}, "aggregation": "last"}]}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_a_stored_run_is_a_board_pool_checked_against_its_pins(tmp_path, capsys):
    (tmp_path / "tiny-sim.yaml").write_text(yaml.safe_dump(RUN))
    first = build_pools(load_board(_board(tmp_path, None)), log=lambda *a: None, check=False)
    row = first["tiny-sim"]
    assert not row["matches"] and Path(row["path"]) == tmp_path / "runs" / "tiny-sim"
    manifest = json.loads((tmp_path / "runs/tiny-sim/manifest.json").read_text())
    assert row["pool_sha256"] == manifest["content"]["pool_sha256"]
    pins = {"pool_sha256": row["pool_sha256"], "grades_sha256": row["grades_sha256"]}
    board = load_board(_board(tmp_path, pins))
    files = sorted(p for p in (tmp_path / "runs/tiny-sim").rglob("*") if p.is_file())
    before = {p: p.read_bytes() for p in files}
    again = build_pools(board, log=lambda *a: None)  # raises when the pins differ
    assert again["tiny-sim"]["matches"]
    # a finished stored run is read, never rewritten (its manifest keeps its provenance)
    assert {p: p.read_bytes() for p in files} == before
    entry, = make_entries(board, tmp_path / "entries", log=lambda *a: None)
    status, out, _ = run_cli(["leaderboard", "validate", str(board.path), str(entry)], capsys)
    assert status == 0, out


def test_a_config_making_another_run_is_refused(tmp_path):
    (tmp_path / "other.yaml").write_text(yaml.safe_dump({**RUN, "name": "other"}))
    with pytest.raises(ConfigError, match="makes run 'other'; the task must carry"):
        build_pools(load_board(_board(tmp_path, None, "other.yaml")), log=lambda *a: None)


@pytest.mark.parametrize("name", ["zoo-math", "zoo-code"])
def test_shipped_zoo_boards_check_and_validate_from_the_committed_runs(name, capsys):
    """The zoo boards' pools are the committed runs: build-pools only checks their pins
    (rewriting nothing) and every declared entry validates from its stored scores."""
    board = load_board(name)
    runs = [board.task_dir(task) for task in board.tasks]
    before = {p: p.read_bytes() for run in runs for p in sorted(run.rglob("*")) if p.is_file()}
    report = build_pools(board, log=lambda *a: None)
    assert all(row["matches"] for row in report.values())
    assert {p: p.read_bytes() for p in before} == before
    status, out, _ = run_cli(["leaderboard", "validate", name], capsys)
    assert status == 0, out
    for entry in board.entries:
        assert f"entries/{entry['name']}: valid" in out, out
