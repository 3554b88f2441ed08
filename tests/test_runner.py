"""The pipeline: config checked whole before anything is written, stages as picklable units
that any executor can run, and the single-stage commands sharing the run's checks."""

from __future__ import annotations

import json
import multiprocessing
import pickle
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

import pytest
import yaml
from helpers import run_cli, write_jsonl

from harness import registry
from harness.config import load_config
from harness.interfaces import PRM, Executor
from harness.pipeline import plugins
from harness.pipeline.plan import plan_run
from harness.pipeline.runner import Runner
from harness.pipeline.stages import generate_units, grade_units, score_units
from harness.types import StepScores

BASE: dict[str, Any] = {
    "name": "r",
    "task": {"name": "synthetic-arith", "options": {"n_problems": 12, "length": 4, "seed": 9}},
    "policy": {"name": "sim"},
    "sampling": {"n": 4, "seed": 0},
    "prms": [{"name": "sim-oracle"},
             {"name": "sim-noisy", "label": "noisy", "options": {"noise": 2.0}}],
    "metrics": {"ks": [1, 2, 4], "aggregations": ["last", "min"], "draws": 50,
                "bootstrap": 50},
    "report": {"kinds": []},
    "shard_size": 3,
}


def _write(tmp_path, data) -> Any:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _line_of(path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


@pytest.mark.parametrize("change, field, needle, message", [
    (lambda c: c["policy"].update(name="simm"), "policy.name", "name: simm",
     "unknown policy 'simm'"),
    (lambda c: c["metrics"].update(ks=[1, 8]), "metrics.ks.1", "- 8",
     "k=8 is larger than sampling.n=4"),
    (lambda c: c["metrics"].update(aggregations=["last", "median"]),
     "metrics.aggregations.1", "- median", "unknown aggregation 'median'"),
    (lambda c: c["prms"][1]["options"].update(nosie=3.0), "prms.1.options.nosie",
     "nosie: 3.0", "prm 'sim-noisy' takes no option 'nosie'"),
    (lambda c: c["policy"].update(options={"error_rat": 0.1}), "policy.options.error_rat",
     "error_rat: 0.1", "policy 'sim' takes no option 'error_rat'"),
    (lambda c: c.update(executor={"name": "local", "options": {"workers": 4}}),
     "executor.options.workers", "workers: 4", "executor 'local' takes no option 'workers'"),
    (lambda c: c.update(prms=[]), "metrics.aggregations", "aggregations:",
     "no PRMs to aggregate"),
])
def test_a_config_that_cannot_run_fails_before_anything_is_written(
        tmp_path, capsys, change, field, needle, message):
    config = json.loads(json.dumps(BASE))
    change(config)
    path = _write(tmp_path, config)
    runs = tmp_path / "runs"
    status, out, err = run_cli(["run", path, "--runs-dir", runs], capsys)
    assert status == 2, (out, err)
    assert err.count("\n") == 1, err  # one line
    assert f"{path}:{_line_of(path, needle)}: field '{field}': " in err, err
    assert message in err, err
    assert not runs.exists(), sorted(p.name for p in runs.rglob("*"))  # nothing written
    status, out, _ = run_cli(["runs", "list", "--runs-dir", runs], capsys)
    assert status == 0 and out == f"no runs under {runs}\n"


def test_an_override_is_named_instead_of_a_line(tmp_path, capsys):
    path = _write(tmp_path, BASE)
    status, _, err = run_cli(["run", path, "--runs-dir", tmp_path / "runs",
                              "--set", "policy.name=nope"], capsys)
    assert status == 2
    assert f"{path} (--set policy.name): field 'policy.name': unknown policy 'nope'" in err
    status, _, err = run_cli(["run", path, "--runs-dir", tmp_path / "runs",
                              "--set", "sampling.n=2"], capsys)
    assert status == 2
    assert f"{path}:{_line_of(path, '- 4')}: field 'metrics.ks.2': k=4 is larger than " \
        "sampling.n=2" in err, err
    assert not (tmp_path / "runs").exists()


class ProcessExecutor(Executor):
    """Units in worker processes, yielded in the order they finish: what a cluster
    executor does, so the stage functions and specs must pickle and write their own shard."""

    def __init__(self, workers: int = 2) -> None:
        self.workers = workers

    def map(self, fn: Callable[[Any], Any], units: Sequence[Any]) -> Iterator[Any]:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(self.workers, mp_context=context) as pool:
            futures = [pool.submit(fn, unit) for unit in reversed(units)]
            for future in as_completed(futures):
                yield future.result()


def test_units_pickle_and_another_executor_writes_the_same_bytes(tmp_path):
    registry.register("executor", "test-processes")(ProcessExecutor)
    local = Runner(load_config(_write(tmp_path, BASE)), tmp_path / "local").execute()
    other = {**BASE, "executor": {"name": "test-processes", "options": {"workers": 2}}}
    remote = Runner(load_config(_write(tmp_path, other)), tmp_path / "procs").execute()
    assert (remote.path / "metrics.json").read_bytes() == \
        (local.path / "metrics.json").read_bytes()
    shards = sorted(p.relative_to(local.path) for p in local.path.rglob("*.jsonl")
                    if p.parent != local.path)
    assert len(shards) == 4 * 4  # pool, grades and two PRMs, 4 shards each
    for relative in shards:
        assert (remote.path / relative).read_bytes() == (local.path / relative).read_bytes()
    # the executor is where the work ran, not what the run is: same identity, same name
    assert remote.manifest()["identity"] == local.manifest()["identity"]
    assert remote.manifest()["stages"]["pool"]["policy_identity"]["policy"] == "sim"


def test_stage_units_carry_one_key_function_per_stage(tmp_path):
    config = load_config(_write(tmp_path, BASE))
    with plugins.session():
        plan = plan_run(config, tmp_path)
    pool = generate_units(plan)
    grades = grade_units(plan, pool)
    scores = score_units(plan, config.prms[1], pool)
    assert [len(u.problem_ids) for u in pool] == [3, 3, 3, 3]
    assert [i for u in pool for i in u.problem_ids] == [p.id for p in plan.problems]
    assert len({u.key for u in pool + grades + scores}) == 12
    assert all(g.pool_key == p.key and s.pool_key == p.key
               for p, g, s in zip(pool, grades, scores, strict=True))
    assert pickle.loads(pickle.dumps(scores[0])) == scores[0]
    assert not (tmp_path / "r").exists()  # planning writes nothing


class LogitLengthPRM(PRM):
    """A plug-in PRM with a real bug: it returns raw log-odds, not probabilities."""

    prm_id = "logit-length"

    def score(self, problems, samples):
        return [StepScores(s.problem_id, s.index, self.prm_id,
                           [len(step) / 10 - 1.0 for step in s.steps])
                for s in samples]


class DropsLastStepPRM(PRM):
    """A plug-in PRM that scores every step but the last."""

    prm_id = "drops-last"

    def score(self, problems, samples):
        return [StepScores(s.problem_id, s.index, self.prm_id, [0.5] * (len(s.steps) - 1))
                for s in samples]


@pytest.mark.parametrize("name, cls, message", [
    ("test-logit-length", LogitLengthPRM, "is not in [0, 1]"),
    ("test-drops-last", DropsLastStepPRM, "scores for 2 steps"),
])
def test_score_command_checks_what_a_prm_returns_as_run_does(tmp_path, capsys, name, cls,
                                                               message):
    registry.register("prm", name)(cls)
    samples = write_jsonl(tmp_path / "s.jsonl", [
        {"problem_id": "p1", "problem": "1+1?", "steps": ["one plus one", "is 2"]}])
    out = tmp_path / "scored.jsonl"
    status, _, err = run_cli(["score", "--prm", name, samples, "--out", out], capsys)
    assert status == 2, err
    assert message in err and "problem 'p1', sample 0" in err, err
    assert not out.exists()


def test_a_resume_that_reuses_every_shard_keeps_what_produced_them(tmp_path):
    """The policy's and PRMs' resolved identities are recorded when their shards are
    made; a later resume that makes none must not drop them from the manifest."""
    config = load_config(_write(tmp_path, BASE))
    run = Runner(config, tmp_path / "runs").execute()
    stages = run.manifest()["stages"]
    first = {stage: {k: stages[stage][k] for k in ("policy_identity", "prm_identity",
                                                   "grading_provenance")
                     if k in stages[stage]} for stage in stages}
    assert first["pool"]["policy_identity"]
    assert any("prm_identity" in fields for fields in first.values())
    again = Runner(config, tmp_path / "runs").execute().manifest()
    assert again["stages"]["pool"]["shards_reused"] == again["stages"]["pool"]["shards_total"]
    for stage, fields in first.items():
        for key, value in fields.items():
            assert again["stages"][stage][key] == value, (stage, key)
