"""``reports/*.yaml``: a report specification, loaded and checked before anything renders.

A spec names a registered report kind, the runs it reads and where it writes::

    kind: best-of-n                 # a registered report kind (prm-harness report --help)
    title: Best-of-N on the demo    # optional; the kind's own title otherwise
    runs:                           # label: run folder, relative to this file's folder
      demo: ../runs/demo            # (a list of folders is labelled by folder name)
    out: out/demo_best_of_n         # optional; default out/<spec file stem>, same base
    options: {}                     # the report kind's own options

Every error is one line naming the file, the line and the field: an unknown field, an
unknown kind, a run folder that is missing or is not a run, a number of runs the kind
cannot read, an option the kind does not take.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness import registry
from harness.errors import ConfigError, InputError
from harness.interfaces import Report
from harness.store.rundir import RunDir

FIELDS = ("kind", "title", "runs", "out", "options")
REQUIRED = ("kind", "runs")


@dataclass
class ReportSpec:
    """A validated spec: the report object, its runs by label, where it writes."""

    path: Path
    kind: str
    report: Report
    runs: dict[str, Path]
    out: Path
    title: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def render(self, out: Path | None = None) -> list[Path]:
        return self.report.render(self.runs, out or self.out, self.title)


def _key_lines(node: yaml.Node | None) -> dict[str, int]:
    """1-based line of each key of a mapping node."""
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(key.value): key.start_mark.line + 1 for key, _ in node.value}


def _child(node: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if k.value == key:
                return v
    return None


def load_report_spec(path: str | Path) -> ReportSpec:
    """Read and check one spec; an InputError (one line) names what is wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read report spec ({exc.strerror})", path=path) from None
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "malformed YAML"
        raise InputError(f"malformed YAML: {problem}", path=path,
                         line=mark.line + 1 if mark else None) from None
    if not isinstance(data, dict) or root is None:
        raise InputError("a report spec must be a YAML mapping", path=path)
    lines = _key_lines(root)

    def fail(name: str, message: str, line: int | None = None) -> InputError:
        return InputError(message, path=path, line=line or lines.get(name.split(".")[0]),
                          field=name)

    for key in data:
        if key not in FIELDS:
            raise fail(str(key), f"unknown field; a report spec has {', '.join(FIELDS)}")
    for key in REQUIRED:
        if data.get(key) is None:
            raise fail(key, "missing")
    kind = data["kind"]
    if not isinstance(kind, str) or kind not in registry.names("report"):
        raise fail("kind", f"unknown report kind {kind!r}; known: "
                           f"{', '.join(registry.names('report'))}")
    base = path.parent
    report_cls = registry.REPORTS.get(kind)
    runs = _runs(data["runs"], _child(root, "runs"), base, fail,
                 getattr(report_cls, "check_run", RunDir.open))
    least, most = report_cls.runs_allowed
    if len(runs) < least or (most is not None and len(runs) > most):
        wanted = (f"exactly {least}" if least == most else
                  f"at least {least}" if most is None else f"{least} to {most}")
        raise fail("runs", f"report {kind!r} reads {wanted} run{'s' * (wanted != 'exactly 1')}"
                           f", not {len(runs)}")
    title = data.get("title")
    if title is not None and not isinstance(title, str):
        raise fail("title", "must be a string")
    out = data.get("out", f"out/{path.stem}")
    if not isinstance(out, str):
        raise fail("out", "must be a folder path (a string)")
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise fail("options", "must be a mapping of the report kind's options")
    valid = _option_names(report_cls)
    for name in options:
        if valid is not None and name not in valid:
            raise fail(f"options.{name}", f"report {kind!r} takes no option {name!r}; "
                       f"valid options: {', '.join(sorted(valid)) or 'none'}",
                       _key_lines(_child(root, "options")).get(str(name)))
    options = _resolve_paths(options, getattr(report_cls, "path_options", ()), base)
    try:
        report = registry.REPORTS.build(kind, options)
    except ConfigError as exc:
        raise fail("options", str(exc)) from None
    return ReportSpec(path=path, kind=kind, report=report, runs=runs,
                      out=(base / out).expanduser(), title=title, options=dict(options))


def _resolve_paths(options: dict[str, Any], names: Sequence[str], base: Path
                   ) -> dict[str, Any]:
    """The options a kind names in ``path_options`` (a path, a list of paths or a mapping
    of label: path) made relative to the spec's folder, as ``runs`` are, so a kind that
    reads other inputs than runs (boards, trained PRMs) finds them from any directory."""
    def resolve(value: Any) -> Any:
        if isinstance(value, str):
            return str((base / value).expanduser())
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        return value

    return {k: resolve(v) if k in names else v for k, v in options.items()}


def _option_names(cls: type) -> set[str] | None:
    """The keyword options a report's constructor takes; None when it takes ``**options``."""
    params = inspect.signature(cls).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params if p.kind in (inspect.Parameter.KEYWORD_ONLY,
                                                 inspect.Parameter.POSITIONAL_OR_KEYWORD)}


def _runs(value: Any, node: yaml.Node | None, base: Path, fail: Any,
          check: Any = RunDir.open) -> dict[str, Path]:
    """Label -> run folder, each one checked to be a run by ``check`` (the report kind's
    ``check_run`` where it reads other folders than runs, as ``compute`` reads searches)."""
    if isinstance(value, list):
        items = [(Path(str(v)).name, v, n.start_mark.line + 1) for v, n in
                 zip(value, node.value if isinstance(node, yaml.SequenceNode) else [],
                     strict=False)]
        named = [(f"runs.{i}", label, v, line) for i, (label, v, line) in enumerate(items)]
    elif isinstance(value, dict):
        lines = _key_lines(node) if node is not None else {}
        named = [(f"runs.{label}", str(label), v, lines.get(str(label)))
                 for label, v in value.items()]
    else:
        raise fail("runs", "must be a mapping of label: run folder, or a list of folders")
    if not named:
        raise fail("runs", "names no run")
    runs: dict[str, Path] = {}
    for where, label, folder, line in named:
        if not isinstance(folder, str) or not folder:
            raise fail(where, "must be a run folder path (a string)", line)
        if label in runs:
            raise fail(where, f"run label {label!r} is given twice", line)
        run_path = (base / folder).expanduser()
        if not run_path.is_dir():
            raise fail(where, f"no run at {folder} ({run_path})", line)
        try:
            check(run_path)
        except InputError as exc:
            raise fail(where, f"{folder}: {exc.message}", line) from None
        runs[label] = run_path
    return runs
