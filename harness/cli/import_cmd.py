"""``prm-harness import FILE``: store an external sample file as a run."""

from __future__ import annotations

from pathlib import Path

import click

from harness import registry
from harness.cli.options import parse_key_values
from harness.store.importers import SCORE_TRANSFORMS
from harness.store.rundir import default_runs_root


@click.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(registry.names("importer")),
              required=True)
@click.option("--name", default=None, help="Run name (default: derived from the file).")
@click.option("--runs-dir", type=click.Path(path_type=Path), default=None,
              help="Where runs live (default: $PRM_HARNESS_RUNS or ./runs).")
@click.option("--prm-id", default="imported", show_default=True,
              help="Label of the model whose scores the file carries.")
@click.option("--score-transform", type=click.Choice(sorted(SCORE_TRANSFORMS)), default="none",
              show_default=True, help="Map raw scores into [0, 1] (e.g. RM logits: sigmoid).")
@click.option("--task", "task_name", default=None,
              help="Re-derive steps/answers with this task (and grade, if the file has no "
                   "grades or with --regrade).")
@click.option("--regrade", is_flag=True, help="Grade with --task instead of the file's flags.")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
@click.option("--option", "task_options", multiple=True, metavar="KEY=VALUE")
def import_(file: Path, fmt: str, name: str | None, runs_dir: Path | None, prm_id: str,
            score_transform: str, task_name: str | None, regrade: bool,
            data_dir: Path | None, task_options: tuple[str, ...]) -> None:
    """Read FILE (flat, evalplus, evalplus-results, qwen-math-eval or lm-eval-samples)
    into a stored run."""
    from harness.pipeline.import_run import import_run

    run = import_run(file, fmt, runs_dir or default_runs_root(), name, prm_id, score_transform,
                     task_name, data_dir, parse_key_values(task_options), regrade)
    manifest = run.manifest()
    n_samples = sum(1 for _ in manifest.get("problem_ids", []))
    click.echo(f"imported {n_samples} problems into {run.path}")
