"""``prm-harness tasks list|check``: what tasks exist, and whether their references pass."""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness import registry
from harness.cli.options import parse_key_values
from harness.errors import HarnessError
from harness.pipeline.reference_check import below_threshold, check_references
from harness.registry import TASKS


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


def check_task(task_name: str, data_dir: Path | None, options: dict[str, str]) -> dict:
    """Grade every reference completion, and run the task's grader self-test if it has
    one; returns the summary printed by ``tasks check``."""
    task = TASKS.build(task_name, options, data_dir=data_dir)
    result = check_references(task, task.load(), task_name)
    if result["n"] == 0:
        raise HarnessError(f"task {task_name} has no reference solutions to check")
    self_test = task.grader_self_test()
    extra = {} if self_test is None else {"grader_self_test": self_test}
    return {"task": task_name, "identity": task.identity(), **result, **extra}


@tasks.command("check")
@click.argument("task_name", metavar="TASK")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
@click.option("--option", "task_options", multiple=True, metavar="KEY=VALUE")
def check(task_name: str, data_dir: Path | None, task_options: tuple[str, ...]) -> None:
    """Grade the task's own reference solutions and self-test its grader; exit 1 below the
    task's threshold or when the self-test fails (the reasons on stderr)."""
    result = check_task(task_name, data_dir, parse_key_values(task_options))
    click.echo(json.dumps(result))
    self_test = result.get("grader_self_test") or {"passed": True}
    for failure in self_test.get("failures", []):
        click.echo(f"grader self-test failed: {failure['message']}", err=True)
    for key, what in (("missing_library_tasks", "missing a library"),
                      ("needs_network_tasks", "need the network (the sandbox has none)")):
        if result.get(key):
            ids = [t["problem_id"] for t in result[key]]
            click.echo(f"not counted, {what}: {', '.join(ids)}", err=True)
    if below_threshold(result) or not self_test["passed"]:
        raise SystemExit(1)
