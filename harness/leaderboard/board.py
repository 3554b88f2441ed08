"""A leaderboard definition (``leaderboards/<name>.yaml``), loaded and checked.

The definition pins, per task, the pool and grades by their content hashes (see
``harness.store.hashes``) and the grader's rules version; it names the N values, the
metrics an entry claims (``prm`` with the entry's aggregation, ``wmaj``), the reference
rows the board shows without any PRM (``maj``, ``pass``), the ranking metric and the CI
method with its seed. ``pools_dir`` (relative to the definition's folder) holds one run
directory per task with the pinned pool and its grades; ``build`` says how the pool is
regenerated (a simulated task and policy; the pipeline does it, never this package).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness import metrics as m
from harness.aggregate import check_aggregation
from harness.errors import ConfigError, HarnessError

BOARD_SCHEMA = 1
ENTRY_METRIC_KINDS = ("prm", "wmaj")
REFERENCE_METRIC_KINDS = ("maj", "pass")
_TOP_FIELDS = {"schema_version", "name", "title", "description", "pools_dir", "ns", "metrics",
               "reference_metrics", "aggregations", "ranking", "ci", "tasks", "entries"}
_TASK_FIELDS = {"pool_sha256", "grades_sha256", "grader_rules_version", "n_problems",
                "n_samples", "build"}
_CI_FIELDS = {"method", "level", "bootstrap", "draws", "seed"}
CI_METHOD = "percentile bootstrap over problems"


@dataclass
class BoardTask:
    name: str
    pool_sha256: str
    grades_sha256: str
    grader_rules_version: int | None
    n_problems: int
    n_samples: int
    build: dict[str, Any] = field(default_factory=dict)


@dataclass
class Board:
    name: str
    title: str
    description: str
    path: Path
    pools_dir: Path
    ns: list[int]
    metrics: list[str]  # kinds an entry claims, e.g. ["prm", "wmaj"]
    reference_metrics: list[str]
    aggregations: list[str]
    ranking: dict[str, Any]
    ci: dict[str, Any]
    tasks: dict[str, BoardTask]
    #: the shipped entries, made by ``leaderboard make-entries``: each a ``name``, an
    #: ``aggregation`` and either ``prm`` (a plug-in config scoring the stored pools) or
    #: ``pool_scores`` (the label of scores the imported pool carries) with ``prm_id``
    entries: list[dict[str, Any]] = field(default_factory=list)

    def claimed_names(self) -> list[str]:
        """The metric names every entry claims per task: ``prm@N``, ``wmaj@N`` ..."""
        return [f"{kind}@{n}" for n in self.ns for kind in self.metrics]

    def task_dir(self, task: str) -> Path:
        return self.pools_dir / task

    def with_pools_dir(self, pools_dir: Path) -> Board:
        copy = Board(**{**self.__dict__})
        copy.pools_dir = pools_dir
        return copy


def default_boards_dir() -> Path:
    """The repository's ``leaderboards/`` folder (next to the ``harness`` package)."""
    return Path(__file__).resolve().parent.parent.parent / "leaderboards"


def resolve_board(name_or_path: str | Path) -> Path:
    """A board's YAML: the path itself when it is a file, else ``<name>.yaml`` in
    ./leaderboards, then in the repository's leaderboards/."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    for folder in (Path.cwd() / "leaderboards", default_boards_dir()):
        candidate = folder / f"{name_or_path}.yaml"
        if candidate.is_file():
            return candidate
    raise HarnessError(f"unknown board {str(name_or_path)!r}: no such file and no "
                       f"leaderboards/{name_or_path}.yaml")


def _need(data: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in data:
        raise ConfigError(f"{where}: field '{key}' is missing")
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ConfigError(f"{where}: field '{key}' must be {getattr(kind, '__name__', kind)}, "
                          f"got {value!r}")
    return value


def load_board(name_or_path: str | Path) -> Board:
    path = resolve_board(name_or_path)
    where = str(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a board definition is a mapping")
    if data.get("schema_version") != BOARD_SCHEMA:
        raise ConfigError(f"{where}: field 'schema_version': unknown board schema "
                          f"{data.get('schema_version')!r} (this harness reads {BOARD_SCHEMA})")
    unknown = sorted(set(data) - _TOP_FIELDS)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {unknown}")
    ns = _need(data, "ns", list, where)
    if not ns or any(not isinstance(n, int) or isinstance(n, bool) or n < 1 for n in ns):
        raise ConfigError(f"{where}: field 'ns' must be a list of positive integers")
    kinds = _need(data, "metrics", list, where)
    if not kinds or any(k not in ENTRY_METRIC_KINDS for k in kinds):
        raise ConfigError(f"{where}: field 'metrics' must list some of {ENTRY_METRIC_KINDS}")
    reference = data.get("reference_metrics", list(REFERENCE_METRIC_KINDS))
    if any(k not in REFERENCE_METRIC_KINDS for k in reference):
        raise ConfigError(f"{where}: field 'reference_metrics' must list some of "
                          f"{REFERENCE_METRIC_KINDS}")
    aggregations = [check_aggregation(a) for a in _need(data, "aggregations", list, where)]
    ranking = _need(data, "ranking", dict, where)
    names = [f"{kind}@{n}" for n in ns for kind in kinds]
    if ranking.get("metric") not in names:
        raise ConfigError(f"{where}: field 'ranking.metric' must be one of {names}")
    ci = _need(data, "ci", dict, where)
    if set(ci) - _CI_FIELDS:
        raise ConfigError(f"{where}: unknown field(s) in 'ci': {sorted(set(ci) - _CI_FIELDS)}")
    if ci.get("method") != CI_METHOD:
        raise ConfigError(f"{where}: field 'ci.method' must be {CI_METHOD!r}")
    ci = {"method": CI_METHOD, "level": float(ci.get("level", m.CI_LEVEL)),
          "bootstrap": int(ci.get("bootstrap", m.DEFAULT_BOOTSTRAP)),
          "draws": int(ci.get("draws", m.DEFAULT_DRAWS)), "seed": int(ci.get("seed", 0))}
    tasks: dict[str, BoardTask] = {}
    for task, spec in _need(data, "tasks", dict, where).items():
        twhere = f"{where}: task {task!r}"
        if not isinstance(spec, dict):
            raise ConfigError(f"{twhere}: must be a mapping")
        extra = sorted(set(spec) - _TASK_FIELDS)
        if extra:
            raise ConfigError(f"{twhere}: unknown field(s) {extra}")
        tasks[str(task)] = BoardTask(
            name=str(task),
            pool_sha256=_need(spec, "pool_sha256", str, twhere),
            grades_sha256=_need(spec, "grades_sha256", str, twhere),
            grader_rules_version=spec.get("grader_rules_version"),
            n_problems=_need(spec, "n_problems", int, twhere),
            n_samples=_need(spec, "n_samples", int, twhere),
            build=dict(spec.get("build") or {}))
        if max(ns) > tasks[str(task)].n_samples:
            raise ConfigError(f"{twhere}: N={max(ns)} exceeds its {spec['n_samples']} samples")
    if not tasks:
        raise ConfigError(f"{where}: field 'tasks' is empty")
    return Board(name=_need(data, "name", str, where), title=str(data.get("title", "")),
                 description=str(data.get("description", "")), path=path,
                 pools_dir=(path.parent / _need(data, "pools_dir", str, where)).resolve(),
                 ns=sorted(set(ns)), metrics=list(kinds), reference_metrics=list(reference),
                 aggregations=aggregations, ranking=dict(ranking), ci=ci, tasks=tasks,
                 entries=_entries(data.get("entries") or [], aggregations, where))


def _entries(raw: Any, aggregations: list[str], where: str) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: field 'entries' must be a list")
    out, seen = [], set()
    for i, item in enumerate(raw):
        ewhere = f"{where}: entries[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{ewhere}: must be a mapping")
        extra = sorted(set(item) - {"name", "aggregation", "prm", "pool_scores", "prm_id",
                                    "submitter"})
        if extra:
            raise ConfigError(f"{ewhere}: unknown field(s) {extra}")
        name = _need(item, "name", str, ewhere)
        if name in seen:
            raise ConfigError(f"{ewhere}: field 'name': {name!r} twice")
        seen.add(name)
        if ("prm" in item) == ("pool_scores" in item):
            raise ConfigError(f"{ewhere}: needs exactly one of 'prm', 'pool_scores'")
        if item.get("aggregation", aggregations[0]) not in aggregations:
            raise ConfigError(f"{ewhere}: field 'aggregation' must be one of {aggregations}")
        out.append(dict(item))
    return out
