"""``prm-harness ci --board B --prm SPEC --against ENTRY``: gate a new PRM against a
leaderboard entry on the board's pinned pools.

The candidate scores the board's stored pools (scoring only: nothing is generated or
graded); the baseline entry is validated first. Per task, a paired bootstrap of
(candidate - baseline) over problems on ``--metric`` (default: the board's ranking
metric); the gate passes when the lower bound of its CI is above ``-tolerance`` on every
task. Prints a Markdown summary; ``--report`` writes the JSON report. Exit 0: pass,
1: regression, 2: error.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from harness.cli.score_cmd import BACKENDS, _options
from harness.config import PluginConfig
from harness.leaderboard.ci import DEFAULT_TOLERANCE


def scoring_plugin(prm: str, model: str | None, backend: str,
                   options: dict[str, object]) -> PluginConfig:
    """The plug-in config behind ``--prm`` (as ``score`` builds it): a registered
    model-free PRM by name, else a spec on ``backend`` with the weights at ``model``."""
    from harness import registry

    if prm not in BACKENDS and prm in registry.names("prm"):
        if model is not None:
            raise click.UsageError(f"--model does not apply to the {prm} PRM")
        return PluginConfig(name=prm, options=dict(options))
    return PluginConfig(name=backend, options={"spec": prm, "model": model, **options})


@click.command("ci")
@click.option("--board", "board_name", required=True, help="Board name or YAML file.")
@click.option("--prm", "prm_name", required=True, metavar="SPEC",
              help="The candidate: a registered model-free PRM or a spec (as for score).")
@click.option("--model", default=None, metavar="PATH", help="The candidate's weights folder.")
@click.option("--backend", type=click.Choice(BACKENDS), default="transformers",
              show_default=True)
@click.option("--option", "extra", multiple=True, metavar="KEY=VALUE",
              help="Further constructor option of the PRM (value parsed as JSON if it can).")
@click.option("--against", "entry", required=True, type=click.Path(path_type=Path),
              help="The baseline entry folder.")
@click.option("--metric", default=None, help="Gate on this metric (default: ranking).")
@click.option("--tolerance", type=float, default=DEFAULT_TOLERANCE, show_default=True,
              help="Largest tolerated drop of the CI's lower bound below zero.")
@click.option("--aggregation", default=None,
              help="The candidate's aggregation (default: the baseline entry's).")
@click.option("--report", "report_path", type=click.Path(path_type=Path), default=None,
              help="Write the JSON report here.")
@click.option("--pools-dir", type=click.Path(path_type=Path), default=None,
              help="The board's pools folder, instead of the one it names.")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help="Candidate scores cached by the PRM's resolved identity (default: "
                   "$PRM_HARNESS_CI_CACHE, else ~/.cache/prm-harness/ci).")
@click.option("--no-cache", is_flag=True, help="Score afresh and store nothing.")
def ci(board_name: str, prm_name: str, model: str | None, backend: str,
       extra: tuple[str, ...], entry: Path, metric: str | None, tolerance: float,
       aggregation: str | None, report_path: Path | None, pools_dir: Path | None,
       cache_dir: Path | None, no_cache: bool) -> None:
    """Exit non-zero when the candidate PRM regresses against the entry."""
    from harness.errors import HarnessError
    from harness.leaderboard.board import load_board
    from harness.leaderboard.ci import gate, markdown
    from harness.leaderboard.validate import validate_entry
    from harness.pipeline.board_pools import score_board_cached
    from harness.store.atomic import write_text

    board = load_board(board_name)
    if pools_dir is not None:
        board = board.with_pools_dir(pools_dir.resolve())
    baseline = validate_entry(board, entry)
    if not baseline.ok:
        raise HarnessError(f"baseline entry {entry} is not valid ({len(baseline.problems)} "
                           f"problems): {baseline.problems[0]}")
    chosen = aggregation or baseline.aggregation
    if chosen not in board.aggregations:
        raise HarnessError(f"aggregation {chosen!r} is not one of the board's "
                           f"{board.aggregations}")
    config = scoring_plugin(prm_name, model, backend, _options(extra))
    if no_cache:
        cache = None
    elif cache_dir is not None:
        cache = cache_dir
    else:
        cache = Path(os.environ.get("PRM_HARNESS_CI_CACHE")
                     or Path.home() / ".cache" / "prm-harness" / "ci")
    pools, scores, info = score_board_cached(board, config, cache,
                                             log=lambda line: click.echo(line, err=True))
    report = gate(board, pools, scores, chosen, baseline, metric, tolerance)
    report["candidate"] = {"prm": prm_name, **info["identity"],
                           "cache": {"dir": str(cache) if cache else None,
                                     "hits": info["hits"], "scored": info["scored"]}}
    if report_path is not None:
        write_text(report_path, json.dumps(report, indent=2) + "\n")
    click.echo(markdown(report, prm_name), nl=False)
    if not report["passed"]:
        sys.exit(1)
