"""``labels build``: every configured source's records, checked against the file contract,
sorted by id, written atomically beside ``<out>.provenance.json``.

Nothing is written until every source has been built and every record validated: the
labels file and its provenance go to temporary files that are then renamed into place.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

from harness import __version__
from harness.data import resolve_data_dir
from harness.errors import ConfigError
from harness.labels.common import label_counts
from harness.labels.config import (
    AslafSource,
    LabelsConfig,
    MonteCarloSource,
    OutcomeSource,
    Prm800kSource,
    ProcessBenchSource,
)
from harness.labels.overlap import Math500Index, math500_overlap
from harness.labels.read import record_from_json
from harness.store.jsonl import dumps_line
from harness.store.provenance import git_revision, now_utc, package_versions


def build_records(config: LabelsConfig) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """All records (sorted by id, validated) and the provenance document."""
    data_dir = resolve_data_dir(config.resolve(config.data_dir) if config.data_dir else None)
    math500 = Math500Index(data_dir)
    records: list[dict[str, Any]] = []
    sources: list[dict[str, Any]] = []
    origin: dict[str, int] = {}
    for n, src in enumerate(config.sources):
        where = f"sources.{n}"
        try:
            if isinstance(src, Prm800kSource):
                from harness.labels.sources_rated import prm800k_records

                got, info = prm800k_records(src, config.dev, data_dir, math500)
            elif isinstance(src, ProcessBenchSource):
                from harness.labels.sources_rated import processbench_records

                got, info = processbench_records(src, config.dev, data_dir, math500)
            elif isinstance(src, MonteCarloSource):
                from harness.labels.montecarlo import monte_carlo_records

                got, info = monte_carlo_records(src, config.dev, data_dir, config.resolve,
                                                where)
            elif isinstance(src, OutcomeSource):
                from harness.labels.outcome import outcome_records

                got, info = outcome_records(src, config.dev, data_dir, config.resolve)
            else:
                assert isinstance(src, AslafSource)
                from harness.labels.aslaf import aslaf_records

                got, info = aslaf_records(src, config.resolve)
        except ConfigError as exc:
            if str(exc).startswith(str(config._path)):
                raise
            raise config.error(where, str(exc)) from None
        for rec in got:
            if rec["id"] in origin:
                raise config.error(where, f"record id {rec['id']!r} is also made by "
                                          f"sources.{origin[rec['id']]} (give the sources "
                                          f"distinct 'labeler' names)")
            origin[rec["id"]] = n
        records.extend(got)
        sources.append({"index": n, "kind": src.kind, "records": len(got), **info})
    records.sort(key=lambda r: r["id"])
    for line, rec in enumerate(records, start=1):
        record_from_json(rec, config.out, line)  # the contract, checked before writing
    provenance = {
        "kind": "prm-harness step labels", "format": "docs/labels.md",
        "harness_version": __version__, "git_revision": git_revision(),
        "created": now_utc(), "packages": package_versions(),
        "config": config.raw(),
        "config_file": str(config._path) if config._path else None,
        "data_dir": str(data_dir) if data_dir else None,
        "records": len(records), "counts": label_counts(records), "sources": sources,
        "math500_overlap": math500_overlap(records, math500),
    }
    return records, provenance


def _temp(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    return Path(name)


def write_labels(out: Path, records: list[dict[str, Any]], provenance: dict[str, Any]) -> None:
    """Both files through temporaries renamed into place (labels first, provenance last)."""
    import json

    labels_tmp, prov_tmp = _temp(out), _temp(Path(f"{out}.provenance.json"))
    try:
        with open(labels_tmp, "w", encoding="utf-8") as handle:
            for rec in records:
                handle.write(dumps_line(rec) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with open(prov_tmp, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(provenance, indent=1, ensure_ascii=False,
                                    allow_nan=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(labels_tmp, 0o644)
        os.chmod(prov_tmp, 0o644)
        os.replace(labels_tmp, out)
        os.replace(prov_tmp, f"{out}.provenance.json")
    finally:
        for tmp in (labels_tmp, prov_tmp):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def build(config: LabelsConfig) -> dict[str, Any]:
    """Build and write; returns a summary (out, records, counts, overlap size)."""
    out = config.resolve(config.out)
    records, provenance = build_records(config)
    write_labels(out, records, provenance)
    return {"out": str(out), "records": len(records), "counts": provenance["counts"],
            "math500_overlap": provenance["math500_overlap"]["n_problems"]}
