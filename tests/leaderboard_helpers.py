"""Builders shared by the leaderboard site tests: the shipped sim-arith board with its
pools regenerated into a folder, and entries made by ``submit``'s code from real runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.config import PluginConfig
from harness.leaderboard.board import load_board
from harness.leaderboard.pools import read_task_pool
from harness.leaderboard.submit import make_entry
from harness.pipeline.board_pools import build_pools, score_on_board

TASK = "synthetic-arith"
POLICY = {"error_rate": 0.08, "recovery_rate": 0.3}
SITE_PRMS = {
    "sim-oracle": PluginConfig(name="sim-oracle", options=dict(POLICY)),
    "sim-noisy-1": PluginConfig(name="sim-noisy", label="sim-noisy-1",
                                options={**POLICY, "noise": 1.0, "seed": 0}),
    "sim-noisy-4": PluginConfig(name="sim-noisy", label="sim-noisy-4",
                                options={**POLICY, "noise": 4.0, "seed": 0}),
    "random": PluginConfig(name="random", options={"seed": 0}),
}


def build_world(root: Path, prms: dict[str, PluginConfig] | None = None) -> dict[str, Any]:
    """The board (pools under ``root/pools``, checked against the pins) and one entry
    folder per PRM under ``root/entries``."""
    board = load_board("sim-arith").with_pools_dir(root / "pools")
    build_pools(board, log=lambda *a: None)
    entries = {}
    for label, prm in (prms or SITE_PRMS).items():
        run = score_on_board(board, TASK, prm, root / "runs")
        entries[label] = root / "entries" / label
        make_entry(board, [run.path], entries[label], prm=label, submitter="tests")
    return {"board": board, "root": root, "entries": entries,
            "pools": {TASK: read_task_pool(board, TASK)}}
