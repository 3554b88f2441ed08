"""``prm-harness export RUN --format lm-eval|evalplus --out DIR``: a stored run in another
harness' file formats."""

from __future__ import annotations

from pathlib import Path

import click

FORMATS = ("lm-eval", "evalplus")


@click.command("export")
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True,
              help="lm-eval: results_<date>.json and samples_<task>_<date>.jsonl; "
                   "evalplus: samples.jsonl (task_id, solution) of a code run.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="The folder to write into (created if missing).")
def export(run_dir: Path, fmt: str, out_dir: Path) -> None:
    """Write a stored run's results and samples in lm-eval's or evalplus' formats."""
    from harness.store.rundir import RunDir

    run = RunDir.open(run_dir)
    if fmt == "lm-eval":
        from harness.interop.lm_eval_export import export_lm_eval

        paths = export_lm_eval(run, out_dir)
    else:
        from harness.interop.evalplus_files import write_samples
        from harness.store.run_reader import read_run

        paths = [write_samples(read_run(run), out_dir / "samples.jsonl")]
    for path in paths:
        click.echo(str(path))
