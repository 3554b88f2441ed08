"""``prm-harness trace TRACES.jsonl PROBLEM_ID --out FILE.html``: one search trace (from
``prm-harness search --traces-out``) as a self-contained HTML viewer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from harness.errors import ConfigError


def find_trace(path: Path, problem_id: str) -> dict[str, Any]:
    """The trace of ``problem_id`` in a traces file (one JSON object a line)."""
    from harness.strategies.trace_html import check_trace

    seen: list[str] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                trace = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{where}: not JSON ({exc.msg})") from None
            if not isinstance(trace, dict) or "problem_id" not in trace:
                raise ConfigError(f"{where}: field problem_id missing")
            if str(trace["problem_id"]) == problem_id:
                check_trace(trace, where)
                return trace
            seen.append(str(trace["problem_id"]))
    shown = ", ".join(seen[:10]) + (f" (and {len(seen) - 10} more)" if len(seen) > 10
                                    else "")
    raise ConfigError(f"{path}: no trace of problem {problem_id!r}; "
                      f"problems: {shown or 'none'}")


@click.command("trace")
@click.argument("traces", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("problem_id")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The HTML file to write.")
def trace(traces: Path, problem_id: str, out: Path) -> None:
    """Write PROBLEM_ID's search tree from TRACES as a self-contained HTML page."""
    from harness.store.atomic import write_text
    from harness.strategies.trace_html import render

    doc = find_trace(traces, problem_id)
    write_text(out, render(doc))
    click.echo(f"wrote {out} ({len(doc['nodes'])} nodes)")
