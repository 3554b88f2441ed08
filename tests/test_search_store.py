"""Stored search runs (`prm-harness search --out DIR`): a SIGKILLed run resumed ends with
the same bytes as a clean one; a changed command is refused; each problem's answer and
spend are rebuilt from its stored trace alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import registry
from harness.cli import main
from harness.store.search_dir import SearchDir
from harness.strategies.engine import replay_answer

#: 48 problems in 12 shards of 4: a few seconds, so the kill lands mid-run
SLOW = ["search", "--task", "synthetic-arith", "--task-option", "length=8", "--policy",
        "sim", "--prm", "sim-noisy", "--prm-option", "noise=0.5", "--strategy", "smc",
        "--strategy-option", "particles=16", "--budget", "policy_calls=256",
        "--problems", "48", "--seed", "3", "--shard-size", "4", "--json"]


def _start(out: Path) -> subprocess.Popen:
    env = {**os.environ, "PRM_HARNESS_PROGRESS": "0"}
    return subprocess.Popen([sys.executable, "-m", "harness.cli", *SLOW, "--out", str(out)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _deterministic_files(folder: Path) -> dict[str, bytes]:
    """search.json and every shard, by relative path (timings and the lock left out)."""
    files = [folder / "search.json", *sorted((folder / "shards").iterdir())]
    return {str(p.relative_to(folder)): p.read_bytes() for p in files}


def test_sigkilled_search_resumes_to_the_bytes_of_a_clean_run(tmp_path):
    clean_dir, killed_dir = tmp_path / "clean", tmp_path / "killed"
    clean = _start(clean_dir)
    out, err = clean.communicate(timeout=300)
    assert clean.returncode == 0, err.decode()
    printed = json.loads(out)

    process = _start(killed_dir)
    first = killed_dir / "shards" / "00000.jsonl.gz"
    deadline = time.monotonic() + 120
    while not first.exists():
        assert process.poll() is None, "the search finished before a shard was seen"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done = sorted(p.name for p in (killed_dir / "shards").glob("*.jsonl.gz"))
    assert 1 <= len(done) < 12, done  # killed mid-run
    assert json.loads((killed_dir / "search.json").read_text())["summary"] is None

    again = _start(killed_dir)
    out2, err2 = again.communicate(timeout=300)
    assert again.returncode == 0, err2.decode()
    assert f"{len(done)} of 12 shards were stored already" in err2.decode()
    assert _deterministic_files(killed_dir) == _deterministic_files(clean_dir)
    assert len(list((killed_dir / "timings").glob("*.json.gz"))) == 12

    # the summary stored is the one printed, less the measured wall seconds
    stored = json.loads((clean_dir / "search.json").read_text())
    resumed = json.loads(out2)
    for doc in (printed, resumed):
        wall = doc["spent"].pop("wall_s")
        assert wall > 0
        assert doc == stored["summary"]
    assert stored["policy"]["identity"]["policy"] == "sim"
    assert stored["prm"]["identity"]["noise_logit_sigma"] == 0.5
    assert stored["prm"]["label"] == "sim-noisy(noise=0.5)"
    assert stored["seed"] == 3 and stored["shard_size"] == 4
    assert len(stored["problem_ids"]) == 48
    assert stored["harness"]["git_revision"] and stored["harness"]["version"]


def _quick(strategy: str, *extra: str, shard_size: int = 3) -> list[str]:
    return ["search", "--task", "synthetic-arith", "--policy", "sim", "--prm", "sim-noisy",
            "--strategy", strategy, "--budget", "policy_calls=48", "--problems", "7",
            "--seed", "1", "--shard-size", str(shard_size), "--json", *extra]


@pytest.mark.parametrize("strategy", ["best-of-n", "weighted-majority", "beam", "smc",
                                      "mcts"])
def test_answer_and_spend_rebuilt_from_the_stored_trace(strategy, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_quick(strategy, "--out", str(out))) == 0
    capsys.readouterr()
    store = SearchDir.find(out)
    records = store.records()
    assert [r["problem_id"] for r in records] == store.settings()["problem_ids"]
    task = registry.TASKS.build("synthetic-arith", {"n_problems": 7})
    problems = {p.id: p for p in task.load()}
    walls = store.wall_seconds()
    for record in records:
        text, spent = replay_answer(record["trace"])
        assert text == record["answer_text"]
        assert spent.pop("wall_s") == 0.0  # wall seconds live in timings/, not the trace
        assert spent == record["spent"]
        assert "wall_s" not in record["trace"]["spent"]
        assert walls[record["problem_id"]] > 0
        if text is None:
            assert record["correct"] is False
        else:  # the stored verdict is the task's verdict on the stored answer
            problem = problems[record["problem_id"]]
            grade = task.grade(problem, [task.prepare(problem, 0, text)])[0]
            assert grade.correct == record["correct"]


def test_traces_out_of_a_resumed_run_carry_the_stored_wall_seconds(tmp_path, capsys):
    out, first, second = tmp_path / "run", tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert main(_quick("smc", "--out", str(out), "--traces-out", str(first))) == 0
    assert main(_quick("smc", "--out", str(out), "--traces-out", str(second))) == 0
    capsys.readouterr()
    a = [json.loads(line) for line in first.read_text().splitlines()]
    b = [json.loads(line) for line in second.read_text().splitlines()]
    assert a == b and len(a) == 7
    assert all(n["wall_s"] >= 0 for t in a for n in t["nodes"])
    assert sum(t["spent"]["wall_s"] for t in a) > 0


@pytest.mark.parametrize(("change", "shard_size", "field"), [
    (["--budget", "policy_calls=40"], 3, "budget.policy_calls"),
    (["--prm-option", "noise=2"], 3, "prm.identity.noise_logit_sigma"),
    (["--strategy-option", "particles=8"], 3, "strategy.identity.particles"),
    ([], 2, "shard_size"),
])
def test_a_changed_command_is_one_line_and_exit_2(change, shard_size, field, tmp_path,
                                                  capsys):
    out = tmp_path / "run"
    assert main(_quick("smc", "--out", str(out))) == 0
    before = _deterministic_files(out)
    capsys.readouterr()
    assert main(_quick("smc", "--out", str(out), *change, shard_size=shard_size)) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert str(out / "search.json") in err and f"field '{field}'" in err
    assert _deterministic_files(out) == before  # nothing was touched


def test_a_folder_that_is_no_search_run_is_refused(tmp_path, capsys):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(_quick("smc", "--out", str(out))) == 2
    err = capsys.readouterr().err.strip()
    assert "not empty and not a search run" in err and "\n" not in err


# -- prm-harness run with a strategy section ------------------------------------------------

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "search" / "smc-synthetic.yaml"
#: the same search as the example config, on the command line
EXAMPLE_AS_SEARCH = [
    "search", "--task", "synthetic-arith", "--task-option", "n_problems=40", "--task-option",
    "length=8", "--task-option", "difficulty=3", "--task-option", "seed=0", "--policy", "sim",
    "--prm", "sim-oracle", "--strategy", "smc", "--strategy-option", "particles=16",
    "--budget", "policy_calls=256", "--seed", "0", "--shard-size", "10", "--json"]


def test_the_example_strategy_config_runs_a_stored_search(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["run", str(EXAMPLE), "--runs-dir", str(runs)]) == 0
    out = capsys.readouterr().out
    (run,) = runs.iterdir()
    assert f"search: {run / 'search' / 'search.json'}" in out
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["config"]["strategy"]["name"] == "smc"
    assert manifest["search"]["n_problems"] == 40
    assert manifest["search"]["accuracy"]["value"] > 0.7  # an exact-value PRM, 16 particles
    assert not (run / "pool").exists() and not (run / "metrics.json").exists()
    assert (run / "report" / "compute" / "compute.csv").is_file()
    for record in SearchDir.find(run).records():
        assert replay_answer(record["trace"])[0] == record["answer_text"]

    # the same settings given to `prm-harness search --out` store the same bytes
    cli = tmp_path / "cli"
    assert main([*EXAMPLE_AS_SEARCH, "--out", str(cli)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert _deterministic_files(cli) == _deterministic_files(run / "search")
    printed["spent"].pop("wall_s")
    stored_summary = dict(manifest["search"])
    stored_summary["spent"] = {k: v for k, v in stored_summary["spent"].items()
                               if k != "wall_s"}
    assert printed == stored_summary

    # run again: every shard is reused, nothing changes
    before = _deterministic_files(run / "search")
    assert main(["run", str(EXAMPLE), "--runs-dir", str(runs)]) == 0
    assert "4 of 4 shards were stored already" in capsys.readouterr().err
    assert _deterministic_files(run / "search") == before


@pytest.mark.parametrize(("override", "message"), [
    ("sampling.n=4", "field 'sampling': a run with a strategy section has no sampling"),
    ("strategy.budget.spoons=3", "field 'strategy.budget.spoons': unknown budget key"),
    ("strategy.budget.policy_calls=-5", "budget policy_calls must be a positive number"),
    ("strategy.prm=nobody", "field 'strategy.prm': no PRM labelled 'nobody'"),
    ("strategy.options.colour=red", "field 'strategy.options': strategy 'smc': unknown "
                                    "option colour"),
    ("report.kinds=[best-of-n]", "field 'report.kinds.0': a strategy run renders only the "
                                 "compute report"),
])
def test_a_bad_strategy_section_is_one_line_and_exit_2(override, message, tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["run", str(EXAMPLE), "--runs-dir", str(runs), "--set", override]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and message in err and str(EXAMPLE) in err
    assert not runs.exists()  # checked before anything is written


REPO = Path(__file__).resolve().parent.parent
SWEEP = REPO / "runs" / "search"


@pytest.mark.parametrize("name,strategy,options,prm", [
    ("beam-noisy2-calls32", "beam", ["n=4", "m=2"], ["sim-noisy", "--prm-option", "noise=2"]),
    ("smc-oracle-calls64", "smc", ["particles=4"], ["sim-oracle"]),
])
def test_the_stored_sweep_regenerates_byte_for_byte(name, strategy, options, prm, tmp_path):
    """Two runs of the shipped sweep (scripts/search_sweep_sim.sh), made again here: their
    settings and shards are the stored bytes, so every number of the compute reports is
    what this code computes."""
    stored = SWEEP / name
    assert (stored / "search.json").is_file(), f"the stored run {stored} is missing"
    budget = name.rsplit("calls", 1)[1]
    argv = ["search", "--task", "synthetic-arith", "--task-option", "length=8", "--policy",
            "sim", "--prm", *prm, "--strategy", strategy, "--budget",
            f"policy_calls={budget}", "--problems", "40", "--seed", "0",
            "--out", str(tmp_path / name), "--json"]
    for option in options:
        argv += ["--strategy-option", option]
    assert main(argv) == 0
    again, kept = _deterministic_files(tmp_path / name), _deterministic_files(stored)
    docs = [json.loads(files.pop("search.json")) for files in (again, kept)]
    for doc in docs:
        doc.pop("harness")  # the version and git revision of the session that made it
    assert docs[0] == docs[1]
    assert again == kept


def test_the_shipped_compute_reports_render_from_the_stored_sweep(tmp_path):
    from harness.reports.spec import load_report_spec

    specs = sorted((REPO / "reports").glob("compute-sim-*.yaml"))
    assert len(specs) == 3
    for spec in specs:
        report = load_report_spec(spec)
        assert len(report.runs) == 32
        assert all(p.resolve().parent == SWEEP for p in report.runs.values())
        paths = report.render(tmp_path / spec.stem)
        csv = next(p for p in paths if p.name == "compute.csv").read_text().splitlines()
        assert len(csv) == 1 + 32


def test_the_real_model_compute_reports_render_from_their_stored_runs(tmp_path):
    """The real-model sweep (scripts/search_sweep_real.py: SmolLM2-135M on vLLM guided by
    PRM-Math): each of its 24 runs per task is a finished search of its stored problems,
    the report's accuracy of each point is the run's own summary, and no problem spent
    more step requests than its budget."""
    import csv as csv_module
    import gzip
    import json

    from harness.reports.spec import load_report_spec

    specs = sorted((REPO / "reports").glob("compute-real-*.yaml"))
    assert [s.stem for s in specs] == ["compute-real-math500-easy",
                                       "compute-real-synthetic-arith"]
    for spec in specs:
        report = load_report_spec(spec)
        assert len(report.runs) == 24
        paths = report.render(tmp_path / spec.stem)
        rows = list(csv_module.DictReader(
            next(p for p in paths if p.name == "compute.csv").open()))
        assert len(rows) == 24
        by_label = {row["run"]: row for row in rows}
        for label, folder in report.runs.items():
            doc = json.loads((folder / "search.json").read_text())
            assert doc["policy"]["name"] == "vllm" and doc["prm"]["name"] == "transformers"
            calls = doc["budget"]["policy_calls"]
            records = [json.loads(line) for shard in sorted((folder / "shards").iterdir())
                       for line in gzip.decompress(shard.read_bytes()).splitlines()]
            assert [r["problem_id"] for r in records] == doc["problem_ids"]
            assert all(r["spent"]["policy_calls"] <= calls for r in records)
            accuracy = sum(bool(r["correct"]) for r in records) / len(records)
            assert doc["summary"]["accuracy"]["value"] == pytest.approx(accuracy)
            assert float(by_label[label]["accuracy"]) == pytest.approx(accuracy)
