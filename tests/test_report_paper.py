"""The ``paper`` report from the shipped spec and the real stored files: every CSV number
equals a recomputation from the stored files (harness.metrics and the stored JSONs), a
missing cell is a dash with its reason, ``--strict`` fails with one line per missing cell,
re-rendering writes the same CSV and JSON bytes, the HTML page is self-contained and each
PRM keeps one colour across figures."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from harness import metrics as m
from harness.cli import main
from harness.reports import style
from harness.reports.spec import load_report_spec

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "reports" / "paper.yaml"
SIMILARITY = ROOT / "trained" / "similarity_table2.json"
PRMS = {"PRM-Math": "prm-pb-smollm2-l4", "PRM-Code": "prm-code-smollm2-l4"}
SIZES = {f"PRM-Math {k} layers": f"prm-pb-smollm2-l{k}" for k in (2, 4, 8)}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Path, Path]:
    """The shipped spec rendered twice, into two folders."""
    first = tmp_path_factory.mktemp("paper1")
    second = tmp_path_factory.mktemp("paper2")
    spec = load_report_spec(SPEC)
    spec.render(first)
    spec.render(second)
    return first, second


def _rows(out: Path) -> list[dict[str, str]]:
    with (out / "paper.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _board_estimates() -> dict[str, dict[str, dict[str, m.Estimate]]]:
    """Per pinned run (folder name): "reference" and each PRM's estimates, recomputed from
    the boards' stored pools and the entries' stored step scores."""
    from harness.aggregate import aggregate
    from harness.leaderboard.board import load_board
    from harness.leaderboard.pools import read_task_pool

    out: dict[str, dict[str, dict[str, m.Estimate]]] = {}
    for name in ("zoo-code", "zoo-math"):
        board = load_board(ROOT / "leaderboards" / f"{name}.yaml")
        ci = board.ci
        kw = {"draws": ci["draws"], "seed": ci["seed"], "n_boot": ci["bootstrap"],
              "level": ci["level"]}
        for task in board.tasks:
            pool = read_task_pool(board, task)
            plain = [m.ProblemPool(p, pool.correct[p], pool.vote[p], None, pool.sample_ids[p])
                     for p in pool.problem_ids]
            got = {"reference": m.compute_all(plain, board.ns, ("pass", "maj"), **kw)}
            for label, folder in PRMS.items():
                entry = ROOT / "leaderboards" / name / "entries" / folder
                agg = json.loads((entry / "entry.json").read_text())["prm"]["aggregation"]
                steps: dict[str, dict[int | str, list[float]]] = {}
                for line in (entry / "scores" / f"{task}.jsonl").read_text().splitlines():
                    if line.strip():
                        row = json.loads(line)
                        steps.setdefault(row["problem_id"], {})[row["sample_id"]] = \
                            row["step_scores"]
                scored = [m.ProblemPool(p, pool.correct[p], pool.vote[p],
                                        np.array([aggregate(steps[p][s], agg)
                                                  for s in pool.sample_ids[p]]),
                                        pool.sample_ids[p]) for p in pool.problem_ids]
                got[label] = m.compute_all(scored, board.ns, ("prm",), **kw)
            out[board.task_dir(task).name] = got
    return out


def test_every_number_is_recomputed(rendered):
    out, _ = rendered
    rows = _rows(out)
    est = _board_estimates()
    headings = {"HumanEval+": "humanevalplus", "MBPP+": "mbppplus",
                "MATH-500 (levels 1-2)": "math500-easy", "synthetic-arith": "synthetic-arith"}
    policies = {"smollm2-135m-instruct": "smollm2", "gemma3-270m": "gemma3"}
    checked = 0
    for row in rows:
        if row["missing_reason"]:
            assert row["value"] == ""
            continue
        item = row["item"]
        if item == "table1":
            run = f"{policies[row['panel']]}-{headings[row['x']]}"
            series = row["series"]
            if series.startswith("no selection"):
                e = est[run]["reference"]["pass@1"]
            elif series.startswith("majority"):
                e = est[run]["reference"]["maj@16"]
            else:
                e = est[run][series.split(" @")[0]]["prm@16"]
            assert float(row["value"]) == e.value
            assert (float(row["ci_low"]), float(row["ci_high"])) == e.ci
            assert int(row["count_n"]) == len(e.per_problem)
            if row["delta"]:
                d = m.paired_difference(e.per_problem,
                                        est[run]["reference"]["pass@1"].per_problem)
                assert float(row["delta"]) == d.mean
                assert (float(row["delta_ci_low"]), float(row["delta_ci_high"])) == d.ci
        elif item == "fig3":
            series = row["series"]
            kind = ("pass" if series.startswith("pass") else "maj"
                    if series.startswith("majority") else "prm")
            source = est[row["panel"]]["reference" if kind != "prm" else
                                       series.split(" prm@N")[0]]
            e = source[f"{kind}@{row['x']}"]
            assert (float(row["value"]), float(row["ci_low"]), float(row["ci_high"])) == \
                (e.value, *e.ci)
        elif item == "fig1":
            e = est[row["panel"]][row["series"]]["prm@16"]
            assert float(row["value"]) == e.value
            doc = json.loads((ROOT / "trained" / PRMS[row["series"]] / "trained_prm.json")
                             .read_text())
            assert int(row["x"]) == doc["backbone"]["zoo"]["params"]
        elif item == "fig2":
            folder = ROOT / "trained" / "prm-pb-smollm2-l4"
            step = int(row["x"])
            path = (folder / "steps" / f"ci_math-qwen100_step{step}_vs_random.json"
                    if step != 400 else folder / "ci_math-qwen100_vs_random.json")
            t = json.loads(path.read_text())["tasks"][row["panel"]]
            assert (float(row["value"]), float(row["delta"])) == (t["candidate"], t["delta"])
            assert [float(row["delta_ci_low"]), float(row["delta_ci_high"])] == t["ci"]
        elif item == "table2":
            doc = json.loads(SIMILARITY.read_text())
            pair = doc["pairs"][row["series"]]
            assert float(row["value"]) == pair["S"]
            assert [float(row["ci_low"]), float(row["ci_high"])] == pair["ci"]
            assert (int(row["count_k"]), int(row["count_n"])) == (pair["n_a"], pair["n_b"])
        elif item == "processbench":
            doc = json.loads((ROOT / "trained" / PRMS[row["panel"]]
                              / "processbench_eval_vs_step-length.json").read_text())
            assert float(row["value"]) == doc["splits"][row["x"]][row["series"]]
            assert [float(row["ci_low"]), float(row["ci_high"])] == \
                doc["bootstrap"]["splits"][row["x"]][row["series"]]
        elif item == "fig1_sizes":
            label = row["series"].rsplit(" ", 1)[0]
            folder = ROOT / "trained" / SIZES[label]
            t = json.loads((folder / "ci_math-qwen100_vs_random.json").read_text())[
                "tasks"][row["panel"]]
            assert int(row["x"]) == json.loads((folder / "train.json").read_text())["params"]
            assert (float(row["value"]), float(row["delta"])) == (t["candidate"], t["delta"])
            assert [float(row["delta_ci_low"]), float(row["delta_ci_high"])] == t["ci"]
        elif item == "prm800k":
            folder = ROOT / "trained" / PRMS[row["panel"]]
            if row["series"] == "auroc":
                doc = json.loads((folder / "prm800k_eval_vs_step-length.json").read_text())
                assert float(row["value"]) == doc["auroc"]
                assert [float(row["ci_low"]), float(row["ci_high"])] == \
                    doc["bootstrap"]["auroc"]
            else:
                baseline = row["series"].removeprefix("diff_vs_")
                doc = json.loads((folder / f"prm800k_eval_vs_{baseline}.json").read_text())
                assert float(row["value"]) == doc["against"]["diff_auroc"]
                assert [float(row["ci_low"]), float(row["ci_high"])] == \
                    doc["bootstrap"]["diff_auroc"]
        else:
            continue
        checked += 1
    assert checked > 100
    assert {r["item"] for r in rows} >= {"table1", "fig1", "fig2", "fig3", "fig4", "fig5",
                                         "table2", "processbench", "prm800k"}


def test_search_points_are_the_stored_searches(rendered):
    from harness.store.search_dir import SearchDir

    out, _ = rendered
    fig4 = [r for r in _rows(out) if r["item"] == "fig4"]
    assert len(fig4) == len([p for p in (ROOT / "runs" / "search").iterdir() if p.is_dir()])
    accuracies = set()
    for path in sorted((ROOT / "runs" / "search").iterdir()):
        records = SearchDir.find(path).records()
        correct = np.array([1.0 if r["correct"] else 0.0 for r in records])
        tokens = sum(float(r["spent"]["policy_tokens"]) for r in records) / len(records)
        accuracies.add((repr(float(correct.mean())), repr(tokens)))
    assert {(r["value"], r["x"]) for r in fig4} == accuracies


def test_missing_cells_carry_their_reason(rendered):
    out, _ = rendered
    rows = _rows(out)
    missing = [r for r in rows if r["missing_reason"]]
    assert any("livecodebench" in r["missing_reason"] for r in missing)
    assert any("bigcodebench" in r["missing_reason"] for r in missing)
    # every step-level table and size point is computed now: only Table 1 has gaps
    assert {r["item"] for r in missing} == {"table1"}
    md = (out / "paper.md").read_text()
    doc = json.loads((out / "paper.json").read_text())
    for i, reason in enumerate(doc["footnotes"], 1):
        assert f"— [{i}]" in md
        assert f"[{i}] {reason}" in md
    for r in missing:
        assert r["missing_reason"] in doc["footnotes"]


def test_table2_is_the_stored_similarity_file(rendered):
    """Every pair of trained/similarity_table2.json is one Table 2 row with its S, CI and
    set sizes; the caption names the reference model, F, layers, K and seed."""
    out, _ = rendered
    doc = json.loads(SIMILARITY.read_text())
    rows = [r for r in _rows(out) if r["item"] == "table2"]
    assert [r["series"] for r in rows] == list(doc["pairs"])
    assert len(rows) == 6 and not any(r["missing_reason"] for r in rows)
    for r in rows:
        pair = doc["pairs"][r["series"]]
        assert float(r["value"]) == pair["S"]
        assert pair["ci"][0] <= pair["S"] <= pair["ci"][1]
    table = json.loads((out / "paper.json").read_text())["tables"]["table2"]
    assert table["header"] == ["pair", "S [95% CI]", "n_a", "n_b"]
    first = doc["pairs"][rows[0]["series"]]
    assert table["rows"][0][1] == (f"{first['S']:.2f} [{first['ci'][0]:.2f}, "
                                   f"{first['ci'][1]:.2f}]")
    caption = table["caption"]
    assert Path(doc["model"]["path"]).name in caption
    assert f"F = {doc['f']}" in caption and f"K = {doc['k']}" in caption
    assert f"seed {doc['seed']}" in caption
    assert f"layers {doc['layers'][0]}..{doc['layers'][-1]}" in caption


@pytest.mark.parametrize("where", [None, "absent.json"])
def test_table2_without_the_similarity_file_is_a_dash(tmp_path, where):
    from harness.reports.paper import DASH, Collected, PaperReport, _table2

    report = PaperReport(similarity=None if where is None else str(tmp_path / where))
    data = Collected()
    _table2(report, data)
    rows = data.tables["table2"]["rows"]
    assert len(rows) == 1 and rows[0][1].startswith(DASH)
    assert len(data.csv_rows) == 1 and data.csv_rows[0][-1]  # missing_reason
    assert data.missing == [f"Table 2: {data.reasons[0]}"]


def test_strict_fails_with_one_line_per_missing_cell(rendered, tmp_path, capsys):
    out, _ = rendered
    doc = json.loads((out / "paper.json").read_text())
    capsys.readouterr()
    assert main(["report", str(SPEC), "--out", str(tmp_path / "s"), "--strict"]) != 0
    captured = capsys.readouterr()
    text = captured.out + captured.err
    for line in doc["missing"]:
        assert text.count(line) == 1, line
    assert f"{len(doc['missing'])} missing cells" in text
    assert not (tmp_path / "s" / "paper.csv").exists()


def test_rerender_is_byte_identical(rendered):
    first, second = rendered
    for name in ("paper.csv", "paper.json", "provenance.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    prov = json.loads((first / "provenance.json").read_text())
    assert prov["harness_version"] and "git_revision" in prov
    assert any(k.endswith("metrics.json") for k in prov["inputs"])
    assert all(re.fullmatch(r"[0-9a-f]{64}", v) for v in prov["inputs"].values())


def test_html_is_self_contained(rendered):
    out, _ = rendered
    page = (out / "paper.html").read_text()
    assert "http://" not in page and "https://" not in page
    assert "href=" not in page
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == 6 and all(s.startswith("data:image/png;base64,") for s in sources)
    for stem in ("fig1_prm_size", "fig1b_prm_size_board", "fig2_training_steps",
                 "fig3_best_of_n", "fig4_compute_tokens", "fig5_compute_wall"):
        for suffix in (".png", ".svg", ".pdf"):
            assert (out / f"{stem}{suffix}").stat().st_size > 0
        assert f"]({stem}.svg)" in (out / "paper.md").read_text()


def test_one_colour_per_prm_across_figures(rendered):
    out, _ = rendered
    assert style.prm_color("PRM-Math") == style.prm_color("prm-pb-smollm2-l4")
    assert style.prm_color("PRM-Code") == style.prm_color("prm-code-smollm2-l4")
    assert style.prm_color("PRM-Math") != style.prm_color("PRM-Code")
    assert style.prm_color("some new PRM") == style.prm_color("some new PRM")
    math, code = (style.prm_color(p).lower() for p in PRMS)
    for stem in ("fig1_prm_size", "fig3_best_of_n"):
        svg = (out / f"{stem}.svg").read_text().lower()
        assert math in svg and code in svg, stem
    assert math in (out / "fig2_training_steps.svg").read_text().lower()
    assert code not in (out / "fig2_training_steps.svg").read_text().lower()


def test_colours_within_a_figure_are_distinct_and_stable():
    labels = ["sim-noisy-2.5", "sim-noisy-5", "sim-oracle", "random", "PRM-Math"]
    colors = style.prm_colors(labels)
    assert len(set(colors.values())) == len(labels)
    assert colors == style.prm_colors(reversed(labels))
    assert colors["PRM-Math"] == style.prm_color("PRM-Math")
    assert set(colors.values()) <= {c.upper() for c in style.OKABE_ITO.values()} | set(
        style.OKABE_ITO.values())


def test_restyled_best_of_n_keeps_its_csv(tmp_path):
    """Only the figures changed: the CSV still holds every metrics.json number."""
    run = ROOT / "runs" / "smollm2-mbppplus"
    assert main(["report", str(run), "--out", str(tmp_path)]) == 0
    with (tmp_path / "best_of_n.csv").open(newline="") as handle:
        table = list(csv.reader(handle))
    assert table[0] == ["selector", "prm", "aggregation", "metric", "k", "value", "ci_low",
                        "ci_high"]
    stored = json.loads((run / "metrics.json").read_text())
    expected = {(sel["prm"] or "", sel["aggregation"] or "", name.split("@")[0],
                 name.split("@")[1]): (repr(e["value"]), repr(e["ci"][0]), repr(e["ci"][1]))
                for sel in stored["selectors"] for name, e in sel["metrics"].items()}
    assert {(r[1], r[2], r[3], r[4]): (r[5], r[6], r[7]) for r in table[1:]} == expected
    assert "](best_of_n.svg)" in (tmp_path / "best_of_n.md").read_text()
    svg = (tmp_path / "best_of_n.svg").read_text().lower()
    assert style.prm_color("random").lower() in svg and style.prm_color("length").lower() in svg
