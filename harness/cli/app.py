"""The click group; each command lives in its own module listed in COMMAND_MODULES."""

from __future__ import annotations

import importlib

import click

from harness import __version__

# module -> the click command (or group) object it defines, in help order
COMMAND_MODULES: list[tuple[str, str]] = [
    ("harness.cli.demo_cmd", "demo"),
    ("harness.cli.run_cmd", "run"),
    ("harness.cli.generate_cmd", "generate"),
    ("harness.cli.import_cmd", "import_"),
    ("harness.cli.export_cmd", "export"),
    ("harness.cli.metrics_cmd", "metrics"),
    ("harness.cli.report_cmd", "report"),
    ("harness.cli.compare_cmd", "compare"),
    ("harness.cli.bellman_cmd", "bellman"),
    ("harness.cli.similarity_cmd", "similarity"),
    ("harness.cli.search_cmd", "search"),
    ("harness.cli.trace_cmd", "trace"),
    ("harness.cli.runs_cmd", "runs"),
    ("harness.cli.scale_plan_cmd", "scale_plan"),
    ("harness.cli.grade_cmd", "grade"),
    ("harness.cli.score_cmd", "score"),
    ("harness.cli.prms_cmd", "prms"),
    ("harness.cli.tasks_cmd", "tasks"),
    ("harness.cli.processbench_cmd", "processbench"),
    ("harness.cli.prm800k_steps_cmd", "prm800k_steps"),
    ("harness.cli.zoo_cmd", "zoo"),
    ("harness.cli.labels_cmd", "labels"),
    ("harness.cli.train_cmd", "train_prm"),
    ("harness.cli.leaderboard_cmd", "leaderboard"),
    ("harness.cli.submit_cmd", "submit"),
    ("harness.cli.ci_cmd", "ci"),
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="prm-harness")
def cli() -> None:
    """Benchmark process reward models in test-time scaling."""


for _module, _attr in COMMAND_MODULES:
    cli.add_command(getattr(importlib.import_module(_module), _attr))
