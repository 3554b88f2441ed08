"""``prm-harness processbench items|baseline|eval``: first-error identification."""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness.data import resolve_data_dir
from harness.errors import InputError
from harness.store.atomic import write_bytes, write_text
from harness.store.jsonl import render_jsonl

_DATA_DIR = click.option("--data-dir", type=click.Path(path_type=Path), default=None,
                         help="Mirror folder (default: $PRM_HARNESS_DATA).")
_SPLITS = click.option("--split", "splits", multiple=True,
                       help="Split(s) to use (default: all four).")


def _load(data_dir: Path | None, splits: tuple[str, ...]) -> tuple[dict, dict]:
    from harness.tasks.processbench import SPLITS, load_split

    folder = resolve_data_dir(data_dir)
    loaded, sources = {}, {}
    for split in splits or SPLITS:
        loaded[split], sources[split] = load_split(split, folder)
    return loaded, sources


@click.group("processbench")
def processbench() -> None:
    """ProcessBench: find the earliest wrong step from a PRM's step scores."""


@processbench.command("items")
@click.argument("out", type=click.Path(path_type=Path))
@_DATA_DIR
@_SPLITS
def items(out: Path, data_dir: Path | None, splits: tuple[str, ...]) -> None:
    """Write OUT: one line per item (id, split, problem, steps) for a PRM to score."""
    loaded, _ = _load(data_dir, splits)
    rows = [{"id": it.id, "split": it.split, "problem": it.problem, "steps": list(it.steps)}
            for split_items in loaded.values() for it in split_items]
    write_bytes(out, render_jsonl(rows))
    click.echo(json.dumps({"items": len(rows), "out": str(out)}))


@processbench.command("baseline")
@click.argument("name", type=click.Choice(["random", "length"]))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--seed", default=0, show_default=True)
@_DATA_DIR
@_SPLITS
def baseline(name: str, out: Path, seed: int, data_dir: Path | None,
             splits: tuple[str, ...]) -> None:
    """Write a step-scores file OUT from a model-free baseline scorer."""
    from harness.stepeval.baselines import baseline_scores

    loaded, _ = _load(data_dir, splits)
    rows = [{"id": it.id, "step_scores": baseline_scores(name, it.id, it.steps, seed)}
            for split_items in loaded.values() for it in split_items]
    write_bytes(out, render_jsonl(rows))
    click.echo(json.dumps({"baseline": name, "seed": seed, "items": len(rows),
                           "out": str(out)}))


@processbench.command("eval")
@click.argument("scores", type=click.Path(path_type=Path))
@click.option("--tau", type=float, default=None,
              help="Fixed threshold (default: chosen on --tau-split, then fixed).")
@click.option("--tau-split", default="gsm8k", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Also write the result JSON here.")
@_DATA_DIR
@_SPLITS
def evaluate_cmd(scores: Path, tau: float | None, tau_split: str, out: Path | None,
                 data_dir: Path | None, splits: tuple[str, ...]) -> None:
    """Evaluate SCORES (JSONL: id, step_scores) on ProcessBench; prints one JSON line."""
    from harness.stepeval.processbench import evaluate
    from harness.stepeval.scores_file import read_step_scores

    loaded, sources = _load(data_dir, splits)
    if tau is None and tau_split not in loaded:
        raise InputError(f"τ is chosen on the {tau_split} split: include it or pass --tau")
    n_steps = {it.id: len(it.steps) for split_items in loaded.values() for it in split_items}
    step_scores = read_step_scores(scores, n_steps)
    result = evaluate(loaded, step_scores, tau=tau, tau_split=tau_split)
    result = {"benchmark": "processbench", "scores": str(scores), "sources": sources, **result}
    line = json.dumps(result)
    if out is not None:
        write_text(out, line + "\n")
    click.echo(line)
