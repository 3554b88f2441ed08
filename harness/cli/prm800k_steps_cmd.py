"""``prm-harness prm800k-steps items|baseline|eval``: PRM800K's human-rated steps."""

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
@DATA_DIR
def items(out: Path, data_dir: Path | None) -> None:
    """Write OUT: one line per rated step (problem_id, problem, steps ending with the rated
    one), the input of ``prm-harness score``."""
    from harness.stepeval.prm800k_steps import item_id

    rated, _ = _load(data_dir)
    write_items(out, [{"problem_id": item_id(s), "problem": s.problem,
                       "steps": [*s.previous, s.step]} for s in rated])


@prm800k_steps.command("baseline")
@baseline_arguments
@DATA_DIR
def baseline(name: str, out: Path, seed: int, data_dir: Path | None) -> None:
    """Write a step-scores file OUT from a model-free baseline scorer."""
    from harness.stepeval.prm800k_steps import item_id

    rated, _ = _load(data_dir)
    write_baseline(name, seed, out, ((item_id(s), [*s.previous, s.step]) for s in rated))


@prm800k_steps.command("eval")
@click.argument("scores", type=click.Path(path_type=Path))
@click.option("--threshold", default=0.5, show_default=True,
              help="A step is predicted good when its score >= threshold.")
@click.option("--neutral", type=click.Choice(["exclude", "positive", "negative"]),
              default="exclude", show_default=True, help="How neutral (0) steps count.")
@click.option("--bootstrap", default=0, show_default=True,
              help="Bootstrap draws (over problems) for the AUROC's 95% CI.")
@click.option("--seed", default=0, show_default=True, help="The bootstrap's seed.")
@click.option("--against", type=click.Path(path_type=Path), default=None,
              help="Another scores file (e.g. a baseline's): its AUROC and the paired "
                   "difference, on the same bootstrap draws.")
@click.option("--exclude-labels", "exclude", type=click.Path(exists=True, path_type=Path),
              multiple=True,
              help="A PRM's training labels (labels build output): rated steps of problems "
                   "in its train or dev records (same problem text) are left out. "
                   "Repeatable.")
@click.option("--out", type=click.Path(path_type=Path), default=None)
@DATA_DIR
def evaluate_cmd(scores: Path, threshold: float, neutral: str, bootstrap: int, seed: int,
                 against: Path | None, exclude: tuple[Path, ...], out: Path | None,
                 data_dir: Path | None) -> None:
    """Evaluate SCORES (``score``'s output, or JSONL of problem_id and step_scores) on the
    rated steps; prints one JSON line."""
    from harness.stepeval.prm800k_steps import evaluate, item_id
    from harness.stepeval.scores_file import StepItem, read_step_scores
    from harness.store.keys import file_sha256

    rated, source = _load(data_dir)
    expected = {item_id(s): StepItem(s.problem, (*s.previous, s.step)) for s in rated}
    step_scores = read_step_scores(scores, expected)
    excluded: dict = {}
    if exclude:
        seen = training_problems(exclude)
        kept = [s for s in rated if s.problem.strip() not in seen]
        excluded = {"excluded": {
            "labels": [{"file": str(path), "sha256": file_sha256(path)} for path in exclude],
            "problems": len({s.problem for s in rated} - {s.problem for s in kept}),
            "items": len(rated) - len(kept)}}
        rated = kept
    other = read_step_scores(against, expected) if against is not None else None
    result = evaluate(rated, step_scores, threshold=threshold, neutral=neutral,
                      bootstrap=bootstrap, seed=seed, against=other)
    named = {"against_file": str(against)} if against is not None else {}
    emit_result({"benchmark": "prm800k-steps", "scores": str(scores), "source": source,
                 **named, **excluded, **result}, out)


def training_problems(paths: tuple[Path, ...]) -> set[str]:
    """The problem texts a PRM trained on (its labels files' train and dev records; the
    ``test`` split is held out), stripped."""
    from harness.labels.read import read_labels

    return {record.problem.strip() for path in paths
            for record in read_labels(path, splits=("train", "dev"))}
