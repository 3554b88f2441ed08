"""``prm-harness tasks list|check``: what tasks exist, and whether their references pass."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import click

from harness import registry
from harness.build import build_task
from harness.cli.options import parse_key_values
from harness.errors import HarnessError
from harness.progress import track


@click.group("tasks")
def tasks() -> None:
    """List tasks and check them against their reference solutions."""


@tasks.command("list")
def list_tasks() -> None:
    """One line per registered task: name, domain, summary."""
    for name in registry.names("task"):
        cls = registry.get("task", name)
        summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        click.echo(f"{name}\t{getattr(cls, 'domain', '?')}\t{summary}")


def check_task(task_name: str, data_dir: Path | None, options: dict[str, str],
               chunk: int = 32) -> dict:
    """Grade every reference completion; returns the summary printed by ``tasks check``."""
    task = build_task(task_name, data_dir, **options)
    problems = task.load()
    pairs = []
    for problem in problems:
        texts = task.reference_completions(problem)
        pairs.append((problem, [task.prepare(problem, i, t) for i, t in enumerate(texts)]))
    failures = []
    unavailable = []
    statuses: Counter[str] = Counter()
    n_total = n_passed = 0
    batches = [pairs[i:i + chunk] for i in range(0, len(pairs), chunk)]
    for batch in track(batches, f"checking {task_name}", total=len(batches)):
        for (problem, _), grades in zip(batch, task.grade_batch(batch), strict=True):
            for g in grades:
                status = str(g.details.get("status", "pass" if g.correct else "fail"))
                statuses[status] += 1
                if status == "missing-library":  # the machine's fault, not the reference's
                    unavailable.append({"problem_id": problem.id,
                                        "missing": g.details.get("missing")})
                    continue
                n_total += 1
                if g.correct:
                    n_passed += 1
                else:
                    reason = g.details.get("reason") or g.details.get("error") or g.details
                    failures.append({"problem_id": problem.id, "sample_index": g.sample_index,
                                     "reason": reason})
    if n_total == 0:
        raise HarnessError(f"task {task_name} has no reference solutions to check")
    return {"task": task_name, "identity": task.identity(), "n": n_total, "passed": n_passed,
            "pass_rate": n_passed / n_total, "threshold": task.check_threshold,
            "statuses": dict(sorted(statuses.items())), "failures": failures,
            "missing_library": len(unavailable), "missing_library_tasks": unavailable}


@tasks.command("check")
@click.argument("task_name", metavar="TASK")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
@click.option("--option", "task_options", multiple=True, metavar="KEY=VALUE")
def check(task_name: str, data_dir: Path | None, task_options: tuple[str, ...]) -> None:
    """Grade the task's own reference solutions; exit 1 below the task's threshold."""
    result = check_task(task_name, data_dir, parse_key_values(task_options))
    click.echo(json.dumps(result))
    if result["pass_rate"] < result["threshold"]:
        raise SystemExit(1)
