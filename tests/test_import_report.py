"""Import real pools into runs, compute metrics from the stored shards, render reports."""

from __future__ import annotations

import csv
import json

from helpers import run_cli, write_jsonl

QWEN = "samples/qwen2.5-math_math_cot_100/math_cot_100.jsonl"


def _import_qwen(shared_data, tmp_path, capsys, transform="sigmoid"):
    runs = tmp_path / "runs"
    status, _out, err = run_cli(
        ["import", shared_data / QWEN, "--format", "qwen-math-eval", "--name", "qwen",
         "--runs-dir", runs, "--prm-id", "qwen-rm", "--score-transform", transform], capsys)
    return status, runs / "qwen", err


def test_qwen_pool_end_to_end(shared_data, tmp_path, capsys):
    status, run, err = _import_qwen(shared_data, tmp_path, capsys)
    assert status == 0, err
    status, out, err = run_cli(["metrics", run, "--k", "1,2,4,8", "--json", "--save"], capsys)
    assert status == 0, err
    result = json.loads(out)
    metrics = result["metrics"]
    assert result["n_problems"] == 100
    # 728 of the 800 responses are flagged correct
    assert abs(metrics["pass@1"]["value"] - 728 / 800) < 1e-12
    assert abs(metrics["prm@1"]["value"] - 728 / 800) < 1e-12
    rows = [json.loads(line) for line in (shared_data / QWEN).read_text().splitlines()]
    # pass@8 with n = 8: share of problems with any correct response
    assert abs(metrics["pass@8"]["value"] - sum(any(r["score"]) for r in rows) / 100) < 1e-12
    # prm@8 with n = 8: the top-scored response of each problem (ties split evenly)
    expected = 0.0
    for r in rows:
        top = max(s[0] for s in r["pred_score"])
        winners = [ok for ok, s in zip(r["score"], r["pred_score"], strict=True) if s[0] == top]
        expected += sum(winners) / len(winners)
    assert abs(metrics["prm@8"]["value"] - expected / 100) < 1e-12
    for name, entry in metrics.items():
        assert entry["ci"][0] <= entry["value"] <= entry["ci"][1], name

    status, out, err = run_cli(["report", run], capsys)
    assert status == 0, err
    folder = run / "report" / "best-of-n"
    for name in ("best_of_n.csv", "best_of_n.md", "best_of_n.html", "best_of_n.png",
                 "best_of_n.svg"):
        assert (folder / name).stat().st_size > 0, name
    stored = json.loads((run / "metrics.json").read_text())
    with open(folder / "best_of_n.csv") as handle:
        table = list(csv.DictReader(handle))
    by_key = {(r["prm"], r["metric"], int(r["k"])): float(r["value"]) for r in table}
    for selector in stored["selectors"]:
        for name, entry in selector["metrics"].items():
            kind, k = name.split("@")
            assert by_key[(selector["prm"] or "", kind, int(k))] == entry["value"]
    page = (folder / "best_of_n.html").read_text()
    assert "http://" not in page and "https://" not in page
    assert (folder / "best_of_n.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    status, out, _ = run_cli(["runs", "list", "--runs-dir", run.parent], capsys)
    assert status == 0 and "qwen\t100 problems" in out
    status, out, _ = run_cli(["runs", "show", run], capsys)
    manifest = json.loads(out)
    assert manifest["source"]["sha256"] == (
        "5b9128525733336c4b5bf5d3222f72b18655a305258dc09c301b546e9365ba5e")
    assert manifest["environment"]["packages"]["numpy"]
    assert manifest["stages"]["scores/" + next(iter(
        p.name for p in (run / "scores").iterdir()))]["score_transform"] == "sigmoid"


def test_raw_logit_scores_need_a_transform(shared_data, tmp_path, capsys):
    status, run, err = _import_qwen(shared_data, tmp_path, capsys, transform="none")
    assert status == 2
    assert "outside [0, 1]" in err and "--score-transform sigmoid" in err
    assert not run.exists()


def test_flat_import_and_metrics_agree_with_flat_file(tmp_path, capsys):
    rows = [{"problem_id": f"p{p}", "sample_id": s, "correct": (p * 7 + s) % 3 == 0,
             "answer": str((p + s) % 3), "score": ((p * 3 + s * 5) % 7) / 7}
            for p in range(6) for s in range(5)]
    flat = write_jsonl(tmp_path / "flat.jsonl", rows)
    status, out, _ = run_cli(["metrics", flat, "--k", "1,2,5", "--json"], capsys)
    direct = json.loads(out)
    status, _, err = run_cli(["import", flat, "--format", "flat", "--name", "f",
                              "--runs-dir", tmp_path / "runs", "--prm-id", "x"], capsys)
    assert status == 0, err
    status, out, err = run_cli(["metrics", tmp_path / "runs" / "f", "--k", "1,2,5", "--json"],
                               capsys)
    assert status == 0, err
    assert json.loads(out) == direct


def test_evalplus_import_without_task_is_refused(tmp_path, capsys):
    path = write_jsonl(tmp_path / "samples.jsonl",
                       [{"task_id": "HumanEval/0", "solution": "def f():\n    return 1\n"}])
    status, _, err = run_cli(["import", path, "--format", "evalplus",
                              "--runs-dir", tmp_path / "runs"], capsys)
    assert status == 2
    assert "carries no grades: give --task" in err
