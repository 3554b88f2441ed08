"""Bellman-error report: each PRM's Bellman error next to what it buys at the largest N.

Reads only stored files: ``diagnostics/bellman.json`` (written by ``prm-harness bellman``
or the demo) and, when present, ``metrics.json`` for prm@N at the run's largest N. Writes
a Markdown and an HTML table, the CSV behind them and a figure (prm@N against Bellman
error, with pass@N and maj@N as reference lines).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.diagnostics.bellman import DIAGNOSTICS_FILE
from harness.errors import HarnessError
from harness.interfaces import Report
from harness.reports.best_of_n import run_name
from harness.reports.render import (
    html_page,
    markdown_table,
    percent_cell,
    save_figure,
    write_csv,
)
from harness.store.atomic import write_text
from harness.store.metrics_file import METRICS_FILE, MetricsFile, read_run_metrics
from harness.store.rundir import RunDir

CSV_HEADER = ["prm", "bellman_error", "max", "n_prefixes", "n_samples", "aggregation", "k",
              "prm_at_k", "ci_low", "ci_high"]


def _prm_at_largest_k(metrics: MetricsFile | None
                      ) -> tuple[int | None, dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """(largest k, prm label -> [{aggregation, value, ci}], baseline metrics at that k)."""
    if metrics is None:
        return None, {}, {}
    k = max(metrics.ks)
    by_prm: dict[str, list[dict[str, Any]]] = {}
    baseline: dict[str, Any] = {}
    for e in metrics.entries:
        if e.k != k:
            continue
        if e.prm is None and e.kind in ("pass", "maj"):
            baseline[e.kind] = {"value": e.value, "ci": list(e.ci)}
        elif e.prm is not None and e.kind == "prm":
            by_prm.setdefault(e.prm, []).append(
                {"aggregation": e.aggregation, "value": e.value, "ci": list(e.ci)})
    return k, by_prm, baseline


class BellmanReport(Report):
    """Registered as report ``bellman``: one run's Bellman errors and their prm@N."""

    name = "bellman"
    runs_allowed = (1, 1)

    def render(self, runs: Mapping[str, Path], out_dir: Path,
               title: str | None = None) -> list[Path]:
        label, path = self.only_run(runs)
        run = RunDir.open(path)  # the diagnostics file first: it names the command to run
        if not (run.path / DIAGNOSTICS_FILE).exists():
            raise HarnessError(f"{run.path} has no {DIAGNOSTICS_FILE}; run "
                               f"`prm-harness bellman {run.path}` first")
        diagnostics = run.read_json(DIAGNOSTICS_FILE)
        metrics = read_run_metrics(run) if (run.path / METRICS_FILE).exists() else None
        return render_bellman(diagnostics, metrics, out_dir,
                              title or f"Bellman error: {run_name(run, label)}")


def render_bellman(diagnostics: dict[str, Any], metrics_doc: MetricsFile | None,
                   out_dir: Path, title: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    k, by_prm, baseline = _prm_at_largest_k(metrics_doc)
    header = ["PRM", "Bellman error", "max", "prefixes", "samples"]
    if k is not None:
        header.append(f"prm@{k} (aggregation)")
    table, csv_rows = [], []
    for row in diagnostics["rows"]:
        selections = by_prm.get(row["prm"], [])
        cells = [row["prm"], f"{row['bellman_error']:.4f}", f"{row['max']:.4f}",
                 row["n_prefixes"], row["n_samples"]]
        if k is not None:
            cells.append("; ".join(
                f"{percent_cell(s['value'], *s['ci'])} ({s['aggregation']})"
                for s in selections))
        table.append(cells)
        base = [row["prm"], repr(row["bellman_error"]), repr(row["max"]), row["n_prefixes"],
                row["n_samples"]]
        csv_rows += [[*base, s["aggregation"], k, repr(s["value"]), repr(s["ci"][0]),
                      repr(s["ci"][1])] for s in selections] or [[*base, "", "", "", "", ""]]
    policy = ", ".join(f"{key}={value}" for key, value in diagnostics["policy"].items()
                       if key != "name")
    note = (f"{diagnostics['method']}. Policy sim({policy}); a seeded subset of "
            f"{diagnostics['max_samples']} samples (seed {diagnostics['seed']}).")
    if k is not None:
        note += (f" prm@{k} in %, 95% CI by bootstrap over problems, from metrics.json; "
                 + ", ".join(f"{name}@{k} = {100 * v['value']:.1f}"
                             for name, v in baseline.items()) + ".")
    md_path = out_dir / "bellman.md"
    write_text(md_path, f"# {title}\n\n{note}\n\n" + markdown_table(header, table)
               + ("\n![Bellman error](bellman.svg)\n" if k is not None and by_prm else ""))
    csv_path = out_dir / "bellman.csv"
    write_csv(csv_path, CSV_HEADER, csv_rows)
    images: list[str] = []
    paths = [md_path, csv_path]
    if k is not None and by_prm:
        fig = plot_bellman(diagnostics, by_prm, baseline, k, title)
        paths += save_figure(fig, out_dir / "bellman")
        plt.close(fig)
        images.append("bellman.svg")
    html_path = out_dir / "bellman.html"
    write_text(html_path, html_page(title, header, table, [note], images))
    return [*paths, html_path]


#: marker per aggregation, so a PRM keeps its colour and its aggregations stay apart
AGGREGATION_MARKERS = {"last": "o", "min": "s", "mean": "^", "product": "D"}


def plot_bellman(diagnostics: dict[str, Any], by_prm: dict[str, list[dict[str, Any]]],
                 baseline: dict[str, Any], k: int, title: str) -> Any:
    """prm@k against Bellman error: a colour per PRM, a marker per aggregation, pass@k and
    maj@k as the reference lines, 95% CI error bars named in the legend."""
    from matplotlib.lines import Line2D

    from harness.reports import style

    fig, axes = style.subplots(1)
    ax = axes[0]
    colors = style.prm_colors(row["prm"] for row in diagnostics["rows"])
    for name, value in baseline.items():
        ax.axhline(100 * value["value"], color=style.metric_color(name, None),
                   linestyle=style.metric_style(name)[0], label=f"{name}@{k}")
    for row in diagnostics["rows"]:
        for s in by_prm.get(row["prm"], []):
            y = 100 * s["value"]
            err = [[y - 100 * s["ci"][0]], [100 * s["ci"][1] - y]]
            ax.errorbar([row["bellman_error"]], [y], yerr=err, capsize=2, linestyle="none",
                        marker=AGGREGATION_MARKERS.get(s["aggregation"], "o"),
                        color=colors[row["prm"]],
                        label=f"{row['prm']} ({s['aggregation']})")
    ax.set_xlabel("Bellman error of the PRM")
    ax.set_ylabel(f"prm@{k} accuracy (%)")
    ax.set_title(title)
    bar = Line2D([], [], color="0.3", marker="|", linestyle="none", markersize=8,
                 label=f"error bar: {style.CI_LABEL}")
    style.figure_legend(fig, axes, [bar], ncol=2)
    return fig
