"""Compute report: accuracy against compute per (strategy, PRM) over stored search runs.

Reads only the stored files of each search run (``prm-harness search --out DIR``, or a
``prm-harness run`` folder with a strategy section, whose search is in ``RUN/search``):
the correctness and spend of every problem from ``shards/``, the measured wall seconds from
``timings/``. Each run is one point: its accuracy with a 95% bootstrap CI over problems
(the run's own seed, as its ``search.json`` summary), against generated policy tokens per
problem (one figure, log axis) and measured wall seconds per problem (another). Within each
(strategy, PRM) the points no other point beats on both axes (fewer or equal compute,
higher or equal accuracy, one strictly) are its Pareto front, drawn as a line and marked.
Writes a Markdown and an HTML table, the CSV of every plotted point and the figures (PNG,
SVG).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.interfaces import Report
from harness.reports.render import (
    html_page,
    markdown_table,
    percent_cell,
    save_figure,
    write_csv,
)
from harness.store.atomic import write_text
from harness.store.search_dir import SearchDir

CSV_HEADER = ["run", "strategy", "prm", "budget", "options", "n_problems", "accuracy",
              "ci_low", "ci_high", "policy_tokens_per_problem", "wall_s_per_problem",
              "policy_calls_per_problem", "prm_tokens_per_problem", "flops_per_problem",
              "pareto_tokens", "pareto_wall", "pareto_tokens_all", "pareto_wall_all"]
#: the two x axes: (CSV column, figure file stem, axis label)
AXES = (("policy_tokens_per_problem", "compute_tokens",
         "generated policy tokens per problem (log)"),
        ("wall_s_per_problem", "compute_wall", "measured wall seconds per problem (log)"))


def _settings_text(values: Mapping[str, Any], skip: Sequence[str] = ()) -> str:
    """``k=v`` pairs of the set values, sorted: how a point's budget or options read."""
    return " ".join(f"{k}={values[k]}" for k in sorted(values)
                    if values[k] is not None and k not in skip)


def search_point(label: str, path: Path) -> dict[str, Any]:
    """One run's plotted point, recomputed from its shards and timings."""
    import numpy as np

    from harness.metrics import bootstrap_means, percentile_ci

    store = SearchDir.find(path)
    settings = store.settings()
    records = store.records()
    walls = store.wall_seconds()
    n = len(records)
    correct = np.array([1.0 if r["correct"] else 0.0 for r in records])
    lo, hi = percentile_ci(bootstrap_means(correct, seed=int(settings["seed"])))[:, 0]

    def per_problem(field: str) -> float:
        return float(sum(float(r["spent"][field]) for r in records)) / n

    return {
        "run": label, "strategy": settings["strategy"]["name"],
        "prm": settings["prm"]["label"], "budget": _settings_text(settings["budget"]),
        "options": _settings_text(settings["strategy"]["options"], skip=("seed",)),
        "n_problems": n, "accuracy": float(correct.mean()), "ci_low": float(lo),
        "ci_high": float(hi),
        "policy_tokens_per_problem": per_problem("policy_tokens"),
        "wall_s_per_problem": float(sum(walls[r["problem_id"]] for r in records)) / n,
        "policy_calls_per_problem": per_problem("policy_calls"),
        "prm_tokens_per_problem": per_problem("prm_tokens"),
        "flops_per_problem": per_problem("flops"),
        "problem_ids": tuple(settings["problem_ids"]),
    }


def pareto_front(points: Sequence[Mapping[str, Any]], x: str) -> list[bool]:
    """Whether each point is on the front: no other point has x <= its x and accuracy >=
    its accuracy with one of them strict (ties on both are all kept)."""
    out = []
    for p in points:
        dominated = any(q[x] <= p[x] and q["accuracy"] >= p["accuracy"]
                        and (q[x] < p[x] or q["accuracy"] > p["accuracy"])
                        for q in points if q is not p)
        out.append(not dominated)
    return out


def compute_points(runs: Mapping[str, Path]) -> list[dict[str, Any]]:
    """Every run's point, with its Pareto marks on both axes (within its (strategy, PRM)
    group, and over all points: ``*_all``); ordered by
    (strategy, PRM, tokens per problem, run label) so the CSV does not depend on the
    spec's order."""
    points = [search_point(label, path) for label, path in runs.items()]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for p in points:
        groups.setdefault((p["strategy"], p["prm"]), []).append(p)
    for members in groups.values():
        for column, name in (("policy_tokens_per_problem", "pareto_tokens"),
                             ("wall_s_per_problem", "pareto_wall")):
            for p, on in zip(members, pareto_front(members, column), strict=True):
                p[name] = on
    for column, name in (("policy_tokens_per_problem", "pareto_tokens_all"),
                         ("wall_s_per_problem", "pareto_wall_all")):
        for p, on in zip(points, pareto_front(points, column), strict=True):
            p[name] = on
    return sorted(points, key=lambda p: (p["strategy"], p["prm"],
                                         p["policy_tokens_per_problem"], p["run"]))


class ComputeReport(Report):
    """Registered as report ``compute``: accuracy vs tokens and wall seconds per problem,
    per (strategy, PRM), over any number of stored search runs."""

    name = "compute"
    runs_allowed = (1, None)

    @classmethod
    def check_run(cls, path: Path) -> None:
        """A spec's run must be a search run (report specs call this, not RunDir.open)."""
        SearchDir.find(path)

    def render(self, runs: Mapping[str, Path], out_dir: Path,
               title: str | None = None) -> list[Path]:
        return render_compute(compute_points(runs), out_dir, title or "Accuracy vs compute")


def _csv_cell(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def render_compute(points: list[dict[str, Any]], out_dir: Path, title: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / "compute.csv"
    write_csv(csv_path, CSV_HEADER, [[_csv_cell(p[c]) for c in CSV_HEADER] for p in points])

    header = ["run", "strategy", "PRM", "budget", "options", "accuracy (%)",
              "tokens / problem", "wall s / problem", "Pareto"]
    rows = [[p["run"], p["strategy"], p["prm"], p["budget"], p["options"],
             percent_cell(p["accuracy"], p["ci_low"], p["ci_high"]),
             f"{p['policy_tokens_per_problem']:.1f}", f"{p['wall_s_per_problem']:.4f}",
             " ".join(m for m, on in (("tokens", p["pareto_tokens"]),
                                      ("wall", p["pareto_wall"]),
                                      ("tokens (all)", p["pareto_tokens_all"]),
                                      ("wall (all)", p["pareto_wall_all"])) if on)]
            for p in points]
    sizes = sorted({p["n_problems"] for p in points})
    same = len({p["problem_ids"] for p in points}) == 1
    notes = [f"{'/'.join(str(s) for s in sizes)} problems per run"
             f"{'' if same else ' (the runs do not all search the same problems)'}; "
             f"accuracy in %, 95% CI by bootstrap over problems (each run's seed); tokens "
             f"are generated policy tokens, wall seconds the measured engine time "
             f"(timings/), both per problem. Pareto: on the (strategy, PRM) front for that "
             f"axis (no run of the group has less or equal compute and higher or equal "
             f"accuracy, one strictly); (all): on the front over all runs."]
    md_path = out_dir / "compute.md"
    write_text(md_path, f"# {title}\n\n{notes[0]}\n\n" + markdown_table(header, rows)
               + "\n![tokens](compute_tokens.svg)\n\n![wall seconds](compute_wall.svg)\n")

    figures: list[Path] = []
    for column, stem, xlabel in AXES:
        fig = plot_compute(points, column, xlabel, title)
        figures += save_figure(fig, out_dir / stem)
        plt.close(fig)

    html_path = out_dir / "compute.html"
    write_text(html_path, html_page(title, header, rows, notes,
                                    ["compute_tokens.svg", "compute_wall.svg"]))
    return [csv_path, md_path, html_path, *figures]


def plot_compute(points: list[dict[str, Any]], column: str, xlabel: str, title: str) -> Any:
    """Accuracy against one compute axis: one panel per strategy (small multiples), one
    colour per PRM (harness.reports.style), the (strategy, PRM) Pareto front as a line,
    dominated runs hollow, the front over all runs as a grey band in every panel."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import NullFormatter

    from harness.reports import style

    mark = "pareto_tokens" if column == "policy_tokens_per_problem" else "pareto_wall"
    strategies = sorted({p["strategy"] for p in points})
    colors = style.prm_colors(p["prm"] for p in points)
    fig, axes = style.subplots(len(strategies), columns=min(4, len(strategies)))
    overall = sorted((p for p in points if p[mark + "_all"]), key=lambda p: (p[column], p["run"]))
    for ax, strategy in zip(axes, strategies, strict=True):
        ax.plot([p[column] for p in overall], [100 * p["accuracy"] for p in overall],
                color="0.6", linewidth=5, alpha=0.3, solid_capstyle="round", zorder=0,
                label="Pareto front over all runs")
        for prm in sorted({p["prm"] for p in points if p["strategy"] == strategy}):
            color = colors[prm]
            members = sorted((p for p in points if p["strategy"] == strategy
                              and p["prm"] == prm), key=lambda p: (p[column], p["run"]))
            xs = [p[column] for p in members]
            ys = [100 * p["accuracy"] for p in members]
            ax.errorbar(xs, ys, yerr=[[100 * (p["accuracy"] - p["ci_low"]) for p in members],
                                      [100 * (p["ci_high"] - p["accuracy"]) for p in members]],
                        fmt="none", ecolor=color, alpha=0.35, capsize=1.5, linewidth=0.8)
            front = [p for p in members if p[mark]]
            ax.plot([p[column] for p in front], [100 * p["accuracy"] for p in front], "-o",
                    color=color, label=f"PRM {prm}")
            rest = [p for p in members if not p[mark]]
            if rest:
                ax.plot([p[column] for p in rest], [100 * p["accuracy"] for p in rest],
                        linestyle="none", marker="o", markerfacecolor="none", color=color)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels collide at this width
        ax.set_title(strategy)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("accuracy (%)")
    extra = [Line2D([], [], color="0.3", marker="|", linestyle="none", markersize=8,
                    label=f"error bar: {style.CI_LABEL}"),
             Line2D([], [], color="0.3", marker="o", markerfacecolor="none", linestyle="none",
                    label="dominated in its (strategy, PRM)")]
    fig.suptitle(title, fontsize=style.RC["axes.titlesize"] + 1)
    style.figure_legend(fig, axes, extra, ncol=3)
    return fig
