"""``prm-harness leaderboard build``: the static site and tables of a board, recomputed,
self-contained and byte-identical on re-render."""

from __future__ import annotations

import csv
import json
import re
import shutil

import numpy as np
import pytest
from helpers import run_cli
from leaderboard_helpers import SITE_PRMS, TASK, build_world

from harness import __version__
from harness.leaderboard.render import build_site, rank_intervals

OUTPUTS = ("index.html", "board.md", "board.csv", "board.json")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict:
    world = build_world(tmp_path_factory.mktemp("site"))
    root = world["root"]
    bad = root / "entries" / "tampered"
    shutil.copytree(world["entries"]["sim-noisy-1"], bad)
    doc = json.loads((bad / "entry.json").read_text())
    doc["tasks"][TASK]["metrics"]["prm@16"]["value"] += 0.01
    (bad / "scores" / f"{TASK}.jsonl").write_text(
        "".join((bad / "scores" / f"{TASK}.jsonl").read_text().splitlines(True)[:-1]))
    (bad / "entry.json").write_text(json.dumps(doc))
    world["tampered"] = bad
    world["all"] = [*world["entries"].values(), bad]
    world["out"] = root / "out"
    world["data"] = build_site(world["board"], world["all"], world["out"], world["pools"])
    return world


def test_outputs_are_written_and_byte_identical_on_rerender(site, tmp_path):
    out = site["out"]
    pages = sorted(p.name for p in out.glob("entry-*.html"))
    assert pages == sorted(f"entry-{name}.html" for name in SITE_PRMS)
    again = tmp_path / "again"
    # another order of the entry arguments, another output folder: the same bytes
    build_site(site["board"], list(reversed(site["all"])), again, site["pools"])
    for name in [*OUTPUTS, *pages]:
        assert (out / name).read_bytes() == (again / name).read_bytes(), name
    assert sorted(p.name for p in again.iterdir()) == sorted([*OUTPUTS, *pages])


def test_html_has_no_external_url_of_any_kind(site):
    for page in [site["out"] / "index.html", *site["out"].glob("entry-*.html")]:
        text = page.read_text()
        assert not re.search(r"(?i)https?:|//[a-z0-9]|ftp:|@import|url\(", text), page
        for attr in re.findall(r'(?:src|href)="([^"]*)"', text):
            assert re.fullmatch(r"(index|entry-[A-Za-z0-9._-]+)\.html", attr), attr
        assert "<link" not in text and "<script src" not in text


def test_index_shows_every_validated_entry_with_cis_and_lists_the_rejected(site):
    text = (site["out"] / "index.html").read_text()
    data = site["data"]
    # sorted by rank interval, then score, then name (the oracle ties noisy-1 at prm@16)
    assert [e["name"] for e in data["entries"]] == ["sim-noisy-1", "sim-oracle",
                                                     "sim-noisy-4", "random"]
    assert {e["name"] for e in data["entries"]} == set(SITE_PRMS)
    assert data["rejected"] and data["rejected"][0]["name"] == "tampered"
    assert data["rejected"][0]["reasons"] == 1  # the dropped line (claims not compared)
    assert 'data-entry="tampered"' not in text and "tampered: rejected, " in text
    for entry in data["entries"]:
        assert f'data-entry="{entry["name"]}"' in text
        recomputed = json.loads((site["entries"][entry["name"]] / "entry.json").read_text())
        for name, claim in recomputed["tasks"][TASK]["metrics"].items():
            assert entry["tasks"][TASK][name] == claim  # the recomputed claim equals it
            cell = (f"{claim['value']:.4f} <span class=\"ci\">[{claim['ci'][0]:.4f}, "
                    f"{claim['ci'][1]:.4f}]</span>")
            assert cell in text, (entry["name"], name)
    assert text.count('class="badge">recomputed') >= len(SITE_PRMS)
    assert f"prm-harness {__version__}" in text
    assert "<th" in text and "addEventListener('click'" in text


def test_rank_intervals_share_ranges_where_entries_overlap(site):
    data = site["data"]
    ranks = {e["name"]: tuple(e["rank"]) for e in data["entries"]}
    assert all(lo <= hi for lo, hi in ranks.values())
    assert ranks["sim-oracle"][0] == 1
    # the oracle and noisy-1 select the same samples at N=16: one shared rank
    assert ranks["sim-oracle"] == ranks["sim-noisy-1"]
    assert ranks["random"][1] == len(ranks)  # clearly the worst
    assert ranks["random"][0] > ranks["sim-oracle"][1]
    text = (site["out"] / "index.html").read_text()
    for lo, hi in ranks.values():
        assert (f">{lo}</td>" if lo == hi else f">{lo}–{hi}</td>") in text
    # two identical entries overlap completely: the same range, covering both ranks
    values = np.linspace(0, 1, 50)
    same = rank_intervals([np.stack([values, values.copy(), values - 0.5], axis=1)], 200, 0,
                          0.95)
    assert same[0] == same[1] == (1, 1) and same[2] == (3, 3)
    noisy = np.random.default_rng(0).random(50)
    pair = [np.stack([noisy, noisy[::-1]], axis=1)]
    near = rank_intervals(pair, 500, 0, 0.95)
    assert near[0] == near[1] == (1, 2)  # equal means, resampled apart: a shared range
    assert rank_intervals(pair, 500, 0, 0.95) == near  # seeded
    # two tasks of different sizes: the mean over tasks decides
    tasks = [np.stack([values, values - 0.2], axis=1), np.stack([noisy[:30], noisy[:30]],
                                                               axis=1)]
    assert rank_intervals(tasks, 200, 0, 0.95) == [(1, 1), (2, 2)]
    assert rank_intervals(tasks, 200, 0, 0.95, descending=False) == [(2, 2), (1, 1)]


def test_tables_agree_with_the_page(site):
    data = site["data"]
    rows = list(csv.DictReader((site["out"] / "board.csv").open()))
    assert [r["entry"] for r in rows] == [e["name"] for e in data["entries"]]
    for row, entry in zip(rows, data["entries"], strict=True):
        claim = entry["tasks"][TASK]["prm@16"]
        assert float(row["prm@16"]) == claim["value"]
        assert [float(row["prm@16 ci_lo"]), float(row["prm@16 ci_hi"])] == claim["ci"]
        assert (int(row["rank_lo"]), int(row["rank_hi"])) == tuple(entry["rank"])
    md = (site["out"] / "board.md").read_text()
    assert all(f"| {e['name']} |" in md for e in data["entries"]) and "tampered" in md
    stored = json.loads((site["out"] / "board.json").read_text())
    assert stored["harness_version"] == __version__ and stored == json.loads(
        json.dumps(data))


def test_entry_page_has_its_curve_and_provenance(site):
    entry = next(e for e in site["data"]["entries"] if e["name"] == "sim-noisy-1")
    text = (site["out"] / entry["page"]).read_text()
    assert text.count("<svg") == 1 and "<polygon" in text and "<polyline" in text
    points = re.search(r'<polyline points="([^"]+)"', text).group(1).split()
    assert len(points) == len(site["board"].ns)
    doc = json.loads((site["entries"]["sim-noisy-1"] / "entry.json").read_text())
    for value in (doc["prm"]["spec_sha256"], doc["date"], doc["submitter"],
                  doc["harness"]["version"], site["board"].tasks[TASK].pool_sha256):
        assert str(value) in text
    assert 'href="index.html"' in text


def test_cli_build(site, tmp_path, capsys):
    out = tmp_path / "cli"
    status, stdout, err = run_cli(["leaderboard", "build", "sim-arith", *site["all"],
                                   "--out", out, "--pools-dir", site["board"].pools_dir],
                                  capsys)
    assert status == 0, stdout + err
    assert "tampered: rejected" in stdout and "sim-oracle: rank 1-" in stdout
    for name in OUTPUTS:
        assert (out / name).read_bytes() == (site["out"] / name).read_bytes()
    status, _, _ = run_cli(["leaderboard", "build", "sim-arith", tmp_path / "absent",
                            "--out", out], capsys)
    assert status == 2


def test_cli_build_audit_badges_the_audited_and_drops_a_failed_audit(site, tmp_path, capsys):
    """``build --audit K``: an honest entry gets the audited badge on the page and in
    board.json; a copy whose first step scores were moved by 0.05 (aggregation last, so
    it still validates) fails its audit and is not shown."""
    from harness.leaderboard.validate import validate_entry

    edited = tmp_path / "edited"
    shutil.copytree(site["entries"]["sim-oracle"], edited)
    path = edited / "scores" / f"{TASK}.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for row in rows:
        if len(row["step_scores"]) > 1:
            first = row["step_scores"][0]
            row["step_scores"][0] = first - 0.05 if first > 0.5 else first + 0.05
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert validate_entry(site["board"], edited, site["pools"]).ok
    out = tmp_path / "out"
    honest = site["entries"]["sim-noisy-1"]
    status, text, _ = run_cli(["leaderboard", "build", "sim-arith", honest, edited, "--out",
                               out, "--pools-dir", site["board"].pools_dir, "--audit", "25"],
                              capsys)
    assert status == 0, text
    assert "sim-noisy-1: rank 1-1 audited" in text and "edited: rejected" in text, text
    data = json.loads((out / "board.json").read_text())
    assert [e["name"] for e in data["entries"]] == ["sim-noisy-1"]
    assert data["entries"][0]["audited"] and data["entries"][0]["audit"]["k"] == 25
    assert [r["name"] for r in data["rejected"]] == ["edited"]
    page = (out / "index.html").read_text()
    # the legend and the one audited row
    assert page.count('class="badge audited"') == 2
    assert page.count('class="badge audited" title=') == 1
    assert 'class="badge audited"' in (out / "entry-sim-noisy-1.html").read_text()
    # without --audit no entry claims the badge
    status, _, _ = run_cli(["leaderboard", "build", "sim-arith", honest, "--out",
                            tmp_path / "plain", "--pools-dir", site["board"].pools_dir],
                           capsys)
    assert status == 0
    assert 'badge audited' not in (tmp_path / "plain" / "index.html").read_text()
