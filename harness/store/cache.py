"""A content-addressed on-disk cache for derived grading data (e.g. expected outputs).

Entries live under ``$PRM_HARNESS_CACHE`` (default ``~/.cache/prm-harness``) as
``<kind>/<key[:2]>/<key>.json``, where the key is the sha256 of everything the entry was
computed from; writes are atomic, so a killed run never leaves a half entry.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from harness.store.atomic import write_text
from harness.store.keys import key_of

CACHE_ENV = "PRM_HARNESS_CACHE"


def cache_root() -> Path:
    chosen = os.environ.get(CACHE_ENV)
    return Path(chosen).expanduser() if chosen else Path.home() / ".cache" / "prm-harness"


def _private_root() -> Path:
    """The cache root, created 0700 (it holds expected outputs: the answer key). The
    sandbox also hides it from programs, and as root runs them as other uids."""
    root = cache_root()
    if not root.is_dir():
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
    if root.stat().st_uid == os.getuid():
        root.chmod(0o700)
    return root


def _path(kind: str, key: str) -> Path:
    return cache_root() / kind / key[:2] / f"{key}.json"


def cache_key(inputs: Any) -> str:
    return key_of(inputs)


def load(kind: str, key: str) -> Any | None:
    path = _path(kind, key)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None  # a corrupt entry is recomputed and overwritten


def store(kind: str, key: str, value: Any) -> None:
    _private_root()
    write_text(_path(kind, key), json.dumps(value, separators=(",", ":"), allow_nan=False))
