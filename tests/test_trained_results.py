"""The stored evaluations of trained PRMs (trained/*) are recomputed from the stored step
scores: every number of each ``processbench_eval_vs_*.json`` (point figures, τ, bootstrap
CIs and paired differences) comes out the same."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from helpers import run_cli

TRAINED = Path(__file__).resolve().parents[1] / "trained"
EVALS = sorted(TRAINED.glob("*/processbench_eval_vs_*.json"))


def _unzip(path: Path, out: Path) -> Path:
    out.write_bytes(gzip.decompress(path.read_bytes()))
    return out


def _strip(result: dict) -> dict:
    """Everything but the paths the files were read from."""
    result = dict(result)
    result.pop("scores")
    if "against" in result:
        result["against"] = {k: v for k, v in result["against"].items() if k != "scores"}
    return result


def test_there_are_stored_evaluations():
    assert EVALS, TRAINED


@pytest.mark.parametrize("stored", EVALS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_stored_processbench_evaluation_is_recomputed(stored, tmp_path, capsys, shared_data):
    baseline = stored.stem.removeprefix("processbench_eval_vs_")
    scores = _unzip(stored.parent / "processbench_scores.jsonl.gz", tmp_path / "s.jsonl")
    other = _unzip(stored.parent / f"processbench_{baseline}.jsonl.gz", tmp_path / "o.jsonl")
    want = json.loads(stored.read_text())
    status, out, err = run_cli(
        ["processbench", "eval", scores, "--split", "gsm8k", "--split", "olympiadbench",
         "--split", "omnimath", "--bootstrap", str(want["bootstrap"]["draws"]),
         "--seed", str(want["bootstrap"]["seed"]), "--against", other], capsys)
    assert status == 0, err
    assert _strip(json.loads(out)) == _strip(want)
    # the claim the closing note makes: better than the baseline on the held-out splits
    assert want["bootstrap"]["mean_diff_f1_held_out"][0] > 0
    assert want["bootstrap"]["mean_diff_f1_pr_held_out"][0] > 0
