"""The Ray executor on a real two-process Ray cluster on 127.0.0.1 (a head and a second
worker node, one CPU each): the same bytes as the local executor for the demo and for a
HumanEval+ grading run, a killed worker process mid-shard, and a unit that keeps raising."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness.config import ExecutorConfig, RunConfig, TaskConfig
from harness.interfaces import SamplingParams
from harness.pipeline import plugins
from harness.pipeline.demo import demo_config
from harness.pipeline.executor import LocalExecutor
from harness.pipeline.generate import generate_pool
from harness.pipeline.runner import Runner
from harness.pipeline.stages import GRADES, ShardSpec, grade_shard
from harness.registry import POLICIES
from harness.store.records import to_row
from harness.store.rundir import RunDir

if os.environ.get("CI", "").lower() != "true":
    pytest.importorskip("ray")

RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
RAY_BIN = Path(sys.executable).with_name("ray")
HUMANEVAL_IDS = ["HumanEval/0", "HumanEval/2", "HumanEval/10", "HumanEval/32",
                 "HumanEval/53", "HumanEval/75"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (zombies waiting to be reaped do not)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()  # state, ppid, pgrp, ...
            if fields[0] != "Z" and int(fields[2]) == pgid:
                return True
    return False


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A head (1 CPU) and a second node (1 CPU) on 127.0.0.1, each `ray start --block` in
    its own process group, which teardown ends (only these groups, by id)."""
    for name, value in RAY_ENV.items():
        os.environ.setdefault(name, value)
    port = _free_port()
    address = f"127.0.0.1:{port}"
    temp = f"/tmp/rayt-{os.getpid()}"  # short: Ray's socket paths must stay < 108 chars
    env = {**os.environ, **RAY_ENV}
    common = ["--num-cpus=1", "--block", "--disable-usage-stats"]
    logs = tmp_path_factory.mktemp("ray-logs")
    procs = [_ray_start(["--head", f"--port={port}", "--node-ip-address=127.0.0.1",
                         "--include-dashboard=false", f"--temp-dir={temp}", *common],
                        env, logs / "head.log")]
    try:
        _wait_for_nodes(address, 1, procs, logs)
        procs.append(_ray_start([f"--address={address}", "--node-ip-address=127.0.0.1",
                                 *common], env, logs / "worker.log"))
        _wait_for_nodes(address, 2, procs, logs)
        yield address
    finally:
        for proc in reversed(procs):
            with_group = proc.pid  # start_new_session: the group is the process id
            for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(with_group, sig)
                except ProcessLookupError:
                    break
                deadline = time.monotonic() + wait
                while _group_alive(with_group) and time.monotonic() < deadline:
                    time.sleep(0.1)
                if not _group_alive(with_group):
                    break
            proc.wait(timeout=10)
        shutil.rmtree(temp, ignore_errors=True)


def _ray_start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("wb") as handle:
        return subprocess.Popen([str(RAY_BIN), "start", *args], env=env, stdout=handle,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for_nodes(address: str, n: int, procs: list[subprocess.Popen], logs: Path) -> None:
    probe = ("import ray,sys; ray.init(address=sys.argv[1], include_dashboard=False, "
             "log_to_driver=False); print(sum(1 for x in ray.nodes() if x['Alive'])); "
             "ray.shutdown()")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise AssertionError("ray start exited: " + " ".join(
                f.read_text(errors="replace")[-2000:] for f in logs.iterdir()))
        out = subprocess.run([sys.executable, "-c", probe, address], capture_output=True,
                             text=True, env={**os.environ, **RAY_ENV})
        if out.returncode == 0 and out.stdout.strip().splitlines()[-1:] == [str(n)]:
            return
        time.sleep(0.5)
    raise AssertionError(f"the Ray cluster did not reach {n} nodes")


def _on_ray(config: RunConfig, address: str, **options: object) -> RunConfig:
    return config.model_copy(update={"executor": ExecutorConfig(
        name="ray", options={"address": address, **options})})


def _result_files(run: Path) -> dict[str, bytes]:
    """Pool, grades and scores shards and metrics.json, by path in the run."""
    files = {str(p.relative_to(run)): p.read_bytes()
             for stage in ("pool", "grades", "scores") for p in (run / stage).rglob("*.jsonl")}
    files["metrics.json"] = (run / "metrics.json").read_bytes()
    return files


@pytest.fixture(scope="module")
def demo_reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("demo-local")
    run = Runner(demo_config(out), out, executor=LocalExecutor()).execute()
    return _result_files(run.path)


def test_demo_on_ray_is_byte_identical_to_local(cluster, demo_reference, tmp_path):
    config = _on_ray(demo_config(tmp_path), cluster)
    run = Runner(config, tmp_path).execute()
    files = _result_files(run.path)
    assert sorted(files) == sorted(demo_reference)
    assert len([f for f in files if f.startswith("scores/")]) == 30  # 3 PRMs x 10 shards
    assert [f for f in files if files[f] != demo_reference[f]] == []
    manifest = json.loads((run.path / "manifest.json").read_text())
    assert manifest["config"]["executor"]["name"] == "ray"
    assert manifest["stages"]["pool"]["shards_total"] == 10


def _engine_processes() -> list[int]:
    """Ray worker processes running an engine actor's unit right now (by process title)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if title.startswith(b"ray::EngineWorker.run"):
            found.append(int(entry.name))
    return found


def test_a_worker_killed_mid_shard_still_gives_identical_results(cluster, demo_reference,
                                                                 tmp_path):
    from harness.pipeline.ray_executor import RayExecutor

    run_path = tmp_path / demo_config(tmp_path).name
    killed: list[int] = []

    def kill_one() -> None:  # SIGKILL a worker busy on a pool shard once one shard is done
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            if list((run_path / "pool").glob("*.jsonl")):
                for pid in _engine_processes():
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    break
            time.sleep(0.005)

    killer = threading.Thread(target=kill_one, daemon=True)
    executor = RayExecutor(address=cluster, max_retries=2)
    try:
        killer.start()
        run = Runner(demo_config(tmp_path), tmp_path, executor=executor).execute()
    finally:
        executor.close()
        killer.join(timeout=5)
    assert len(killed) == 1, "no worker was caught mid-shard"
    died = [unit for unit, error in executor.retried if "worker died" in error]
    assert len(died) == 1 and died[0].startswith("pool shard "), executor.retried
    files = _result_files(run.path)
    assert sorted(files) == sorted(demo_reference)
    assert [f for f in files if files[f] != demo_reference[f]] == []
    assert not list(run.path.rglob("*.tmp")), "a half-written file was left behind"


def test_a_unit_that_keeps_raising_is_retried_then_reported_by_unit(cluster, tmp_path):
    from harness.pipeline.ray_executor import RayExecutor, UnitFailedError

    task = TaskConfig(name="synthetic-arith", options={"n_problems": 4, "seed": 0})
    run = RunDir(tmp_path / "run")
    with plugins.session():
        problems = plugins.problems(task)
        chosen = [problems[i] for i in problems][:2]
        samples = generate_pool(plugins.task(task), chosen, POLICIES.build("sim"),
                                SamplingParams(n=2, seed=0))
    run.write_shard("pool", 0, "pool-ok", [to_row(s) for s in samples], {})
    good = ShardSpec(str(run.path), GRADES, 0, "grades-ok", tuple(p.id for p in chosen),
                     task, pool_key="pool-ok")
    bad = ShardSpec(str(run.path), GRADES, 1, "grades-bad", good.problem_ids, task,
                    pool_key="no-such-pool-shard")
    executor = RayExecutor(address=cluster, max_retries=2)
    try:
        with pytest.raises(UnitFailedError) as caught:
            list(executor.map(grade_shard, [bad, good]))
    finally:
        executor.close()
    message = str(caught.value)
    assert message.startswith("1 of 2 units failed after 2 retries:"), message
    assert "grades shard 1 (key grades-bad)" in message
    assert message.count("file not found (on ") == 3  # the first try and two retries
    assert [line.strip()[:9] for line in message.splitlines()[2:]] == \
        ["attempt 1", "attempt 2", "attempt 3"]
    assert "grades shard 0" not in message
    assert run.has_shard(GRADES, 0, "grades-ok")  # the other unit finished and was written
    assert not run.has_shard(GRADES, 1, "grades-bad")


def _untimed(shard: bytes) -> list[dict]:
    rows = [json.loads(line) for line in shard.decode().splitlines()]
    for row in rows:
        row.get("details", {}).pop("wall_s", None)
    return rows


def _humaneval_config(shared_data: Path, tmp_path: Path) -> Path:
    stored = shared_data / "samples/qwen2.5-coder_base_evalplus/7b-base/humaneval"
    rows = [json.loads(line) for line in (stored / "generated.jsonl").open()]
    pool = tmp_path / "pool.jsonl"
    with pool.open("w") as handle:
        for row in rows:
            if row["task_id"] in HUMANEVAL_IDS:
                handle.write(json.dumps({"problem_id": row["task_id"],
                                         "completion": row["completion"]}) + "\n")
    config = {
        "name": "humaneval-ray",
        "task": {"name": "humanevalplus", "options": {"workers": 1},
                 "problems": {"ids": HUMANEVAL_IDS}, "reference_check": "skip"},
        "policy": {"name": "replay", "options": {"pool": str(pool), "task": "humanevalplus"}},
        "sampling": {"n": 1, "seed": 0},
        "prms": [{"name": "length"}],
        "metrics": {"ks": [1], "draws": 50, "bootstrap": 50},
        "shard_size": 2,
    }
    path = tmp_path / "humaneval.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_humanevalplus_grading_on_ray_is_byte_identical(cluster, shared_data, code_cache,
                                                        tmp_path):
    from harness.config import load_config

    config_path = _humaneval_config(shared_data, tmp_path)
    local = Runner(load_config(config_path), tmp_path / "local",
                   executor=LocalExecutor()).execute()
    env = {**os.environ, **RAY_ENV, "PRM_HARNESS_PROGRESS": "0"}
    done = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(config_path),
                           "--executor", "ray", "--set", f"executor.options.address={cluster}",
                           "--runs-dir", str(tmp_path / "ray")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    on_ray = tmp_path / "ray" / "humaneval-ray"
    reference, files = _result_files(local.path), _result_files(on_ray)
    assert sorted(files) == sorted(reference)
    assert len([f for f in files if f.startswith("grades/")]) == 3
    # code grades carry the measured wall time of each program (details.wall_s), which
    # differs between any two runs, local ones included; all else is the same bytes
    assert [f for f in files if files[f] != reference[f]
            and not f.startswith("grades/")] == []
    for name in [f for f in files if f.startswith("grades/")]:
        assert _untimed(files[name]) == _untimed(reference[name]), name
    grades = [json.loads(line) for f in sorted(files) if f.startswith("grades/")
              for line in files[f].decode().splitlines()]
    assert len(grades) == len(HUMANEVAL_IDS)
    assert 0 < sum(g["correct"] for g in grades) < len(HUMANEVAL_IDS)  # passes and fails
    manifest = json.loads((on_ray / "manifest.json").read_text())
    assert manifest["config"]["executor"]["name"] == "ray"
    assert manifest["stages"]["grades"].get("grading_provenance")  # the workers' sandbox
