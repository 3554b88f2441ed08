"""``prm-harness demo``: the embedded default, no model, network or data needed."""

from __future__ import annotations

import time
from pathlib import Path

import click


@click.command("demo")
@click.option("--out", type=click.Path(path_type=Path), default=Path("prm-demo"),
              show_default=True, help="Folder for the demo run.")
@click.option("--problems", "n_problems", default=100, show_default=True)
@click.option("--n", default=64, show_default=True, help="Samples per problem.")
@click.option("--seed", default=0, show_default=True)
def demo(out: Path, n_problems: int, n: int, seed: int) -> None:
    """Generate, grade, score (oracle and noisy simulated PRMs) and report synthetic-arith."""
    from harness.pipeline.demo import run_demo

    start = time.perf_counter()
    run, _ = run_demo(out, n_problems, n, seed, log=lambda m: click.echo(m, err=True))
    elapsed = time.perf_counter() - start
    click.echo((run.path / "report/best-of-n/best_of_n.md").read_text(encoding="utf-8"))
    click.echo((run.path / "report/bellman/bellman.md").read_text(encoding="utf-8"))
    click.echo(f"demo finished in {elapsed:.1f} s")
    click.echo(f"report: {run.path / 'report'}")
