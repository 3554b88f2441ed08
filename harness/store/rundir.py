"""A run directory: the pool, grades, step scores, metrics, report and manifest of one run.

Layout::

    <runs>/<name>/manifest.json         provenance, config, stage log, compute ledger
    <runs>/<name>/pool/00003-<key>.jsonl         one shard of samples (problems 3*S..)
    <runs>/<name>/grades/00003-<key>.jsonl
    <runs>/<name>/scores/<prm>/00003-<key>.jsonl
    <runs>/<name>/<stage>/.../*.meta.json        per-shard compute and timing
    <runs>/<name>/compute_ledger.jsonl  one record per model call, from the shards' metas
    <runs>/<name>/metrics.json          pure function of the shards
    <runs>/<name>/report/
    <runs>/.cache/<key>.jsonl           content-addressed shard cache shared by runs

A shard is finished exactly when its ``.jsonl`` file exists: it is written atomically
after its ``.meta.json``. Its name carries the cache key of everything it was computed
from, so a re-run skips it, and any other run needing the same key links it from the cache.

The manifest's ``plan`` holds, per stage, the shard keys the current configuration needs;
a stage's entry is reset when it starts (``start_stage``) and gets its shard list and
content hash only when it finishes (``finish_stage``). Readers refuse a stage without a
shard list (interrupted) or whose list differs from the plan (stale).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, InputError
from harness.store.atomic import clean_temporaries, write_bytes, write_text
from harness.store.hashes import stage_sha256
from harness.store.jsonl import read_json, read_jsonl, render_jsonl
from harness.store.keys import canonical_json

MANIFEST = "manifest.json"
MANIFEST_SCHEMA = 2  # 2: stage plan, reset on start, content hashes
RUNS_ENV = "PRM_HARNESS_RUNS"


def default_runs_root() -> Path:
    return Path(os.environ.get(RUNS_ENV, "runs"))


class RunDir:
    """One run's directory; open it with ``RunDir.open`` or ``RunDir.create``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.cache = path.parent / ".cache"

    # -- life cycle -----------------------------------------------------------------------

    @classmethod
    def create(cls, root: Path, name: str, identity: dict[str, Any]) -> RunDir:
        """Open the run ``name`` for ``identity``, creating it if new.

        A directory holding a different identity is refused rather than mixed with.
        """
        run = cls(root / name)
        manifest_path = run.path / MANIFEST
        if manifest_path.exists():
            run._check_schema()
            stored = run.manifest().get("identity")
            if canonical_json(stored) != canonical_json(identity):
                raise ConfigError(
                    f"run directory {run.path} holds a run with a different configuration; "
                    f"pick another name or delete it"
                )
        else:
            run.path.mkdir(parents=True, exist_ok=True)
            run.write_manifest({"schema_version": MANIFEST_SCHEMA, "identity": identity,
                                "stages": {}, "plan": {}})
        return run

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        run = cls(Path(path))
        if not (run.path / MANIFEST).is_file():
            raise InputError("not a run directory (no manifest.json)", path=run.path)
        run._check_schema()
        return run

    def _check_schema(self) -> None:
        schema = self.manifest().get("schema_version")
        if schema != MANIFEST_SCHEMA:
            raise InputError(f"unknown manifest schema_version {schema!r} (this harness "
                             f"reads {MANIFEST_SCHEMA}; delete the run and run it again)",
                             path=self.path / MANIFEST, field="schema_version")

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive use of the run while a stage writes; released even on SIGKILL.

        Temporary files left by a killed writer are removed only once the lock is held:
        before it, they may be a live writer's files."""
        handle = open(self.path / ".lock", "w")  # noqa: SIM115 - held for the block
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ConfigError(f"run {self.path} is in use by another process") from None
            clean_temporaries(self.path)
            yield
        finally:
            handle.close()

    # -- manifest -------------------------------------------------------------------------

    def manifest(self) -> dict[str, Any]:
        manifest: dict[str, Any] = read_json(self.path / MANIFEST)
        return manifest

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_text(self.path / MANIFEST, _pretty(manifest))

    def update_manifest(self, **fields: Any) -> dict[str, Any]:
        manifest = self.manifest()
        manifest.update(fields)
        self.write_manifest(manifest)
        return manifest

    def update_stage(self, stage: str, **fields: Any) -> None:
        manifest = self.manifest()
        manifest.setdefault("stages", {}).setdefault(stage, {}).update(fields)
        self.write_manifest(manifest)

    def plan(self, stage_keys: dict[str, list[str]]) -> None:
        """Record the shard keys the current configuration needs, per stage; call it
        before any stage runs, so a reader refuses shards computed under another one."""
        manifest = self.manifest()
        manifest.setdefault("plan", {}).update({s: list(k) for s, k in stage_keys.items()})
        self.write_manifest(manifest)

    def start_stage(self, stage: str, keys: list[str], **fields: Any) -> None:
        """Reset the stage's entry (its old shard list goes) and plan its ``keys``."""
        manifest = self.manifest()
        manifest.setdefault("plan", {})[stage] = list(keys)
        manifest.setdefault("stages", {})[stage] = dict(fields)
        _drop_content(manifest, stage)
        self.write_manifest(manifest)

    def finish_stage(self, stage: str, keys: list[str], **fields: Any) -> None:
        """Publish the stage's shard list and its content hash (see store/hashes.py)."""
        digest = stage_sha256(stage, ((self.shard_path(stage, i, key), row)
                                      for i, key in enumerate(keys)
                                      for row in self.read_shard(stage, i, key)))
        manifest = self.manifest()
        entry = manifest.setdefault("stages", {}).setdefault(stage, {})
        entry.update(fields, shards=list(keys))
        if digest is not None:
            entry["content_sha256"] = digest
            content = manifest.setdefault("content", {})
            if stage.startswith("scores/"):
                content.setdefault("scores_sha256", {})[entry.get("prm", stage)] = digest
            else:
                content[f"{stage}_sha256"] = digest
        self.write_manifest(manifest)

    # -- shards ---------------------------------------------------------------------------

    def shard_path(self, stage: str, index: int, key: str) -> Path:
        return self.path / stage / f"{index:05d}-{key[:20]}.jsonl"

    def has_shard(self, stage: str, index: int, key: str) -> bool:
        """True when the shard is here, or could be linked in from the shared cache."""
        target = self.shard_path(stage, index, key)
        if target.exists():
            return True
        cached = self.cache / f"{key}.jsonl"
        if cached.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            meta = self.cache / f"{key}.meta.json"
            if meta.exists():
                _link_or_copy(meta, target.with_suffix(".meta.json"))
            _link_or_copy(cached, target)
            return True
        return False

    def write_shard(self, stage: str, index: int, key: str, rows: list[dict[str, Any]],
                    meta: dict[str, Any]) -> Path:
        """Write meta then rows, each atomically; then publish both to the cache."""
        target = self.shard_path(stage, index, key)
        meta_path = target.with_suffix(".meta.json")
        write_text(meta_path, _pretty(meta))
        write_bytes(target, render_jsonl(rows))
        self.cache.mkdir(parents=True, exist_ok=True)
        _link_or_copy(meta_path, self.cache / f"{key}.meta.json")
        _link_or_copy(target, self.cache / f"{key}.jsonl")
        return target

    def read_shard(self, stage: str, index: int, key: str) -> list[dict[str, Any]]:
        return [row for _, row in read_jsonl(self.shard_path(stage, index, key))]

    def read_meta(self, stage: str, index: int, key: str) -> dict[str, Any]:
        path = self.shard_path(stage, index, key).with_suffix(".meta.json")
        meta: dict[str, Any] = read_json(path) if path.exists() else {}
        return meta

    # -- other files ----------------------------------------------------------------------

    def write_json(self, relative: str, obj: Any) -> Path:
        target = self.path / relative
        write_text(target, _pretty(obj))
        return target

    def read_json(self, relative: str) -> Any:
        return read_json(self.path / relative)


def _drop_content(manifest: dict[str, Any], stage: str) -> None:
    content = manifest.get("content", {})
    if stage.startswith("scores/"):
        label = manifest["stages"][stage].get("prm", stage)
        content.get("scores_sha256", {}).pop(label, None)
    else:
        content.pop(f"{stage}_sha256", None)


def _pretty(obj: Any) -> str:
    import json

    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def _link_or_copy(source: Path, target: Path) -> None:
    """Hard-link ``source`` to ``target`` (copy across file systems); idempotent."""
    if target.exists():
        return
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def list_runs(root: Path) -> list[RunDir]:
    if not root.is_dir():
        return []
    return [RunDir(p) for p in sorted(root.iterdir())
            if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).is_file()]
