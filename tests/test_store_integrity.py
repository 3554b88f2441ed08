"""What readers may trust: content hashes, lock-first cleanup, stale and truncated shards.

Each test runs the real pipeline on synthetic-arith (no model) and then reads the stored
files back, or races two real processes for one run directory.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import run_cli

from harness import registry
from harness.config import MetricsConfig, load_config
from harness.errors import HarnessError
from harness.pipeline.run_metrics import compute_run_metrics
from harness.pipeline.runner import Runner
from harness.store.hashes import pool_sha256, stage_sha256
from harness.store.jsonl import read_jsonl
from harness.store.metrics_file import read_run_metrics
from harness.store.records import sample_from_row
from harness.store.run_reader import read_run
from harness.store.rundir import RunDir

REPO = Path(__file__).resolve().parents[1]
BASE = {
    "task": {"name": "synthetic-arith", "options": {"n_problems": 12, "length": 4, "seed": 9}},
    "policy": {"name": "sim"},
    "sampling": {"n": 4, "seed": 0},
    "prms": [{"name": "sim-oracle"}, {"name": "sim-noisy", "options": {"noise": 1.0}}],
    "metrics": {"ks": [1, 4], "draws": 50, "bootstrap": 50},
    "report": {"kinds": []},
    "shard_size": 5,
}


def _run(tmp_path: Path, name: str = "r", **changes: object) -> RunDir:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**BASE, "name": name, **changes}))
    return Runner(load_config(path), tmp_path / "runs").execute()


def _shards(run: RunDir, stage: str) -> list[Path]:
    keys = run.manifest()["stages"][stage]["shards"]
    return [run.shard_path(stage, i, k) for i, k in enumerate(keys)]


def _rows(paths: list[Path]) -> list[tuple[Path, dict]]:
    return [(p, row) for p in paths for _, row in read_jsonl(p)]


def test_pool_hash_is_order_independent_and_content_bound(tmp_path):
    run = _run(tmp_path)
    manifest = run.manifest()
    content = manifest["content"]
    assert set(content) == {"pool_sha256", "grades_sha256", "scores_sha256"}
    assert sorted(content["scores_sha256"]) == ["sim-noisy", "sim-oracle"]
    rows = _rows(_shards(run, "pool"))
    assert stage_sha256("pool", rows) == content["pool_sha256"]
    shuffled = list(rows)
    random.Random(0).shuffle(shuffled)  # other shard cuts and line orders: same pool
    assert stage_sha256("pool", shuffled) == content["pool_sha256"]
    samples = [sample_from_row(row, path) for path, row in rows]
    samples[7].steps[1] += " "  # one step's text changes by one character
    assert pool_sha256(samples) != content["pool_sha256"]
    assert read_run(run).content == content  # the reader proves what it read


def test_runs_show_prints_the_content_hashes(tmp_path, capsys):
    run = _run(tmp_path)
    content = run.manifest()["content"]
    status, out, _ = run_cli(["runs", "show", str(run.path), "--hashes"], capsys)
    assert status == 0
    assert f"pool\t{content['pool_sha256']}" in out
    assert f"grades\t{content['grades_sha256']}" in out
    assert f"scores\t{content['scores_sha256']['sim-oracle']}\tsim-oracle" in out
    status, out, _ = run_cli(["runs", "show", str(run.path)], capsys)
    assert json.loads(out)["content"] == content


def test_a_changed_shard_is_refused_by_its_hash(tmp_path):
    run = _run(tmp_path)
    path = _shards(run, "grades")[1]
    lines = path.read_text().splitlines()
    row = json.loads(lines[0])
    row["correct"] = not row["correct"]
    lines[0] = json.dumps(row)
    path.unlink()  # the shard is a hard link into the cache: write a new file
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(HarnessError, match="stage 'grades' shards hash to"):
        read_run(run)


_FIRST_WRITER = """
import os, sys
from harness.store.rundir import RunDir
run = RunDir.open(sys.argv[1])
with run.lock():
    tmp = run.path / "pool" / ".00000-abc.jsonl.4242.tmp"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text("half of a shard")
    print("locked", flush=True)
    sys.stdin.readline()  # the second process has tried by now
    os.replace(tmp, run.path / "pool" / "00000-abc.jsonl")
print("published", flush=True)
"""

_SECOND_WRITER = """
import sys
from pathlib import Path
from harness.store.rundir import RunDir
run = RunDir.create(Path(sys.argv[1]), "busy", {"a": 1})
with run.lock():
    pass
"""


def test_a_second_writer_never_deletes_the_first_writers_temporaries(tmp_path):
    RunDir.create(tmp_path, "busy", {"a": 1})
    first = subprocess.Popen([sys.executable, "-c", _FIRST_WRITER, str(tmp_path / "busy")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=REPO)
    assert first.stdout is not None and first.stdin is not None
    assert first.stdout.readline().strip() == "locked"
    second = subprocess.run([sys.executable, "-c", _SECOND_WRITER, str(tmp_path)],
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    assert second.returncode != 0 and "is in use by another process" in second.stderr
    first.stdin.write("\n")
    first.stdin.flush()
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err.strip().splitlines()[-1]
    assert "published" in out
    assert (tmp_path / "busy" / "pool" / "00000-abc.jsonl").read_text() == "half of a shard"


class _Interrupt(Exception):
    pass


def test_an_interrupted_regrade_is_refused_by_every_reader(tmp_path, monkeypatch, capsys):
    import harness.grading.math.grader as grader

    run = _run(tmp_path)
    assert read_run_metrics(run).n_problems == 12
    task_cls = registry.get("task", "synthetic-arith")
    original = task_cls.grade_batch
    calls = []

    def grade_then_die(self, batch):  # the second grades shard never finishes
        calls.append(len(batch))
        if len(calls) == 2:
            raise _Interrupt()
        return original(self, batch)

    monkeypatch.setattr(grader, "RULES_VERSION", grader.RULES_VERSION + 1)
    monkeypatch.setattr(task_cls, "grade_batch", grade_then_die)
    with pytest.raises(_Interrupt):
        _run(tmp_path)
    with pytest.raises(HarnessError, match="stage 'grades' has not finished"):
        read_run(run)
    with pytest.raises(HarnessError, match="stage 'grades' has not finished"):
        compute_run_metrics(run, MetricsConfig(ks=[1, 4], draws=50, bootstrap=50))
    with pytest.raises(HarnessError, match=r"metrics.json is stale: stage 'grades'"):
        read_run_metrics(run)
    for args in (["report", str(run.path)], ["compare", str(run.path), "sim-oracle",
                                             "sim-noisy"]):
        status, _, err = run_cli(args, capsys)
        assert status != 0 and "stage 'grades'" in err, (args, err)
        assert len(err.strip().splitlines()) == 1


def test_shards_of_another_configuration_are_refused_as_stale(tmp_path):
    run = _run(tmp_path)
    planned = run.manifest()["plan"]["grades"]
    run.plan({"grades": [*planned[:2], "f" * 64]})  # a new grader needs another shard 2
    with pytest.raises(HarnessError, match=r"stage 'grades' shard 00002 is stale"):
        read_run(run)


def test_a_consistently_truncated_shard_set_is_refused(tmp_path):
    run = _run(tmp_path)
    dropped = run.manifest()["problem_ids"][-1]
    for stage in run.manifest()["stages"]:
        keys = run.manifest()["stages"][stage]["shards"]
        path = run.shard_path(stage, len(keys) - 1, keys[-1])
        kept = [line for line in path.read_text().splitlines()
                if json.loads(line)["problem_id"] != dropped]
        path.unlink()
        path.write_text("\n".join(kept) + "\n")
        run.finish_stage(stage, keys)  # a writer that stored the truncated set as a whole
    with pytest.raises(HarnessError, match=rf"no samples for 1 of the manifest's 12 "
                                           rf"problems: {dropped}"):
        read_run(run)
