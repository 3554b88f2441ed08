"""``prm-harness report RUN`` or ``prm-harness report SPEC.yaml``: render reports from
stored runs: one run's reports by kind, or a ``reports/*.yaml`` spec (many runs)."""

from __future__ import annotations

from pathlib import Path

import click

from harness import registry


@click.command("report")
@click.argument("run_dir", metavar="RUN|SPEC.yaml", type=click.Path(path_type=Path))
@click.option("--kind", "kinds", multiple=True, default=None,
              help="For a RUN: report kind (registered name; default best-of-n); repeatable.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder (default: RUN/report/<kind>, or the spec's `out`).")
@click.option("--strict", is_flag=True, default=False,
              help="For a spec whose kind has a strict mode (paper): fail on any missing "
                   "cell, one line per cell, instead of rendering it as a dash.")
def report(run_dir: Path, kinds: tuple[str, ...], out: Path | None, strict: bool) -> None:
    """Render reports of RUN from RUN/metrics.json (see `prm-harness metrics RUN --save`),
    or the report a SPEC.yaml describes (see reports/README.md)."""
    if run_dir.suffix in (".yaml", ".yml"):
        from harness.reports.spec import load_report_spec

        if kinds:
            raise click.UsageError("--kind applies to a RUN; a spec names its own kind")
        spec = load_report_spec(run_dir)
        if strict:
            if not hasattr(spec.report, "strict"):
                raise click.UsageError(f"report kind {spec.kind!r} has no strict mode")
            spec.report.strict = True
        for path in spec.render(out):
            click.echo(str(path))
        return
    if strict:
        raise click.UsageError("--strict applies to a SPEC.yaml")
    kinds = kinds or ("best-of-n",)
    if all(hasattr(registry.get("report", kind), "check_run") for kind in kinds):
        # kinds that read their own folders (compute: a search run), not metrics.json
        for kind in kinds:
            registry.get("report", kind).check_run(run_dir)
            target = out / kind if out and len(kinds) > 1 else out
            built = registry.REPORTS.build(kind)
            for path in built.render({run_dir.name: run_dir},
                                     target or run_dir / "report" / kind):
                click.echo(str(path))
        return
    from harness.pipeline.reporting import render_report
    from harness.store.metrics_file import read_run_metrics
    from harness.store.rundir import RunDir

    run = RunDir.open(run_dir)
    read_run_metrics(run)  # refuses a missing, changed or stale metrics.json up front
    for kind in kinds:
        registry.get("report", kind)
        target = out / kind if out and len(kinds) > 1 else out
        for path in render_report(run, kind, target):
            click.echo(str(path))
