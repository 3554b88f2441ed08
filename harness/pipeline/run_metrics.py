"""Metrics of a stored run: a pure function of its shards, written to metrics.json.

No timestamps or machine facts go in: the same shards give the same bytes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness import metrics as m
from harness.config import MetricsConfig
from harness.errors import HarnessError
from harness.store.run_reader import RunRecords, build_pools, read_run
from harness.store.rundir import RunDir

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


def _entries(estimates: dict[str, m.Estimate], ks: list[int]) -> dict[str, Any]:
    out = {}
    for k in ks:
        for kind in m.METRIC_KINDS:
            name = f"{kind}@{k}"
            if name in estimates:
                est = estimates[name]
                out[name] = {"value": est.value, "ci": [est.ci[0], est.ci[1]]}
    return out


def compute_run_metrics(run: RunDir, config: MetricsConfig,
                        records: RunRecords | None = None) -> dict[str, Any]:
    """metrics.json content: one selector without a PRM, then one per (PRM, aggregation)."""
    records = records or read_run(run)
    if not records.problem_ids:
        raise HarnessError(f"run {run.path} has no samples")
    smallest = min(len(v) for v in records.samples.values())
    ks = sorted(set(config.ks)) if config.ks else default_ks(smallest)
    common = {"draws": config.draws, "seed": config.seed, "n_boot": config.bootstrap}
    base_pools = build_pools(records)
    base = m.compute_all(base_pools, ks, ["pass", "maj"], **common)
    selectors: list[dict[str, Any]] = [
        {"prm": None, "aggregation": None, "metrics": _entries(base, ks)}]
    per_problem: dict[str, list[float]] = {name: list(est.per_problem)
                                           for name, est in base.items()}
    for prm in records.scores:  # stage order: the config's PRM order
        for aggregation in config.aggregations:
            pools = build_pools(records, prm, aggregation)
            scored = m.compute_all(pools, ks, ["prm", "wmaj"], **common)
            selectors.append({"prm": prm, "aggregation": aggregation,
                              "metrics": _entries(scored, ks)})
            for name, est in scored.items():
                per_problem[f"{prm}|{aggregation}|{name}"] = list(est.per_problem)
    sizes = sorted({len(v) for v in records.samples.values()})
    return {
        "schema_version": METRICS_SCHEMA,
        "n_problems": len(records.problem_ids),
        "pool_sizes": sizes,
        "ks": ks,
        "parameters": {"draws": config.draws, "bootstrap": config.bootstrap,
                       "seed": config.seed, "ci_level": m.CI_LEVEL,
                       "aggregations": list(config.aggregations)},
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
