"""Strict JSON-lines reading and compact writing.

Reading rejects what the standard library lets through (NaN, Infinity, duplicate keys)
and reports the file and 1-based line of any malformed record.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from harness.errors import InputError


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed (JSON has no NaN or Infinity)")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, object_pairs_hook=_no_duplicate_keys)


def loads_strict(text: str) -> Any:
    """Parse one JSON document, refusing NaN/Infinity and duplicate keys."""
    value, end = _DECODER.raw_decode(text)
    if text[end:].strip():
        raise ValueError(f"extra data after the JSON value at column {end + 1}")
    return value


def open_text(path: str | Path) -> Any:
    """Open a text file, transparently gunzipping ``*.gz``."""
    p = Path(path)
    if p.suffix == ".gz":
        return gzip.open(p, "rt", encoding="utf-8")
    return open(p, encoding="utf-8")


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for every non-blank line; objects only."""
    p = Path(path)
    if not p.is_file():
        raise InputError("file not found", path=p)
    with open_text(p) as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                value = loads_strict(raw)
            except ValueError as exc:  # json.JSONDecodeError is a ValueError
                raise InputError(f"malformed JSON: {exc}", path=p, line=number) from None
            if not isinstance(value, dict):
                raise InputError(
                    f"expected a JSON object, got {type(value).__name__}", path=p, line=number
                )
            yield number, value


def read_json(path: str | Path) -> Any:
    p = Path(path)
    if not p.is_file():
        raise InputError("file not found", path=p)
    with open_text(p) as handle:
        text = handle.read()
    try:
        return loads_strict(text)
    except ValueError as exc:
        raise InputError(f"malformed JSON: {exc}", path=p) from None


def dumps_line(obj: Any) -> str:
    """One compact JSON line (no trailing newline); NaN is an error, never written."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def render_jsonl(rows: Iterable[Any]) -> bytes:
    return "".join(dumps_line(row) + "\n" for row in rows).encode("utf-8")


def check_fields(record: Mapping[str, Any], fields: Mapping[str, type | tuple[type, ...]],
                 path: str | Path, line: int | None) -> None:
    """Every field present with the right type (bool is not accepted as an int)."""
    for name, kind in fields.items():
        if name not in record:
            raise InputError("missing", path=path, line=line, field=name)
        value = record[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise InputError(f"expected {kinds[0].__name__}, got bool", path=path, line=line,
                             field=name)
        if not isinstance(value, kinds):
            raise InputError(f"expected {' or '.join(k.__name__ for k in kinds)}, got "
                             f"{type(value).__name__}", path=path, line=line, field=name)


def jsonl_records(path: Path, fields: Mapping[str, type | tuple[type, ...]]
                  ) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, record) for each line of a JSONL file, after ``check_fields``."""
    for line, record in read_jsonl(path):
        check_fields(record, fields, path, line)
        yield line, record
