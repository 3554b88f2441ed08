"""One search trace as a self-contained HTML page (inline CSS and JS, nothing fetched):
the tree (for smc, the particle genealogy: every particle is a path of it) as nested
collapsible nodes, each coloured by its PRM score, the chosen path highlighted, the step
text on hover and, on click, in a side panel with the node's scores and spend; for smc,
how many particles sit on each node at the end (x k).

Colours: red (0) to green (1) by the node's last step score; scores outside [0, 1] (a
PRM giving logits) are mapped by the trace's own min and max; unscored nodes are grey.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from harness.errors import ConfigError

NODE_FIELDS = ("id", "parent", "depth", "step", "status", "scores")

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;display:flex;height:100vh}
#tree{flex:3;overflow:auto;padding:12px 16px}#panel{flex:2;overflow:auto;padding:12px 16px;
border-left:1px solid #ccc;background:#fafafa}h1{font-size:18px;margin:4px 0}
ul{list-style:none;padding-left:18px;margin:0}li{margin:1px 0}
.lab{cursor:pointer;padding:0 4px;border-radius:3px;white-space:nowrap}
.lab:hover{background:#eef}.dot{display:inline-block;width:11px;height:11px;
border-radius:50%;margin-right:5px;vertical-align:-1px;border:1px solid #0003}
.chosen>details>summary>.lab,.chosen>.lab{font-weight:bold;background:#fff3b0}
.chosen>details>summary>.lab{outline:2px solid #d4a000}.chosen>.lab{outline:2px solid #d4a000}
.finished .lab .st{color:#060}.cut .lab .st{color:#900}.st{font-size:11px;color:#666}
summary{cursor:pointer}pre{white-space:pre-wrap;background:#fff;border:1px solid #ddd;
padding:6px}table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ddd;
padding:2px 5px;text-align:right}.sel{background:#dde8ff}.hidden{display:none}
button{margin-right:4px}
"""

_JS = """
const data=JSON.parse(document.getElementById('trace-data').textContent);
const byId={};for(const n of data.nodes){byId[n.id]=n;}
function show(id){const n=byId[id];const p=document.getElementById('detail');
document.querySelectorAll('.sel').forEach(e=>e.classList.remove('sel'));
const el=document.getElementById('n-'+id);if(el){el.querySelector('.lab').classList.add('sel');}
let path=[],m=n;while(m&&m.parent!==null){path.unshift(m.step);m=byId[m.parent];}
p.innerHTML='';const h=document.createElement('h2');h.textContent='node '+id+
(data.chosen.includes(id)?' (chosen path)':'');p.appendChild(h);
const info=document.createElement('pre');info.textContent=JSON.stringify({status:n.status,
finish_reason:n.finish_reason,depth:n.depth,scores:n.scores,tokens:n.tokens,
prm_tokens:n.prm_tokens,tick:n.tick,stats:data.stats[id]||null},null,1);p.appendChild(info);
const s=document.createElement('h3');s.textContent='step';p.appendChild(s);
const st=document.createElement('pre');st.textContent=n.step;p.appendChild(st);
const f=document.createElement('h3');f.textContent='prefix';p.appendChild(f);
const pr=document.createElement('pre');pr.textContent=path.join('');p.appendChild(pr);}
document.querySelectorAll('.lab').forEach(e=>e.addEventListener('click',ev=>{
ev.preventDefault();show(e.dataset.id);}));
function setAll(open){document.querySelectorAll('#tree details').forEach(d=>d.open=open);}
function chosenOnly(){const on=document.getElementById('only').classList.toggle('on');
document.querySelectorAll('#tree li').forEach(li=>{li.classList.toggle('hidden',
on&&!data.chosen.includes(li.dataset.id));});}
document.getElementById('open').onclick=()=>setAll(true);
document.getElementById('close').onclick=()=>setAll(false);
document.getElementById('only').onclick=chosenOnly;
if(data.answer){show(data.answer);}
"""


def check_trace(trace: Any, where: str) -> None:
    """One line naming ``where`` and the field when ``trace`` cannot be drawn."""
    if not isinstance(trace, dict):
        raise ConfigError(f"{where}: a trace is a JSON object")
    for name in ("problem_id", "nodes"):
        if name not in trace:
            raise ConfigError(f"{where}: field {name} missing")
    if not isinstance(trace["nodes"], list):
        raise ConfigError(f"{where}: field nodes is not a list")
    ids = set()
    for i, node in enumerate(trace["nodes"]):
        for name in NODE_FIELDS:
            if not isinstance(node, dict) or name not in node:
                raise ConfigError(f"{where}: field nodes[{i}].{name} missing")
        ids.add(node["id"])
    for i, node in enumerate(trace["nodes"]):
        if node["parent"] is not None and node["parent"] not in ids:
            raise ConfigError(f"{where}: field nodes[{i}].parent {node['parent']!r} is "
                              f"no node of the trace")
    answer = trace.get("answer")
    if answer is not None and answer not in ids:
        raise ConfigError(f"{where}: field answer {answer!r} is no node of the trace")


def chosen_path(trace: dict[str, Any]) -> list[str]:
    """Node ids from the root to the answer (empty when there is no answer)."""
    parents = {n["id"]: n["parent"] for n in trace["nodes"]}
    node = trace.get("answer")
    out = []
    while node is not None:
        out.append(node)
        node = parents[node]
    return out[::-1]


def particles_at_end(trace: dict[str, Any]) -> dict[str, int]:
    """smc: how many particles sit on each node after the last tick (after resampling:
    the ancestors drawn, else the particles); empty for other strategies."""
    ticks = trace.get("ticks") or []
    if not ticks or not isinstance(ticks[-1].get("particles"), list):
        return {}
    last = ticks[-1]
    ids = last["particles"]
    if last.get("resampled"):
        ids = [ids[a] for a in last["resampled"]]
    out: dict[str, int] = {}
    for node_id in ids:
        out[node_id] = out.get(node_id, 0) + 1
    return out


def _colour_scale(nodes: Sequence[dict[str, Any]]) -> tuple[float, float]:
    last = [n["scores"][-1] for n in nodes if n["scores"]]
    if not last or (min(last) >= 0.0 and max(last) <= 1.0):
        return 0.0, 1.0
    return min(last), max(last)


def colour(score: float | None, low: float, high: float) -> str:
    """A CSS colour: red (low) through yellow to green (high); grey when unscored."""
    if score is None:
        return "#bbb"
    x = 0.5 if high <= low else min(max((score - low) / (high - low), 0.0), 1.0)
    return f"hsl({120 * x:.0f},70%,45%)"


def render(trace: dict[str, Any]) -> str:
    """The page for one trace (checked with ``check_trace`` first)."""
    check_trace(trace, f"trace of {trace.get('problem_id')!r}")
    nodes = trace["nodes"]
    kids: dict[str | None, list[dict[str, Any]]] = {}
    for n in nodes:
        kids.setdefault(n["parent"], []).append(n)
    chosen = set(chosen_path(trace))
    low, high = _colour_scale(nodes)
    stats = (trace.get("final") or {}).get("stats") or {}
    alive = particles_at_end(trace)

    def label(n: dict[str, Any]) -> str:
        score = n["scores"][-1] if n["scores"] else None
        shown = "root" if n["parent"] is None else n["id"]
        parts = [f"<span class=\"dot\" style=\"background:{colour(score, low, high)}\">"
                 f"</span>{html.escape(shown)}"]
        if score is not None:
            parts.append(f" {score:.3f}")
        if n["id"] in stats and "visits" in stats[n["id"]]:
            parts.append(f" N={stats[n['id']]['visits']}")
        if n["id"] in alive:
            parts.append(f" &times;{alive[n['id']]}")
        parts.append(f" <span class=\"st\">{html.escape(str(n['status']))}</span>")
        tip = html.escape(n["step"] if n["parent"] is not None else "(empty prefix)",
                          quote=True)
        return (f"<span class=\"lab\" data-id=\"{html.escape(n['id'], quote=True)}\" "
                f"title=\"{tip}\">{''.join(parts)}</span>")

    def item(n: dict[str, Any]) -> str:
        classes = " ".join(c for c in (str(n["status"]),
                                       "chosen" if n["id"] in chosen else "") if c)
        nid = html.escape(n["id"], quote=True)
        head = f"<li id=\"n-{nid}\" data-id=\"{nid}\" class=\"{classes}\">"
        children = kids.get(n["id"], [])
        if not children:
            return f"{head}{label(n)}</li>"
        inner = "".join(item(c) for c in children)
        return (f"{head}<details open><summary>{label(n)} <span class=\"st\">"
                f"({len(children)})</span></summary><ul>{inner}</ul></details></li>")

    roots = kids.get(None, [])
    tree = "".join(item(r) for r in roots)
    data = {"nodes": nodes, "chosen": chosen_path(trace), "answer": trace.get("answer"),
            "stats": stats}
    payload = json.dumps(data).replace("</", "<\\/")
    strategy = trace.get("strategy") or {}
    title = f"{trace['problem_id']}: {strategy.get('strategy', 'search')}"
    summary = {k: trace.get(k) for k in ("stopped", "answer", "spent", "budget",
                                         "selection")}
    return "".join([
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\">",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        "<div id=\"tree\">", f"<h1>{html.escape(title)}</h1>",
        "<div><button id=\"open\">expand all</button><button id=\"close\">collapse all"
        "</button><button id=\"only\">chosen path only</button> <span class=\"st\">"
        "colour: last step score, red low, green high; bold: the chosen path</span></div>",
        f"<ul>{tree}</ul>", _ticks_table(trace.get("ticks") or []), "</div>",
        "<div id=\"panel\"><div id=\"detail\"><p>Click a node.</p></div><h3>run</h3>",
        f"<pre>{html.escape(json.dumps(summary, indent=1))}</pre>",
        f"<h3>strategy</h3><pre>{html.escape(json.dumps(strategy, indent=1))}</pre></div>",
        f"<script type=\"application/json\" id=\"trace-data\">{payload}</script>",
        f"<script>{_JS}</script></body></html>",
    ])


def _ticks_table(ticks: Sequence[dict[str, Any]]) -> str:
    """Per tick: requests, spend, and the strategy's scalar state (ESS, root visits...)."""
    if not ticks:
        return ""
    extra = sorted({k for t in ticks for k, v in t.items()
                    if k not in ("tick", "requests") and isinstance(v, int | float | bool)})
    head = "".join(f"<th>{html.escape(k)}</th>" for k in
                   ("tick", "requests", "policy calls", *extra, "resampled"))
    rows = []
    for t in ticks:
        cells = [t.get("tick"), t.get("requests"), (t.get("spent") or {}).get("policy_calls")]
        cells += [t.get(k) for k in extra]
        cells.append("yes" if t.get("resampled") else "")
        rows.append("<tr>" + "".join(
            f"<td>{html.escape(_cell(c))}</td>"
            for c in cells) + "</tr>")
    return (f"<details><summary>ticks ({len(ticks)})</summary><table><tr>{head}</tr>"
            f"{''.join(rows)}</table></details>")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.3g}" if isinstance(value, float) else str(value)
