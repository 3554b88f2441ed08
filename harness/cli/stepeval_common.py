"""Pieces shared by the step-level evaluation commands (processbench, prm800k-steps)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import click

from harness import registry
from harness.store.atomic import write_bytes, write_text
from harness.store.jsonl import render_jsonl

DATA_DIR = click.option("--data-dir", type=click.Path(path_type=Path), default=None,
                        help="Mirror folder (default: $PRM_HARNESS_DATA).")


def baseline_arguments(func: Callable[..., Any]) -> Callable[..., Any]:
    """NAME OUT [--seed] of a ``baseline`` subcommand."""
    func = click.option("--seed", default=0, show_default=True)(func)
    func = click.argument("out", type=click.Path(path_type=Path))(func)
    return click.argument("name", type=click.Choice(registry.names("step-baseline")))(func)


def write_items(out: Path, rows: list[dict[str, Any]]) -> None:
    write_bytes(out, render_jsonl(rows))
    click.echo(json.dumps({"items": len(rows), "out": str(out)}))


def write_baseline(name: str, seed: int, out: Path,
                   items: Iterable[tuple[str, Sequence[str]]]) -> None:
    """A step-scores file from a model-free baseline, one line per (id, steps)."""
    from harness.stepeval.baselines import baseline_scores

    rows = [{"problem_id": item, "step_scores": baseline_scores(name, item, steps, seed)}
            for item, steps in items]
    write_bytes(out, render_jsonl(rows))
    click.echo(json.dumps({"baseline": name, "seed": seed, "items": len(rows),
                           "out": str(out)}))


def emit_result(result: dict[str, Any], out: Path | None) -> None:
    line = json.dumps(result)
    if out is not None:
        write_text(out, line + "\n")
    click.echo(line)
