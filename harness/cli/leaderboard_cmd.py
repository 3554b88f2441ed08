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
@click.option("--audit", "audit_k", type=int, default=None, metavar="K",
              help="Also re-score a seeded random sample of K samples of each valid entry "
                   "with the PRM it declares (when it can be built here); an entry whose "
                   "stored step scores differ by more than 0.02 is rejected.")
@click.option("--audit-seed", type=int, default=0, show_default=True)
def validate(board_name: str, entries: tuple[Path, ...], pools_dir: Path | None,
             as_json: bool, audit_k: int | None, audit_seed: int) -> None:
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
    if audit_k is not None and audit_k < 1:
        raise click.UsageError("--audit needs a positive number of samples")
    rejected = 0
    for entry in found:
        verdict = validate_entry(board, entry, pools)
        audit = None
        if audit_k is not None and verdict.ok:
            from harness.pipeline.board_pools import audit_entry

            audit = audit_entry(board, verdict, audit_k, audit_seed)
        problems = verdict.problems + list((audit or {}).get("problems") or [])
        rejected += bool(problems)
        if as_json:
            click.echo(json.dumps({"entry": str(entry), "valid": not problems,
                                   "problems": problems,
                                   **({"audit": audit} if audit else {})}))
            continue
        if not problems:
            click.echo(f"{entry}: valid" + _audit_text(audit))
        elif audit is not None and verdict.ok:
            click.echo(f"{entry}: audit failed")
        for line in problems:
            click.echo(line)
    if rejected:
        sys.exit(1)


def _audit_text(audit: dict[str, Any] | None) -> str:
    if audit is None:
        return ""
    if audit["status"] == "audited":
        return (f", audited ({audit['k']} samples re-scored, largest step difference "
                f"{audit['max_abs_diff']:.2g})")
    return f", not audited: {audit.get('reason', audit['status'])}"


@leaderboard.command("make-entries")
@click.argument("board_name", metavar="BOARD")
@click.option("--out", "out", type=click.Path(path_type=Path), default=None,
              help="Where to write them (default: leaderboards/BOARD/entries).")
@click.option("--pools-dir", type=click.Path(path_type=Path), default=None,
              help="Read the board's pools from here instead of the folder it names.")
@click.option("--only", "only", multiple=True, metavar="NAME",
              help="Make only these declared entries (repeatable); the others stay as "
                   "they are.")
def make_entries_(board_name: str, out: Path | None, pools_dir: Path | None,
                  only: tuple[str, ...]) -> None:
    """Make the entries BOARD's definition declares (its `entries` section) by scoring
    its stored pools (or reading the scores an imported pool carries), then validate
    them; exit 1 when any is rejected."""
    from harness.leaderboard.validate import validate_entry
    from harness.pipeline.board_pools import make_entries

    board, _ = _board_and_entries(board_name, (), pools_dir, need_entries=False)
    if not board.entries:
        raise click.UsageError(f"board {board.name!r} declares no entries")
    folder = out or board.path.parent / board.name / "entries"
    bad = 0
    declared = [str(e["name"]) for e in board.entries]
    unknown = [n for n in only if n not in declared]
    if unknown:
        raise click.UsageError(f"board {board.name!r} declares no entry {unknown[0]!r}; "
                               f"declared: {', '.join(declared)}")
    for entry in make_entries(board, folder, log=click.echo, only=set(only) or None):
        verdict = validate_entry(board, entry)
        bad += not verdict.ok
        for line in verdict.problems:
            click.echo(line)
    if bad:
        sys.exit(1)


@leaderboard.command("build")
@click.argument("board_name", metavar="BOARD")
@click.argument("entries", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(path_type=Path), required=True,
              help="The folder to write index.html, entry pages and board.md/csv/json to.")
@click.option("--pools-dir", type=click.Path(path_type=Path), default=None,
              help="Read the board's pools from here instead of the folder it names.")
@click.option("--audit", "audit_k", type=int, default=None, metavar="K",
              help="Audit each entry as `validate --audit K` does: the audited badge is "
                   "shown on those that pass; one that fails is not shown.")
@click.option("--audit-seed", type=int, default=0, show_default=True)
def build(board_name: str, entries: tuple[Path, ...], out: Path,
          pools_dir: Path | None, audit_k: int | None, audit_seed: int) -> None:
    """Validate each ENTRY (default: every folder under leaderboards/BOARD/entries) and
    write BOARD's static site to OUT: only accepted entries are shown, ranked with rank
    intervals; rejected ones are listed with their reason count. Byte-identical on
    re-render."""
    from harness.leaderboard.pools import read_task_pool
    from harness.leaderboard.render import build_site

    board, found = _board_and_entries(board_name, entries, pools_dir)
    pools = {task: read_task_pool(board, task) for task in board.tasks}
    audits = None
    if audit_k is not None:
        from harness.leaderboard.validate import validate_entry
        from harness.pipeline.board_pools import audit_entry

        if audit_k < 1:
            raise click.UsageError("--audit needs a positive number of samples")
        audits = {}
        for entry in found:
            verdict = validate_entry(board, entry, pools)
            if verdict.ok:
                audits[str(entry)] = audit_entry(board, verdict, audit_k, audit_seed)
    data = build_site(board, found, out, pools, audits)
    for row in data["entries"]:
        badge = " audited" if (row.get("audit") or {}).get("status") == "audited" else ""
        click.echo(f"{row['name']}: rank {row['rank'][0]}-{row['rank'][1]}{badge}")
    for row in data["rejected"]:
        click.echo(f"{row['name']}: rejected ({row['reasons']} reasons)")
    click.echo(f"wrote {out / 'index.html'}")


def _board_and_entries(board_name: str, entries: tuple[Path, ...], pools_dir: Path | None,
                       need_entries: bool = True) -> tuple[Any, list[Path]]:
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
    if not need_entries:
        return board, found
    if not found:
        folder = board.path.parent / board.name / "entries"
        found = sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    if not found:
        raise click.UsageError("no entries given and none stored for this board")
    for entry in found:
        if not entry.is_dir():
            raise click.UsageError(f"{entry}: an entry is a folder with entry.json")
    return board, found
