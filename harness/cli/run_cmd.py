"""``prm-harness run CONFIG.yaml``: the whole pipeline from one config, resumable."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("run")
@click.argument("config_path", metavar="CONFIG.yaml", type=click.Path(path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
              help="Override a config value, e.g. --set sampling.n=16 (YAML value).")
@click.option("--runs-dir", type=click.Path(path_type=Path), default=None)
@click.option("--executor", "executor", default=None, metavar="NAME",
              help="Run the units on this executor (local, ray); options stay those of "
                   "the config's executor section (set them with --set executor.options.X=V).")
def run(config_path: Path, overrides: tuple[str, ...], runs_dir: Path | None,
        executor: str | None) -> None:
    """Generate, grade, score, compute metrics and render reports; finished shards of an
    earlier (or killed) run with the same config are reused."""
    from harness.config import load_config
    from harness.pipeline.runner import Runner

    if executor is not None:
        overrides = (f"executor.name={executor}", *overrides)
    config = load_config(config_path, overrides)
    result = Runner(config, runs_dir, log=lambda m: click.echo(m, err=True)).execute()
    click.echo(f"run finished: {result.path}")
    if config.strategy is not None:
        click.echo(f"search: {result.path / 'search' / 'search.json'}")
        if "report" in config.model_fields_set and config.report.kinds:
            click.echo(f"report: {result.path / 'report'}")
        return
    click.echo(f"metrics: {result.path / 'metrics.json'}")
    if config.report.kinds:
        click.echo(f"report: {result.path / 'report'}")
