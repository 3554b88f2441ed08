"""Leaderboard validation speed: one entry of 500 problems x 256 samples x ~10 steps.

    python benchmarks/leaderboard_bench.py [--problems 500] [--samples 256] [--seed 0]

The board and its pool (grades, voting classes, step counts) are synthetic and built in
memory here; the entry (entry.json and a scores file of 128,000 lines) is written to a
temporary folder with claims computed by ``harness.leaderboard.entry.recompute``. The
timed part is ``validate_entry``: reading and checking every line of the entry, then
recomputing prm@N and wmaj@N (N = 1, 2, 4, ..., 256) with their bootstrap CIs. Reading a
board's stored run folder is not timed (there is none here). Target: under 5 s. Prints
one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from harness import metrics as m
from harness.leaderboard.board import CI_METHOD, Board, BoardTask
from harness.leaderboard.entry import ENTRY_SCHEMA, recompute, spec_sha256, write_entry
from harness.leaderboard.pools import TaskPool
from harness.leaderboard.validate import validate_entry

TASK = "bench"


def build(n_problems: int, n_samples: int, seed: int) -> tuple[Board, TaskPool, dict]:
    rng = np.random.default_rng(seed)
    ns = [1 << i for i in range(n_samples.bit_length()) if 1 << i <= n_samples]
    board = Board(name="bench", title="bench", description="", path=Path("bench.yaml"),
                  pools_dir=Path("unused"), ns=ns, metrics=["prm", "wmaj"],
                  reference_metrics=["maj", "pass"], aggregations=["last", "min"],
                  ranking={"metric": f"prm@{ns[-1]}"},
                  ci={"method": CI_METHOD, "level": m.CI_LEVEL,
                      "bootstrap": m.DEFAULT_BOOTSTRAP, "draws": m.DEFAULT_DRAWS, "seed": 0},
                  tasks={TASK: BoardTask(TASK, "p" * 64, "g" * 64, 1, n_problems, n_samples)})
    pids = [f"bench/{i}" for i in range(n_problems)]
    steps = {pid: rng.integers(8, 13, n_samples) for pid in pids}
    pool = TaskPool(
        task=TASK, problem_ids=pids,
        positions={pid: {i: i for i in range(n_samples)} for pid in pids},
        n_steps=steps,
        correct={pid: rng.random(n_samples) < rng.random() for pid in pids},
        vote={pid: rng.integers(0, 6, n_samples) for pid in pids},
        sample_ids={pid: list(range(n_samples)) for pid in pids},
        pool_sha256="p" * 64, grades_sha256="g" * 64)
    scores = {pid: [[round(float(x), 6) for x in rng.random(int(k))] for k in steps[pid]]
              for pid in pids}
    return board, pool, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", type=int, default=500)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    board, pool, scores = build(args.problems, args.samples, args.seed)
    spec = {"prm_id": "bench-random"}
    doc = {"schema_version": ENTRY_SCHEMA, "board": board.name,
           "prm": {"id": "bench-random", "revision": None, "spec": spec,
                   "spec_sha256": spec_sha256(spec), "aggregation": "last"},
           "harness": {"version": "bench", "git_revision": None}, "submitter": "bench",
           "date": "2026-01-01T00:00:00+00:00",
           "tasks": {TASK: {"pool_sha256": pool.pool_sha256,
                            "metrics": recompute(board, pool, scores, "last")}}}
    rows = [{"problem_id": pid, "sample_id": i, "step_scores": s}
            for pid in pool.problem_ids for i, s in enumerate(scores[pid])]
    with tempfile.TemporaryDirectory() as tmp:
        entry = Path(tmp) / "entry"
        write_entry(entry, doc, {TASK: rows})
        size = (entry / "scores" / f"{TASK}.jsonl").stat().st_size
        start = time.perf_counter()
        verdict = validate_entry(board, entry, {TASK: pool})
        wall = time.perf_counter() - start
    print(json.dumps({
        "bench": "leaderboard_validate", "problems": args.problems, "samples": args.samples,
        "lines": len(rows), "step_scores": sum(len(x) for per in scores.values() for x in per),
        "scores_file_mb": round(size / 2**20, 1), "ns": board.ns,
        "metrics": len(board.claimed_names()), "bootstrap": board.ci["bootstrap"],
        "draws": board.ci["draws"], "valid": verdict.ok, "wall_s": round(wall, 3),
        "target_s": 5.0, "meets_target": wall < 5.0, "python": platform.python_version(),
        "cpu_count": os.cpu_count()}))


if __name__ == "__main__":
    main()
