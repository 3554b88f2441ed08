"""What a model folder is, for the manifest: its files, hashes of the small ones, and the
parameter count read from the safetensors headers (no weights are loaded)."""

from __future__ import annotations

import json
import struct
from math import prod
from pathlib import Path
from typing import Any

from harness.store.keys import file_sha256

SMALL_FILE_BYTES = 8 << 20  # hash files up to this size (configs, tokenizers, templates)


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
                    params=safetensors_params(folder))
    return identity
