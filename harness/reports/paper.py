"""Paper report: the cross-domain table, the step-level tables and the figures of a paper,
every number recomputed from stored files.

Inputs (``reports/paper.yaml``): the stored runs (``runs:``; each one a policy on a task),
the boards whose pinned pools are those runs and whose entries hold the trained PRMs'
step scores (``boards``), the trained PRMs' folders (``prms``: their ProcessBench
evaluations, ``ci`` reports across training steps and backbone sizes) and the stored
search runs (``search``, read by the ``compute`` kind's code). Metrics come from
``harness.metrics`` only (compute_all, paired_difference); a cell with no stored input is
"—" with its reason in a footnote, never a number, and ``strict`` turns those cells into
an error, one line per cell.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness import __version__
from harness import metrics as m
from harness.errors import ConfigError, HarnessError
from harness.interfaces import Report
from harness.reports import style
from harness.reports.render import markdown_table, save_figure, write_csv
from harness.store.atomic import write_text
from harness.store.rundir import RunDir

DASH = "—"
#: Table 1's columns: heading -> the task name a run's config gives
DEFAULT_COLUMNS = {"HumanEval+": "humanevalplus", "MBPP+": "mbppplus",
                   "LiveCodeBench": "livecodebench", "BigCodeBench": "bigcodebench",
                   "MATH-500 (levels 1-2)": "math500", "synthetic-arith": "synthetic-arith"}
DEFAULT_MATH_TASKS = ("math500", "synthetic-arith", "aime24", "prm800k")
CSV_HEADER = ["item", "panel", "series", "x", "value", "ci_low", "ci_high", "count_k",
              "count_n", "delta", "delta_ci_low", "delta_ci_high", "delta_p_value",
              "pool_sha256", "missing_reason"]
FIGURE_FORMATS = (".png", ".svg", ".pdf")


def _r(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def _count(values: np.ndarray) -> str:
    """k/n: the problems' summed value (an expectation where it is not 0/1) over n."""
    k = float(np.sum(values))
    text = f"{k:.0f}" if abs(k - round(k)) < 1e-9 else f"{k:.2f}"
    return f"{text}/{len(values)}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class PoolStats:
    """A board task's pinned pool and everything computed on it."""

    board: Any
    task: str
    pool: Any
    reference: dict[str, m.Estimate]
    #: PRM name -> (aggregation, estimates) or the reason there are none
    prms: dict[str, tuple[str, dict[str, m.Estimate]] | str]


@dataclass
class Collected:
    """Everything the report shows: rows of the CSV, tables, figure series, footnotes."""

    csv_rows: list[list[str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    inputs: set[Path] = field(default_factory=set)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)

    #: the distinct reasons, numbered as footnotes
    reasons: list[str] = field(default_factory=list)

    def miss(self, where: str, reason: str) -> str:
        """Record a missing cell (one line for ``strict``); the footnote mark it gets,
        one footnote per distinct reason."""
        line = f"{where}: {reason}"
        if line not in self.missing:
            self.missing.append(line)
        if reason not in self.reasons:
            self.reasons.append(reason)
        return f"{DASH} [{self.reasons.index(reason) + 1}]"

    def row(self, item: str, panel: str, series: str, x: Any, **values: Any) -> None:
        cells = {"item": item, "panel": panel, "series": series, "x": str(x), **values}
        self.csv_rows.append([str(cells.get(c, "")) for c in CSV_HEADER])

    def add_inputs(self, *paths: Path) -> None:
        for path in paths:
            if path.is_dir():
                self.inputs.update(p for p in path.rglob("*")
                                   if p.is_file() and "report" not in p.relative_to(path).parts)
            elif path.is_file():
                self.inputs.add(path)


class PaperReport(Report):
    """Registered as report ``paper``: a paper's tables and figures from stored files."""

    name = "paper"
    runs_allowed = (1, None)
    #: options the spec loader resolves against the spec's folder, as it does ``runs``
    path_options = ("boards", "prms", "search", "similarity", "size_prms")

    def __init__(self, *, n: int = 16, boards: Sequence[str] = (),
                 prms: Mapping[str, str] | None = None, search: str | None = None,
                 columns: Mapping[str, str] | None = None,
                 math_tasks: Sequence[str] = DEFAULT_MATH_TASKS,
                 steps_prm: str = "PRM-Math", similarity: str | None = None,
                 size_prms: Mapping[str, str] | None = None,
                 size_board: str = "math-qwen100", size_against: str = "random",
                 strict: bool = False) -> None:
        if not isinstance(n, int) or n < 1:
            raise ConfigError(f"option n must be a positive integer, not {n!r}")
        self.n = n
        self.boards = [Path(b) for b in boards]
        self.prms = {str(k): Path(v) for k, v in (prms or {}).items()}
        self.search = Path(search) if search else None
        self.columns = dict(columns or DEFAULT_COLUMNS)
        self.math_tasks = tuple(math_tasks)
        self.steps_prm = steps_prm
        self.similarity = Path(similarity) if similarity else None
        #: trained folders of one recipe at several sizes, each with its ``ci`` report on
        #: ``size_board`` against ``size_against`` (Fig. 1's size series)
        self.size_prms = {str(k): Path(v) for k, v in (size_prms or {}).items()}
        self.size_board, self.size_against = size_board, size_against
        self.strict = bool(strict)

    def render(self, runs: Mapping[str, Path], out_dir: Path,
               title: str | None = None) -> list[Path]:
        data = collect(self, runs)
        if self.strict and data.missing:
            raise HarnessError(f"paper report: {len(data.missing)} missing cells (strict):\n"
                               + "\n".join(data.missing))
        return write_paper(data, out_dir, title or "PRMs in test-time scaling")


# ---------------------------------------------------------------------------------------
# reading and computing


def _board_pools(report: PaperReport, data: Collected) -> dict[Path, PoolStats]:
    """Resolved run folder -> the stats of the board task that pins it."""
    from harness.leaderboard.board import load_board
    from harness.leaderboard.entry import aggregated_pools
    from harness.leaderboard.pools import read_task_pool
    from harness.leaderboard.validate import validate_entry

    out: dict[Path, PoolStats] = {}
    for board_path in report.boards:
        if not board_path.is_file():
            data.miss("options.boards", f"no board file {board_path.name}; the PRM and "
                      f"baseline cells of its pools cannot be computed")
            continue
        board = load_board(board_path)
        data.add_inputs(board_path)
        ci = board.ci
        params = {"draws": ci["draws"], "seed": ci["seed"], "n_boot": ci["bootstrap"],
                  "level": ci["level"]}
        for task in board.tasks:
            pool = read_task_pool(board, task)
            plain = [m.ProblemPool(pid, pool.correct[pid], pool.vote[pid], None,
                                   pool.sample_ids[pid]) for pid in pool.problem_ids]
            reference = m.compute_all(plain, board.ns, ("pass", "maj"), **params)
            prms: dict[str, tuple[str, dict[str, m.Estimate]] | str] = {}
            for label, folder in report.prms.items():
                entry = board.path.with_suffix("") / "entries" / folder.name
                if not (entry / "entry.json").is_file():
                    prms[label] = f"board {board.name} has no entry {folder.name}"
                    continue
                verdict = validate_entry(board, entry, {task: pool})
                if verdict.problems:
                    prms[label] = f"entry {folder.name} on {board.name} is rejected: " \
                                  f"{verdict.problems[0]}"
                    continue
                if task not in verdict.scores:
                    prms[label] = f"entry {folder.name} has no scores for {task}"
                    continue
                data.add_inputs(entry)
                scored = aggregated_pools(pool, verdict.scores[task], str(verdict.aggregation))
                prms[label] = (str(verdict.aggregation),
                               m.compute_all(scored, board.ns, ("prm",), **params))
            out[board.task_dir(task).resolve()] = PoolStats(board, task, pool, reference, prms)
    return out


def _run_identity(path: Path) -> tuple[str, str]:
    """(policy, task) of a stored run, from its manifest's config."""
    config = RunDir.open(path).manifest()["config"]
    return str(config["policy"]["label"]).split("@")[0], str(config["task"]["name"])


def collect(report: PaperReport, runs: Mapping[str, Path]) -> Collected:
    data = Collected()
    stats = _board_pools(report, data)
    by_run: dict[tuple[str, str], tuple[str, Path]] = {}
    for label, path in runs.items():
        by_run[_run_identity(path)] = (label, path.resolve())
        data.add_inputs(path)
    policies = sorted({policy for policy, _ in by_run})
    _table1(report, data, stats, by_run, policies)
    _fig1(report, data, stats)
    _fig1_sizes(report, data)
    _fig2(report, data)
    _fig3(report, data, stats, by_run)
    _figs45(report, data)
    _table2(report, data)
    _step_tables(report, data)
    return data


def _ci_note(board: Any) -> str:
    ci = board.ci
    return (f"95% CI: {ci['method']} ({ci['bootstrap']} resamples, seed {ci['seed']}); "
            f"maj@N over {ci['draws']} draws per problem (seed {ci['seed']})")


def _table1(report: PaperReport, data: Collected, stats: dict[Path, PoolStats],
            by_run: dict[tuple[str, str], tuple[str, Path]], policies: list[str]) -> None:
    n = report.n
    row_names: list[tuple[str, str, str | None]] = [
        ("no selection (N = 1)", "pass@1", None), (f"majority vote @{n}", f"maj@{n}", None)]
    row_names += [(f"{prm} @{n}", f"prm@{n}", prm) for prm in report.prms]
    header = ["policy", "selection", *report.columns]
    rows: list[list[str]] = []
    pools: dict[str, str] = {}
    notes: set[str] = set()
    for policy in policies:
        for row_label, metric, prm in row_names:
            cells = [policy, row_label]
            for heading, task in report.columns.items():
                where = f"Table 1, {policy}, {heading}, {row_label}"
                found = by_run.get((policy, task))
                if found is None:
                    cells.append(data.miss(where, f"no stored run of {policy} on {task}"))
                    data.row("table1", policy, row_label, heading,
                             missing_reason=f"no stored run of {policy} on {task}")
                    continue
                run_label, path = found
                st = stats.get(path)
                if st is None:
                    reason = f"run {run_label} is not a pinned pool of any board in options.boards"
                    cells.append(data.miss(where, reason))
                    data.row("table1", policy, row_label, heading, missing_reason=reason)
                    continue
                if n not in st.board.ns:
                    reason = f"board {st.board.name} has no N = {n} (ns {st.board.ns})"
                    cells.append(data.miss(where, reason))
                    data.row("table1", policy, row_label, heading, missing_reason=reason)
                    continue
                if prm is None:
                    est = st.reference[metric]
                else:
                    got = st.prms[prm]
                    if isinstance(got, str):
                        cells.append(data.miss(where, got))
                        data.row("table1", policy, row_label, heading, missing_reason=got)
                        continue
                    est = got[1][metric]
                    notes.add(f"{prm} selects with `{got[0]}` on {st.board.name}")
                pools[run_label] = st.pool.pool_sha256
                notes.add(_ci_note(st.board))
                base = st.reference["pass@1"]
                text = (f"{_pct(est.value)} [{_pct(est.ci[0])}, {_pct(est.ci[1])}] "
                        f"({_count(est.per_problem)})")
                delta: dict[str, str] = {}
                if metric != "pass@1":
                    ci = st.board.ci
                    d = m.paired_difference(est.per_problem, base.per_problem,
                                            n_boot=ci["bootstrap"], seed=ci["seed"],
                                            level=ci["level"])
                    mark = "*" if d.ci[0] > 0 or d.ci[1] < 0 else ""
                    text += f"; Δ {100 * d.mean:+.1f}{mark}"
                    delta = {"delta": _r(d.mean), "delta_ci_low": _r(d.ci[0]),
                             "delta_ci_high": _r(d.ci[1]), "delta_p_value": _r(d.p_value)}
                cells.append(text)
                data.row("table1", policy, row_label, heading, value=_r(est.value),
                         ci_low=_r(est.ci[0]), ci_high=_r(est.ci[1]),
                         count_k=_r(float(np.sum(est.per_problem))),
                         count_n=str(len(est.per_problem)),
                         pool_sha256=st.pool.pool_sha256, **delta)
            rows.append(cells)
    caption = (f"Accuracy in % at N = {n} samples per problem (N = 1: the expected accuracy "
               f"of one sample, pass@1), [95% CI], (k/n: summed per-problem value over "
               f"problems); Δ: against N = 1 in points, * where the 95% paired bootstrap CI "
               f"of the difference excludes 0. " + "; ".join(sorted(notes)) + ". Pools: "
               + ", ".join(f"{k} {v[:12]}" for k, v in sorted(pools.items())) + ".")
    data.tables["table1"] = {"title": "Table 1: cross-domain best-of-N", "header": header,
                             "rows": rows, "caption": caption}


def _trained_prm(folder: Path) -> dict[str, Any] | None:
    path = folder / "trained_prm.json"
    if not path.is_file():
        return None
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def _fig1(report: PaperReport, data: Collected, stats: dict[Path, PoolStats]) -> None:
    """prm@N against the PRM's backbone parameters, one panel per math pool."""
    n = report.n
    panels: list[dict[str, Any]] = []
    sizes: dict[str, int] = {}
    for prm, folder in report.prms.items():
        doc = _trained_prm(folder)
        if doc is None:
            data.miss(f"Fig. 1, {prm}", f"no trained_prm.json in {folder.name}")
            continue
        data.add_inputs(folder / "trained_prm.json")
        sizes[prm] = int(doc["backbone"]["zoo"]["params"])
    for st in sorted(stats.values(), key=lambda s: (s.board.name, s.task)):
        if not any(t in st.task for t in report.math_tasks) or n not in st.board.ns:
            continue
        points = []
        for prm, size in sizes.items():
            got = st.prms.get(prm)
            if not isinstance(got, tuple):
                data.miss(f"Fig. 1, {st.task}, {prm}", str(got))
                continue
            est = got[1][f"prm@{n}"]
            points.append({"series": prm, "x": size, "value": est.value, "ci": est.ci})
            data.row("fig1", st.task, prm, size, value=_r(est.value), ci_low=_r(est.ci[0]),
                     ci_high=_r(est.ci[1]), count_k=_r(float(np.sum(est.per_problem))),
                     count_n=str(len(est.per_problem)), pool_sha256=st.pool.pool_sha256)
        panels.append({"title": st.task, "points": points,
                       "pool": st.pool.pool_sha256, "board": st.board})
    caption = (f"prm@{n} accuracy (%) against the PRM's backbone parameters (the zoo "
               f"model's count; the trained PRMs use its first layers only) on each math "
               f"pool (points of equal size are drawn side by side). "
               + ("All PRMs here share one backbone size, so the figure shows no size "
                  "trend. " if len(set(sizes.values())) == 1 else "")
               + (_ci_note(panels[0]["board"]) if panels else "") + ". Pools: "
               + ", ".join(f"{p['title']} {p['pool'][:12]}" for p in panels) + ".")
    data.figures["fig1_prm_size"] = {"title": "Fig. 1: accuracy against PRM size",
                                     "kind": "points", "panels": panels, "caption": caption,
                                     "xlabel": "PRM backbone parameters",
                                     "ylabel": f"prm@{n} accuracy (%)", "xlog": True}


def _fig1_sizes(report: PaperReport, data: Collected) -> None:
    """Fig. 1's size series: one recipe cut to several sizes, each PRM's stored ``ci``
    report on a board with a real pool (its metric and the paired Δ against an entry)
    against the PRM's own parameter count (``train.json``)."""
    if not report.size_prms:
        return
    points, baseline = [], None
    for label, folder in report.size_prms.items():
        path = folder / f"ci_{report.size_board}_vs_{report.size_against}.json"
        record = folder / "train.json"
        if not path.is_file() or not record.is_file():
            data.miss(f"Fig. 1 (sizes), {label}", f"no {path.name} or train.json in "
                                                 f"trained/{folder.name}")
            continue
        data.add_inputs(path, record)
        params = int(json.loads(record.read_text(encoding="utf-8"))["params"])
        rep = json.loads(path.read_text(encoding="utf-8"))
        for task, t in sorted(rep["tasks"].items()):
            points.append({"params": params, "label": label, "task": task,
                           "candidate": t["candidate"], "baseline": t["baseline"],
                           "delta": t["delta"], "ci": t["ci"], "metric": rep["metric"],
                           "n_problems": t["n_problems"]})
            data.row("fig1_sizes", task, f"{label} {rep['metric']}", params,
                     value=_r(t["candidate"]), count_n=str(t["n_problems"]),
                     delta=_r(t["delta"]), delta_ci_low=_r(t["ci"][0]),
                     delta_ci_high=_r(t["ci"][1]), delta_p_value=_r(t["p_value"]))
        baseline = (Path(rep["baseline"]).name, rep["bootstrap"], rep["seed"], rep["board"])
    if not points or baseline is None:
        return
    points.sort(key=lambda p: p["params"])
    caption = (f"{points[0]['metric']} on board {baseline[3]} ({points[0]['n_problems']} "
               f"problems, a real Qwen2.5-Math pool) of one PRM recipe at several sizes "
               f"(SmolLM2-135M cut to its first layers: "
               + ", ".join(f"{p['label']} {p['params'] / 1e6:.1f}M" for p in points)
               + f"), and each one's difference from the {baseline[0]} entry with the 95% "
               f"paired bootstrap CI ({baseline[1]} resamples, seed {baseline[2]}), from "
               f"the stored `prm-harness ci` reports (recomputed by the tests from their "
               f"stored candidate scores).")
    data.figures["fig1b_prm_size_board"] = {
        "title": "Fig. 1b: accuracy against PRM size (math-qwen100)", "kind": "steps",
        "points": points, "caption": caption, "prm": "PRM-Math", "baseline": baseline[0],
        "x_key": "params", "xlabel": "PRM parameters", "xlog": True}


_STEP_FILE = re.compile(r"ci_(?P<board>.+)_step(?P<step>\d+)_vs_(?P<against>.+)\.json$")


def _fig2(report: PaperReport, data: Collected) -> None:
    """The ``ci`` reports of one PRM's checkpoints: candidate metric and Δ vs step."""
    folder = report.prms.get(report.steps_prm)
    if folder is None or not (folder / "steps").is_dir():
        data.miss("Fig. 2", f"no steps/ folder for {report.steps_prm}")
        return
    found: list[tuple[int, Path]] = []
    against_names = set()
    for path in sorted((folder / "steps").glob("ci_*_step*_vs_*.json")):
        match = _STEP_FILE.search(path.name)
        if match:
            found.append((int(match["step"]), path))
            against_names.add((match["board"], match["against"]))
    doc = _trained_prm(folder)
    for board, against in sorted(against_names):
        final = folder / f"ci_{board}_vs_{against}.json"
        if doc is not None and final.is_file():
            found.append((int(doc["step"]), final))
            data.add_inputs(folder / "trained_prm.json")
    points = []
    baseline = None
    for step, path in sorted(found):
        data.add_inputs(path)
        rep = json.loads(path.read_text(encoding="utf-8"))
        for task, t in sorted(rep["tasks"].items()):
            points.append({"step": step, "task": task, "candidate": t["candidate"],
                           "baseline": t["baseline"], "delta": t["delta"], "ci": t["ci"],
                           "metric": rep["metric"], "n_problems": t["n_problems"]})
            baseline = (Path(rep["baseline"]).name, rep["bootstrap"], rep["seed"],
                        rep["board"])
            data.row("fig2", task, f"{report.steps_prm} {rep['metric']}", step,
                     value=_r(t["candidate"]), count_n=str(t["n_problems"]),
                     delta=_r(t["delta"]), delta_ci_low=_r(t["ci"][0]),
                     delta_ci_high=_r(t["ci"][1]), delta_p_value=_r(t["p_value"]))
    if not points or baseline is None:
        data.miss("Fig. 2", f"no ci reports in {folder.name}/steps")
        return
    caption = (f"{report.steps_prm}'s {points[0]['metric']} on board {baseline[3]} "
               f"({points[0]['n_problems']} problems) at each exported training step, and "
               f"its difference from the {baseline[0]} entry with the 95% paired bootstrap "
               f"CI ({baseline[1]} resamples, seed {baseline[2]}), as the stored `prm-harness "
               f"ci` reports give them (values rounded there to 2 decimals). Each report "
               f"is recomputed from its stored candidate scores, the board's pool rebuilt "
               f"from the data mirror to its pins and the baseline entry "
               f"(tests/test_trained_results.py).")
    data.figures["fig2_training_steps"] = {
        "title": "Fig. 2: accuracy against PRM training steps", "kind": "steps",
        "points": points, "caption": caption, "prm": report.steps_prm,
        "baseline": baseline[0]}


def _fig3(report: PaperReport, data: Collected, stats: dict[Path, PoolStats],
          by_run: dict[tuple[str, str], tuple[str, Path]]) -> None:
    """Best-of-N against N: one panel per pool, a line per PRM (training set), maj@N and
    pass@N (the oracle ceiling)."""
    labels = {path: label for label, path in by_run.values()}
    panels = []
    for st in sorted(stats.values(), key=lambda s: (s.board.name, s.task)):
        run = labels.get(st.board.task_dir(st.task).resolve(), st.task)
        series = []
        for name, kind, prm, est_map in (
                [("pass@N (oracle)", "pass", None, st.reference),
                 ("majority vote @N", "maj", None, st.reference)]
                + [(f"{prm} prm@N", "prm", prm, got[1]) for prm, got in st.prms.items()
                   if isinstance(got, tuple)]):
            ests = [est_map[f"{kind}@{k}"] for k in st.board.ns]
            series.append({"label": name, "kind": kind, "prm": prm, "ks": list(st.board.ns),
                           "values": [e.value for e in ests],
                           "low": [e.ci[0] for e in ests], "high": [e.ci[1] for e in ests]})
            for k, e in zip(st.board.ns, ests, strict=True):
                data.row("fig3", run, name, k, value=_r(e.value), ci_low=_r(e.ci[0]),
                         ci_high=_r(e.ci[1]), count_k=_r(float(np.sum(e.per_problem))),
                         count_n=str(len(e.per_problem)), pool_sha256=st.pool.pool_sha256)
        for prm, got in st.prms.items():
            if isinstance(got, str):
                data.miss(f"Fig. 3, {run}, {prm}", got)
        panels.append({"title": run, "series": series, "pool": st.pool.pool_sha256,
                       "board": st.board})
    caption = (("PRM-Math is trained on ProcessBench first-error labels, PRM-Code on graded "
                "MBPP+ programs (trained/README.md). " if panels else "")
               + "Best-of-N accuracy (%) against N per pool. "
               + (_ci_note(panels[0]["board"]) if panels else "") + ". Pools: "
               + ", ".join(f"{p['title']} {p['pool'][:12]}" for p in panels) + ".")
    data.figures["fig3_best_of_n"] = {"title": "Fig. 3: best-of-N accuracy against N per "
                                      "PRM training set", "kind": "curves", "panels": panels,
                                      "caption": caption}


def _figs45(report: PaperReport, data: Collected) -> None:
    """The ``compute`` kind's points over the stored search runs."""
    from harness.reports.compute import compute_points
    from harness.store.search_dir import SearchDir

    if report.search is None or not report.search.is_dir():
        data.miss("Figs. 4-5", "no search runs folder (options.search)")
        return
    runs: dict[str, Path] = {}
    for path in sorted(report.search.iterdir()):
        try:
            SearchDir.find(path)
        except HarnessError:
            continue
        runs[path.name] = path
        data.add_inputs(path)
    if not runs:
        data.miss("Figs. 4-5", f"no search runs in {report.search.name}")
        return
    points = compute_points(runs)
    for p in points:
        for item, column in (("fig4", "policy_tokens_per_problem"),
                             ("fig5", "wall_s_per_problem")):
            data.row(item, p["strategy"], p["prm"], _r(p[column]), value=_r(p["accuracy"]),
                     ci_low=_r(p["ci_low"]), ci_high=_r(p["ci_high"]),
                     count_k=_r(p["accuracy"] * p["n_problems"]),
                     count_n=str(p["n_problems"]))
    seeds = sorted({str(SearchDir.find(path).settings()["seed"]) for path in runs.values()})
    caption = (f"{len(points)} stored search runs ({report.search.name}/), "
               f"{'/'.join(str(s) for s in sorted({p['n_problems'] for p in points}))} "
               f"problems each; one panel per strategy, a colour per PRM; accuracy (%) with "
               f"its 95% bootstrap CI over problems (each run's seed: {', '.join(seeds)}); "
               f"the line joins each (strategy, PRM)'s Pareto front, hollow markers are "
               f"dominated runs.")
    for key, column, title in (
            ("fig4_compute_tokens", "policy_tokens_per_problem",
             "Fig. 4: accuracy against generation budget"),
            ("fig5_compute_wall", "wall_s_per_problem",
             "Fig. 5: accuracy against measured wall time")):
        data.figures[key] = {"title": title, "kind": "compute", "points": points,
                             "column": column, "caption": caption}


def _table2(report: PaperReport, data: Collected) -> None:
    """S for pairs of response sets (scripts/similarity_table2.py writes the file)."""
    header = ["pair", "S [95% CI]", "n_a", "n_b"]
    caption = "Gradient pattern similarity S (harness/diagnostics/similarity.py)."
    if report.similarity is None or not report.similarity.is_file():
        reason = ("no stored similarity results: scripts/similarity_table2.py has not "
                  "been run and stored (docs/similarity.md)")
        rows = [["all", data.miss("Table 2", reason), "", ""]]
        data.row("table2", "", "", "", missing_reason=reason)
    else:
        data.add_inputs(report.similarity)
        doc = json.loads(report.similarity.read_text(encoding="utf-8"))
        rows = []
        for pair, p in doc["pairs"].items():
            lo, hi = p["ci"]
            rows.append([pair, f"{p['S']:.2f} [{lo:.2f}, {hi:.2f}]", str(p["n_a"]),
                         str(p["n_b"])])
            data.row("table2", "", pair, "", value=_r(p["S"]), ci_low=_r(lo), ci_high=_r(hi),
                     count_k=str(p["n_a"]), count_n=str(p["n_b"]))
        model = doc["model"]
        name = Path(str(model.get("path", "?"))).name
        digest = (model.get("resolved_revision") or {}).get("folder_sha256") \
            or model.get("config_sha256", "")
        sets = "; ".join(f"{k}: n = {v['n']} from {', '.join(v['source'])}"
                         for k, v in doc["sets"].items())
        caption = (f"Gradient pattern similarity S (×100, all pairs; "
                   f"harness/diagnostics/similarity.py) under the reference model {name} "
                   f"({model.get('architecture')}, {model.get('dtype')}, "
                   f"sha256 {str(digest)[:12]}); F = {doc['f']}, layers "
                   f"{doc['layers'][0]}..{doc['layers'][-1]}, at most K = {doc['k']} "
                   f"responses per set, seeded uniform subsample (seed {doc['seed']}). "
                   f"X_PRM: the response the PRM selects per problem (top-1 of N), X: the "
                   f"others. Sets: {sets}. 95% CI: percentile bootstrap over the samples "
                   f"of each set (from sketches, shifted to S).")
    data.tables["table2"] = {"title": "Table 2: pattern similarity", "header": header,
                             "rows": rows, "caption": caption}


def _step_tables(report: PaperReport, data: Collected) -> None:
    """ProcessBench F1 (both definitions, τ chosen on gsm8k) and PRM800K AUROC."""
    header = ["PRM", "split", "F1 (harmonic mean of the two accuracies)",
              "F1 (precision/recall)", "τ", "in sample"]
    rows: list[list[str]] = []
    sources: list[str] = []
    for prm, folder in report.prms.items():
        evals = sorted(folder.glob("processbench_eval_*.json"))
        if not evals:
            reason = f"no processbench_eval_*.json in trained/{folder.name}"
            rows.append([prm, "", data.miss(f"ProcessBench, {prm}", reason), "", "", ""])
            data.row("processbench", prm, "", "", missing_reason=reason)
            continue
        path = evals[0]  # the PRM's own numbers are the same in each (only `against` differs)
        data.add_inputs(path)
        doc = json.loads(path.read_text(encoding="utf-8"))
        boot = doc["bootstrap"]
        sources.append(f"{folder.name}/{path.name} ({boot['method']}, {boot['draws']} "
                       f"resamples, seed {boot['seed']}; τ {doc['tau_selection']})")
        for split, s in doc["splits"].items():
            ci = boot["splits"][split]
            rows.append([prm, f"{split} (n = {s['n']})",
                         f"{_pct(s['f1'])} [{_pct(ci['f1'][0])}, {_pct(ci['f1'][1])}]",
                         f"{_pct(s['f1_pr'])} [{_pct(ci['f1_pr'][0])}, "
                         f"{_pct(ci['f1_pr'][1])}]", f"{doc['tau']:.4f}",
                         "yes" if s["in_sample"] else "no"])
            for series, value, bounds in (("f1", s["f1"], ci["f1"]),
                                          ("f1_pr", s["f1_pr"], ci["f1_pr"])):
                data.row("processbench", prm, series, split, value=_r(value),
                         ci_low=_r(bounds[0]), ci_high=_r(bounds[1]), count_n=str(s["n"]))
    data.tables["processbench"] = {
        "title": "Table 3: ProcessBench F1", "header": header, "rows": rows,
        "caption": "F1 in %, [95% CI]; " + "; ".join(sources) + "."}
    _prm800k_table(report, data)


def _prm800k_table(report: PaperReport, data: Collected) -> None:
    """Table 4: each PRM's AUROC on PRM800K's rated steps with its CI over problems, and
    the paired difference against each stored baseline (``prm800k_eval_vs_*.json``)."""
    rows: list[list[str]] = []
    sources: list[str] = []
    excluded: list[str] = []
    for prm, folder in report.prms.items():
        evals = sorted(folder.glob("prm800k_eval_vs_*.json"))
        if not evals:
            reason = (f"no stored PRM800K step evaluation (prm800k_eval_vs_*.json) in "
                      f"trained/{folder.name}; `prm-harness prm800k-steps eval` was not "
                      f"run for it")
            rows.append([prm, data.miss(f"PRM800K AUROC, {prm}", reason), "", "", ""])
            data.row("prm800k", prm, "auroc", "", missing_reason=reason)
            continue
        data.add_inputs(*evals)
        docs = {path.stem.removeprefix("prm800k_eval_vs_"):
                json.loads(path.read_text(encoding="utf-8")) for path in evals}
        first = next(iter(docs.values()))  # the PRM's own figures are the same in each
        boot = first["bootstrap"]
        ci = boot["auroc"]
        sources.append(f"{folder.name} ({boot['method']}, {boot['draws']} resamples, seed "
                       f"{boot['seed']}, {boot['problems']} problems)")
        left_out = first.get("excluded")
        excluded.append(f"{prm}: {left_out['problems']} problems, {left_out['items']} rated "
                        f"steps" if left_out else f"{prm}: none")
        versus = []
        for baseline, doc in docs.items():
            diff, bounds = doc["against"]["diff_auroc"], doc["bootstrap"]["diff_auroc"]
            mark = "*" if bounds[0] > 0 or bounds[1] < 0 else ""
            versus.append(f"{baseline} {doc['against']['auroc']:.3f}: Δ {diff:+.3f} "
                          f"[{bounds[0]:+.3f}, {bounds[1]:+.3f}]{mark}")
            data.row("prm800k", prm, f"diff_vs_{baseline}", "", value=_r(diff),
                     ci_low=_r(bounds[0]), ci_high=_r(bounds[1]))
        rows.append([prm, f"{first['auroc']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]",
                     f"{first['accuracy']:.3f}", f"{first['n']} ({first['n_good']} good, "
                     f"{first['n_bad']} bad; {first['n_problems']} problems)",
                     "; ".join(versus)])
        data.row("prm800k", prm, "auroc", "", value=_r(first["auroc"]), ci_low=_r(ci[0]),
                 ci_high=_r(ci[1]), count_n=str(first["n"]))
    data.tables["prm800k"] = {
        "title": "Table 4: PRM800K step AUROC",
        "header": ["PRM", "AUROC [95% CI]", "accuracy (score ≥ 0.5)", "rated steps",
                   "baselines: AUROC, paired Δ [95% CI]"],
        "rows": rows,
        "caption": ("AUROC of good (+1) against bad (−1) human-rated steps of PRM800K "
                    "phase-1 test (the rated candidate step's score, given the earlier "
                    "steps); neutral steps left out. * marks a paired difference whose CI "
                    "excludes 0. PRM800K's problems are MATH test problems; those in a PRM's "
                    "training labels are left out (" + "; ".join(excluded) + "). CIs: "
                    + "; ".join(sources) + ".") if sources else
                   "AUROC of good (+1) against bad (−1) human-rated steps."}


# ---------------------------------------------------------------------------------------
# figures


def _plot(key: str, fig_doc: dict[str, Any]) -> Any:
    kind = fig_doc["kind"]
    if kind == "curves":
        return _plot_curves(fig_doc)
    if kind == "points":
        return _plot_points(fig_doc)
    if kind == "steps":
        return _plot_steps(fig_doc)
    from harness.reports.compute import plot_compute

    xlabel = dict((c, label) for c, _, label in _compute_axes())[fig_doc["column"]]
    return plot_compute(fig_doc["points"], fig_doc["column"], xlabel, fig_doc["title"])


def _compute_axes() -> Any:
    from harness.reports.compute import AXES

    return AXES


def _plot_curves(fig_doc: dict[str, Any]) -> Any:
    panels = fig_doc["panels"]
    fig, axes = style.subplots(max(1, len(panels)), columns=min(3, max(1, len(panels))))
    colors = style.prm_colors(s["prm"] for p in panels for s in p["series"])
    for ax, panel in zip(axes, panels, strict=False):
        for s in panel["series"]:
            color = style.metric_color(s["kind"], s["prm"], colors)
            line, marker = style.metric_style(s["kind"])
            ax.plot(s["ks"], [100 * v for v in s["values"]], linestyle=line, marker=marker,
                    color=color, label=s["label"], zorder=4 if s["kind"] == "pass" else 2)
            ax.fill_between(s["ks"], [100 * v for v in s["low"]],
                            [100 * v for v in s["high"]], color=color,
                            alpha=style.CI_ALPHA, linewidth=0)
        ks = panel["series"][0]["ks"] if panel["series"] else [1]
        ax.set_xscale("log", base=2)
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.set_title(panel["title"])
        ax.set_xlabel("N (samples per problem)")
        ax.set_ylabel("accuracy (%)")
    style.figure_legend(fig, axes, [style.ci_legend_handle()])
    return fig


def _plot_points(fig_doc: dict[str, Any]) -> Any:
    from matplotlib.ticker import NullFormatter

    panels = fig_doc["panels"]
    fig, axes = style.subplots(max(1, len(panels)), columns=min(3, max(1, len(panels))))
    colors = style.prm_colors(p["series"] for panel in panels for p in panel["points"])
    for ax, panel in zip(axes, panels, strict=False):
        for i, p in enumerate(panel["points"]):
            y = 100 * p["value"]
            offset = 1.0 + 0.25 * (i - (len(panel["points"]) - 1) / 2)  # side by side
            ax.errorbar([p["x"] * offset], [y], yerr=[[y - 100 * p["ci"][0]],
                                                      [100 * p["ci"][1] - y]],
                        marker="o", capsize=2, linestyle="none",
                        color=colors[p["series"]], label=p["series"])
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        xs = [p["x"] for p in panel["points"]]
        if xs:  # a decade either side, so side-by-side points read as one size
            ax.set_xlim(min(xs) / 10, max(xs) * 10)
        ax.set_title(panel["title"])
        ax.set_xlabel(fig_doc["xlabel"])
        ax.set_ylabel(fig_doc["ylabel"])
    from matplotlib.lines import Line2D

    bar = Line2D([], [], color="0.4", marker="|", linestyle="none", markersize=8,
                 label=f"error bar: {style.CI_LABEL}")
    style.figure_legend(fig, axes, [bar])
    return fig


def _plot_steps(fig_doc: dict[str, Any]) -> Any:
    points = fig_doc["points"]
    fig, axes = style.subplots(2, columns=2, sharey=False)
    colors = style.prm_colors([fig_doc["prm"], fig_doc["baseline"]])
    color = colors[fig_doc["prm"]]
    steps = [p[fig_doc.get("x_key", "step")] for p in points]
    axes[0].plot(steps, [100 * p["candidate"] for p in points], "-o", color=color,
                 label=f"{fig_doc['prm']} {points[0]['metric']}")
    axes[0].plot(steps, [100 * p["baseline"] for p in points], "--",
                 color=colors[fig_doc["baseline"]],
                 label=f"{fig_doc['baseline']} {points[0]['metric']}")
    axes[0].set_ylabel(f"{points[0]['metric']} accuracy (%)")
    ys = [100 * p["delta"] for p in points]
    axes[1].errorbar(steps, ys, yerr=[[y - 100 * p["ci"][0] for y, p in zip(ys, points,
                                                                             strict=True)],
                                      [100 * p["ci"][1] - y for y, p in zip(ys, points,
                                                                             strict=True)]],
                     marker="o", color=color, capsize=2,
                     label=f"Δ vs {fig_doc['baseline']}, 95% paired bootstrap CI")
    axes[1].axhline(0, color="0.5", linewidth=0.8)
    axes[1].set_ylabel("Δ accuracy (points)")
    for ax, title in zip(axes, ("accuracy", f"difference from {fig_doc['baseline']}"),
                         strict=True):
        ax.set_xlabel(fig_doc.get("xlabel", "training step"))
        if fig_doc.get("xlog"):
            from matplotlib.ticker import NullFormatter

            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(sorted(set(steps)))
        ax.set_xticklabels([f"{x / 1e6:.1f}M" if fig_doc.get("xlog") else str(x)
                            for x in sorted(set(steps))])
        ax.set_title(title)
    style.figure_legend(fig, axes, ncol=2)
    return fig


# ---------------------------------------------------------------------------------------
# writing


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items() if k != "board"}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def provenance(data: Collected) -> dict[str, Any]:
    """Input files (relative to their common folder) with sha256, harness version and git
    revision: what the report was built from."""
    from harness.store.provenance import git_revision

    paths = sorted(data.inputs)
    root = Path(os.path.commonpath([str(p) for p in paths])) if paths else Path(".")
    if root.is_file():
        root = root.parent
    return {"harness_version": __version__, "git_revision": git_revision(),
            "inputs": {p.relative_to(root).as_posix(): sha256_file(p) for p in paths}}


def write_paper(data: Collected, out_dir: Path, title: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    csv_path = out_dir / "paper.csv"
    write_csv(csv_path, CSV_HEADER, data.csv_rows)
    written.append(csv_path)

    images: dict[str, bytes] = {}
    for key, fig_doc in data.figures.items():
        fig = _plot(key, fig_doc)
        paths = save_figure(fig, out_dir / key, FIGURE_FORMATS)
        plt.close(fig)
        images[key] = paths[0].read_bytes()
        written += paths

    footnotes = [f"[{i}] {reason}" for i, reason in enumerate(data.reasons, 1)]
    md = [f"# {title}\n"]
    page = [f"<h1>{html.escape(title)}</h1>"]
    order = [("table", "table1"), *[("figure", k) for k in data.figures],
             ("table", "table2"), ("table", "processbench"), ("table", "prm800k")]
    for what, key in order:
        if what == "table":
            t = data.tables[key]
            md.append(f"## {t['title']}\n\n{t['caption']}\n\n"
                      + markdown_table(t["header"], t["rows"]))
            page.append(f"<h2>{html.escape(t['title'])}</h2><p>{html.escape(t['caption'])}"
                        f"</p>{_html_table(t['header'], t['rows'])}")
        else:
            f = data.figures[key]
            md.append(f"## {f['title']}\n\n{f['caption']}\n\n![{f['title']}]({key}.svg) "
                      f"([PNG]({key}.png), [PDF]({key}.pdf))\n")
            encoded = base64.b64encode(images[key]).decode("ascii")
            page.append(f"<h2>{html.escape(f['title'])}</h2><p>{html.escape(f['caption'])}"
                        f"</p><img alt=\"{html.escape(f['title'])}\" "
                        f"src=\"data:image/png;base64,{encoded}\">")
    if footnotes:
        md.append("## Missing cells\n\n" + "\n".join(f"- {f}" for f in footnotes) + "\n")
        page.append("<h2>Missing cells</h2><ul>" + "".join(
            f"<li>{html.escape(f)}</li>" for f in footnotes) + "</ul>")
    md_path = out_dir / "paper.md"
    write_text(md_path, "\n".join(md))
    html_path = out_dir / "paper.html"
    write_text(html_path, (
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:70em}"
        "table{border-collapse:collapse;font-size:90%}th,td{border:1px solid #ccc;"
        "padding:3px 6px;text-align:right}th:first-child,td:first-child,td:nth-child(2)"
        "{text-align:left}th{background:#f3f3f3}img{max-width:100%}"
        "</style></head><body>" + "".join(page) + "</body></html>\n"))
    doc = {"title": title, "tables": data.tables, "figures": data.figures,
           "missing": data.missing, "footnotes": data.reasons}
    json_path = out_dir / "paper.json"
    write_text(json_path, json.dumps(_json_safe(doc), indent=1, sort_keys=True,
                                     ensure_ascii=False) + "\n")
    prov_path = out_dir / "provenance.json"
    write_text(prov_path, json.dumps(provenance(data), indent=1, sort_keys=True) + "\n")
    return [*written, md_path, html_path, json_path, prov_path]


def _html_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row)
                   + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
