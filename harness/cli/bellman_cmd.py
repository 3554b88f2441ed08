"""``prm-harness bellman RUN``: the Bellman error of a synthetic-arith run's PRMs."""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness.diagnostics.bellman import DEFAULT_SAMPLES


@click.command("bellman")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--samples", "max_samples", default=DEFAULT_SAMPLES, show_default=True,
              help="Size of the seeded uniform subset of the run's samples to diagnose.")
@click.option("--seed", default=0, show_default=True, help="Seed of that subset.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as one JSON line.")
def bellman(run_dir: Path, max_samples: int, seed: int, as_json: bool) -> None:
    """Mean |V(s_t) - E V(s_t+1)| of every PRM of RUN (task synthetic-arith, policy sim),
    stored in RUN/diagnostics/bellman.json and rendered as RUN/report/bellman/."""
    from harness.diagnostics.bellman import compute_bellman
    from harness.pipeline.reporting import render_report
    from harness.store.rundir import RunDir

    run = RunDir.open(run_dir)
    doc = compute_bellman(run, max_samples=max_samples, seed=seed)
    paths = render_report(run, "bellman")
    if as_json:
        click.echo(json.dumps({"rows": doc["rows"]}))
        return
    click.echo((run.path / "report/bellman/bellman.md").read_text(encoding="utf-8"))
    for path in paths:
        click.echo(str(path), err=True)
