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
@click.option("--k", "k_text", default="1", show_default=True, help="Comma-separated k values.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--aggregate", type=click.Choice(["min", "last", "product", "mean"]),
              default=None, help="Select by this aggregation of step_scores instead of score.")
@click.option("--draws", default=m.DEFAULT_DRAWS, show_default=True,
              help="Random k-subsets per problem for maj@k/wmaj@k (exact when fewer exist).")
@click.option("--bootstrap", "n_boot", default=m.DEFAULT_BOOTSTRAP, show_default=True,
              help="Bootstrap resamples of the problems for the 95% CIs.")
@click.option("--seed", default=m.DEFAULT_SEED, show_default=True)
def metrics(file: Path, k_text: str, as_json: bool, aggregate: str | None, draws: int,
            n_boot: int, seed: int) -> None:
    """Compute best-of-k metrics from FILE (flat format: problem_id, sample_id, correct,
    answer, score[, step_scores])."""
    ks = parse_ks(k_text)
    samples = read_flat(file)
    scores = selection_scores(samples, file, aggregate)
    pools = to_pools(samples, scores)
    kinds = ["pass", "maj"] + (["prm", "wmaj"] if scores is not None else [])
    if draws < 1 or n_boot < 1:
        raise HarnessError("--draws and --bootstrap must be positive")
    estimates = m.compute_all(pools, ks, kinds, draws=draws, seed=seed, n_boot=n_boot)
    result = metrics_json(estimates, len(pools), ks)
    if as_json:
        click.echo(json.dumps(result))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{file} ({len(pools)} problems)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("95% CI", justify="right")
    for name, entry in result["metrics"].items():
        lo, hi = entry["ci"]
        table.add_row(name, f"{entry['value']:.4f}", f"[{lo:.4f}, {hi:.4f}]")
    Console().print(table)
