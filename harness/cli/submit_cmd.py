"""``prm-harness submit RUN... --board B --out DIR``: a leaderboard entry from runs scored
on the board's pinned pools (refused when a run's pool hash is not pinned)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("submit")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--board", "board_name", required=True, help="Board name or YAML file.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="The entry folder to write (entry.json, scores/<task>.jsonl).")
@click.option("--prm", "prm_label", default=None,
              help="Which PRM of the runs (its label); default: the only one.")
@click.option("--aggregation", default=None,
              help="How step scores select (one of the board's; default its first).")
@click.option("--submitter", default="anonymous", show_default=True)
@click.option("--revision", default=None, help="The PRM's revision (hub commit).")
@click.option("--pools-dir", type=click.Path(path_type=Path), default=None,
              help="The board's pools folder, instead of the one it names.")
def submit(runs: tuple[Path, ...], board_name: str, out: Path, prm_label: str | None,
           aggregation: str | None, submitter: str, revision: str | None,
           pools_dir: Path | None) -> None:
    """Make an entry from RUNS (one per board task), its metrics computed as validation
    recomputes them."""
    from harness.leaderboard.board import load_board
    from harness.leaderboard.submit import make_entry

    board = load_board(board_name)
    if pools_dir is not None:
        board = board.with_pools_dir(pools_dir.resolve())
    document = make_entry(board, list(runs), out, prm_label, aggregation, submitter, revision)
    ranking = board.ranking["metric"]
    for task, claim in document["tasks"].items():
        value = claim["metrics"][ranking]
        click.echo(f"{out}: {task} {ranking} = {value['value']:.4f} "
                   f"[{value['ci'][0]:.4f}, {value['ci'][1]:.4f}]")
