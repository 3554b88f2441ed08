"""The CI gate: a candidate PRM's step scores on a board's pinned pools against a valid
entry, per task, by a paired bootstrap of (candidate - baseline) over problems.

Pure: scores in, a report out (the candidate is scored by the pipeline beforehand). A
task passes when the lower bound of the CI of the mean difference is above ``-tolerance``;
the gate passes when every task does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness import metrics as m
from harness.errors import HarnessError
from harness.leaderboard.board import Board
from harness.leaderboard.entry import per_problem
from harness.leaderboard.pools import TaskPool
from harness.leaderboard.validate import Verdict

DEFAULT_TOLERANCE = 0.01


def gate(board: Board, pools: Mapping[str, TaskPool],
         candidate: Mapping[str, Mapping[str, list[list[float]]]], aggregation: str,
         baseline: Verdict, metric: str | None = None,
         tolerance: float = DEFAULT_TOLERANCE) -> dict[str, Any]:
    """The gate's JSON report; ``passed`` says whether it passes."""
    if not baseline.ok:
        raise HarnessError(f"baseline entry {baseline.entry} is not valid: "
                           f"{baseline.problems[0]}")
    metric = metric or str(board.ranking["metric"])
    if metric not in board.claimed_names():
        raise HarnessError(f"metric {metric!r} is not on board {board.name!r} "
                           f"({board.claimed_names()})")
    if tolerance < 0:
        raise HarnessError("the tolerance must not be negative")
    assert baseline.aggregation is not None
    ci = board.ci
    tasks = {}
    for task in board.tasks:
        pool = pools[task]
        new = per_problem(board, pool, candidate[task], aggregation, metric)
        old = per_problem(board, pool, baseline.scores[task], baseline.aggregation, metric)
        diff = m.paired_difference(new, old, n_boot=ci["bootstrap"], seed=ci["seed"],
                                   level=ci["level"])
        tasks[task] = {"candidate": float(new.mean()), "baseline": float(old.mean()),
                       "delta": diff.mean, "ci": list(diff.ci), "p_value": diff.p_value,
                       "n_problems": diff.n_problems, "passed": diff.ci[0] > -tolerance}
    return {"board": board.name, "metric": metric, "tolerance": tolerance,
            "ci_level": ci["level"], "bootstrap": ci["bootstrap"], "seed": ci["seed"],
            "baseline": str(baseline.entry), "candidate_aggregation": aggregation,
            "baseline_aggregation": baseline.aggregation, "tasks": tasks,
            "passed": all(t["passed"] for t in tasks.values())}


def markdown(report: dict[str, Any], candidate: str) -> str:
    """The gate's summary as a Markdown table."""
    level = round(report["ci_level"] * 100)
    lines = [f"## prm-harness ci: {candidate} vs {report['baseline']}", "",
             f"Board `{report['board']}`, metric `{report['metric']}`, tolerance "
             f"{report['tolerance']:g}: **{'PASS' if report['passed'] else 'REGRESSION'}**",
             "", f"| task | candidate | baseline | Δ | {level}% CI of Δ | result |",
             "|---|---:|---:|---:|---:|---|"]
    for task, row in report["tasks"].items():
        lines.append(f"| {task} | {row['candidate']:.4f} | {row['baseline']:.4f} | "
                     f"{row['delta']:+.4f} | [{row['ci'][0]:+.4f}, {row['ci'][1]:+.4f}] | "
                     f"{'pass' if row['passed'] else 'regression'} |")
    return "\n".join(lines) + "\n"
