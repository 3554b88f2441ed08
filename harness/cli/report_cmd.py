"""``prm-harness report RUN``: render a run's reports from its stored metrics."""

from __future__ import annotations

from pathlib import Path

import click

from harness import registry


@click.command("report")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--kind", "kinds", multiple=True, default=("best-of-n",), show_default=True,
              help="Report kind (registered name); repeatable.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder (default: RUN/report/<kind>).")
def report(run_dir: Path, kinds: tuple[str, ...], out: Path | None) -> None:
    """Render reports of RUN from RUN/metrics.json (see `prm-harness metrics RUN --save`)."""
    from harness.errors import HarnessError
    from harness.pipeline.runner import render_report
    from harness.store.rundir import RunDir

    run = RunDir.open(run_dir)
    if not (run.path / "metrics.json").exists():
        raise HarnessError(f"{run.path} has no metrics.json; run "
                           f"`prm-harness metrics {run.path} --save` first")
    for kind in kinds:
        registry.get("report", kind)
        target = out / kind if out and len(kinds) > 1 else out
        for path in render_report(run, kind, target):
            click.echo(str(path))
