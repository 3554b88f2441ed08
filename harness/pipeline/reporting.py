"""Writing a run's results: metrics.json (byte-stable) and its reports, by kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness import registry
from harness.store.metrics_file import write_run_metrics
from harness.store.rundir import RunDir


def write_metrics(run: RunDir, document: dict[str, Any]) -> Path:
    """metrics.json, byte-stable: sorted keys, fixed float rendering; the manifest
    records what it was computed from (see store/metrics_file.py)."""
    return write_run_metrics(run, document)


def render_report(run: RunDir, kind: str, out_dir: Path | None = None) -> list[Path]:
    """Render the report ``kind`` of one run (into ``run/report/<kind>`` by default)."""
    report = registry.REPORTS.build(kind)
    target = out_dir or run.path / "report" / kind
    return list(report.render({run.path.name: run.path}, target))
