"""Step labels (issue 13 item 2): PRM800K and ProcessBench labels from the mirror, checked
against counts made here straight from the raw files; the MATH-500 overlap; the file
contract's reader; config errors that name file, line and field and write nothing."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

from harness.cli import main
from harness.errors import ConfigError, InputError
from harness.labels import read_labels
from harness.labels.build import build
from harness.labels.config import load_labels_config
from harness.labels.overlap import math500_exclusion


def _norm(text: str) -> str:
    return " ".join(text.split())


def _config(tmp_path: Path, doc: dict, name: str = "labels.yaml") -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def _build(tmp_path: Path, doc: dict) -> tuple[Path, dict]:
    summary = build(load_labels_config(_config(tmp_path, doc)))
    out = Path(summary["out"])
    return out, json.loads(Path(f"{out}.provenance.json").read_text())


def _math500(shared_data: Path) -> dict[str, str]:
    rows = [json.loads(line) for line in (shared_data / "math500/test.jsonl").open()]
    return {_norm(r["problem"]): r["unique_id"] for r in rows}


@pytest.fixture(scope="module")
def prm800k_raw(shared_data):
    import pyarrow.parquet as pq

    return pq.read_table(shared_data / "prm800k/phase1_test.stepwise-critic.parquet").to_pylist()


@pytest.mark.parametrize("neutral", ["positive", "exclude"])
def test_prm800k_labels_count_every_distinct_rated_step_once(shared_data, prm800k_raw,
                                                            tmp_path, neutral):
    out, prov = _build(tmp_path, {"out": "p.jsonl", "dev": {"fraction": 0.1, "seed": 3},
                                  "sources": [{"kind": "prm800k", "neutral": neutral}]})
    records = read_labels(out)
    # independent count: distinct (problem, earlier steps, step) nodes by rating
    nodes: dict[tuple, int | None] = {}
    for r in prm800k_raw:
        nodes.setdefault((r["instruction"], tuple(r["responses"]), r["next_response"]),
                         r["rating"])
    ratings = Counter(nodes.values())
    assert len(prm800k_raw) == 5449 and len(nodes) == 4893
    ones = sum(v == 1.0 for rec in records for v in rec.labels)
    zeros = sum(v == 0.0 for rec in records for v in rec.labels)
    assert zeros == ratings[-1] == 1694
    assert ones == ratings[1] + (ratings[0] if neutral == "positive" else 0)
    # each labelled step is a rated node with the mapped rating, and no node twice
    seen = set()
    for rec in records:
        for i, v in rec.labelled():
            node = (rec.problem, tuple(rec.steps[:i]), rec.steps[i])
            assert node not in seen
            seen.add(node)
            assert v == {1: 1.0, 0: 1.0, -1: 0.0}[nodes[node]]
    counts = prov["counts"]["prm800k"]
    assert sum(c["label_1"] for c in counts.values()) == ones
    assert set(counts) == {"train", "dev"}
    # splits are by problem
    by_split: dict[str, set[str]] = {}
    for rec in records:
        by_split.setdefault(rec.split, set()).add(rec.problem_id)
    assert not by_split["train"] & by_split["dev"]
    # MATH-500 overlap: every problem with a labelled step is a MATH-500 problem
    math500 = _math500(shared_data)
    labelled_problems = {_norm(r["instruction"]) for r in prm800k_raw
                         if r["rating"] is not None and not
                         (neutral == "exclude" and r["rating"] == 0)}
    expected = {math500[p] for p in labelled_problems}
    overlap = prov["math500_overlap"]
    assert set(overlap["problem_ids"]) == expected == {r.problem_id for r in records}
    assert overlap["sources"]["prm800k"]["by_text"] == len(expected)
    assert prov["sources"][0]["problems"] == 101
    assert prov["sources"][0]["problems_in_math500"] == 101
    assert math500_exclusion(out) == expected
    assert prov["sources"][0]["file"]["sha256"] == (
        "293f05ebfba3322b537dbfdfbbcf49a50d2bc3bae5243a3045d3aa056b06d2c1")


def test_processbench_first_error_labels_and_holdout(shared_data, tmp_path):
    out, prov = _build(tmp_path, {
        "out": "pb.jsonl", "dev": {"fraction": 0.1, "seed": 0},
        "sources": [{"kind": "processbench", "holdout": ["olympiadbench", "omnimath"]}]})
    records = read_labels(out)
    assert len(records) == 3400
    math500 = _math500(shared_data)
    got = Counter()
    for rec in records:
        split = rec.meta["processbench_split"]
        got[split, "records"] += 1
        got[split, "1"] += sum(v == 1.0 for v in rec.labels)
        got[split, "0"] += sum(v == 0.0 for v in rec.labels)
        got[split, "null"] += sum(v is None for v in rec.labels)
        assert (rec.split == "test") == (split in ("olympiadbench", "omnimath"))
    overlap_expected = set()
    for split in ("gsm8k", "math", "olympiadbench", "omnimath"):
        raw = json.loads((shared_data / f"processbench/{split}.json").read_text())
        errors = [x for x in raw if x["label"] != -1]
        assert got[split, "records"] == len(raw)
        assert got[split, "0"] == len(errors)
        assert got[split, "1"] == sum(x["label"] if x["label"] != -1 else len(x["steps"])
                                      for x in raw)
        assert got[split, "null"] == sum(len(x["steps"]) - x["label"] - 1 for x in errors)
        overlap_expected |= {math500[_norm(x["problem"])] for x in raw
                             if _norm(x["problem"]) in math500}
    assert len(overlap_expected) == 108
    assert set(prov["math500_overlap"]["problem_ids"]) == overlap_expected
    assert math500_exclusion(out) == overlap_expected
    # train/dev by problem text; dev is near the configured share
    train = {_norm(r.problem) for r in records if r.split == "train"}
    dev = {_norm(r.problem) for r in records if r.split == "dev"}
    assert not train & dev and 0.05 < len(dev) / (len(dev) + len(train)) < 0.15
    counts = prov["counts"]["processbench"]
    assert counts["test"]["records"] == 2000
    assert counts["train"]["records"] + counts["dev"]["records"] == 1400
    assert prov["sources"][0]["holdout"] == ["olympiadbench", "omnimath"]
    # the same config builds the same records
    again, _ = _build(tmp_path / "again", {
        "out": "pb.jsonl", "dev": {"fraction": 0.1, "seed": 0},
        "sources": [{"kind": "processbench", "holdout": ["olympiadbench", "omnimath"]}]})
    assert again.read_bytes() == out.read_bytes()


GOOD = {"id": "monte-carlo/p1/s000", "source": "monte-carlo", "domain": "math",
        "problem_id": "p1", "problem": "What is 1+1?", "steps": ["1+1=2.\n\n", "So 2."],
        "labels": [1.0, None], "label_kind": "hard", "split": "train", "meta": {}}


@pytest.mark.parametrize(("change", "line", "field"), [
    ({"labels": [1.0]}, 2, "labels"),
    ({"labels": [1.5, 1.0]}, 2, "labels"),
    ({"labels": [0.5, 1.0]}, 2, "labels"),  # soft value in a hard record
    ({"labels": [None, None]}, 2, "labels"),
    ({"split": "holdout"}, 2, "split"),
    ({"source": "math-shepherd"}, 2, "source"),
    ({"steps": []}, 2, "steps"),
    ({"id": "monte-carlo/p0/s000"}, 2, "id"),  # not sorted
    ({"id": "monte-carlo/p1/s000"}, 2, "id"),  # duplicate
    ({"id": "prm800k/p1/s001"}, 2, "id"),  # id does not start with the source
    ({"extra": 1}, 2, "extra"),
])
def test_reader_names_file_line_and_field(tmp_path, change, line, field):
    first = dict(GOOD)
    second = {**GOOD, "id": "monte-carlo/p1/s001", **change}
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(first) + "\n" + json.dumps(second) + "\n")
    with pytest.raises(InputError) as info:
        read_labels(path)
    assert str(info.value).startswith(f"{path}:{line}: field '{field}'")


def test_reader_missing_field_and_bad_json(tmp_path):
    path = tmp_path / "bad.jsonl"
    rec = {k: v for k, v in GOOD.items() if k != "label_kind"}
    path.write_text(json.dumps(rec) + "\n")
    with pytest.raises(InputError, match=rf"^{path}:1: field 'label_kind': missing"):
        read_labels(path)
    path.write_text(json.dumps(GOOD) + "\n{not json\n")
    with pytest.raises(InputError, match=rf"^{path}:2: malformed JSON"):
        read_labels(path)
    path.write_text(json.dumps(GOOD) + "\n")
    (rec0,) = read_labels(path)
    assert rec0.labels == (1.0, None) and rec0.to_json() == GOOD


@pytest.mark.parametrize(("doc", "where", "field"), [
    ({"out": "x.jsonl", "sources": [{"kind": "processbench", "holdout": ["math"],
                                     "splits": ["gsm8k"]}]}, 3, "sources.0"),
    ({"out": "x.jsonl", "sources": [{"kind": "prm800k", "neutral": "maybe"}]}, 4,
     "sources.0.neutral"),
    ({"out": "x.jsonl", "sources": [{"kind": "nope"}]}, 3, "sources.0"),
    ({"sources": [{"kind": "prm800k"}]}, None, "out"),
    ({"out": "x.jsonl", "sources": [{"kind": "aslaf", "inputs": ["a.jsonl"]}]}, 3,
     "sources.0"),
])
def test_bad_configs_name_file_line_field_and_write_nothing(tmp_path, doc, where, field):
    # these fail in validation, before any data is read
    path = _config(tmp_path, doc)
    with pytest.raises(ConfigError) as info:
        build(load_labels_config(path))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:{where}: " if where else f"{path}: ")
    assert f"field '{field}'" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.yaml"]


def test_a_failing_source_writes_nothing(shared_data, tmp_path):
    """The first source builds, the second fails: no labels file, no temporaries."""
    path = _config(tmp_path, {"out": "x.jsonl", "sources": [
        {"kind": "processbench", "splits": ["gsm8k"]},
        {"kind": "aslaf", "inputs": ["missing-a.jsonl", "missing-b.jsonl"]}]})
    code = main(["labels", "build", str(path)])
    assert code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.yaml"]


def test_cli_build_show_and_items(shared_data, tmp_path, capsys):
    path = _config(tmp_path, {"out": "g.jsonl", "dev": {"fraction": 0},
                              "sources": [{"kind": "processbench", "splits": ["gsm8k"]}]})
    assert main(["labels", "build", str(path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["records"] == 400 and summary["math500_overlap"] == 0
    # 193 of gsm8k's 400 items have label -1 (PROVENANCE.md's "counts of -1", 207, are the
    # items with an error); each of the 207 has exactly one 0.0 label
    raw = json.loads((shared_data / "processbench/gsm8k.json").read_text())
    assert sum(x["label"] == -1 for x in raw) == 193
    assert summary["counts"]["processbench"]["train"]["label_0"] == 207
    assert main(["labels", "show", str(tmp_path / "g.jsonl")]) == 0
    assert json.loads(capsys.readouterr().out)["counts"] == summary["counts"]
    assert main(["labels", "items", str(tmp_path / "g.jsonl"), str(tmp_path / "i.jsonl")]) == 0
    items = [json.loads(x) for x in (tmp_path / "i.jsonl").read_text().splitlines()]
    assert items[0]["problem_id"].startswith("processbench/gsm8k-")
    assert set(items[0]) == {"problem_id", "problem", "steps"}


def test_cli_bad_yaml_and_unknown_task_option_are_one_line(shared_data, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("out: x.jsonl\nsources: [\n")
    assert main(["labels", "build", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {bad}: not valid YAML") and "\n" not in err
    path = _config(tmp_path, {"out": "x.jsonl", "sources": [{
        "kind": "monte-carlo", "task": {"name": "synthetic-arith", "options": {"n": 3}},
        "solutions": {"policy": {"name": "sim"}}, "rollout": {"policy": {"name": "sim"}}}]})
    assert main(["labels", "build", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {path}:3: field 'sources.0': task 'synthetic-arith': "
                          "unknown option n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml", "labels.yaml"]


def test_prm800k_every_labels_whole_paths_and_samples_leaves(shared_data, prm800k_raw,
                                                              tmp_path, capsys):
    """``labels: every`` gives each leaf's path all its ratings (what a labeller's first
    error is compared with); ``sample_leaves`` is a seeded draw, not the first N."""
    base = {"kind": "prm800k", "labels": "every"}
    out, prov = _build(tmp_path / "all", {"out": "e.jsonl", "sources": [base]})
    every = read_labels(out)
    nodes: dict[tuple, int | None] = {}
    for r in prm800k_raw:
        nodes.setdefault((r["instruction"], tuple(r["responses"]), r["next_response"]),
                         r["rating"])
    for rec in every:
        for i, step in enumerate(rec.steps):
            rating = nodes[(rec.problem, tuple(rec.steps[:i]), step)]
            assert rec.labels[i] == (None if rating is None
                                     else {1: 1.0, 0: 1.0, -1: 0.0}[rating])
    once, _ = _build(tmp_path / "once", {"out": "o.jsonl", "sources": [{"kind": "prm800k"}]})
    # "once" drops the leaves left with no label of their own; "every" keeps them all
    once_ids = [r.id for r in read_labels(once)]
    assert set(once_ids) < {r.id for r in every}
    src = prov["sources"][0]
    assert len(every) == src["leaves"] - src["records_dropped_unlabelled"] > len(once_ids)
    assert prov["sources"][0]["labels"] == "every"
    drawn, prov_s = _build(tmp_path / "s", {"out": "s.jsonl", "sources": [
        {**base, "sample_leaves": 50, "sample_seed": 4}]})
    ids = [r.id for r in read_labels(drawn)]
    all_ids = [r.id for r in every]
    assert len(ids) + prov_s["sources"][0]["records_dropped_unlabelled"] == 50
    assert ids != all_ids[:len(ids)]
    assert ids == [i for i in all_ids if i in set(ids)]  # file order kept
    assert prov_s["sources"][0]["leaves_sampled"] == 50
    again, _ = _build(tmp_path / "s2", {"out": "s.jsonl", "sources": [
        {**base, "sample_leaves": 50, "sample_seed": 4}]})
    assert again.read_bytes() == drawn.read_bytes()
    # items of one split only (an ASLAF labeller scores train and dev, never test)
    assert main(["labels", "items", str(drawn), str(tmp_path / "i.jsonl"),
                 "--split", "dev"]) == 0
    dev = [json.loads(x)["problem_id"]
           for x in (tmp_path / "i.jsonl").read_text().splitlines()]
    assert dev == [r.id for r in read_labels(drawn) if r.split == "dev"] and dev
    capsys.readouterr()
    assert main(["labels", "items", str(drawn), str(tmp_path / "t.jsonl"),
                 "--split", "test"]) == 2
    assert "no record of split(s) test" in capsys.readouterr().err
