"""``prm-harness metrics FILE``: pass@k, prm@k, maj@k, wmaj@k of a flat sample file."""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness import metrics as m
from harness import registry
from harness.errors import HarnessError
from harness.store.flat import check_flat, read_flat, selection_scores, to_pools


def parse_ks(text: str) -> list[int]:
    try:
        ks = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of integers",
                                 param_hint="--k") from None
    if not ks or ks[0] < 1:
        raise click.BadParameter("k values must be positive integers", param_hint="--k")
    return ks


@click.command("metrics")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--k", "k_text", default=None,
              help="Comma-separated k values (default: 1 for a file; 1, 2, 4, ... up to the "
                   "pool size for a run).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--aggregate", type=click.Choice(registry.names("aggregation")),
              default=None, help="Select by this aggregation of step_scores instead of score.")
@click.option("--draws", type=int, default=None,
              help=f"Random k-subsets per problem for maj@k/wmaj@k (exact when fewer exist); "
                   f"default: the run's setting, {m.DEFAULT_DRAWS} for a file.")
@click.option("--bootstrap", "n_boot", type=int, default=None,
              help=f"Bootstrap resamples of the problems for the 95% CIs; default: the run's "
                   f"setting, {m.DEFAULT_BOOTSTRAP} for a file.")
@click.option("--seed", type=int, default=None,
              help=f"Seed of the draws and resamples; default: the run's, {m.DEFAULT_SEED} "
                   f"for a file.")
@click.option("--prm", "prm_label", default=None,
              help="For a run: which PRM's scores select (default: the only one).")
@click.option("--save", is_flag=True,
              help="For a run: write RUN/metrics.json (all PRMs) for reports, with the run's "
                   "own settings except those given here.")
def metrics(file: Path, k_text: str | None, as_json: bool, aggregate: str | None,
            draws: int | None, n_boot: int | None, seed: int | None, prm_label: str | None,
            save: bool) -> None:
    """Compute best-of-k metrics from FILE: a flat sample file (problem_id, sample_id,
    correct, answer, score[, step_scores]) or a run directory (its configured settings,
    each flag given here replacing the one it names)."""
    if (draws is not None and draws < 1) or (n_boot is not None and n_boot < 1):
        raise HarnessError("--draws and --bootstrap must be positive")
    if file.is_dir():
        result = _run_metrics(file, k_text, aggregate, draws, n_boot, seed, prm_label, save)
    else:
        if save or prm_label:
            raise HarnessError("--save and --prm apply to run directories only")
        ks = parse_ks(k_text or "1")
        samples = read_flat(file)
        scores = selection_scores(samples, file, aggregate)
        kinds = ["pass", "maj"] + (["prm", "wmaj"] if scores is not None else [])
        check_flat(samples, scores, ks, kinds, file, aggregate)
        pools = to_pools(samples, scores)
        estimates = m.compute_all(pools, ks, kinds,
                                  draws=m.DEFAULT_DRAWS if draws is None else draws,
                                  seed=m.DEFAULT_SEED if seed is None else seed,
                                  n_boot=m.DEFAULT_BOOTSTRAP if n_boot is None else n_boot)
        result = {"n_problems": len(pools), "metrics": m.estimate_entries(estimates, ks)}
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


def _run_metrics(path: Path, k_text: str | None, aggregate: str | None, draws: int | None,
                 n_boot: int | None, seed: int | None, prm_label: str | None,
                 save: bool) -> dict:
    from harness.pipeline.reporting import write_metrics
    from harness.pipeline.run_metrics import compute_run_metrics, run_metrics_config, selector
    from harness.store.rundir import RunDir

    run = RunDir.open(path)
    config = run_metrics_config(run, ks=parse_ks(k_text) if k_text else None,
                                aggregations=[aggregate] if aggregate else None,
                                draws=draws, bootstrap=n_boot, seed=seed)
    document = compute_run_metrics(run, config)
    if save:
        write_metrics(run, document)
    labels = sorted({e["prm"] for e in document["selectors"][1:]})
    if prm_label is None and len(labels) > 1:
        raise HarnessError(f"run has several PRMs {labels}; choose one with --prm")
    chosen = prm_label if prm_label is not None else (labels[0] if labels else None)
    aggregation = aggregate
    if chosen is not None and aggregation is None:  # the first the run computed for it
        aggregation = next((e["aggregation"] for e in document["selectors"][1:]
                            if e["prm"] == chosen), None)
    values = selector(document, chosen, aggregation if chosen else None)
    ordered = {}
    for k in document["ks"]:
        for kind in m.METRIC_KINDS:
            if f"{kind}@{k}" in values:
                ordered[f"{kind}@{k}"] = values[f"{kind}@{k}"]
    return {"n_problems": document["n_problems"], "metrics": ordered}
