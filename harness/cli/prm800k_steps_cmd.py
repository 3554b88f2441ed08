"""``prm-harness prm800k-steps items|baseline|eval``: PRM800K's human-rated steps."""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness.data import resolve_data_dir
from harness.store.atomic import write_bytes, write_text
from harness.store.jsonl import render_jsonl

_DATA_DIR = click.option("--data-dir", type=click.Path(path_type=Path), default=None,
                         help="Mirror folder (default: $PRM_HARNESS_DATA).")


def _load(data_dir: Path | None) -> tuple[list, dict]:
    from harness.stepeval.prm800k_steps import rated_items
    from harness.tasks.prm800k import read_rated_steps

    steps, source = read_rated_steps(resolve_data_dir(data_dir))
    return rated_items(steps), source


@click.group("prm800k-steps")
def prm800k_steps() -> None:
    """PRM800K step labels: AUROC/accuracy of a PRM's scores on rated steps."""


@prm800k_steps.command("items")
@click.argument("out", type=click.Path(path_type=Path))
@_DATA_DIR
def items(out: Path, data_dir: Path | None) -> None:
    """Write OUT: one line per rated step (id, problem, steps ending with the rated one)."""
    from harness.stepeval.prm800k_steps import item_id

    rated, _ = _load(data_dir)
    rows = [{"id": item_id(s), "problem": s.problem, "steps": [*s.previous, s.step]}
            for s in rated]
    write_bytes(out, render_jsonl(rows))
    click.echo(json.dumps({"items": len(rows), "out": str(out)}))


@prm800k_steps.command("baseline")
@click.argument("name", type=click.Choice(["random", "length"]))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--seed", default=0, show_default=True)
@_DATA_DIR
def baseline(name: str, out: Path, seed: int, data_dir: Path | None) -> None:
    """Write a step-scores file OUT from a model-free baseline scorer."""
    from harness.stepeval.baselines import baseline_scores
    from harness.stepeval.prm800k_steps import item_id

    rated, _ = _load(data_dir)
    rows = [{"id": item_id(s), "step_scores": baseline_scores(
        name, item_id(s), [*s.previous, s.step], seed)} for s in rated]
    write_bytes(out, render_jsonl(rows))
    click.echo(json.dumps({"baseline": name, "seed": seed, "items": len(rows),
                           "out": str(out)}))


@prm800k_steps.command("eval")
@click.argument("scores", type=click.Path(path_type=Path))
@click.option("--threshold", default=0.5, show_default=True,
              help="A step is predicted good when its score >= threshold.")
@click.option("--neutral", type=click.Choice(["exclude", "positive", "negative"]),
              default="exclude", show_default=True, help="How neutral (0) steps count.")
@click.option("--out", type=click.Path(path_type=Path), default=None)
@_DATA_DIR
def evaluate_cmd(scores: Path, threshold: float, neutral: str, out: Path | None,
                 data_dir: Path | None) -> None:
    """Evaluate SCORES (JSONL: id, step_scores) on the rated steps; prints one JSON line."""
    from harness.stepeval.prm800k_steps import evaluate, item_id
    from harness.stepeval.scores_file import read_step_scores

    rated, source = _load(data_dir)
    n_steps = {item_id(s): len(s.previous) + 1 for s in rated}
    step_scores = read_step_scores(scores, n_steps)
    result = evaluate(rated, step_scores, threshold=threshold, neutral=neutral)
    result = {"benchmark": "prm800k-steps", "scores": str(scores), "source": source, **result}
    line = json.dumps(result)
    if out is not None:
        write_text(out, line + "\n")
    click.echo(line)
