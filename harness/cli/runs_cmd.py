"""``prm-harness runs list|show``: what is stored, and one run's provenance."""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness.store.rundir import RunDir, default_runs_root, list_runs


@click.group("runs")
def runs() -> None:
    """Inspect stored runs."""


@runs.command("list")
@click.option("--runs-dir", type=click.Path(path_type=Path), default=None)
def list_(runs_dir: Path | None) -> None:
    """One line per run: name, problems, stages, finished time."""
    root = runs_dir or default_runs_root()
    found = list_runs(root)
    if not found:
        click.echo(f"no runs under {root}")
        return
    for run in found:
        manifest = run.manifest()
        stages = ",".join(sorted(manifest.get("stages", {})))
        state = manifest.get("finished", "unfinished")
        metrics = "metrics" if (run.path / "metrics.json").exists() else "-"
        click.echo(f"{run.path.name}\t{manifest.get('n_problems', '?')} problems\t{stages}\t"
                   f"{metrics}\t{state}")


@runs.command("show")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--hashes", is_flag=True,
              help="Only the content hashes (pool, grades, scores per PRM), one a line.")
def show(run_dir: Path, hashes: bool) -> None:
    """Print the run's manifest (provenance, stages, compute, content hashes) as JSON."""
    manifest = RunDir.open(run_dir).manifest()
    content = manifest.get("content", {})
    if hashes:
        for name in ("pool", "grades"):
            click.echo(f"{name}\t{content.get(f'{name}_sha256', 'unfinished')}")
        for label, digest in sorted(content.get("scores_sha256", {}).items()):
            click.echo(f"scores\t{digest}\t{label}")
        return
    for name in ("problem_ids", "problems", "plan"):
        manifest.pop(name, None)
    click.echo(json.dumps(manifest, indent=2, sort_keys=True))
