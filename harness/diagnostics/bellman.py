"""Bellman error of every PRM of a stored synthetic-arith run, kept in the run folder.

Any PRM can be diagnosed (the simulated ones, a transformers or HTTP PRM): it is rebuilt
from the run's own config and called on the successor prefixes of a seeded subset of the
run's samples. The result lands in ``diagnostics/bellman.json`` with everything needed to
recompute it (policy parameters, sample subset size and seed, PRM configs), and the
``bellman`` report renders it next to each PRM's stored prm@N.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from pydantic import ValidationError

from harness.config import RunConfig
from harness.errors import ConfigError
from harness.store.provenance import now_utc
from harness.store.run_reader import read_run
from harness.store.rundir import RunDir
from harness.synthetic.bellman import bellman_error
from harness.synthetic.chain import PolicyParams

DIAGNOSTICS_FILE = "diagnostics/bellman.json"
SCHEMA_VERSION = 1
DEFAULT_SAMPLES = 300


def run_config(run: RunDir) -> RunConfig:
    """The validated config a run was made with (from its manifest); an imported run
    has none, so there is no policy or PRM to rebuild."""
    manifest = run.manifest()
    if "config" not in manifest:
        what = "an imported run" if "source" in manifest else "a run without a config"
        raise ConfigError(
            f"{run.path}: {what} has no policy or PRMs to rebuild; the Bellman error needs "
            f"a run made by `prm-harness run` with task 'synthetic-arith' and policy 'sim'")
    try:
        return RunConfig.model_validate(manifest["config"])
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ConfigError(f"{run.path / 'manifest.json'}: field 'config.{where}': "
                          f"{first['msg']}") from None


def policy_params(config: RunConfig) -> PolicyParams:
    """The ``sim`` policy's parameters of a run; other policies have no exact transitions."""
    if config.task.name != "synthetic-arith" or config.policy.name != "sim":
        raise ConfigError(
            f"the Bellman error needs exact transition probabilities: only runs of task "
            f"'synthetic-arith' with policy 'sim' have them (this run: task "
            f"{config.task.name!r}, policy {config.policy.name!r})")
    from harness.registry import POLICIES
    from harness.synthetic.policy import SimPolicy

    policy = POLICIES.build("sim", config.policy.options)
    assert isinstance(policy, SimPolicy)
    return policy.params


def compute_bellman(run: RunDir, max_samples: int = DEFAULT_SAMPLES,
                    seed: int = 0) -> dict[str, Any]:
    """Bellman error of each configured PRM of ``run``; written to DIAGNOSTICS_FILE."""
    from harness.registry import PRMS, TASKS

    config = run_config(run)
    params = policy_params(config)
    if not config.prms:
        raise ConfigError(f"{run.path}: the run has no PRMs to diagnose")
    task = TASKS.build(config.task.name, config.task.options, data_dir=config.task.data_dir)
    problems = {p.id: p for p in task.load()}
    records = read_run(run)
    samples = [s for pid in records.problem_ids for s in records.samples[pid]]
    rows = []
    for prm_config in config.prms:
        prm = PRMS.build(prm_config.name, prm_config.options)
        result = bellman_error(prm, problems, samples, params, max_samples=max_samples,
                               seed=seed)
        rows.append({"prm": prm_config.display(), **result.as_dict()})
    doc = {
        "schema_version": SCHEMA_VERSION,
        "method": "mean |V(s_t) - E V(s_t+1)| over the non-final prefixes of a seeded "
                  "uniform subset of the run's samples; V is the PRM's score of a prefix's "
                  "last step, E runs over the simulated policy's exact next-step "
                  "distribution",
        "policy": {"name": "sim", **asdict(params)},
        "max_samples": max_samples,
        "seed": seed,
        "prms": [p.model_dump(mode="json") for p in config.prms],
        "computed": now_utc(),
        "rows": rows,
    }
    run.write_json(DIAGNOSTICS_FILE, doc)
    return doc
