"""Reading benchmark files with field checks, so a malformed file fails naming the place."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from harness.errors import InputError
from harness.store.jsonl import read_json, read_jsonl


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


def json_array_records(path: Path, fields: Mapping[str, type | tuple[type, ...]]
                       ) -> list[dict[str, Any]]:
    """The objects of a file holding one JSON array; errors name the 1-based item."""
    data = read_json(path)
    if not isinstance(data, list):
        raise InputError(f"expected a JSON array, got {type(data).__name__}", path=path)
    for i, record in enumerate(data, start=1):
        if not isinstance(record, dict):
            raise InputError(f"item {i}: expected an object", path=path)
        try:
            check_fields(record, fields, path, None)
        except InputError as exc:
            raise InputError(f"item {i}: {exc.message}", path=path, field=exc.field) from None
    return data


def unique_id(seen: dict[str, int], value: str, path: Path, line: int, field: str) -> None:
    """Refuse a second record with the same id."""
    if value in seen:
        raise InputError(f"duplicate id {value!r} (first on line {seen[value]})", path=path,
                         line=line, field=field)
    seen[value] = line
