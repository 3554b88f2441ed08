"""Metrics of a stored run: a pure function of its shards, written to metrics.json.

No timestamps or machine facts go in: the same shards give the same bytes. The settings
are the run's own (its stored config); a PRM with no configured aggregation is aggregated
as its spec recommends (``last`` when it names none), and every selector names the
aggregation it used.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import ValidationError

from harness import metrics as m
from harness.config import MetricsConfig
from harness.errors import ConfigError, HarnessError
from harness.store.metrics_file import named_per_problem_key
from harness.store.run_reader import RunRecords, build_pools, read_run, score_stages
from harness.store.rundir import RunDir

#: how a PRM is aggregated when neither the config nor its spec names an aggregation
FALLBACK_AGGREGATION = "last"

METRICS_SCHEMA = 1
METHODS = {
    "pass@k": "unbiased estimator 1 - C(n-c,k)/C(n,k)",
    "prm@k": "exact expectation over all k-subsets of best-of-k by score, ties uniform",
    "maj@k": "majority vote over k-subsets without replacement (all subsets when C(n,k) <= "
             "draws, else seeded random draws); ties uniform; all-abstain = incorrect",
    "wmaj@k": "as maj@k with each vote weighted by the aggregated PRM score",
    "ci": "percentile bootstrap over problems, shared resamples across metrics",
}


def default_ks(smallest_pool: int) -> list[int]:
    ks, k = [], 1
    while k <= smallest_pool:
        ks.append(k)
        k *= 2
    return ks


def run_metrics_config(run: RunDir, **overrides: Any) -> MetricsConfig:
    """The metrics settings a run was configured with (defaults for an imported run,
    which has no config), with the ``overrides`` that are not None put over them."""
    stored = run.manifest().get("config")
    base = dict((stored or {}).get("metrics") or {})
    base.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return MetricsConfig.model_validate(base)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ConfigError(f"{run.path}: field 'metrics.{where}': {first['msg']}") from None


def default_aggregation(prm_config: dict[str, Any] | None,
                        prm_identity: dict[str, Any] | None = None) -> str:
    """The aggregation a PRM recommends: its spec's ``recommended_aggregation`` (from the
    identity it scored with, else from its plug-in), else ``last``. A PRM of an imported
    run (no config) has none."""
    spec = (prm_identity or {}).get("spec")
    if isinstance(spec, dict) and "recommended_aggregation" in spec:
        return spec["recommended_aggregation"] or FALLBACK_AGGREGATION
    if not prm_config:
        return FALLBACK_AGGREGATION
    from harness import registry

    cls = registry.get("prm", prm_config["name"])
    recommend = getattr(cls, "default_aggregation", None)
    chosen = recommend(prm_config.get("options") or {}) if recommend is not None else None
    return chosen or FALLBACK_AGGREGATION


def prm_aggregations(run: RunDir, config: MetricsConfig, labels: list[str]
                     ) -> dict[str, list[str]]:
    """PRM label -> the aggregations its selectors use: the config's, else its own."""
    if config.aggregations is not None:
        return {label: list(config.aggregations) for label in labels}
    stages = run.manifest().get("stages", {})
    names = score_stages(run)
    out = {}
    for label in labels:
        info = stages.get(names.get(label, ""), {})
        out[label] = [default_aggregation(info.get("prm_config"), info.get("prm_identity"))]
    return out


def _with_sample_ids(pools: list[m.ProblemPool], records: RunRecords) -> list[m.ProblemPool]:
    """Give each pool its samples' ids (an imported sample's own id, else its index), so
    the metrics order samples by id and not by where they were read from."""
    for pool in pools:
        pool.sample_ids = [s.sample_id if s.sample_id is not None else s.index
                           for s in records.samples[pool.problem_id]]
    return pools


def _check_ks(run: RunDir, records: RunRecords, ks: list[int]) -> None:
    for k in ks:
        for pid in records.problem_ids:
            n = len(records.samples[pid])
            if n < k:
                raise ConfigError(f"{run.path}: k={k} is larger than the pool of problem "
                                  f"{pid!r} (n={n}); choose ks up to {n}")


def compute_run_metrics(run: RunDir, config: MetricsConfig,
                        records: RunRecords | None = None) -> dict[str, Any]:
    """metrics.json content: one selector without a PRM, then one per (PRM, aggregation)."""
    records = records or read_run(run)
    if not records.problem_ids:
        raise HarnessError(f"run {run.path} has no samples")
    smallest = min(len(v) for v in records.samples.values())
    ks = sorted(set(config.ks)) if config.ks else default_ks(smallest)
    _check_ks(run, records, ks)
    common = {"draws": config.draws, "seed": config.seed, "n_boot": config.bootstrap}
    base_pools = _with_sample_ids(build_pools(records), records)
    base = m.compute_all(base_pools, ks, ["pass", "maj"], **common)
    selectors: list[dict[str, Any]] = [
        {"prm": None, "aggregation": None, "metrics": m.estimate_entries(base, ks)}]
    per_problem: dict[str, list[float]] = {name: list(est.per_problem)
                                           for name, est in base.items()}
    chosen = prm_aggregations(run, config, list(records.scores))
    used: list[str] = []
    for prm in records.scores:  # stage order: the config's PRM order
        for aggregation in chosen[prm]:
            used += [] if aggregation in used else [aggregation]
            pools = _with_sample_ids(build_pools(records, prm, aggregation), records)
            try:
                scored = m.compute_all(pools, ks, ["prm", "wmaj"], **common)
            except HarnessError as exc:
                raise HarnessError(f"{run.path}: PRM {prm!r} ({aggregation}): {exc}") from None
            selectors.append({"prm": prm, "aggregation": aggregation,
                              "metrics": m.estimate_entries(scored, ks)})
            for name, est in scored.items():
                per_problem[named_per_problem_key(prm, aggregation, name)] = list(est.per_problem)
    sizes = sorted({len(v) for v in records.samples.values()})
    return {
        "schema_version": METRICS_SCHEMA,
        "n_problems": len(records.problem_ids),
        "pool_sizes": sizes,
        "ks": ks,
        "parameters": {"draws": config.draws, "bootstrap": config.bootstrap,
                       "seed": config.seed, "ci_level": m.CI_LEVEL,
                       "aggregations": (list(config.aggregations)
                                        if config.aggregations is not None else used)},
        "methods": METHODS,
        "selectors": selectors,
        "per_problem": {"problem_ids": records.problem_ids,
                        "values": {k: [float(x) for x in np.asarray(v)]
                                   for k, v in per_problem.items()}},
    }


def selector(metrics_doc: dict[str, Any], prm: str | None, aggregation: str | None
             ) -> dict[str, Any]:
    """The metrics of one selector; with a PRM, merged with the PRM-free pass/maj ones."""
    base = metrics_doc["selectors"][0]["metrics"]
    if prm is None:
        return dict(base)
    for entry in metrics_doc["selectors"]:
        if entry["prm"] == prm and entry["aggregation"] == aggregation:
            merged = dict(base)
            merged.update(entry["metrics"])
            return merged
    known = [(e["prm"], e["aggregation"]) for e in metrics_doc["selectors"][1:]]
    raise HarnessError(f"no metrics for PRM {prm!r} with aggregation {aggregation!r}; "
                       f"known: {known}")
