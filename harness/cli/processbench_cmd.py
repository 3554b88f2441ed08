"""``prm-harness processbench items|baseline|eval``: first-error identification."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.stepeval_common import (
    DATA_DIR,
    baseline_arguments,
    emit_result,
    write_baseline,
    write_items,
)
from harness.data import resolve_data_dir
from harness.errors import InputError

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
@DATA_DIR
@_SPLITS
def items(out: Path, data_dir: Path | None, splits: tuple[str, ...]) -> None:
    """Write OUT: one line per item (problem_id, split, problem, steps), the input of
    ``prm-harness score``."""
    loaded, _ = _load(data_dir, splits)
    write_items(out, [{"problem_id": it.id, "split": it.split, "problem": it.problem,
                       "steps": list(it.steps)}
                      for split_items in loaded.values() for it in split_items])


@processbench.command("baseline")
@baseline_arguments
@DATA_DIR
@_SPLITS
def baseline(name: str, out: Path, seed: int, data_dir: Path | None,
             splits: tuple[str, ...]) -> None:
    """Write a step-scores file OUT from a model-free baseline scorer."""
    loaded, _ = _load(data_dir, splits)
    write_baseline(name, seed, out, ((it.id, it.steps) for split_items in loaded.values()
                                     for it in split_items))


@processbench.command("eval")
@click.argument("scores", type=click.Path(path_type=Path))
@click.option("--tau", type=float, default=None,
              help="Fixed threshold (default: chosen on --tau-split, then fixed).")
@click.option("--tau-split", default="gsm8k", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Also write the result JSON here.")
@click.option("--bootstrap", "draws", type=int, default=0, show_default=True,
              help="Bootstrap draws for CIs over items (0: none).")
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
@click.option("--against", type=click.Path(path_type=Path), default=None,
              help="Another scores file: paired CIs of the differences (needs --bootstrap).")
@DATA_DIR
@_SPLITS
def evaluate_cmd(scores: Path, tau: float | None, tau_split: str, out: Path | None,
                 draws: int, seed: int, against: Path | None,
                 data_dir: Path | None, splits: tuple[str, ...]) -> None:
    """Evaluate SCORES (``score``'s output, or JSONL of problem_id and step_scores) on
    ProcessBench; prints one JSON line."""
    from harness.stepeval.processbench import evaluate
    from harness.stepeval.scores_file import StepItem, read_step_scores

    loaded, sources = _load(data_dir, splits)
    if tau is None and tau_split not in loaded:
        raise InputError(f"τ is chosen on the {tau_split} split: include it or pass --tau")
    expected = {it.id: StepItem(it.problem, it.steps, it.split)
                for split_items in loaded.values() for it in split_items}
    step_scores = read_step_scores(scores, expected)
    result = evaluate(loaded, step_scores, tau=tau, tau_split=tau_split)
    if against is not None and draws <= 0:
        raise InputError("--against compares by bootstrap: give --bootstrap N")
    if draws > 0:
        from harness.stepeval.processbench import bootstrap

        other = other_tau = None
        if against is not None:
            other = read_step_scores(against, expected)
            other_tau = evaluate(loaded, other, tau=tau, tau_split=tau_split)["tau"]
            result["against"] = {"scores": str(against), "tau": other_tau}
        result["bootstrap"] = bootstrap(loaded, step_scores, result["tau"],
                                        result["held_out_splits"], draws, seed,
                                        other=other, other_tau=other_tau)
    emit_result({"benchmark": "processbench", "scores": str(scores), "sources": sources,
                 **result}, out)
