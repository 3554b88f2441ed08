"""Leaderboards: the sim-arith board regenerates to its pinned hashes, entries made by
``submit`` validate by recomputation, and every kind of tampering is rejected with its
reason (reordering is not tampering)."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
from helpers import run_cli
from leaderboard_helpers import (
    POLICY,
    SITE_PRMS,
    TASK,
    CheckpointPRM,
    extra_prms_registered,
    qwen100_board,
)

from harness.config import PluginConfig
from harness.errors import HarnessError
from harness.leaderboard.board import load_board
from harness.leaderboard.entry import spec_sha256
from harness.leaderboard.pools import read_task_pool
from harness.leaderboard.submit import make_entry
from harness.leaderboard.validate import validate_entry
from harness.pipeline.board_pools import build_pools, score_on_board
from harness.store.hashes import grades_sha256
from harness.store.jsonl import read_json
from harness.store.records import grade_from_row

PRMS = {**SITE_PRMS, "length": PluginConfig(name="length")}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The shipped board with its pools regenerated into a temporary folder, and one
    entry per PRM made by ``submit``'s code from a run on those pools."""
    root = tmp_path_factory.mktemp("board")
    board = load_board("sim-arith").with_pools_dir(root / "pools")
    report = build_pools(board, log=lambda *a: None)  # raises when the pins differ
    entries = {}
    for label, prm in PRMS.items():
        run = score_on_board(board, TASK, prm, root / "runs")
        entries[label] = root / "entries" / label
        make_entry(board, [run.path], entries[label], prm=label, submitter="tests")
    return {"board": board, "root": root, "report": report, "entries": entries,
            "pool": read_task_pool(board, TASK)}


def _copy(world: dict, label: str, tmp_path: Path) -> Path:
    target = tmp_path / label
    shutil.copytree(world["entries"][label], target)
    return target


def _lines(entry: Path) -> list[dict]:
    text = (entry / "scores" / f"{TASK}.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _write_lines(entry: Path, rows: list) -> None:
    (entry / "scores" / f"{TASK}.jsonl").write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))


def _doc(entry: Path) -> dict:
    return json.loads((entry / "entry.json").read_text())


def _write_doc(entry: Path, doc: dict) -> None:
    (entry / "entry.json").write_text(json.dumps(doc))


def test_board_definition_pins_what_the_simulator_regenerates(world):
    board, row = world["board"], world["report"][TASK]
    assert row["matches"]
    assert row["pool_sha256"] == board.tasks[TASK].pool_sha256
    assert row["grades_sha256"] == board.tasks[TASK].grades_sha256
    assert row["grader_rules_version"] == board.tasks[TASK].grader_rules_version
    assert board.claimed_names()[:2] == ["prm@1", "wmaj@1"]
    assert board.ranking["metric"] in board.claimed_names()
    pool = world["pool"]
    assert len(pool.problem_ids) == board.tasks[TASK].n_problems
    assert {len(v) for v in pool.sample_ids.values()} == {board.tasks[TASK].n_samples}


def test_every_submitted_entry_validates_and_the_oracle_ranks_first(world):
    board = world["board"]
    ranking = board.ranking["metric"]
    values = {}
    for label, entry in world["entries"].items():
        verdict = validate_entry(board, entry, {TASK: world["pool"]})
        assert verdict.ok, verdict.problems
        doc = _doc(entry)
        assert doc["prm"]["id"] == PRMS[label].name
        assert doc["tasks"][TASK]["pool_sha256"] == board.tasks[TASK].pool_sha256
        assert verdict.recomputed[TASK] == doc["tasks"][TASK]["metrics"]
        values[label] = doc["tasks"][TASK]["metrics"][ranking]["value"]
    assert values["sim-oracle"] >= values["sim-noisy-1"] > values["sim-noisy-4"]
    assert values["sim-noisy-1"] > values["random"]


def test_reordered_lines_and_tasks_are_not_tampering(world, tmp_path):
    entry = _copy(world, "sim-noisy-1", tmp_path)
    rows = _lines(entry)
    random.Random(0).shuffle(rows)
    _write_lines(entry, rows)
    doc = _doc(entry)
    doc["tasks"] = dict(reversed(list(doc["tasks"].items())))
    doc["tasks"][TASK]["metrics"] = dict(reversed(list(doc["tasks"][TASK]["metrics"].items())))
    _write_doc(entry, doc)
    verdict = validate_entry(world["board"], entry, {TASK: world["pool"]})
    assert verdict.ok, verdict.problems


def test_bulk_and_line_by_line_readers_agree_on_a_valid_file(world):
    """The bulk reader is the fast path for a clean file; on one it must read exactly
    what the authoritative line-by-line reader reads."""
    from harness.leaderboard import validate as v

    path = world["entries"]["sim-noisy-1"] / "scores" / f"{TASK}.jsonl"
    fast = v._read_scores_fast(path, world["pool"])
    out = v._Collector(path.parent.parent)
    slow = v._read_scores_by_line(path, "scores", world["pool"], out)
    assert fast is not None and slow is not None and not out.lines
    assert fast == slow


def _changed_step_score(entry: Path, pool=None) -> None:
    """A wrong sample's last step raised to 1.0 where a right one was chosen before:
    prm@N changes, and the claims were left as they were. (A changed score that moves no
    claimed metric cannot be told apart by recomputation; only re-scoring could.)"""
    rows = _lines(entry)
    for pid in pool.problem_ids:
        correct = pool.correct[pid]
        if correct.any() and not correct.all():
            wrong = pool.sample_ids[pid][int((~correct).nonzero()[0][0])]
            break
    row = next(r for r in rows if r["problem_id"] == pid and r["sample_id"] == wrong)
    row["step_scores"][-1] = 1.0
    _write_lines(entry, rows)


def _dropped_sample(entry: Path, pool=None) -> None:
    _write_lines(entry, _lines(entry)[:-1])


def _duplicated_sample(entry: Path, pool=None) -> None:
    rows = _lines(entry)
    _write_lines(entry, [*rows, rows[3]])


def _swapped_pool_hash(entry: Path, pool=None) -> None:
    doc = _doc(entry)
    doc["tasks"][TASK]["pool_sha256"] = "0" * 64
    _write_doc(entry, doc)


def _inflated_metric(entry: Path, pool=None) -> None:
    doc = _doc(entry)
    doc["tasks"][TASK]["metrics"]["prm@16"]["value"] += 1e-6
    _write_doc(entry, doc)


def _inflated_ci(entry: Path, pool=None) -> None:
    doc = _doc(entry)
    doc["tasks"][TASK]["metrics"]["wmaj@4"]["ci"][0] += 0.01
    _write_doc(entry, doc)


def _nan_score(entry: Path, pool=None) -> None:
    rows = _lines(entry)
    text = json.dumps(rows[7]).replace(str(rows[7]["step_scores"][0]), "NaN", 1)
    _write_lines(entry, [*rows[:7], text, *rows[8:]])


def _out_of_range(entry: Path, pool=None) -> None:
    rows = _lines(entry)
    rows[2]["step_scores"][0] = 1.5
    _write_lines(entry, rows)


def _step_count_mismatch(entry: Path, pool=None) -> None:
    rows = _lines(entry)
    rows[9]["step_scores"] = rows[9]["step_scores"][:-1]
    _write_lines(entry, rows)


def _unknown_field(entry: Path, pool=None) -> None:
    doc = _doc(entry)
    doc["prm"]["weights_url"] = "http://example.invalid"
    _write_doc(entry, doc)


def _unknown_line_field(entry: Path, pool=None) -> None:
    rows = _lines(entry)
    rows[0]["correct"] = True
    _write_lines(entry, rows)


def _unknown_schema(entry: Path, pool=None) -> None:
    doc = _doc(entry)
    doc["schema_version"] = 99
    _write_doc(entry, doc)


def _unknown_board(entry: Path, pool=None) -> None:
    doc = _doc(entry)
    doc["board"] = "math500"
    _write_doc(entry, doc)


def _extra_sample(entry: Path, pool=None) -> None:
    rows = _lines(entry)
    _write_lines(entry, [*rows, {**rows[0], "sample_id": 999}])


def _unknown_problem(entry: Path, pool=None) -> None:
    rows = _lines(entry)
    _write_lines(entry, [*rows, {**rows[0], "problem_id": "synthetic-arith/9/9"}])


def _changed_spec(entry: Path, pool=None) -> None:
    doc = _doc(entry)
    doc["prm"]["spec"]["error_rate"] = 0.01
    _write_doc(entry, doc)


def _claimed_metric_off_board(entry: Path, pool=None) -> None:
    doc = _doc(entry)
    doc["tasks"][TASK]["metrics"]["prm@32"] = {"value": 1.0, "ci": [1.0, 1.0]}
    _write_doc(entry, doc)


def _scores_swapped_between_samples(entry: Path, pool=None) -> None:
    rows = _lines(entry)
    by_problem: dict[str, list[dict]] = {}
    for row in rows:
        by_problem.setdefault(row["problem_id"], []).append(row)
    changed = 0
    for group in by_problem.values():  # exchange two equal-length samples' scores
        pairs = [(a, b) for a in group for b in group
                 if a is not b and len(a["step_scores"]) == len(b["step_scores"])
                 and a["step_scores"][-1] != b["step_scores"][-1]]
        if pairs:
            a, b = pairs[0]
            a["step_scores"], b["step_scores"] = b["step_scores"], a["step_scores"]
            changed += 1
    assert changed
    _write_lines(entry, rows)


def _two_samples_on_one_line(entry: Path, pool=None) -> None:
    """Two objects on one line: still one array element per value if the lines are
    joined, so the bulk reader must not accept it."""
    lines = (entry / "scores" / f"{TASK}.jsonl").read_text().splitlines()
    _write_lines(entry, [lines[0] + ", " + lines[1], *lines[2:]])


def _duplicated_key(entry: Path, pool=None) -> None:
    rows = _lines(entry)
    first = json.dumps(rows[2])
    _write_lines(entry, [*rows[:2], '{"problem_id": "elsewhere", ' + first[1:], *rows[3:]])


def _boolean_score(entry: Path, pool=None) -> None:
    rows = _lines(entry)
    rows[4]["step_scores"][0] = True
    _write_lines(entry, rows)


def _float_sample_id(entry: Path, pool=None) -> None:
    rows = _lines(entry)
    rows[5]["sample_id"] = float(rows[5]["sample_id"])
    _write_lines(entry, rows)


# (name, tamper, where the reason must point, words it must contain)
TAMPERING = [
    ("changed step score", _changed_step_score, "entry.json", "recomputed"),
    ("dropped sample", _dropped_sample, "scores/synthetic-arith.jsonl", "missing"),
    ("duplicated sample", _duplicated_sample, "scores/synthetic-arith.jsonl", "duplicated"),
    ("swapped pool hash", _swapped_pool_hash, "tasks.synthetic-arith.pool_sha256",
     "unknown pool hash"),
    ("inflated metric", _inflated_metric, "tasks.synthetic-arith.metrics.prm@16.value",
     "recomputed"),
    ("inflated CI", _inflated_ci, "tasks.synthetic-arith.metrics.wmaj@4.ci", "recomputed"),
    ("NaN score", _nan_score, "scores/synthetic-arith.jsonl:8", "NaN"),
    ("out-of-range score", _out_of_range, "field 'step_scores'", "1.5"),
    ("step count mismatch", _step_count_mismatch, "scores/synthetic-arith.jsonl:10",
     "step scores for a sample of"),
    ("unknown entry field", _unknown_field, "field 'prm.weights_url'", "unknown field"),
    ("unknown line field", _unknown_line_field, "scores/synthetic-arith.jsonl:1",
     "field 'correct': unknown field"),
    ("unknown schema", _unknown_schema, "field 'schema_version'", "unknown entry schema"),
    ("unknown board", _unknown_board, "field 'board'", "unknown board"),
    ("extra sample", _extra_sample, "field 'sample_id'", "not in problem"),
    ("unknown problem", _unknown_problem, "field 'problem_id'", "not in the pinned pool"),
    ("changed spec", _changed_spec, "field 'prm.spec_sha256'", "does not match"),
    ("metric off the board", _claimed_metric_off_board,
     "tasks.synthetic-arith.metrics.prm@32", "not on the board"),
    ("scores swapped between samples", _scores_swapped_between_samples, "entry.json",
     "recomputed"),
    ("two samples on one line", _two_samples_on_one_line, "scores/synthetic-arith.jsonl:1",
     "extra data"),
    ("duplicated key", _duplicated_key, "scores/synthetic-arith.jsonl:3", "duplicate key"),
    ("boolean score", _boolean_score, "scores/synthetic-arith.jsonl:5",
     "must be a list of numbers"),
    ("float sample id", _float_sample_id, "scores/synthetic-arith.jsonl:6",
     "is not in problem"),
]


@pytest.mark.parametrize("label", sorted(PRMS))
@pytest.mark.parametrize("name,tamper,where,reason", TAMPERING, ids=[t[0] for t in TAMPERING])
def test_tampering_is_rejected_with_its_reason(world, tmp_path, label, name, tamper, where,
                                               reason):
    entry = _copy(world, label, tmp_path)
    tamper(entry, world["pool"])
    verdict = validate_entry(world["board"], entry, {TASK: world["pool"]})
    assert not verdict.ok, name
    assert any(where in line and reason in line for line in verdict.problems), \
        verdict.problems
    assert all(line.startswith(f"{entry}: ") for line in verdict.problems)


def _flip_grade_consistently(pools: Path) -> None:
    """Flip one grade in a copied board and rewrite the run's manifest hashes to match:
    only the board's pin can catch it."""
    run = pools / TASK
    shard = sorted((run / "grades").glob("*.jsonl"))[0]
    rows = [json.loads(line) for line in shard.read_text().splitlines()]
    rows[0]["correct"] = not rows[0]["correct"]
    shard.write_text("".join(json.dumps(r) + "\n" for r in rows))
    grades = [grade_from_row(json.loads(line))
              for path in sorted((run / "grades").glob("*.jsonl"))
              for line in path.read_text().splitlines()]
    digest = grades_sha256(grades)
    manifest = read_json(run / "manifest.json")
    manifest["stages"]["grades"]["content_sha256"] = digest
    manifest["content"]["grades_sha256"] = digest
    (run / "manifest.json").write_text(json.dumps(manifest))


def test_a_changed_grade_in_a_copied_board_rejects_every_entry(world, tmp_path, capsys):
    pools = tmp_path / "pools"
    shutil.copytree(world["board"].pools_dir, pools)
    _flip_grade_consistently(pools)
    board = world["board"].with_pools_dir(pools)
    with pytest.raises(HarnessError, match=r"stored grades hash to .* the board pins"):
        read_task_pool(board, TASK)
    entries = list(world["entries"].values())
    for entry in entries:
        verdict = validate_entry(board, entry)
        assert not verdict.ok
        assert "board pins" in verdict.problems[0]
    status, out, _ = run_cli(["leaderboard", "validate", "sim-arith", *entries,
                              "--pools-dir", pools], capsys)
    assert status == 1
    assert out.count("the board pins") == len(entries)


def test_cli_validate_exit_codes(world, tmp_path, capsys):
    pools = world["board"].pools_dir
    good = list(world["entries"].values())
    status, out, _ = run_cli(["leaderboard", "validate", "sim-arith", *good,
                              "--pools-dir", pools], capsys)
    assert status == 0, out
    assert out.count(": valid") == len(good)
    bad = _copy(world, "length", tmp_path)
    _dropped_sample(bad)
    _inflated_metric(bad)
    status, out, _ = run_cli(["leaderboard", "validate", "sim-arith", good[0], bad,
                              "--pools-dir", pools, "--json"], capsys)
    assert status == 1
    verdicts = [json.loads(line) for line in out.splitlines()]
    assert [v["valid"] for v in verdicts] == [True, False]
    assert any("is missing" in p for p in verdicts[1]["problems"])
    status, _, err = run_cli(["leaderboard", "validate", "no-such-board", good[0]], capsys)
    assert status == 2 and "unknown board" in err
    status, _, _ = run_cli(["leaderboard", "validate", "sim-arith", tmp_path / "absent",
                            "--pools-dir", pools], capsys)
    assert status == 2
    status, _, err = run_cli(["leaderboard", "validate", "sim-arith", good[0],
                              "--pools-dir", tmp_path / "nothing-built"], capsys)
    assert status == 2 and "build-pools" in err


def test_submit_cli_refuses_a_run_on_another_pool(world, tmp_path, capsys):
    board = world["board"]
    other = board.with_pools_dir(tmp_path / "unused")
    other.tasks = {TASK: type(board.tasks[TASK])(**{**board.tasks[TASK].__dict__})}
    other.tasks[TASK].build = {**board.tasks[TASK].build,
                               "sampling": {**board.tasks[TASK].build["sampling"], "seed": 1}}
    run = score_on_board(other, TASK, PRMS["length"], tmp_path / "runs")
    status, _, err = run_cli(["submit", run.path, "--board", "sim-arith", "--out",
                              tmp_path / "entry", "--pools-dir", board.pools_dir], capsys)
    assert status == 2
    assert "does not pin" in err and not (tmp_path / "entry").exists()
    same = world["root"] / "runs" / f"{TASK}-length"
    status, out, _ = run_cli(["submit", same, "--board", "sim-arith", "--out",
                              tmp_path / "entry", "--pools-dir", board.pools_dir,
                              "--aggregation", "min"], capsys)
    assert status == 0 and "prm@16" in out
    doc = _doc(tmp_path / "entry")
    assert doc["prm"]["aggregation"] == "min"
    verdict = validate_entry(board, tmp_path / "entry", {TASK: world["pool"]})
    assert verdict.ok, verdict.problems


def test_build_pools_cli_checks_the_pins(world, tmp_path, capsys):
    status, out, _ = run_cli(["leaderboard", "build-pools", "sim-arith", "--pools-dir",
                              tmp_path / "pools"], capsys)
    assert status == 0, out
    assert "matches the pins" in out
    assert (tmp_path / "pools" / TASK / "manifest.json").is_file()


def test_ci_self_gate_passes_with_zero_delta_and_a_worse_prm_fails(world, tmp_path, capsys):
    pools = world["board"].pools_dir
    oracle = world["entries"]["sim-oracle"]
    status, out, err = run_cli(["ci", "--board", "sim-arith", "--prm", "sim-oracle",
                                "--against", oracle, "--pools-dir", pools, "--report",
                                tmp_path / "ci.json", "--no-cache"], capsys)
    assert status == 0, out + err
    assert "**PASS**" in out
    report = json.loads((tmp_path / "ci.json").read_text())
    row = report["tasks"][TASK]
    assert report["passed"] and report["metric"] == "prm@16"
    assert row["delta"] == 0.0 and row["ci"] == [0.0, 0.0]
    status, out, _ = run_cli(["ci", "--board", "sim-arith", "--prm", "random", "--against",
                              oracle, "--pools-dir", pools, "--metric", "wmaj@8",
                              "--cache-dir", tmp_path / "cache"], capsys)
    assert status == 1 and "REGRESSION" in out
    bad = _copy(world, "sim-oracle", tmp_path)
    _inflated_metric(bad)
    status, _, err = run_cli(["ci", "--board", "sim-arith", "--prm", "sim-oracle",
                              "--against", bad, "--pools-dir", pools, "--no-cache"], capsys)
    assert status == 2 and "not valid" in err


def test_ci_gate_fails_on_shuffled_scores(world):
    from harness import registry
    from harness.leaderboard.ci import gate
    from harness.pipeline.board_pools import score_board

    board = world["board"]
    baseline = validate_entry(board, world["entries"]["sim-oracle"], {TASK: world["pool"]})
    prm = registry.PRMS.build("sim-oracle", dict(POLICY))
    pools, scores = score_board(board, prm, "sim-oracle")
    same = gate(board, pools, scores, "last", baseline)
    assert same["passed"] and same["tasks"][TASK]["delta"] == 0.0
    rng = random.Random(0)
    shuffled = {TASK: {pid: rng.sample(per, len(per)) for pid, per in scores[TASK].items()}}
    report = gate(board, pools, shuffled, "last", baseline)
    assert not report["passed"]
    assert report["tasks"][TASK]["ci"][1] < 0


@pytest.fixture()
def extra_prms():
    with extra_prms_registered():
        yield


def test_ci_exit_codes_self_shuffled_and_better(world, tmp_path, capsys, extra_prms):
    """Gated against the sim-noisy-4 entry: the same PRM passes with delta 0, the oracle's
    verdicts shuffled across each problem's samples fail, the oracle (better) passes."""
    pools, noisy = world["board"].pools_dir, world["entries"]["sim-noisy-4"]
    base = ["ci", "--board", "sim-arith", "--against", noisy, "--pools-dir", pools,
            "--no-cache"]
    status, out, _ = run_cli([*base, "--prm", "sim-noisy", "--option", "noise=4.0",
                              "--option", "seed=0"], capsys)
    assert status == 0 and "| +0.0000 | [+0.0000, +0.0000] | pass |" in out, out
    status, out, _ = run_cli([*base, "--prm", "lb-shuffled-oracle"], capsys)
    assert status == 1 and "REGRESSION" in out, out
    status, out, _ = run_cli([*base, "--prm", "sim-oracle"], capsys)
    assert status == 0 and "**PASS**" in out, out


def test_ci_cache_spares_the_model_and_a_changed_checkpoint_is_scored_again(
        world, tmp_path, capsys, extra_prms):
    checkpoint = tmp_path / "ckpt.json"
    checkpoint.write_text(json.dumps({"noise": 1.0, "seed": 0}))
    cache = tmp_path / "cache"
    args = ["ci", "--board", "sim-arith", "--prm", "lb-checkpoint", "--option",
            f"checkpoint={checkpoint}", "--against", world["entries"]["sim-noisy-1"],
            "--pools-dir", world["board"].pools_dir, "--cache-dir", cache, "--report",
            tmp_path / "r.json"]
    CheckpointPRM.calls = 0
    status, first, _ = run_cli(args, capsys)
    assert status == 0, first
    calls = CheckpointPRM.calls
    assert calls > 0  # 1600 samples, scored in chunks
    assert json.loads((tmp_path / "r.json").read_text())["candidate"]["cache"]["scored"] == [
        TASK]
    status, again, err = run_cli(args, capsys)
    assert status == 0 and CheckpointPRM.calls == calls  # no model call at all
    assert "from the cache" in err
    assert again == first  # the same gate, to the byte
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["candidate"]["cache"]["hits"] == [TASK]
    # new weights at the same path: a new resolved identity, scored again
    checkpoint.write_text(json.dumps({"noise": 4.0, "seed": 0}))
    status, changed, _ = run_cli(args, capsys)
    assert CheckpointPRM.calls == 2 * calls
    assert json.loads((tmp_path / "r.json").read_text())["candidate"]["cache"]["scored"] == [
        TASK]
    assert changed != first and status == 1  # noise 4 regresses against noise 1
    assert len(list(cache.glob("*.json"))) == 2


def test_a_corrupt_ci_cache_is_an_error_not_scores(world, tmp_path, capsys):
    cache = tmp_path / "cache"
    args = ["ci", "--board", "sim-arith", "--prm", "length", "--against",
            world["entries"]["length"], "--pools-dir", world["board"].pools_dir,
            "--cache-dir", cache]
    assert run_cli(args, capsys)[0] == 0
    (cached,) = cache.glob("*.json")
    doc = json.loads(cached.read_text())
    first = next(iter(doc["scores"]))
    doc["scores"][first][0] = doc["scores"][first][0][:-1]
    cached.write_text(json.dumps(doc))
    status, _, err = run_cli(args, capsys)
    assert status == 2 and f"field 'scores.{first}'" in err and str(cached) in err


def test_audit_passes_an_honest_entry_and_names_a_subtly_edited_sample(world, tmp_path,
                                                                        capsys):
    """The sim-noisy-1 entry re-scored by the PRM it declares: audited. Then one step
    score (not the last: aggregation last, so no claimed metric moves) of one audited
    sample is moved by 0.05: still valid by recomputation, but the audit names it."""
    from harness.pipeline.board_pools import audit_entry

    board, pools = world["board"], {TASK: world["pool"]}
    honest = validate_entry(board, world["entries"]["sim-noisy-1"], pools)
    audit = audit_entry(board, honest, 40, seed=3)
    assert audit["status"] == "audited" and audit["k"] == 40, audit
    assert audit["max_abs_diff"] <= 0.02 and not audit["problems"]
    edited = _copy(world, "sim-noisy-1", tmp_path)
    rows = _lines(edited)
    audited = {(pid, sid) for _, pid, sid in audit["samples"]}
    target = next(i for i, r in enumerate(rows)
                  if (r["problem_id"], r["sample_id"]) in audited and len(r["step_scores"]) > 2)
    step = rows[target]["step_scores"]
    step[0] = step[0] + 0.05 if step[0] < 0.9 else step[0] - 0.05
    _write_lines(edited, rows)
    tampered = validate_entry(board, edited, pools)
    assert tampered.ok, tampered.problems  # no claimed number moved
    status, out, _ = run_cli(["leaderboard", "validate", "sim-arith", edited, "--pools-dir",
                              board.pools_dir, "--audit", "40", "--audit-seed", "3"], capsys)
    assert status == 1, out
    sid, pid = rows[target]["sample_id"], rows[target]["problem_id"]
    assert f"sample {sid!r} of problem {pid!r}: field 'step_scores': step 0" in out, out
    assert "audit failed" in out
    status, out, _ = run_cli(["leaderboard", "validate", "sim-arith",
                              world["entries"]["sim-noisy-1"], "--pools-dir", board.pools_dir,
                              "--audit", "40", "--audit-seed", "3"], capsys)
    assert status == 0 and "audited (40 samples re-scored" in out, out


def test_audit_of_an_entry_with_no_rebuildable_prm_is_unavailable(world, tmp_path):
    from harness.pipeline.board_pools import audit_entry

    entry = _copy(world, "length", tmp_path)
    doc = _doc(entry)
    doc["prm"]["spec"] = {"prm_id": "length"}
    doc["prm"]["spec_sha256"] = spec_sha256(doc["prm"]["spec"])
    _write_doc(entry, doc)
    verdict = validate_entry(world["board"], entry, {TASK: world["pool"]})
    assert verdict.ok
    assert audit_entry(world["board"], verdict, 5)["status"] == "unavailable"


def test_shipped_sim_arith_entries_validate_and_audit(world, capsys):
    status, out, _ = run_cli(["leaderboard", "validate", "sim-arith", "--pools-dir",
                              world["board"].pools_dir, "--audit", "20"], capsys)
    assert status == 0, out
    names = {"sim-oracle", "sim-noisy-1", "sim-noisy-4", "random", "length"}
    for name in names:
        assert f"entries/{name}: valid, audited (20 samples" in out, out


def test_math_qwen100_board_regenerates_to_its_pins_and_its_entries_validate(
        shared_data, tmp_path, capsys):
    pools = tmp_path / "pools"
    board, pool = qwen100_board(pools, capsys)
    assert len(pool.problem_ids) == 100
    assert all(len(pool.correct[p]) == 8 for p in pool.problem_ids)
    assert pool.grader_rules_version == board.tasks["math-qwen100"].grader_rules_version
    status, out, _ = run_cli(["leaderboard", "validate", "math-qwen100", "--pools-dir",
                              pools, "--audit", "10"], capsys)
    assert status == 0, out
    assert "entries/stored-rm: valid, not audited" in out  # its RM is not here
    assert "entries/random: valid, audited" in out and "entries/length: valid, audited" in out
    # the trained PRMs' entries validate from their stored scores alone; they are audited
    # only where their folders (train-out/, regenerated by train-prm) are present
    for name in ("prm-pb-smollm2-l4", "prm-code-smollm2-l4"):
        assert f"entries/{name}: valid" in out, out


def test_codet_humaneval_pool_is_keyed_by_entry_point_and_cut_to_its_first_16(shared_data):
    """The CodeT file is not in HumanEval's order: each line is matched to the HumanEval+
    problem defining the same function (the closest prompt where two share a name, as
    HumanEval/56 and /61 do), and the board keeps the first 16 samples in file order."""
    from harness.pipeline.board_pools import _rename_by_entry_point
    from harness.registry import TASKS
    from harness.store.importers import read_external

    board = load_board("humaneval-codegen16b")
    spec = board.tasks["humaneval-codegen16b"].build
    assert spec["first_samples"] == 16 and spec["grader"] == "humanevalplus"
    path = shared_data / spec["import"]["file"]
    pool = read_external(path, "codet-humaneval", "x", "none")
    raw = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(pool.samples) == 164 and {len(s) for s in pool.samples.values()} == {100}
    task = TASKS.build("humanevalplus", {}, data_dir=shared_data)
    problems = {p.id: p for p in task.load()}
    _rename_by_entry_point(pool, problems, "humanevalplus")
    assert list(pool.samples) == list(problems)
    for pid, samples in pool.samples.items():
        line = int(pool.problems[pid]["imported_as"].split("-")[1])
        assert raw[line - 1]["samples"][:16] == [s.text for s in samples[:16]]
        assert f"def {problems[pid].metadata['entry_point']}(" in raw[line - 1]["prompt"]
    assert '"<" and ">"' in pool.problems["HumanEval/56"]["prompt"]
    assert '"(" and ")"' in pool.problems["HumanEval/61"]["prompt"]
