"""The ``compute`` report over real stored search runs: every CSV value equals what is
recomputed here from the shards and timings alone, the Pareto marks are the non-dominated
points, and re-rendering writes the same CSV bytes."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from harness.metrics import bootstrap_means, percentile_ci

STRATEGIES = {"best-of-n": ["n=4"], "smc": ["particles=4"]}
BUDGETS = (24, 48, 96)
PRMS = {"noisy": ["--prm", "sim-noisy", "--prm-option", "noise=1.5"],
        "oracle": ["--prm", "sim-oracle"]}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> dict[str, Path]:
    """12 real search runs (2 strategies x 3 budgets x 2 PRMs, 12 problems each)."""
    root = tmp_path_factory.mktemp("sweep")
    runs = {}
    for strategy, options in STRATEGIES.items():
        for prm, prm_args in PRMS.items():
            for budget in BUDGETS:
                label = f"{strategy} {prm} {budget}"
                out = root / "runs" / label.replace(" ", "-")
                argv = ["search", "--task", "synthetic-arith", "--task-option", "length=6",
                        "--policy", "sim", *prm_args, "--strategy", strategy,
                        *[x for o in options for x in ("--strategy-option", o)],
                        "--budget", f"policy_calls={budget}", "--problems", "12",
                        "--seed", "2", "--shard-size", "5", "--out", str(out), "--json"]
                assert main(argv) == 0
                runs[label] = out
    return runs


def _spec(path: Path, runs: dict[str, Path], out: str = "out/compute") -> Path:
    lines = ["kind: compute", "title: Compute sweep", "runs:"]
    lines += [f"  {label}: {folder}" for label, folder in runs.items()]
    lines += [f"out: {out}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def _recompute(folder: Path) -> dict[str, float]:
    """A point from the raw files: shards/*.jsonl.gz and timings/*.json.gz, read with
    gzip and json."""
    settings = json.loads((folder / "search.json").read_text())
    rows = [json.loads(line) for shard in sorted((folder / "shards").glob("*.jsonl.gz"))
            for line in gzip.decompress(shard.read_bytes()).decode().splitlines()]
    walls = {row["problem_id"]: row["wall_s"]
             for t in sorted((folder / "timings").glob("*.json.gz"))
             for row in json.loads(gzip.decompress(t.read_bytes()))["problems"]}
    assert [r["problem_id"] for r in rows] == settings["problem_ids"]
    correct = np.array([float(r["correct"]) for r in rows])
    lo, hi = percentile_ci(bootstrap_means(correct, seed=settings["seed"]))[:, 0]
    n = len(rows)
    assert settings["summary"]["accuracy"] == {"value": correct.mean(), "ci": [lo, hi]}
    return {"accuracy": float(correct.mean()), "ci_low": float(lo), "ci_high": float(hi),
            "policy_tokens_per_problem": sum(r["spent"]["policy_tokens"] for r in rows) / n,
            "policy_calls_per_problem": sum(r["spent"]["policy_calls"] for r in rows) / n,
            "wall_s_per_problem": sum(walls[r["problem_id"]] for r in rows) / n,
            "n_problems": n}


def _dominated(p: dict[str, float], others: list[dict[str, float]], x: str) -> bool:
    return any(q[x] <= p[x] and q["accuracy"] >= p["accuracy"]
               and (q[x] < p[x] or q["accuracy"] > p["accuracy"]) for q in others)


def test_every_plotted_number_is_recomputed_from_the_shards(sweep, tmp_path, capsys):
    spec = _spec(tmp_path / "compute.yaml", sweep)
    assert main(["report", str(spec)]) == 0
    written = capsys.readouterr().out.split()
    out = tmp_path / "out" / "compute"
    for name in ("compute.csv", "compute.md", "compute.html", "compute_tokens.png",
                 "compute_tokens.svg", "compute_wall.png", "compute_wall.svg"):
        assert str(out / name) in written and (out / name).stat().st_size > 0
    with (out / "compute.csv").open() as fh:
        table = list(csv.DictReader(fh))
    assert sorted(r["run"] for r in table) == sorted(sweep)
    points = {}
    for row in table:
        expected = _recompute(sweep[row["run"]])
        strategy, prm, budget = row["run"].split()
        assert row["strategy"] == strategy and row["budget"] == f"policy_calls={budget}"
        assert row["prm"] == ("sim-noisy(noise=1.5)" if prm == "noisy" else "sim-oracle")
        for column, value in expected.items():
            assert float(row[column]) == value, (row["run"], column)
        points[row["run"]] = {**expected, "group": (strategy, prm),
                              "marks": {k: row[k] == "1" for k in row if "pareto" in k}}
    assert len({p["accuracy"] for p in points.values()}) > 2  # the sweep is not flat
    for x, mark in (("policy_tokens_per_problem", "pareto_tokens"),
                    ("wall_s_per_problem", "pareto_wall")):
        for label, p in points.items():
            group = [q for other, q in points.items()
                     if q["group"] == p["group"] and other != label]
            everyone = [q for other, q in points.items() if other != label]
            assert p["marks"][mark] == (not _dominated(p, group, x)), (label, mark)
            assert p["marks"][mark + "_all"] == (not _dominated(p, everyone, x)), label
    markdown = (out / "compute.md").read_text()
    assert "# Compute sweep" in markdown and "smc noisy 96" in markdown


def test_rerendering_writes_the_same_csv_and_figures(sweep, tmp_path, capsys):
    spec = _spec(tmp_path / "compute.yaml", sweep)
    assert main(["report", str(spec), "--out", str(tmp_path / "a")]) == 0
    # the spec's order is not the CSV's order
    reversed_spec = _spec(tmp_path / "reversed.yaml", dict(reversed(list(sweep.items()))))
    assert main(["report", str(reversed_spec), "--out", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    for name in ("compute.csv", "compute_tokens.svg", "compute_wall.svg", "compute.md"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_a_folder_that_is_no_search_run_is_one_line(sweep, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    spec = _spec(tmp_path / "bad.yaml", {"fine": next(iter(sweep.values())),
                                         "empty": tmp_path / "empty"})
    assert main(["report", str(spec)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert f"{spec}:5: field 'runs.empty'" in err and "not a search run" in err


def test_an_interrupted_search_run_is_refused(sweep, tmp_path, capsys):
    import shutil

    folder = tmp_path / "cut"
    shutil.copytree(next(iter(sweep.values())), folder)
    (folder / "shards" / "00001.jsonl.gz").unlink()
    spec = _spec(tmp_path / "cut.yaml", {"cut": folder})
    assert main(["report", str(spec)]) == 2
    err = capsys.readouterr().err.strip()
    assert "shard 1 is missing" in err and "\n" not in err


def test_report_run_kind_compute_reads_one_search_run(sweep, tmp_path, capsys):
    folder = next(iter(sweep.values()))
    assert main(["report", str(folder), "--kind", "compute", "--out",
                 str(tmp_path / "one")]) == 0
    spec = _spec(tmp_path / "one.yaml", {folder.name: folder}, out="spec-out")
    assert main(["report", str(spec)]) == 0
    capsys.readouterr()
    one = (tmp_path / "one" / "compute.csv").read_bytes()
    assert one == (tmp_path / "spec-out" / "compute.csv").read_bytes()
    assert one.decode().splitlines()[1].startswith(f"{folder.name},")
    assert main(["report", str(tmp_path), "--kind", "compute"]) == 2
    assert "not a search run" in capsys.readouterr().err
