"""Best-of-N report: accuracy vs N for pass@N, maj@N and, per PRM, prm@N and wmaj@N.

Reads only the run's metrics.json (itself a pure function of the stored shards) and
writes a figure with 95% CI bands (PNG, SVG), a Markdown and an HTML table, and the CSV
with every number shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.interfaces import Report
from harness.reports.render import (
    html_page,
    markdown_table,
    percent_cell,
    save_figure,
    write_csv,
)
from harness.store.atomic import write_text
from harness.store.metrics_file import MetricsFile, read_run_metrics
from harness.store.rundir import RunDir

CSV_HEADER = ["selector", "prm", "aggregation", "metric", "k", "value", "ci_low", "ci_high"]


def curves(metrics: MetricsFile) -> list[dict[str, Any]]:
    """One curve per (selector, metric kind): label, kind, ks, values, CI bounds."""
    out = []
    for prm, aggregation in metrics.selectors():
        kinds = ("pass", "maj") if prm is None else ("prm", "wmaj")
        for kind in kinds:
            points = [e for k in metrics.ks
                      if (e := metrics.get(prm, aggregation, kind, k)) is not None]
            if not points:
                continue
            label = f"{kind}@N" if prm is None else f"{kind}@N {prm} ({aggregation})"
            out.append({"label": label, "kind": kind, "prm": prm, "aggregation": aggregation,
                        "ks": [e.k for e in points],
                        "values": [e.value for e in points],
                        "low": [e.ci[0] for e in points],
                        "high": [e.ci[1] for e in points]})
    return out


def run_name(run: RunDir, label: str) -> str:
    """The run's name from its config (a figure's title), else its folder's label."""
    try:
        name = run.manifest().get("config", {}).get("name")
    except (HarnessError, OSError, ValueError, AttributeError):  # a title must not fail it
        name = None
    return str(name) if name else label


class BestOfNReport(Report):
    """Registered as report ``best-of-n``: one run's accuracy against N."""

    name = "best-of-n"
    runs_allowed = (1, 1)

    def render(self, runs: Mapping[str, Path], out_dir: Path,
               title: str | None = None) -> list[Path]:
        label, path = self.only_run(runs)
        run = RunDir.open(path)
        return render_best_of_n(read_run_metrics(run), out_dir,
                                title=title or f"Best-of-N: {run_name(run, label)}")


def render_best_of_n(doc: MetricsFile, out_dir: Path, title: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    series = curves(doc)
    ks = doc.ks

    csv_rows = []
    for c in series:
        for k, v, lo, hi in zip(c["ks"], c["values"], c["low"], c["high"], strict=True):
            csv_rows.append([c["label"], c["prm"] or "", c["aggregation"] or "", c["kind"], k,
                             repr(v), repr(lo), repr(hi)])
    csv_path = out_dir / "best_of_n.csv"
    write_csv(csv_path, CSV_HEADER, csv_rows)

    header = ["N", *[c["label"] for c in series]]
    table_rows = []
    for k in ks:
        row: list[str] = [str(k)]
        for c in series:
            if k in c["ks"]:
                i = c["ks"].index(k)
                row.append(percent_cell(c["values"][i], c["low"][i], c["high"][i]))
            else:
                row.append("")
        table_rows.append(row)
    params = doc.parameters
    notes = [f"{doc.n_problems} problems, pool sizes {doc.pool_sizes}; accuracy in %, "
             f"95% CI by bootstrap over problems ({params['bootstrap']} resamples, seed "
             f"{params['seed']}); maj/wmaj over {params['draws']} draws per problem."]
    md_path = out_dir / "best_of_n.md"
    write_text(md_path, f"# {title}\n\n{notes[0]}\n\n" + markdown_table(header, table_rows)
               + "\n![best-of-N](best_of_n.svg)\n")

    fig = plot_best_of_n(series, ks, title)
    figures = save_figure(fig, out_dir / "best_of_n")
    plt.close(fig)

    html_path = out_dir / "best_of_n.html"
    write_text(html_path, html_page(title, header, table_rows, notes, ["best_of_n.svg"]))
    return [csv_path, md_path, html_path, *figures]


def plot_best_of_n(series: list[dict[str, Any]], ks: list[int], title: str) -> Any:
    """Accuracy against N: pass@N (the ceiling, on top) and maj@N in every panel, a colour
    per PRM, a line style per metric, light CI bands named in the legend; one panel per
    (aggregation, metric) when the series would crowd one panel."""
    from harness.reports import style

    colors = style.prm_colors(c["prm"] for c in series)
    references = [c for c in series if c["prm"] is None]
    selected = [c for c in series if c["prm"] is not None]
    if len(series) <= style.MAX_SERIES_PER_PANEL:
        groups = [("", selected)]
    else:
        keys = sorted({(c["aggregation"], c["kind"]) for c in selected},
                      key=lambda key: (key[0], key[1] != "prm"))
        groups = [(f"{kind}@N, {aggregation}", [c for c in selected
                                               if (c["aggregation"], c["kind"]) ==
                                               (aggregation, kind)])
                  for aggregation, kind in keys] or [("", [])]
    fig, axes = style.subplots(len(groups), columns=min(2, len(groups)))
    for ax, (panel, members) in zip(axes, groups, strict=True):
        for c in [*references, *members]:
            color = style.metric_color(c["kind"], c["prm"], colors)
            line, marker = style.metric_style(c["kind"])
            label = (f"{c['kind']}@N" if c["prm"] is None else
                     f"{c['prm']} {c['kind']}@N" + ("" if panel else f" ({c['aggregation']})"))
            ax.plot(c["ks"], [100 * v for v in c["values"]], linestyle=line, marker=marker,
                    color=color, label=label, zorder=4 if c["kind"] == "pass" else 2,
                    linewidth=1.8 if c["kind"] == "pass" else 1.4)
            ax.fill_between(c["ks"], [100 * v for v in c["low"]],
                            [100 * v for v in c["high"]], color=color, alpha=style.CI_ALPHA,
                            linewidth=0)
        ax.set_xscale("log", base=2)
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.set_xlabel("N (samples per problem)")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(panel or title)
    if len(groups) > 1:
        fig.suptitle(title, fontsize=style.RC["axes.titlesize"] + 1)
    style.figure_legend(fig, axes, [style.ci_legend_handle()])
    return fig
