"""The typed reader of a run's ``metrics.json``: one place that knows its layout.

Reports, ``compare`` and the CLI read metrics through ``read_metrics`` instead of
building and splitting ``"prm|agg|kind@k"`` strings themselves. The reader checks
``schema_version`` (an unknown one is refused) and every field it hands out; an error
names the file and the field.

Layout (schema 1): ``selectors`` is a list of ``{prm, aggregation, metrics}`` with
``metrics`` mapping ``"<kind>@<k>"`` to ``{value, ci: [low, high]}`` (the first selector
has no PRM: pass and maj); ``per_problem.values`` maps ``"<kind>@<k>"`` (no PRM) or
``"<prm>|<aggregation>|<kind>@<k>"`` to one value per problem of
``per_problem.problem_ids``. ``metric_name`` and ``per_problem_key`` build those names.

A run's metrics.json is written with ``write_run_metrics``, which records in the manifest
the file's sha256 and the content hashes of the pool, grades and scores it was computed
from; ``read_run_metrics`` refuses a file whose inputs are no longer the run's (a regrade
or rescore started since, even an interrupted one) or that changed after it was written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, InputError
from harness.metrics import METRIC_KINDS
from harness.store.atomic import write_text
from harness.store.jsonl import loads_strict, read_json
from harness.store.keys import canonical_json
from harness.store.rundir import RunDir

METRICS_FILE = "metrics.json"
KNOWN_SCHEMAS = (1,)
_PRM_KINDS = ("prm", "wmaj")


def metric_name(kind: str, k: int) -> str:
    """``"prm@4"``: how metrics.json names one metric."""
    return f"{kind}@{k}"


def per_problem_key(prm: str | None, aggregation: str | None, kind: str, k: int) -> str:
    """The ``per_problem.values`` key of one (selector, metric)."""
    return named_per_problem_key(prm, aggregation, metric_name(kind, k))


def named_per_problem_key(prm: str | None, aggregation: str | None, name: str) -> str:
    """The same key from a metric's name as the estimators return it (``"prm@4"``)."""
    return name if prm is None else f"{prm}|{aggregation}|{name}"


@dataclass(frozen=True)
class MetricEntry:
    """One metric of one selector: its value and confidence interval."""

    prm: str | None
    aggregation: str | None
    kind: str
    k: int
    value: float
    ci: tuple[float, float]


@dataclass
class MetricsFile:
    """A parsed metrics.json; entries in file order (selector, then k, then kind)."""

    path: Path
    schema_version: int
    n_problems: int
    pool_sizes: list[int]
    ks: list[int]
    parameters: dict[str, Any]
    methods: dict[str, str]
    entries: list[MetricEntry]
    problem_ids: list[str]
    per_problem: dict[tuple[str | None, str | None, str, int], list[float]] = \
        field(default_factory=dict)

    def selectors(self) -> list[tuple[str | None, str | None]]:
        """(prm, aggregation) pairs in file order, the PRM-free one first."""
        return list(dict.fromkeys((e.prm, e.aggregation) for e in self.entries))

    def prms(self) -> list[str]:
        return list(dict.fromkeys(e.prm for e in self.entries if e.prm is not None))

    def entries_of(self, prm: str | None, aggregation: str | None) -> list[MetricEntry]:
        return [e for e in self.entries if (e.prm, e.aggregation) == (prm, aggregation)]

    def get(self, prm: str | None, aggregation: str | None, kind: str, k: int
            ) -> MetricEntry | None:
        for e in self.entries:
            if (e.prm, e.aggregation, e.kind, e.k) == (prm, aggregation, kind, k):
                return e
        return None

    def values(self, prm: str | None, aggregation: str | None, kind: str, k: int
               ) -> list[float]:
        """Per-problem values of one metric; a missing one is an error naming the PRMs."""
        key = (prm, aggregation, kind, k)
        if key not in self.per_problem:
            known = sorted({(p, a) for p, a, _, _ in self.per_problem if p is not None})
            raise HarnessError(f"{self.path}: no per-problem values for "
                               f"{per_problem_key(prm, aggregation, kind, k)!r}; "
                               f"(PRM, aggregation) pairs in this file: {known}")
        return self.per_problem[key]


def parse_metric_name(name: str, path: Path, where: str) -> tuple[str, int]:
    """``"wmaj@8"`` -> ("wmaj", 8); anything else is an InputError naming the field."""
    kind, sep, k_text = name.partition("@")
    if not sep or kind not in METRIC_KINDS or not k_text.isdigit() or int(k_text) < 1:
        raise InputError(f"{name!r} is not <kind>@<k> with kind in {list(METRIC_KINDS)}",
                         path=path, field=where)
    return kind, int(k_text)


def _number(value: Any, path: Path, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        raise InputError(f"expected a finite number, got {value!r}", path=path, field=where)
    return float(value)


def _field(doc: dict[str, Any], name: str, kind: type | tuple[type, ...], path: Path,
           where: str = "") -> Any:
    value = doc.get(name)
    if not isinstance(value, kind):
        raise InputError(f"expected {getattr(kind, '__name__', kind)}, got {value!r}",
                         path=path, field=f"{where}{name}")
    return value


def _entries(doc: dict[str, Any], path: Path) -> list[MetricEntry]:
    out = []
    for i, sel in enumerate(_field(doc, "selectors", list, path)):
        where = f"selectors[{i}]"
        if not isinstance(sel, dict):
            raise InputError("expected an object", path=path, field=where)
        prm, aggregation = sel.get("prm"), sel.get("aggregation")
        if (prm is None) != (aggregation is None) or not all(
                x is None or isinstance(x, str) for x in (prm, aggregation)):
            raise InputError("prm and aggregation must both be strings or both null",
                             path=path, field=where)
        for name, body in _field(sel, "metrics", dict, path, f"{where}.").items():
            at = f"{where}.metrics.{name}"
            kind, k = parse_metric_name(name, path, at)
            if (kind in _PRM_KINDS) != (prm is not None):
                raise InputError(f"{kind}@k under a selector {'with' if prm else 'without'} "
                                 f"a PRM", path=path, field=at)
            if not isinstance(body, dict):
                raise InputError("expected {value, ci}", path=path, field=at)
            ci = body.get("ci")
            if not isinstance(ci, list) or len(ci) != 2:
                raise InputError("expected [low, high]", path=path, field=f"{at}.ci")
            out.append(MetricEntry(prm, aggregation, kind, k,
                                   _number(body.get("value"), path, f"{at}.value"),
                                   (_number(ci[0], path, f"{at}.ci"),
                                    _number(ci[1], path, f"{at}.ci"))))
    return out


def _per_problem(doc: dict[str, Any], path: Path
                 ) -> tuple[list[str], dict[tuple[str | None, str | None, str, int], list[float]]]:
    block = _field(doc, "per_problem", dict, path)
    ids = _field(block, "problem_ids", list, path, "per_problem.")
    values: dict[tuple[str | None, str | None, str, int], list[float]] = {}
    for key, series in _field(block, "values", dict, path, "per_problem.").items():
        where = f"per_problem.values.{key}"
        parts = key.split("|")
        if len(parts) not in (1, 3):
            raise InputError("expected <kind>@<k> or <prm>|<aggregation>|<kind>@<k>",
                             path=path, field=where)
        kind, k = parse_metric_name(parts[-1], path, where)
        prm, aggregation = (parts[0], parts[1]) if len(parts) == 3 else (None, None)
        if not isinstance(series, list) or len(series) != len(ids):
            raise InputError(f"expected {len(ids)} values (one per problem)", path=path,
                             field=where)
        values[(prm, aggregation, kind, k)] = [_number(v, path, where) for v in series]
    return ids, values


def parse_metrics(doc: Any, path: str | Path) -> MetricsFile:
    """Validate a metrics.json document (already parsed) into a MetricsFile."""
    path = Path(path)
    if not isinstance(doc, dict):
        raise InputError("expected a JSON object", path=path)
    version = doc.get("schema_version")
    if version not in KNOWN_SCHEMAS:
        raise InputError(f"unknown schema_version {version!r} (this harness reads "
                         f"{list(KNOWN_SCHEMAS)})", path=path, field="schema_version")
    ks = _field(doc, "ks", list, path)
    if not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in ks):
        raise InputError("expected positive integers", path=path, field="ks")
    ids, per_problem = _per_problem(doc, path)
    return MetricsFile(path=path, schema_version=version,
                       n_problems=_field(doc, "n_problems", int, path),
                       pool_sizes=_field(doc, "pool_sizes", list, path), ks=ks,
                       parameters=_field(doc, "parameters", dict, path),
                       methods=_field(doc, "methods", dict, path),
                       entries=_entries(doc, path), problem_ids=ids, per_problem=per_problem)


def read_metrics(path: str | Path) -> MetricsFile:
    """Read and validate ``metrics.json`` (a file, or a run directory holding one)."""
    target = Path(path)
    if target.is_dir():
        target = target / METRICS_FILE
    if not target.is_file():
        raise HarnessError(f"{target.parent} has no {METRICS_FILE}; run `prm-harness "
                           f"metrics {target.parent} --save` first")
    return parse_metrics(read_json(target), target)


def write_run_metrics(run: RunDir, document: dict[str, Any]) -> Path:
    """Write ``run``'s metrics.json (byte-stable: canonical JSON) and record in the
    manifest its sha256 and the content hashes of the stages it was computed from."""
    import hashlib

    data = canonical_json(document) + "\n"
    path = run.path / METRICS_FILE
    write_text(path, data)
    run.update_manifest(metrics={
        "sha256": hashlib.sha256(data.encode("utf-8")).hexdigest(),
        "inputs": run.manifest().get("content", {})})
    return path


def _describe_change(run: RunDir, inputs: dict[str, Any], current: dict[str, Any]) -> str:
    stages = run.manifest().get("stages", {})
    for name in sorted(set(inputs) | set(current)):
        if inputs.get(name) == current.get(name):
            continue
        if name == "scores_sha256":
            old, new = inputs.get(name) or {}, current.get(name) or {}
            label = next(x for x in sorted(set(old) | set(new)) if old.get(x) != new.get(x))
            stage = next((s for s, i in stages.items() if i.get("prm") == label), label)
            was, now = old.get(label), new.get(label)
        else:
            stage, was, now = name.removesuffix("_sha256"), inputs.get(name), current.get(name)
        state = "has not finished since it was last started" if now is None \
            else f"now hashes to {now[:16]}"
        return (f"stage {stage!r} was {str(was)[:16]} when metrics.json was written and "
                f"{state}")
    return "its inputs changed"


def read_run_metrics(run: RunDir) -> MetricsFile:
    """The run's metrics.json, refused when stale or changed (see the module docstring)."""
    import hashlib

    path = run.path / METRICS_FILE
    if not path.is_file():
        raise HarnessError(f"{run.path} has no {METRICS_FILE}; run `prm-harness metrics "
                           f"{run.path} --save` first")
    recorded = run.manifest().get("metrics")
    if not isinstance(recorded, dict):
        raise HarnessError(f"{path}: the manifest records no metrics for it (written by "
                           f"something else); run `prm-harness metrics {run.path} --save`")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != recorded.get("sha256"):
        raise HarnessError(f"{path}: changed after it was written (its sha256 is not the "
                           f"manifest's); run `prm-harness metrics {run.path} --save`")
    current = run.manifest().get("content", {})
    if recorded.get("inputs") != current:
        raise HarnessError(f"{path} is stale: {_describe_change(run, recorded['inputs'], current)}"
                           f"; finish the run, then `prm-harness metrics {run.path} --save`")
    return parse_metrics(loads_strict(data.decode("utf-8")), path)
