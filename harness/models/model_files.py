"""What a model folder is, for the manifest: its files, hashes of the small ones, the
parameter count read from the safetensors headers (no weights are loaded), and the
revision that was actually loaded.

A spec or option may leave the revision open (``None``: the hub's current one). What was
loaded is then pinned after the fact: the commit of the hub snapshot in the local cache,
or, for a local folder, a sha256 over every file in it (weights included: a fine-tune of
the same shape must not look like its base).
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from math import prod
from pathlib import Path
from typing import Any

from harness.store.keys import file_sha256

SMALL_FILE_BYTES = 8 << 20  # hash files up to this size (configs, tokenizers, templates)
_COMMIT = re.compile(r"[0-9a-f]{40}")
_FOLDER_HASHES: dict[tuple[str, tuple[tuple[str, int, int], ...]], str] = {}


def local_folder(source: str, revision: str | None = None) -> Path | None:
    """The folder holding ``source``: itself when local, else its hub cache snapshot."""
    path = Path(source)
    if path.is_dir():
        return path
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(source, revision=revision, local_files_only=True))
    except Exception:  # not cached (or not a hub id): the identity says so
        return None


def safetensors_params(folder: Path) -> int | None:
    """Number of parameters stored in the folder's ``*.safetensors`` files (None if none)."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    total = 0
    for file in files:
        with open(file, "rb") as handle:
            (header_len,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(header_len))
        total += sum(prod(entry["shape"]) for name, entry in header.items()
                     if name != "__metadata__")
    return total


def folder_identity(source: str, revision: str | None = None) -> dict[str, Any]:
    """Model id, revision, and per file its size (plus sha256 for the small files)."""
    folder = local_folder(source, revision)
    identity: dict[str, Any] = {"model": source, "revision": revision}
    if folder is None:
        identity["files"] = None
        return identity
    files = {}
    for file in sorted(p for p in folder.iterdir() if p.is_file()):
        size = file.stat().st_size
        entry: dict[str, Any] = {"bytes": size}
        if size <= SMALL_FILE_BYTES:
            entry["sha256"] = file_sha256(file)
        files[file.name] = entry
    identity.update(path=str(folder.resolve()), files=files,
                    params=safetensors_params(folder),
                    resolved_revision=resolved_revision(source, revision))
    return identity


def _files(folder: Path) -> list[Path]:
    """Every regular file below ``folder`` (links followed), hidden entries left out."""
    return sorted(p for p in folder.rglob("*") if p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def folder_sha256(folder: Path) -> str:
    """sha256 over the sorted (relative path, file sha256) pairs of every file; memoised
    per process while no file's size or mtime changes."""
    files = _files(folder)
    signature = tuple((p.relative_to(folder).as_posix(), p.stat().st_size,
                       p.stat().st_mtime_ns) for p in files)
    key = (str(folder.resolve()), signature)
    if key not in _FOLDER_HASHES:
        digest = hashlib.sha256()
        for path, (name, _, _) in zip(files, signature, strict=True):
            digest.update(f"{name}\0{file_sha256(path)}\n".encode())
        _FOLDER_HASHES[key] = digest.hexdigest()
    return _FOLDER_HASHES[key]


def resolved_revision(source: str, revision: str | None = None) -> dict[str, Any]:
    """The revision that ``source`` resolved to when it was loaded.

    A local folder: its content hash (plus the commit when the folder is a hub snapshot).
    A hub id: the commit of the cached snapshot that ``revision`` (None: the default
    branch) points to; ``commit`` is None, with the reason, when no snapshot is cached."""
    out: dict[str, Any] = {"source": source, "requested": revision}
    path = Path(source)
    if path.is_dir():
        real = path.resolve()
        commit = real.name if (_COMMIT.fullmatch(real.name)
                               and real.parent.name == "snapshots") else None
        out.update(kind="local-folder", commit=commit, folder_sha256=folder_sha256(path))
        return out
    folder = local_folder(source, revision)
    if folder is not None and _COMMIT.fullmatch(folder.name):
        out.update(kind="hub", commit=folder.name)
    else:
        out.update(kind="hub", commit=None,
                   unresolved="no snapshot of this revision in the local hub cache")
    return out
