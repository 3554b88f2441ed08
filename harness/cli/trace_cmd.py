"""``prm-harness trace RUN PROBLEM_ID --out FILE.html``: one search trace as a
self-contained HTML viewer. RUN is a stored search run (``search --out DIR``, or a run
folder of ``prm-harness run`` with a ``strategy:`` section) or a traces file
(``search --traces-out``)."""

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


def find_stored_trace(path: Path, problem_id: str) -> dict[str, Any]:
    """The trace of ``problem_id`` in a stored search run, its wall seconds put back."""
    from harness.pipeline.search_run import with_wall
    from harness.store.search_dir import SearchDir
    from harness.strategies.trace_html import check_trace

    run = SearchDir.find(path)
    for index, ids in enumerate(run.shard_ids()):
        if problem_id not in ids:
            continue
        if not run.has_shard(index):
            raise ConfigError(f"{run.path}: problem {problem_id!r} is in shard {index}, "
                              f"which is not stored yet (rerun the search to finish it)")
        rows = run.read_shard(index, ids)
        timing = run.read_timing(index)["problems"][ids.index(problem_id)]
        doc = with_wall(rows[ids.index(problem_id)]["trace"], timing)
        check_trace(doc, f"{run.shard_path(index)}: problem {problem_id}")
        return doc
    known = [i for ids in run.shard_ids() for i in ids]
    shown = ", ".join(known[:10]) + (f" (and {len(known) - 10} more)" if len(known) > 10
                                     else "")
    raise ConfigError(f"{run.path}: no problem {problem_id!r}; problems: {shown or 'none'}")


@click.command("trace")
@click.argument("traces", type=click.Path(exists=True, path_type=Path))
@click.argument("problem_id")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The HTML file to write.")
def trace(traces: Path, problem_id: str, out: Path) -> None:
    """Write PROBLEM_ID's search tree from TRACES (a stored search run folder or a
    traces file) as a self-contained HTML page."""
    from harness.store.atomic import write_text
    from harness.strategies.trace_html import render

    doc = (find_stored_trace(traces, problem_id) if traces.is_dir()
           else find_trace(traces, problem_id))
    write_text(out, render(doc))
    click.echo(f"wrote {out} ({len(doc['nodes'])} nodes)")
