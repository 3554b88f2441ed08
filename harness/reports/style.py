"""One figure style for every report: a colour per PRM, a line style per metric.

A reader compares figures across reports, so a PRM keeps its colour everywhere: the
known PRMs have fixed Okabe-Ito colours (colour-blind safe) and any other label gets one
chosen from its sha256, which is the same in every process and every figure. Black and
grey are kept for the PRM-free references (pass@N, the oracle ceiling, and maj@N).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from typing import Any

#: Okabe & Ito (2008), the colour-blind-safe qualitative palette
OKABE_ITO = {"orange": "#E69F00", "sky blue": "#56B4E9", "bluish green": "#009E73",
             "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00",
             "reddish purple": "#CC79A7", "black": "#000000"}
PASS_COLOR = "#000000"
MAJ_COLOR = "#7F7F7F"
#: fixed colours of the PRMs the project ships (labels and their aliases)
PRM_COLORS = {
    "PRM-Math": OKABE_ITO["blue"], "prm-pb-smollm2-l4": OKABE_ITO["blue"],
    "PRM-Code": OKABE_ITO["vermillion"], "prm-code-smollm2-l4": OKABE_ITO["vermillion"],
    "random": OKABE_ITO["reddish purple"], "length": OKABE_ITO["bluish green"],
    "stored-rm": OKABE_ITO["orange"], "oracle": OKABE_ITO["orange"],
    "sim-oracle": OKABE_ITO["orange"], "sim-noisy(noise=1)": OKABE_ITO["sky blue"],
    "sim-noisy(noise=2)": OKABE_ITO["bluish green"],
}
_FALLBACK = (OKABE_ITO["sky blue"], OKABE_ITO["orange"], OKABE_ITO["bluish green"],
             OKABE_ITO["reddish purple"], OKABE_ITO["yellow"], OKABE_ITO["blue"],
             OKABE_ITO["vermillion"])
#: one line style per metric kind (matplotlib linestyle, marker)
METRIC_STYLES = {"pass": (":", "none"), "maj": ("--", "none"), "prm": ("-", "o"),
                 "wmaj": ("-.", "s")}
CI_LABEL = "95% bootstrap CI over problems"
CI_ALPHA = 0.12
#: a paper's column is about 3.4 in wide; one panel fits it at these sizes
PANEL_SIZE = (3.4, 2.5)
RC: dict[str, Any] = {
      "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "legend.fontsize": 7,
      "xtick.labelsize": 7, "ytick.labelsize": 7, "lines.linewidth": 1.4,
      "lines.markersize": 3.5, "axes.grid": True, "grid.alpha": 0.3,
      "axes.spines.top": False, "axes.spines.right": False}
#: more series than this in one panel and a figure splits into small multiples
MAX_SERIES_PER_PANEL = 4


def prm_color(label: str | None) -> str:
    """The one colour of a PRM in every figure (None: the PRM-free references)."""
    if label is None:
        return PASS_COLOR
    if label in PRM_COLORS:
        return PRM_COLORS[label]
    digest = int(hashlib.sha256(label.encode("utf-8")).hexdigest(), 16)
    return _FALLBACK[digest % len(_FALLBACK)]


def prm_colors(labels: Iterable[str | None]) -> dict[str, str]:
    """The colours of the PRMs one figure shows: each its ``prm_color``, except that an
    unlisted label whose hashed colour another PRM of the figure already has takes the
    next free one (labels in sorted order, so the same set always gets the same map)."""
    names = sorted({label for label in labels if label is not None})
    out = {label: PRM_COLORS[label] for label in names if label in PRM_COLORS}
    for label in (label for label in names if label not in PRM_COLORS):
        wanted = prm_color(label)
        used = set(out.values())
        if wanted in used:
            start = _FALLBACK.index(wanted)
            free = [c for c in _FALLBACK[start:] + _FALLBACK[:start] if c not in used]
            wanted = free[0] if free else wanted
        out[label] = wanted
    return out


def metric_color(kind: str, prm: str | None, colors: Mapping[str, str] | None = None) -> str:
    """pass@N black, maj@N grey, a PRM's metrics its colour (from ``colors``, a figure's
    ``prm_colors``, when given)."""
    if prm is None:
        return PASS_COLOR if kind == "pass" else MAJ_COLOR
    return (colors or {}).get(prm) or prm_color(prm)


def metric_style(kind: str) -> tuple[str, str]:
    return METRIC_STYLES.get(kind, ("-", "o"))


def subplots(n_panels: int, columns: int = 2, sharey: bool = True) -> tuple[Any, list[Any]]:
    """A figure of ``n_panels`` column-width panels (small multiples), unused ones hidden."""
    import matplotlib.pyplot as plt

    cols = max(1, min(columns, n_panels))
    rows = math.ceil(n_panels / cols)
    rc: Any = RC  # matplotlib types the keys as a Literal of every rc name
    with plt.rc_context(rc):
        fig, axes = plt.subplots(rows, cols, figsize=(PANEL_SIZE[0] * cols,
                                                      PANEL_SIZE[1] * rows),
                                 sharey=sharey, squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[n_panels:]:
        ax.set_visible(False)
    for ax in flat:
        _style_axes(ax)
    return fig, flat[:n_panels]


def _style_axes(ax: Any) -> None:
    for key in ("top", "right"):
        ax.spines[key].set_visible(False)
    ax.grid(alpha=0.3, which="major")
    ax.tick_params(labelsize=RC["xtick.labelsize"])
    ax.title.set_fontsize(RC["axes.titlesize"])
    ax.xaxis.label.set_fontsize(RC["axes.labelsize"])
    ax.yaxis.label.set_fontsize(RC["axes.labelsize"])


def ci_legend_handle() -> Any:
    """A legend entry naming the light bands."""
    from matplotlib.patches import Patch

    return Patch(facecolor="0.5", alpha=0.25, linewidth=0, label=CI_LABEL)


def figure_legend(fig: Any, axes: list[Any], extra: list[Any] | None = None,
                  ncol: int = 3) -> None:
    """One legend for all panels under the figure: each label once, then ``extra``; the
    panels' text is set to the column-width sizes (titles are set after ``subplots``)."""
    for ax in axes:
        _style_axes(ax)
    handles: list[Any] = []
    labels: list[str] = []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels and not lab.startswith("_"):
                handles.append(h)
                labels.append(lab)
    for h in extra or []:
        handles.append(h)
        labels.append(h.get_label())
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=RC["legend.fontsize"],
               frameon=False, bbox_to_anchor=(0.5, -0.01))
    rows = math.ceil(len(labels) / ncol)
    fig.tight_layout(rect=(0, min(0.45, 0.05 + 0.06 * rows * 2.5 / fig.get_figheight()), 1,
                           1))


def series_panels(n_series: int) -> int:
    """How many panels ``n_series`` need to keep each at most MAX_SERIES_PER_PANEL."""
    return max(1, math.ceil(n_series / MAX_SERIES_PER_PANEL))
