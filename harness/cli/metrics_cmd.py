"""``prm-harness metrics FILE``: pass@k, prm@k, maj@k, wmaj@k of a flat sample file."""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness import metrics as m
from harness.errors import HarnessError
from harness.store.flat import read_flat, selection_scores, to_pools


def parse_ks(text: str) -> list[int]:
    try:
        ks = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of integers",
                                 param_hint="--k") from None
    if not ks or ks[0] < 1:
        raise click.BadParameter("k values must be positive integers", param_hint="--k")
    return ks


def metrics_json(estimates: dict[str, m.Estimate], n_problems: int, ks: list[int]) -> dict:
    """The contract shape: {"n_problems", "metrics": {"pass@1": {"value", "ci"}, ...}}."""
    ordered = {}
    for k in ks:
        for kind in m.METRIC_KINDS:
            name = f"{kind}@{k}"
            if name in estimates:
                est = estimates[name]
                ordered[name] = {"value": est.value, "ci": [est.ci[0], est.ci[1]]}
    return {"n_problems": n_problems, "metrics": ordered}


@click.command("metrics")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--k", "k_text", default=None,
              help="Comma-separated k values (default: 1 for a file; 1, 2, 4, ... up to the "
                   "pool size for a run).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--aggregate", type=click.Choice(["min", "last", "product", "mean"]),
              default=None, help="Select by this aggregation of step_scores instead of score.")
@click.option("--draws", default=m.DEFAULT_DRAWS, show_default=True,
              help="Random k-subsets per problem for maj@k/wmaj@k (exact when fewer exist).")
@click.option("--bootstrap", "n_boot", default=m.DEFAULT_BOOTSTRAP, show_default=True,
              help="Bootstrap resamples of the problems for the 95% CIs.")
@click.option("--seed", default=m.DEFAULT_SEED, show_default=True)
@click.option("--prm", "prm_label", default=None,
              help="For a run: which PRM's scores select (default: the only one).")
@click.option("--save", is_flag=True,
              help="For a run: write RUN/metrics.json (all PRMs) for reports.")
def metrics(file: Path, k_text: str | None, as_json: bool, aggregate: str | None, draws: int,
            n_boot: int, seed: int, prm_label: str | None, save: bool) -> None:
    """Compute best-of-k metrics from FILE: a flat sample file (problem_id, sample_id,
    correct, answer, score[, step_scores]) or a run directory."""
    if draws < 1 or n_boot < 1:
        raise HarnessError("--draws and --bootstrap must be positive")
    if file.is_dir():
        result = _run_metrics(file, k_text, aggregate, draws, n_boot, seed, prm_label, save)
    else:
        if save or prm_label:
            raise HarnessError("--save and --prm apply to run directories only")
        ks = parse_ks(k_text or "1")
        samples = read_flat(file)
        scores = selection_scores(samples, file, aggregate)
        pools = to_pools(samples, scores)
        kinds = ["pass", "maj"] + (["prm", "wmaj"] if scores is not None else [])
        estimates = m.compute_all(pools, ks, kinds, draws=draws, seed=seed, n_boot=n_boot)
        result = metrics_json(estimates, len(pools), ks)
    if as_json:
        click.echo(json.dumps(result))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{file} ({result['n_problems']} problems)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("95% CI", justify="right")
    for name, entry in result["metrics"].items():
        lo, hi = entry["ci"]
        table.add_row(name, f"{entry['value']:.4f}", f"[{lo:.4f}, {hi:.4f}]")
    Console().print(table)


def _run_metrics(path: Path, k_text: str | None, aggregate: str | None, draws: int,
                 n_boot: int, seed: int, prm_label: str | None, save: bool) -> dict:
    from harness.config import Aggregation, MetricsConfig
    from harness.pipeline.run_metrics import compute_run_metrics, selector
    from harness.pipeline.runner import write_metrics
    from harness.store.rundir import RunDir

    run = RunDir.open(path)
    aggregation: Aggregation = aggregate or "last"  # type: ignore[assignment]
    config = MetricsConfig(ks=parse_ks(k_text) if k_text else None, aggregations=[aggregation],
                           draws=draws, bootstrap=n_boot, seed=seed)
    document = compute_run_metrics(run, config)
    if save:
        write_metrics(run, document)
    labels = sorted({e["prm"] for e in document["selectors"][1:]})
    if prm_label is None and len(labels) > 1:
        raise HarnessError(f"run has several PRMs {labels}; choose one with --prm")
    chosen = prm_label if prm_label is not None else (labels[0] if labels else None)
    values = selector(document, chosen, aggregation if chosen else None)
    ordered = {}
    for k in document["ks"]:
        for kind in m.METRIC_KINDS:
            if f"{kind}@{k}" in values:
                ordered[f"{kind}@{k}"] = values[f"{kind}@{k}"]
    return {"n_problems": document["n_problems"], "metrics": ordered}
