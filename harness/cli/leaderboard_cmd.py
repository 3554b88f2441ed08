"""``prm-harness leaderboard build-pools|validate|build``: a board's pinned pools, entries
re-verified from stored files (validation runs no model), and the board's static site."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import click

from harness.errors import HarnessError


@click.group("leaderboard")
def leaderboard() -> None:
    """Leaderboards whose entries anyone can re-verify."""


@leaderboard.command("build-pools")
@click.argument("board_name", metavar="BOARD")
@click.option("--pools-dir", type=click.Path(path_type=Path), default=None,
              help="Write the pools here instead of the folder the definition names.")
def build_pools_(board_name: str, pools_dir: Path | None) -> None:
    """Regenerate BOARD's pools and grades from its build section (the simulator) and
    check them against the pinned hashes; exit 1 when they differ."""
    from harness.leaderboard.board import load_board
    from harness.pipeline.board_pools import build_pools

    board = load_board(board_name)
    if pools_dir is not None:
        board = board.with_pools_dir(pools_dir.resolve())
    report = build_pools(board, log=click.echo, check=False)
    if not all(row["matches"] for row in report.values()):
        click.echo(f"board {board.name!r}: regenerated pools differ from the pins", err=True)
        sys.exit(1)


@leaderboard.command("validate")
@click.argument("board_name", metavar="BOARD")
@click.argument("entries", nargs=-1, type=click.Path(path_type=Path))
@click.option("--pools-dir", type=click.Path(path_type=Path), default=None,
              help="Read the board's pools from here instead of the folder it names.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per entry.")
def validate(board_name: str, entries: tuple[Path, ...], pools_dir: Path | None,
             as_json: bool) -> None:
    """Recompute every claimed metric of each ENTRY (a folder; default: every folder
    under leaderboards/BOARD/entries) from its scores and BOARD's stored grades. Exit 0
    when all are valid, 1 when any is rejected (one line per problem), 2 on bad usage."""
    from harness.leaderboard.pools import read_task_pool
    from harness.leaderboard.validate import validate_entry

    board, found = _board_and_entries(board_name, entries, pools_dir)
    pools = {}
    for task in board.tasks:
        if not (board.task_dir(task) / "manifest.json").is_file():
            raise HarnessError(f"board {board.name!r}: no stored pool for task {task!r} at "
                               f"{board.task_dir(task)}; run `prm-harness leaderboard "
                               f"build-pools {board.name}`")
        with contextlib.suppress(HarnessError):  # else each entry's verdict names it
            pools[task] = read_task_pool(board, task)
    rejected = 0
    for entry in found:
        verdict = validate_entry(board, entry, pools)
        rejected += not verdict.ok
        if as_json:
            click.echo(json.dumps({"entry": str(entry), "valid": verdict.ok,
                                   "problems": verdict.problems}))
            continue
        if verdict.ok:
            click.echo(f"{entry}: valid")
        for line in verdict.problems:
            click.echo(line)
    if rejected:
        sys.exit(1)


@leaderboard.command("build")
@click.argument("board_name", metavar="BOARD")
@click.argument("entries", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(path_type=Path), required=True,
              help="The folder to write index.html, entry pages and board.md/csv/json to.")
@click.option("--pools-dir", type=click.Path(path_type=Path), default=None,
              help="Read the board's pools from here instead of the folder it names.")
def build(board_name: str, entries: tuple[Path, ...], out: Path,
          pools_dir: Path | None) -> None:
    """Validate each ENTRY (default: every folder under leaderboards/BOARD/entries) and
    write BOARD's static site to OUT: only accepted entries are shown, ranked with rank
    intervals; rejected ones are listed with their reason count. Byte-identical on
    re-render."""
    from harness.leaderboard.pools import read_task_pool
    from harness.leaderboard.render import build_site

    board, found = _board_and_entries(board_name, entries, pools_dir)
    pools = {task: read_task_pool(board, task) for task in board.tasks}
    data = build_site(board, found, out, pools)
    for row in data["entries"]:
        click.echo(f"{row['name']}: rank {row['rank'][0]}-{row['rank'][1]}")
    for row in data["rejected"]:
        click.echo(f"{row['name']}: rejected ({row['reasons']} reasons)")
    click.echo(f"wrote {out / 'index.html'}")


def _board_and_entries(board_name: str, entries: tuple[Path, ...], pools_dir: Path | None
                       ) -> tuple[Any, list[Path]]:
    """The board (its pools read from ``pools_dir`` when given) and the entry folders to
    read: those named, else every folder under leaderboards/BOARD/entries."""
    from harness.leaderboard.board import load_board

    try:
        board = load_board(board_name)
    except HarnessError as exc:
        raise click.UsageError(str(exc)) from None
    if pools_dir is not None:
        board = board.with_pools_dir(pools_dir.resolve())
    found = list(entries)
    if not found:
        folder = board.path.parent / board.name / "entries"
        found = sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    if not found:
        raise click.UsageError("no entries given and none stored for this board")
    for entry in found:
        if not entry.is_dir():
            raise click.UsageError(f"{entry}: an entry is a folder with entry.json")
    return board, found
