"""``prm-harness labels build CONFIG.yaml`` / ``labels items`` / ``labels show``: step
labels for PRM training (docs/labels.md)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness.errors import InputError


@click.group("labels")
def labels() -> None:
    """Step labels for training PRMs: PRM800K, ProcessBench, Monte Carlo, ASLAF."""


@labels.command("build")
@click.argument("config", type=click.Path(path_type=Path))
def build_cmd(config: Path) -> None:
    """Build the labels file CONFIG describes (plus OUT.provenance.json); prints one JSON
    line with the counts per source and split."""
    from harness.labels.build import build
    from harness.labels.config import load_labels_config

    click.echo(json.dumps(build(load_labels_config(config))))


@labels.command("items")
@click.argument("labels_file", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--split", "splits", multiple=True, type=click.Choice(["train", "dev", "test"]),
              help="only records of this split (repeatable; default: all). An ASLAF "
                   "labeller scores train and dev only, so no held-out record is kept.")
def items_cmd(labels_file: Path, out: Path, splits: tuple[str, ...]) -> None:
    """Write OUT: one line per record (problem_id = the record id, problem, steps), the input
    of ``prm-harness score``; its output is an ASLAF ``scored`` labeller."""
    from harness.labels.read import read_labels
    from harness.store.atomic import write_bytes
    from harness.store.jsonl import render_jsonl

    rows = [{"problem_id": r.id, "problem": r.problem, "steps": list(r.steps)}
            for r in read_labels(labels_file) if not splits or r.split in splits]
    if not rows:
        raise InputError(f"no record of split(s) {', '.join(splits)}", path=labels_file)
    write_bytes(out, render_jsonl(rows))
    click.echo(json.dumps({"items": len(rows), "out": str(out)}))


@labels.command("show")
@click.argument("labels_file", type=click.Path(path_type=Path))
def show_cmd(labels_file: Path) -> None:
    """Validate LABELS_FILE and print its counts per source and split (one JSON line)."""
    from harness.labels.common import label_counts
    from harness.labels.read import read_labels

    records = read_labels(labels_file)
    click.echo(json.dumps({"file": str(labels_file), "records": len(records),
                           "counts": label_counts(r.to_json() for r in records)}))
