"""Where task files come from: a local mirror folder or the Hugging Face hub (pinned).

The mirror folder has exactly the layout of the project's shared data folder
(``math500/test.jsonl``, ``humanevalplus/v0.1.10/HumanEvalPlus.jsonl.gz``, ...). It is
given by ``--data-dir`` or the environment variable ``PRM_HARNESS_DATA``; without one the
file is downloaded from the hub at a pinned revision.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import InputError
from harness.store.keys import file_sha256

DATA_ENV = "PRM_HARNESS_DATA"


def resolve_data_dir(explicit: str | Path | None = None) -> Path | None:
    """The mirror folder from the argument or ``PRM_HARNESS_DATA``; None means the hub."""
    chosen = explicit if explicit is not None else os.environ.get(DATA_ENV)
    if not chosen:
        return None
    path = Path(chosen).expanduser()
    if not path.is_dir():
        origin = "--data-dir" if explicit is not None else DATA_ENV
        raise InputError(f"data folder does not exist (from {origin})", path=path)
    return path


@dataclass(frozen=True)
class HubFile:
    """A file in a hub repository at a pinned revision."""

    repo_id: str
    filename: str
    revision: str
    repo_type: str = "dataset"


@dataclass(frozen=True)
class UrlFile:
    """A release file at a fixed URL, pinned by its sha256 (e.g. evalplus' GitHub releases,
    which are what evalplus itself downloads)."""

    url: str
    sha256: str


@dataclass(frozen=True)
class ResolvedFile:
    """A local path plus the provenance that goes into the run manifest."""

    path: Path
    provenance: dict[str, Any]


def _fetch_url(pinned: UrlFile) -> ResolvedFile:
    """Download ``pinned`` once into the cache folder; refuse bytes with another sha256."""
    import hashlib
    import urllib.request

    from harness.store.cache import cache_root

    name = pinned.url.rsplit("/", 1)[-1]
    path = cache_root() / "downloads" / pinned.sha256 / name
    if not path.is_file():
        try:
            with urllib.request.urlopen(pinned.url, timeout=60) as response:
                data = response.read()
        except Exception as exc:
            raise InputError(
                f"could not download {pinned.url} ({type(exc).__name__}: {exc}); pass "
                f"--data-dir or set {DATA_ENV} to use a local mirror") from None
        digest = hashlib.sha256(data).hexdigest()
        if digest != pinned.sha256:
            raise InputError(f"{pinned.url} has sha256 {digest}, expected {pinned.sha256}")
        from harness.store.atomic import write_bytes

        write_bytes(path, data)
    return ResolvedFile(path, {"source": "url", "url": pinned.url, "sha256": pinned.sha256})


@functools.cache
def hub_reachable(timeout_s: float = 3.0) -> bool:
    """False when HF_HUB_OFFLINE is set or the hub does not answer within ``timeout_s``.

    Checked once per process so that an offline machine reads the local hub cache at once
    (or fails in one line) instead of retrying every download for ~24 s.
    """
    import urllib.error
    import urllib.request

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    try:
        urllib.request.urlopen(urllib.request.Request(constants.ENDPOINT, method="HEAD"),
                               timeout=timeout_s).close()
    except urllib.error.HTTPError:
        return True  # it answered
    except (OSError, ValueError):
        return False
    return True


def fetch_file(mirror_relpath: str, hub: HubFile | UrlFile | None,
               data_dir: Path | None) -> ResolvedFile:
    """Find a task file in the mirror, or download it from the hub at its pinned revision."""
    if data_dir is not None:
        path = data_dir / mirror_relpath
        if not path.is_file():
            raise InputError(
                f"missing task file; the data folder must follow the mirror layout "
                f"(expected {mirror_relpath})",
                path=path,
            )
        return ResolvedFile(
            path, {"source": "mirror", "path": mirror_relpath, "sha256": file_sha256(path)}
        )
    if hub is None:
        raise InputError(
            f"{mirror_relpath} has no hub copy; pass --data-dir or set {DATA_ENV}"
        )
    if isinstance(hub, UrlFile):
        return _fetch_url(hub)
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:  # pragma: no cover - it is a core dependency
        raise InputError("huggingface_hub is not installed") from exc
    cache_only = not hub_reachable()
    try:
        local = hf_hub_download(
            repo_id=hub.repo_id,
            filename=hub.filename,
            revision=hub.revision,
            repo_type=hub.repo_type,
            local_files_only=cache_only,
        )
    except Exception as exc:
        if cache_only:
            raise InputError(
                f"no data folder is given and the hub is unreachable: "
                f"{hub.repo_id}/{hub.filename}@{hub.revision} is not in the local hub "
                f"cache; pass --data-dir or set {DATA_ENV} to a local mirror",
                path=mirror_relpath) from None
        raise InputError(
            f"could not download {hub.repo_id}/{hub.filename}@{hub.revision} from the hub "
            f"({type(exc).__name__}: {exc}); pass --data-dir or set {DATA_ENV} to use a "
            f"local mirror",
        ) from None
    path = Path(local)
    return ResolvedFile(
        path,
        {
            "source": "hub",
            "repo_id": hub.repo_id,
            "filename": hub.filename,
            "revision": hub.revision,
            "sha256": file_sha256(path),
        },
    )
