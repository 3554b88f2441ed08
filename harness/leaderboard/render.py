"""A board's static site and tables from its entries, every number recomputed here.

``build_site`` validates each entry (``validate.py``: only accepted entries are shown;
rejected ones are listed with their reason count), ranks the accepted ones by the
board's ranking metric with rank intervals from a seeded paired bootstrap over problems
(the same problem resamples for every entry, so overlapping entries share a rank range),
and writes ``index.html`` (self-contained: inline CSS and JS, no external URL), one
``entry-<name>.html`` per accepted entry (its best-of-N curve as inline SVG, with its CI
band, and its provenance), ``board.md``, ``board.csv`` and ``board.json``. The output
depends on the inputs only: no clock, fixed ordering and number formatting.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness import __version__
from harness import metrics as m
from harness.errors import HarnessError
from harness.leaderboard.board import Board
from harness.leaderboard.entry import per_problem, reference_metrics, scores_path
from harness.leaderboard.pools import TaskPool
from harness.leaderboard.validate import validate_entry
from harness.store.atomic import write_text
from harness.store.jsonl import read_json

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Shown:
    name: str
    path: Path
    doc: dict[str, Any]
    recomputed: dict[str, dict[str, Any]]
    rank: tuple[int, int] = (0, 0)
    score: float = 0.0
    scores_sha256: dict[str, str] | None = None
    audit: dict[str, Any] | None = None

    @property
    def page(self) -> str:
        return f"entry-{_SAFE.sub('_', self.name)}.html"


def _fmt(x: float) -> str:
    return f"{x:.4f}"


def _value_ci(claim: dict[str, Any]) -> str:
    return f"{_fmt(claim['value'])} [{_fmt(claim['ci'][0])}, {_fmt(claim['ci'][1])}]"


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rank_intervals(per_task: list[np.ndarray], n_boot: int, seed: int, level: float,
                   descending: bool = True) -> list[tuple[int, int]]:
    """Rank intervals (1 = best) of entries from their per-problem values: per task an
    array (problems, entries), every entry's column in the same problem order. Per task
    one seeded bootstrap of the problems shared by all entries (paired), the mean over
    tasks of the resampled means, the rank in each resample (ties share the better rank)
    and the percentile interval of each entry's ranks."""
    means = np.mean([m.bootstrap_means(np.asarray(v, dtype=np.float64), n_boot, seed)
                     for v in per_task], axis=0)  # (n_boot, entries)
    if not descending:
        means = -means
    # rank = 1 + how many entries are strictly better in this resample
    ranks = 1 + (means[:, None, :] > means[:, :, None]).sum(axis=2)
    tail = (1.0 - level) / 2.0
    lo = np.quantile(ranks, tail, axis=0, method="lower")
    hi = np.quantile(ranks, 1.0 - tail, axis=0, method="higher")
    return [(int(a), int(b)) for a, b in zip(lo, hi, strict=True)]


def collect(board: Board, entries: list[Path], pools: dict[str, TaskPool],
            audits: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Validate, rank and gather everything the pages show (the board.json document).
    ``audits``: entry folder (as given) -> its audit; one that failed is not shown."""
    shown: list[Shown] = []
    rejected: list[dict[str, Any]] = []
    per_task: dict[str, list[np.ndarray]] = {task: [] for task in board.tasks}
    metric = str(board.ranking["metric"])
    descending = board.ranking.get("order", "descending") == "descending"
    for path in sorted(entries, key=lambda p: (p.name, str(p))):
        verdict = validate_entry(board, path, pools)
        audit = (audits or {}).get(str(path))
        if not verdict.ok or (audit is not None and audit["status"] == "failed"):
            rejected.append({"name": path.name, "reasons": len(verdict.problems) or
                             len(audit["problems"] if audit else [])})
            continue
        assert verdict.aggregation is not None
        doc = read_json(path / "entry.json")
        item = Shown(path.name, path, doc, verdict.recomputed,
                     scores_sha256={t: _file_sha256(scores_path(path, t)) for t in board.tasks},
                     audit=audit)
        item.score = float(np.mean([verdict.recomputed[t][metric]["value"]
                                    for t in board.tasks]))
        for task in board.tasks:
            per_task[task].append(per_problem(board, pools[task], verdict.scores[task],
                                              verdict.aggregation, metric))
        shown.append(item)
    if shown:
        ci = board.ci
        columns = [np.stack(per_task[task], axis=1) for task in board.tasks]
        for item, rank in zip(shown, rank_intervals(columns, ci["bootstrap"], ci["seed"],
                                                    ci["level"], descending), strict=True):
            item.rank = rank
    shown.sort(key=lambda s: (s.rank[0], -s.score if descending else s.score, s.name))
    names = [item.name for item in shown]
    if len(set(names)) != len(names):
        raise HarnessError(f"two entries share a folder name among {names}")
    reference = {t: reference_metrics(board, pools[t]) for t in board.tasks}
    return {
        "board": board.name, "title": board.title, "description": board.description,
        "harness_version": __version__, "ranking": dict(board.ranking), "ci": dict(board.ci),
        "ns": list(board.ns), "metrics": board.claimed_names(),
        "tasks": {t: {"pool_sha256": board.tasks[t].pool_sha256,
                      "grades_sha256": board.tasks[t].grades_sha256,
                      "n_problems": board.tasks[t].n_problems,
                      "n_samples": board.tasks[t].n_samples} for t in board.tasks},
        "entries": [{
            "name": s.name, "page": s.page, "rank": list(s.rank), "score": s.score,
            "recomputed": True, "audited": (s.audit or {}).get("status") == "audited",
            "audit": ({k: v for k, v in s.audit.items() if k != "problems"} if s.audit
                      else None),
            "prm": s.doc.get("prm"), "harness": s.doc.get("harness"),
            "submitter": s.doc.get("submitter"), "date": s.doc.get("date"),
            "scores_sha256": s.scores_sha256,
            "tasks": {t: s.recomputed[t] for t in board.tasks}} for s in shown],
        "rejected": rejected,
        "reference": reference,
    }


# ---------------------------------------------------------------------------------------
# pages

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#1b1b1b;background:#fafafa}
h1{font-size:1.5em}table{border-collapse:collapse;margin:1em 0;background:#fff}
th,td{border:1px solid #ccc;padding:.35em .6em;text-align:right;white-space:nowrap}
th{background:#2d4a7a;color:#fff;cursor:pointer;user-select:none}
th.sorted-asc::after{content:" \\25B2"}th.sorted-desc::after{content:" \\25BC"}
td.name,th.name{text-align:left}tr:nth-child(even) td{background:#f0f3f8}
.badge{display:inline-block;background:#1f7a3a;color:#fff;border-radius:.8em;
padding:.1em .6em;font-size:.8em}.ci{color:#666;font-size:.85em}
.badge.audited{background:#1f4f9a}
.rejected{color:#8a1c1c}code{font-size:.85em}
"""

_JS = """
document.querySelectorAll('table.sortable').forEach(function(table){
  var heads=table.querySelectorAll('th');
  heads.forEach(function(th,col){
    th.addEventListener('click',function(){
      var asc=!th.classList.contains('sorted-asc');
      heads.forEach(function(h){h.classList.remove('sorted-asc','sorted-desc');});
      th.classList.add(asc?'sorted-asc':'sorted-desc');
      var body=table.tBodies[0];
      var rows=Array.prototype.slice.call(body.rows);
      rows.sort(function(a,b){
        var x=a.cells[col].getAttribute('data-sort'),y=b.cells[col].getAttribute('data-sort');
        var nx=parseFloat(x),ny=parseFloat(y),c;
        if(!isNaN(nx)&&!isNaN(ny)){c=nx-ny;}else{c=x<y?-1:(x>y?1:0);}
        return asc?c:-c;
      });
      rows.forEach(function(r){body.appendChild(r);});
    });
  });
});
"""


def _page(title: str, body: str, script: bool = False) -> str:
    js = f"<script>{_JS}</script>\n" if script else ""
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
            f"<body>\n{body}\n{js}</body>\n</html>\n")


def _columns(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(task, metric, header) for every value column."""
    tasks = list(data["tasks"])
    return [(t, name, name if len(tasks) == 1 else f"{t} {name}")
            for t in tasks for name in data["metrics"]]


def _rank_text(rank: list[int]) -> str:
    return str(rank[0]) if rank[0] == rank[1] else f"{rank[0]}–{rank[1]}"


def _audit_badge(entry: dict[str, Any]) -> str:
    if not entry.get("audited"):
        return ""
    audit = entry["audit"]
    return (f" <span class=\"badge audited\" title=\"{audit['k']} samples re-scored with "
            f"the declared PRM (seed {audit['seed']}); every step score within "
            f"{audit['tolerance']}\">audited</span>")


def render_index(data: dict[str, Any]) -> str:
    esc = html.escape
    cols = _columns(data)
    level = round(data["ci"]["level"] * 100)
    head = ("<tr><th data-col=\"rank\">rank</th><th class=\"name\" data-col=\"entry\">entry"
            "</th><th class=\"name\" data-col=\"prm\">PRM</th><th class=\"name\" "
            "data-col=\"aggregation\">aggregation</th>"
            + "".join(f"<th data-col=\"{esc(h)}\">{esc(h)}</th>" for _, _, h in cols)
            + "</tr>")
    rows = []
    for e in data["entries"]:
        cells = [f"<td data-sort=\"{e['rank'][0]}.{e['rank'][1]:04d}\">"
                 f"{esc(_rank_text(e['rank']))}</td>",
                 f"<td class=\"name\" data-sort=\"{esc(e['name'])}\"><a href=\""
                 f"{esc(e['page'])}\">{esc(e['name'])}</a> <span class=\"badge\">recomputed"
                 f"</span>{_audit_badge(e)}</td>",
                 f"<td class=\"name\" data-sort=\"{esc(str(e['prm'].get('id')))}\">"
                 f"{esc(str(e['prm'].get('id')))}</td>",
                 f"<td class=\"name\" data-sort=\"{esc(str(e['prm'].get('aggregation')))}\">"
                 f"{esc(str(e['prm'].get('aggregation')))}</td>"]
        for task, name, _ in cols:
            c = e["tasks"][task][name]
            cells.append(f"<td data-sort=\"{c['value']!r}\">{_fmt(c['value'])} <span "
                         f"class=\"ci\">[{_fmt(c['ci'][0])}, {_fmt(c['ci'][1])}]</span></td>")
        rows.append(f"<tr data-entry=\"{esc(e['name'])}\">" + "".join(cells) + "</tr>")
    ref_rows = []
    for task, ref in data["reference"].items():
        for name, c in ref.items():
            ref_rows.append(f"<tr><td class=\"name\">{esc(task)}</td><td class=\"name\">"
                            f"{esc(name)}</td><td>{_fmt(c['value'])} <span class=\"ci\">["
                            f"{_fmt(c['ci'][0])}, {_fmt(c['ci'][1])}]</span></td></tr>")
    rejected = "".join(f"<li class=\"rejected\">{esc(r['name'])}: rejected, {r['reasons']} "
                       f"reason{'s' if r['reasons'] != 1 else ''}</li>"
                       for r in data["rejected"])
    tasks = "".join(f"<li><code>{esc(t)}</code>: {v['n_problems']} problems × "
                    f"{v['n_samples']} samples, pool sha256 <code>{esc(v['pool_sha256'])}"
                    f"</code>, grades sha256 <code>{esc(v['grades_sha256'])}</code></li>"
                    for t, v in data["tasks"].items())
    body = (
        f"<h1>{esc(data['title'] or data['board'])}</h1>\n"
        f"<p>{esc(data['description'])}</p>\n"
        f"<p><span class=\"badge\">recomputed</span> every entry shown was validated and "
        f"all its numbers recomputed from its stored step scores and the board's stored "
        f"grades by prm-harness {esc(data['harness_version'])}.</p>\n"
        + ("<p><span class=\"badge audited\">audited</span> a seeded random sample of the "
           "entry's samples was re-scored with the PRM it declares and every step score "
           "was within the audit tolerance; entries without it were not audited (their "
           "PRM cannot be built here, or no audit was asked).</p>\n"
           if any(e.get("audited") for e in data["entries"]) else "")
        + f"<p>Ranked by <code>{esc(data['ranking']['metric'])}</code> "
        f"({esc(data['ranking'].get('order', 'descending'))}). Values with {level}% CIs "
        f"({esc(data['ci']['method'])}, {data['ci']['bootstrap']} resamples, seed "
        f"{data['ci']['seed']}); rank intervals from a paired bootstrap over problems with "
        f"the same settings: entries whose intervals overlap share a rank range.</p>\n"
        f"<table class=\"sortable\" id=\"board\">\n<thead>{head}</thead>\n<tbody>\n"
        + "\n".join(rows) + "\n</tbody>\n</table>\n"
        f"<h2>Rejected entries</h2>\n<ul id=\"rejected\">{rejected or '<li>none</li>'}</ul>\n"
        f"<h2>Reference (no PRM)</h2>\n<table id=\"reference\"><thead><tr><th class=\"name\">"
        f"task</th><th class=\"name\">metric</th><th>value [{level}% CI]</th></tr></thead>"
        f"<tbody>{''.join(ref_rows)}</tbody></table>\n"
        f"<h2>Tasks</h2>\n<ul>{tasks}</ul>\n"
        f"<p>Board <code>{esc(data['board'])}</code>; recomputed by prm-harness "
        f"{esc(data['harness_version'])}.</p>")
    return _page(f"{data['title'] or data['board']} leaderboard", body, script=True)


def curve_svg(ns: list[int], values: list[float], lows: list[float], highs: list[float],
              label: str) -> str:
    """prm@N against N (log2 axis) with its CI band, as an inline SVG."""
    width, height, pad = 480, 300, 50
    lo_n, hi_n = np.log2(min(ns)), np.log2(max(ns))
    span = hi_n - lo_n or 1.0
    ymin = max(0.0, np.floor(min(lows) * 10) / 10)
    ymax = min(1.0, np.ceil(max(highs) * 10) / 10)
    if ymax <= ymin:
        ymin, ymax = max(0.0, ymin - 0.1), min(1.0, ymax + 0.1) or 1.0

    def x(n: int) -> float:
        return pad + (np.log2(n) - lo_n) / span * (width - 2 * pad)

    def y(v: float) -> float:
        return height - pad - (v - ymin) / (ymax - ymin) * (height - 2 * pad)

    band = " ".join(f"{x(n):.1f},{y(v):.1f}" for n, v in zip(ns, highs, strict=True))
    band += " " + " ".join(f"{x(n):.1f},{y(v):.1f}"
                           for n, v in reversed(list(zip(ns, lows, strict=True))))
    line = " ".join(f"{x(n):.1f},{y(v):.1f}" for n, v in zip(ns, values, strict=True))
    ticks = "".join(f"<text x=\"{x(n):.1f}\" y=\"{height - pad + 18}\" "
                    f"text-anchor=\"middle\">{n}</text>" for n in ns)
    yt = [ymin + i * (ymax - ymin) / 4 for i in range(5)]
    yticks = "".join(f"<text x=\"{pad - 6}\" y=\"{y(v) + 4:.1f}\" text-anchor=\"end\">"
                     f"{v:.2f}</text><line x1=\"{pad}\" x2=\"{width - pad}\" y1=\"{y(v):.1f}\" "
                     f"y2=\"{y(v):.1f}\" stroke=\"#ddd\"/>" for v in yt)
    dots = "".join(f"<circle cx=\"{x(n):.1f}\" cy=\"{y(v):.1f}\" r=\"3\" fill=\"#2d4a7a\"/>"
                   for n, v in zip(ns, values, strict=True))
    return (f"<svg width=\"{width}\" height=\"{height}\" "
            f"viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\""
            f"{html.escape(label)}\" font-size=\"12\">{yticks}"
            f"<polygon points=\"{band}\" fill=\"#2d4a7a\" fill-opacity=\"0.2\"/>"
            f"<polyline points=\"{line}\" fill=\"none\" stroke=\"#2d4a7a\" "
            f"stroke-width=\"2\"/>{dots}{ticks}"
            f"<text x=\"{width / 2:.0f}\" y=\"{height - 8}\" text-anchor=\"middle\">N</text>"
            f"<text x=\"14\" y=\"{height / 2:.0f}\" text-anchor=\"middle\" "
            f"transform=\"rotate(-90 14 {height / 2:.0f})\">{html.escape(label)}</text></svg>")


def render_entry(data: dict[str, Any], entry: dict[str, Any]) -> str:
    esc = html.escape
    level = round(data["ci"]["level"] * 100)
    parts = [f"<p><a href=\"index.html\">← {esc(data['board'])}</a></p>",
             f"<h1>{esc(entry['name'])} <span class=\"badge\">recomputed</span>"
             f"{_audit_badge(entry)}</h1>",
             f"<p>Rank {esc(_rank_text(entry['rank']))} by "
             f"<code>{esc(data['ranking']['metric'])}</code>.</p>"]
    for task, claims in entry["tasks"].items():
        ns = [n for n in data["ns"] if f"prm@{n}" in claims]
        parts.append(f"<h2>{esc(task)}: best-of-N ({level}% CI band)</h2>")
        if ns:
            parts.append(curve_svg(ns, [claims[f"prm@{n}"]["value"] for n in ns],
                                   [claims[f"prm@{n}"]["ci"][0] for n in ns],
                                   [claims[f"prm@{n}"]["ci"][1] for n in ns], "prm@N"))
        rows = "".join(f"<tr><td class=\"name\">{esc(name)}</td><td>{_value_ci(c)}</td></tr>"
                       for name, c in claims.items())
        parts.append(f"<table><thead><tr><th class=\"name\">metric</th><th>value [{level}% "
                     f"CI]</th></tr></thead><tbody>{rows}</tbody></table>")
    prm = entry["prm"] or {}
    prov = [("PRM id", prm.get("id")), ("PRM revision", prm.get("revision")),
            ("aggregation", prm.get("aggregation")), ("spec sha256", prm.get("spec_sha256")),
            ("submitted with prm-harness", (entry["harness"] or {}).get("version")),
            ("submitter's git revision", (entry["harness"] or {}).get("git_revision")),
            ("submitter", entry["submitter"]), ("date", entry["date"])]
    prov += [(f"scores/{t}.jsonl sha256", h) for t, h in (entry["scores_sha256"] or {}).items()]
    prov += [(f"{t} pool sha256", v["pool_sha256"]) for t, v in data["tasks"].items()]
    rows = "".join(f"<tr><td class=\"name\">{esc(k)}</td><td class=\"name\"><code>"
                   f"{esc(str(v))}</code></td></tr>" for k, v in prov)
    parts.append(f"<h2>Provenance</h2><table id=\"provenance\"><tbody>{rows}</tbody></table>")
    spec = json.dumps(prm.get("spec"), indent=2, sort_keys=True)
    parts.append(f"<h3>PRM spec</h3><pre>{esc(spec)}</pre>")
    parts.append(f"<p>Recomputed by prm-harness {esc(data['harness_version'])}.</p>")
    return _page(f"{entry['name']} on {data['board']}", "\n".join(parts))


def render_markdown(data: dict[str, Any]) -> str:
    cols = _columns(data)
    level = round(data["ci"]["level"] * 100)
    lines = [f"# {data['title'] or data['board']}", "",
             f"Ranked by `{data['ranking']['metric']}`; values with {level}% CIs; every entry "
             f"recomputed by prm-harness {data['harness_version']}.", "",
             "| rank | entry | PRM | aggregation | " + " | ".join(h for _, _, h in cols) + " |",
             "|---|---|---|---|" + "---:|" * len(cols)]
    for e in data["entries"]:
        lines.append(f"| {_rank_text(e['rank'])} | {e['name']} | {e['prm'].get('id')} | "
                     f"{e['prm'].get('aggregation')} | "
                     + " | ".join(_value_ci(e["tasks"][t][n]) for t, n, _ in cols) + " |")
    if data["rejected"]:
        lines += ["", "Rejected: " + ", ".join(f"{r['name']} ({r['reasons']} reasons)"
                                               for r in data["rejected"])]
    return "\n".join(lines) + "\n"


def render_csv(data: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    cols = _columns(data)
    header = ["rank_lo", "rank_hi", "entry", "prm", "aggregation"]
    for _, _, h in cols:
        header += [h, f"{h} ci_lo", f"{h} ci_hi"]
    writer.writerow(header)
    for e in data["entries"]:
        row = [e["rank"][0], e["rank"][1], e["name"], e["prm"].get("id"),
               e["prm"].get("aggregation")]
        for t, n, _ in cols:
            c = e["tasks"][t][n]
            row += [repr(c["value"]), repr(c["ci"][0]), repr(c["ci"][1])]
        writer.writerow(row)
    return buffer.getvalue()


def build_site(board: Board, entries: list[Path], out: Path,
               pools: dict[str, TaskPool],
               audits: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Write the site and tables to ``out``; the board.json document."""
    data = collect(board, entries, pools, audits)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "index.html", render_index(data))
    for entry in data["entries"]:
        write_text(out / entry["page"], render_entry(data, entry))
    write_text(out / "board.md", render_markdown(data))
    write_text(out / "board.csv", render_csv(data))
    write_text(out / "board.json", json.dumps(data, indent=2) + "\n")
    return data
