"""The stored evaluations of trained PRMs (trained/*) are recomputed from the stored step
scores: every number of each ``processbench_eval_vs_*.json`` (point figures, τ, bootstrap
CIs and paired differences) and each ``prm800k_eval_vs_*.json`` (AUROC, accuracy, the
bootstrap over problems and the paired difference) comes out the same."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from helpers import run_cli

ROOT = Path(__file__).resolve().parents[1]
TRAINED = ROOT / "trained"
EVALS = sorted(TRAINED.glob("*/processbench_eval_vs_*.json"))
PRM800K_EVALS = sorted(TRAINED.glob("*/prm800k_eval_vs_*.json"))


def _unzip(path: Path, out: Path) -> Path:
    out.write_bytes(gzip.decompress(path.read_bytes()))
    return out


def _inputs(stored: Path, bench: str, tmp_path: Path) -> tuple[Path, Path, dict]:
    """The stored scores of an evaluation and of its baseline, unzipped, and the stored
    result."""
    baseline = stored.stem.removeprefix(f"{bench}_eval_vs_")
    scores = _unzip(stored.parent / f"{bench}_scores.jsonl.gz", tmp_path / "s.jsonl")
    other = _unzip(stored.parent / f"{bench}_{baseline}.jsonl.gz", tmp_path / "o.jsonl")
    return scores, other, json.loads(stored.read_text())


def _strip(result: dict) -> dict:
    """Everything but the paths the files were read from."""
    result = dict(result)
    result.pop("scores")
    result.pop("against_file", None)
    if "excluded" in result:  # the labels' path differs; their sha256 is compared
        result["excluded"] = {k: v for k, v in result["excluded"].items() if k != "labels"}
    if "against" in result:
        result["against"] = {k: v for k, v in result["against"].items() if k != "scores"}
    return result


def test_there_are_stored_evaluations():
    assert EVALS, TRAINED


@pytest.mark.parametrize("stored", EVALS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_stored_processbench_evaluation_is_recomputed(stored, tmp_path, capsys, shared_data):
    scores, other, want = _inputs(stored, "processbench", tmp_path)
    status, out, err = run_cli(
        ["processbench", "eval", scores, "--split", "gsm8k", "--split", "olympiadbench",
         "--split", "omnimath", "--bootstrap", str(want["bootstrap"]["draws"]),
         "--seed", str(want["bootstrap"]["seed"]), "--against", other], capsys)
    assert status == 0, err
    assert _strip(json.loads(out)) == _strip(want)
    if stored.parent.name == "prm-pb-smollm2-l4":
        # the claim a closing note makes: PRM-Math beats each baseline on the held-out
        # splits (PRM-Code, trained on code, makes no such claim on math)
        assert want["bootstrap"]["mean_diff_f1_held_out"][0] > 0
        assert want["bootstrap"]["mean_diff_f1_pr_held_out"][0] > 0


def test_there_are_stored_prm800k_evaluations():
    assert PRM800K_EVALS, TRAINED


@pytest.mark.parametrize("stored", PRM800K_EVALS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_stored_prm800k_evaluation_is_recomputed(stored, tmp_path, capsys, shared_data):
    scores, other, want = _inputs(stored, "prm800k", tmp_path)
    exclude: list = []
    if "excluded" in want:
        # PRM-Math's training labels, rebuilt (0.7 s; the same bytes as the stored sha256):
        # the rated steps of the problems it trained on are left out of the evaluation
        config = tmp_path / "labels.yaml"
        config.write_text((ROOT / "examples" / "labels" / "processbench.yaml").read_text()
                          .replace("out: ../../labels-out/processbench.jsonl",
                                   f"out: {tmp_path / 'labels.jsonl'}"))
        status, _, err = run_cli(["labels", "build", config], capsys)
        assert status == 0, err
        exclude = ["--exclude-labels", tmp_path / "labels.jsonl"]
    status, out, err = run_cli(
        ["prm800k-steps", "eval", scores, "--bootstrap", str(want["bootstrap"]["draws"]),
         "--seed", str(want["bootstrap"]["seed"]), "--against", other, *exclude], capsys)
    assert status == 0, err
    got = json.loads(out)
    assert _strip(got) == _strip(want)
    if stored.parent.name == "prm-pb-smollm2-l4":
        assert [x["sha256"] for x in got["excluded"]["labels"]] == \
            [x["sha256"] for x in want["excluded"]["labels"]]
        assert want["excluded"]["problems"] == 28  # in ProcessBench's math split
        assert want["n_problems"] == 70 and want["n_neutral"] > 0  # neutral steps left out
    else:  # PRM-Code trained on MBPP+ programs: no PRM800K problem is in its labels
        assert "excluded" not in want and want["n_problems"] == 98


CI_REPORTS = sorted([*TRAINED.glob("*/ci_math-qwen100_vs_*.json"),
                     *TRAINED.glob("*/steps/ci_math-qwen100_step*_vs_*.json")])


def test_stored_ci_reports_are_recomputed_from_their_cached_scores(tmp_path, capsys,
                                                                   shared_data):
    """Fig. 2 reads these reports; each one's numbers come back from the stored candidate
    scores, the board's pool (regenerated from the mirror to its pins) and the baseline
    entry, through the gate itself."""
    from leaderboard_helpers import qwen100_board

    from harness.leaderboard.ci import gate
    from harness.leaderboard.validate import validate_entry
    from harness.pipeline.board_pools import _read_cached

    assert len(CI_REPORTS) >= 6
    board, pool = qwen100_board(tmp_path / "pools", capsys)
    for report_path in CI_REPORTS:
        want = json.loads(report_path.read_text())
        step = report_path.name.split("_vs_")[0].removeprefix("ci_math-qwen100")
        cache = report_path.parent / f"ci_math-qwen100{step}_candidate_scores.json.gz"
        cached = _unzip(cache, tmp_path / "cache.json")
        scores = {"math-qwen100": _read_cached(cached, pool)}
        baseline = validate_entry(board, ROOT / want["baseline"])
        got = gate(board, {"math-qwen100": pool}, scores, want["candidate_aggregation"],
                   baseline, want["metric"], want["tolerance"])
        assert got["tasks"] == want["tasks"], report_path


def test_the_stored_aslaf_set_is_rebuilt_from_the_mirror_and_the_stored_labellers(
        tmp_path, shared_data):
    """PRM-ASLAF's training set (examples/labels/aslaf-real.yaml): the two human-labelled
    corpora rebuilt from the mirror, the two PRM labellers' stored scores, and the same
    agreement filter give the stored provenance's inputs (sha256), counts and drops."""
    import shutil

    import yaml

    from harness.labels.build import build
    from harness.labels.config import load_labels_config

    stored = TRAINED / "prm-aslaf-smollm2-l4"
    want = json.loads((stored / "labels.provenance.json").read_text())
    examples = ROOT / "examples" / "labels"
    (tmp_path / "aslaf").mkdir()
    for name in ("processbench", "prm800k-every"):
        doc = yaml.safe_load((examples / f"{name}.yaml").read_text())
        doc["out"] = str(tmp_path / f"{name}.jsonl")
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(doc))
        build(load_labels_config(tmp_path / f"{name}.yaml"))
    for name in ("pb-train-by-prm800k", "prm800k-every-by-pb"):
        _unzip(stored / "labellers" / f"{name}.jsonl.gz", tmp_path / "aslaf" / f"{name}.jsonl")
    doc = yaml.safe_load((examples / "aslaf-real.yaml").read_text())
    text = yaml.safe_dump(doc).replace("../../labels-out/", f"{tmp_path}/")
    doc = yaml.safe_load(text)
    doc["out"] = str(tmp_path / "aslaf-real.jsonl")
    (tmp_path / "aslaf.yaml").write_text(yaml.safe_dump(doc))
    build(load_labels_config(tmp_path / "aslaf.yaml"))
    got = json.loads((tmp_path / "aslaf-real.jsonl.provenance.json").read_text())
    assert got["counts"] == want["counts"] and got["records"] == want["records"] == 335
    for g, w in zip(got["sources"], want["sources"], strict=True):
        for key in ("solutions", "kept", "kept_by_first_error", "dropped",
                    "agreement_rate_matched"):
            assert g[key] == w[key], key
        assert [x.get("sha256", x.get("labels_sha256")) for x in g["labellers"]] == [
            x.get("sha256", x.get("labels_sha256")) for x in w["labellers"]]
    shutil.rmtree(tmp_path / "aslaf")
