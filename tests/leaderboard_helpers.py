"""Builders shared by the leaderboard site tests: the shipped sim-arith board with its
pools regenerated into a folder, and entries made by ``submit``'s code from real runs."""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from harness import registry
from harness.config import PluginConfig
from harness.leaderboard.board import load_board
from harness.leaderboard.pools import read_task_pool
from harness.leaderboard.submit import make_entry
from harness.pipeline.board_pools import build_pools, score_on_board
from harness.store.keys import file_sha256
from harness.synthetic.prms import SimNoisyPRM, SimOraclePRM
from harness.types import Problem, Sample, StepScores

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


class CheckpointPRM(SimNoisyPRM):
    """PRM plug-in ``lb-checkpoint``: the simulated noisy PRM whose settings (its
    "weights") are read from a checkpoint file, so its resolved identity is that file's
    sha256 as a real adapter's is its weights' hash; ``calls`` counts every scoring call
    (class-wide), which is how a test sees whether the ci cache spared the model."""

    prm_id = "lb-checkpoint"
    calls = 0

    def __init__(self, checkpoint: str) -> None:
        settings = json.loads(Path(checkpoint).read_text())
        super().__init__(**{**POLICY, **settings})

    @classmethod
    def resolved_identity(cls, **options: Any) -> dict[str, Any]:
        return {"checkpoint_sha256": file_sha256(Path(options["checkpoint"]))}

    def score(self, problems: Sequence[Problem], samples: Sequence[Sample]) -> list[StepScores]:
        type(self).calls += 1
        return super().score(problems, samples)


class ShuffledOraclePRM(SimOraclePRM):
    """PRM plug-in ``lb-shuffled-oracle``: the oracle's verdicts shuffled across the samples
    of each problem (within a scoring call, which holds whole problems on the boards
    here): sample j gets the oracle's final score of another sample, on every step."""

    prm_id = "lb-shuffled-oracle"

    def __init__(self, seed: int = 0, **options: Any) -> None:
        super().__init__(**{**POLICY, **options})
        self.seed = seed

    def score(self, problems: Sequence[Problem], samples: Sequence[Sample]) -> list[StepScores]:
        honest = super().score(problems, samples)
        by_problem: dict[str, list[int]] = {}
        for j, sample in enumerate(samples):
            by_problem.setdefault(sample.problem_id, []).append(j)
        out = list(honest)
        rng = random.Random(self.seed)
        for members in by_problem.values():
            order = members[:]
            rng.shuffle(order)
            for j, k in zip(members, order, strict=True):
                out[j] = StepScores(samples[j].problem_id, samples[j].index, self.prm_id,
                                    [honest[k].scores[-1]] * len(samples[j].steps))
        return out


TEST_PRMS = (("lb-checkpoint", CheckpointPRM), ("lb-shuffled-oracle", ShuffledOraclePRM))


@contextlib.contextmanager
def extra_prms_registered() -> Iterator[None]:
    """The two plug-ins above, known to the registry for the block only (other tests
    count the registry's names)."""
    for name, cls in TEST_PRMS:
        registry.register("prm", name)(cls)
    try:
        yield
    finally:
        for name, _ in TEST_PRMS:
            registry.registry_for("prm").unregister(name)


def qwen100_board(pools: Path, capsys: Any) -> tuple[Any, Any]:
    """The math-qwen100 board with its pool rebuilt from the data mirror into ``pools``
    (checked against the board's pins), and that pool."""
    from helpers import run_cli

    status, out, _ = run_cli(["leaderboard", "build-pools", "math-qwen100", "--pools-dir",
                              pools], capsys)
    assert status == 0 and "matches the pins" in out, out
    board = load_board("math-qwen100").with_pools_dir(pools)
    return board, read_task_pool(board, "math-qwen100")
