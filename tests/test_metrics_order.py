"""Nothing in `metrics` depends on the order of a file's lines: problems, and the samples
of each problem, are put in id order before any seeded draw or bootstrap resample."""

from __future__ import annotations

import json
import math
import random

import numpy as np
from helpers import run_cli, write_jsonl

from harness import metrics as m

QWEN = "samples/qwen2.5-math_math_cot_100/math_cot_100.jsonl"


def _flat_rows(shared_data):
    """The real Qwen2.5-Math pool (100 MATH problems x 8 responses) as flat lines: the
    file's flags, answers and its reward model's logits through a sigmoid."""
    rows = []
    for line in (shared_data / QWEN).read_text().splitlines():
        item = json.loads(line)
        for j, (pred, flag, raw) in enumerate(zip(item["pred"], item["score"],
                                                  item["pred_score"], strict=True)):
            rows.append({"problem_id": f"math-{item['idx']}", "sample_id": j, "correct": flag,
                         "answer": pred or None, "score": 1 / (1 + math.exp(-raw[0]))})
    return rows


def _shuffled(rows, seed):
    out = list(rows)
    random.Random(seed).shuffle(out)
    assert out != rows
    return out


def _metrics(path, capsys, *extra):
    status, out, err = run_cli(["metrics", path, "--k", "1,2,4,8", "--json", *extra], capsys)
    assert status == 0, err
    return out


def test_shuffled_lines_give_identical_metrics(shared_data, tmp_path, capsys):
    rows = _flat_rows(shared_data)
    original = _metrics(write_jsonl(tmp_path / "a.jsonl", rows), capsys)
    for seed in (1, 2):
        shuffled = write_jsonl(tmp_path / f"s{seed}.jsonl", _shuffled(rows, seed))
        assert _metrics(shuffled, capsys) == original
        # sampled (not exhaustive) voting draws too: C(8, 4) = 70 > 20 draws
        assert (_metrics(shuffled, capsys, "--draws", "20")
                == _metrics(tmp_path / "a.jsonl", capsys, "--draws", "20"))
    result = json.loads(original)
    assert result["n_problems"] == 100
    lo, hi = result["metrics"]["pass@4"]["ci"]
    assert lo < result["metrics"]["pass@4"]["value"] < hi


def test_shuffled_import_gives_identical_run_metrics(shared_data, tmp_path, capsys):
    rows = _flat_rows(shared_data)
    outputs = []
    for name, lines in (("a", rows), ("b", _shuffled(rows, 3))):
        path = write_jsonl(tmp_path / f"{name}.jsonl", lines)
        status, _, err = run_cli(["import", path, "--format", "flat", "--name", name,
                                  "--runs-dir", tmp_path / "runs", "--prm-id", "rm"], capsys)
        assert status == 0, err
        outputs.append(_metrics(tmp_path / "runs" / name, capsys, "--draws", "20"))
    assert outputs[0] == outputs[1]


def test_compute_all_depends_on_the_set_of_samples_only():
    """Problem order and the order of samples within a problem (with their ids) change no
    number, and per-problem values come back in the order given."""
    rng = np.random.default_rng(4)
    pools = []
    for p in range(30):
        n = 9
        pools.append(m.ProblemPool(f"q{p}", rng.random(n) < 0.5, rng.integers(-1, 3, n),
                                   rng.integers(0, 4, n) / 4, list(range(n))))
    ks = [1, 2, 4, 8]
    want = m.compute_all(pools, ks, draws=30, n_boot=300)
    perm = rng.permutation(len(pools))
    moved = []
    for i in perm:
        pool = pools[i]
        inner = rng.permutation(pool.n)
        moved.append(m.ProblemPool(pool.problem_id, pool.correct[inner], pool.vote[inner],
                                   pool.score[inner], [pool.sample_ids[j] for j in inner]))
    got = m.compute_all(moved, ks, draws=30, n_boot=300)
    for name, est in want.items():
        assert (got[name].value, got[name].ci) == (est.value, est.ci), name
        assert np.array_equal(got[name].per_problem, est.per_problem[perm]), name


def test_natural_order_of_ids():
    ids = ["p10", "p2", "p1", "p02", "q", 3, "3"]
    assert sorted(ids, key=m.natural_key) == [3, "3", "p1", "p02", "p2", "p10", "q"]
