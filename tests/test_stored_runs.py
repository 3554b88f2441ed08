"""The stored real runs (runs/<name>, docs/stored-runs.md) and their configs.

For every run stored under runs/: each stage's content hash in the manifest is recomputed
from the stored shard files, and metrics.json is recomputed from those shards to the same
bytes. For every config under examples/real/: it validates (check_config), names a zoo
model at the catalog's revision, and a stored run exists for it, made from exactly that
config and that problem selection.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from harness.config import load_config
from harness.models.zoo.catalog import MODELS
from harness.pipeline import plugins
from harness.pipeline.plan import check_config, select_problems
from harness.pipeline.run_metrics import compute_run_metrics, run_metrics_config
from harness.store.hashes import stage_sha256
from harness.store.keys import canonical_json
from harness.store.rundir import RunDir

REPO = Path(__file__).resolve().parents[1]
RUNS = REPO / "runs"
CONFIGS = sorted((REPO / "examples" / "real").glob("*.yaml"))
STORED = sorted(p.parent for p in RUNS.glob("*/manifest.json")) if RUNS.is_dir() else []


def _stage_dir(stage: str) -> str:
    return stage  # pool -> pool/, grades -> grades/, scores/<label> -> scores/<label>/


# the runs finished and stored so far (docs/stored-runs.md: the math500, humanevalplus and
# mbppplus pools of both models are still to be generated)
FINISHED = {"smollm2-synthetic-arith", "gemma3-synthetic-arith"}


def test_configs_exist() -> None:
    names = {c.stem for c in CONFIGS}
    tasks = {load_config(c).task.name for c in CONFIGS}
    assert names >= FINISHED, names
    assert {p.name for p in STORED} >= FINISHED
    assert tasks <= {"synthetic-arith", "math500", "humanevalplus", "mbppplus"}


@pytest.mark.parametrize("config_path", CONFIGS, ids=lambda p: p.stem)
def test_config_validates_and_names_zoo_revision(config_path: Path) -> None:
    config = load_config(config_path)
    check_config(config)
    assert config.name == config_path.stem
    assert config.sampling.n == 16
    folder = Path(config.policy.options["model"])
    assert folder.parts[0] == "zoo-models"
    model = MODELS[folder.name]
    version = model.install.split("==")[1].strip("'")
    assert config.policy.label == f"{model.name}@{version}+sha256:{model.known_sha256}"
    # the documented regeneration command is in the file's header
    assert f"prm-harness run examples/real/{config_path.stem}.yaml" in config_path.read_text()


@pytest.mark.parametrize("config_path", CONFIGS, ids=lambda p: p.stem)
def test_config_has_its_stored_run(config_path: Path, shared_data: Path) -> None:
    """A stored run exists for the config, made from exactly it (the manifest's config is
    the YAML's) and for the problems its selection picks from the task today."""
    run = RUNS / config_path.stem
    assert (run / "manifest.json").is_file(), f"no stored run at {run}"
    manifest = json.loads((run / "manifest.json").read_text())
    config = load_config(config_path)
    stored = dict(manifest["config"])
    stored.pop("runs_dir", None)
    mine = config.model_dump(mode="json")
    mine.pop("runs_dir", None)
    assert stored == mine
    with plugins.session():
        problems = select_problems(list(plugins.problems(config.task).values()),
                                   config.task.problems)
    assert manifest["problem_ids"] == [p.id for p in problems]
    assert "finished" in manifest


@pytest.mark.parametrize("run_path", STORED, ids=lambda p: p.name)
def test_stored_hashes_recompute(run_path: Path) -> None:
    run = RunDir.open(run_path)
    manifest = run.manifest()
    stages = manifest["stages"]
    assert {"pool", "grades"} <= set(stages)
    assert any(s.startswith("scores/") for s in stages)
    for stage, info in stages.items():
        rows = []
        for index, key in enumerate(info["shards"]):
            path = run.shard_path(_stage_dir(stage), index, key)
            rows.extend((path, row) for row in run.read_shard(_stage_dir(stage), index, key))
        assert rows, f"{run_path}: stage {stage} has no rows"
        assert stage_sha256(stage, rows) == info["content_sha256"], (run_path, stage)
    # one pool of 16 samples for every problem the manifest lists
    pool = [row for i, k in enumerate(stages["pool"]["shards"])
            for row in run.read_shard("pool", i, k)]
    per_problem: dict[str, int] = {}
    for row in pool:
        per_problem[row["problem_id"]] = per_problem.get(row["problem_id"], 0) + 1
    assert per_problem == dict.fromkeys(manifest["problem_ids"], 16)


@pytest.mark.parametrize("run_path", STORED, ids=lambda p: p.name)
def test_stored_metrics_recompute(run_path: Path) -> None:
    run = RunDir.open(run_path)
    document = compute_run_metrics(run, run_metrics_config(run))
    data = (canonical_json(document) + "\n").encode("utf-8")
    stored = (run_path / "metrics.json").read_bytes()
    assert data == stored
    assert hashlib.sha256(stored).hexdigest() == run.manifest()["metrics"]["sha256"]


@pytest.mark.parametrize("run_path", STORED, ids=lambda p: p.name)
def test_stored_provenance(run_path: Path) -> None:
    """The manifest names the zoo export the pool came from and how it was sampled."""
    manifest = json.loads((run_path / "manifest.json").read_text())
    pool = manifest["stages"]["pool"]
    identity = pool["policy_identity"]
    text = yaml.safe_dump(identity)
    assert "zoo_provenance.json" in text
    assert manifest["config"]["sampling"]["n"] == 16
    assert manifest["environment"]
    assert manifest["compute_ledger"]
