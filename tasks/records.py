"""Reading benchmark files with field checks, so a malformed file fails naming the place.

A record's place is a line of a JSONL file or a row of a parquet table (hub copies are
often parquet where the mirror has JSONL); ``Place`` builds errors that name either.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import InputError
from harness.store.jsonl import check_fields, jsonl_records, read_json


@dataclass(frozen=True)
class Place:
    """Where a record sits: a 1-based line of a JSONL file, or a 1-based table row."""

    path: Path
    line: int | None = None
    row: int | None = None

    def __str__(self) -> str:
        return f"row {self.row}" if self.row is not None else f"line {self.line}"

    def error(self, message: str, field: str | None = None) -> InputError:
        prefix = f"row {self.row}: " if self.row is not None else ""
        return InputError(prefix + message, path=self.path, line=self.line, field=field)


def _checked_items(items: list[Any], fields: Mapping[str, type | tuple[type, ...]],
                   path: Path, noun: str) -> list[dict[str, Any]]:
    """``check_fields`` on each object of a list; errors name the 1-based ``noun``."""
    for i, record in enumerate(items, start=1):
        if not isinstance(record, dict):
            raise InputError(f"{noun} {i}: expected an object", path=path)
        try:
            check_fields(record, fields, path, None)
        except InputError as exc:
            raise InputError(f"{noun} {i}: {exc.message}", path=path, field=exc.field) from None
    return items


def json_array_records(path: Path, fields: Mapping[str, type | tuple[type, ...]]
                       ) -> list[dict[str, Any]]:
    """The objects of a file holding one JSON array; errors name the 1-based item."""
    data = read_json(path)
    if not isinstance(data, list):
        raise InputError(f"expected a JSON array, got {type(data).__name__}", path=path)
    return _checked_items(data, fields, path, "item")


def parquet_rows(path: Path) -> list[dict[str, Any]]:
    """Every row of a parquet file as a dict; an unreadable file is an error naming it."""
    try:
        import pyarrow.parquet as pq

        rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    except Exception as exc:
        raise InputError(f"not a readable parquet file ({type(exc).__name__}: {exc})",
                         path=path) from None
    return rows


def table_records(path: Path, fields: Mapping[str, type | tuple[type, ...]]
                  ) -> Iterator[tuple[Place, dict[str, Any]]]:
    """(place, record) for a JSONL file, or for a ``.parquet`` file (a hub copy), after
    ``check_fields``."""
    if path.suffix == ".parquet":
        rows = _checked_items(parquet_rows(path), fields, path, "row")
        for row, record in enumerate(rows, start=1):
            yield Place(path, row=row), record
        return
    for line, record in jsonl_records(path, fields):
        yield Place(path, line=line), record


def unique_id(seen: dict[str, Place], value: str, place: Place, field: str) -> None:
    """Refuse a second record with the same id."""
    if value in seen:
        raise place.error(f"duplicate id {value!r} (first on {seen[value]})", field=field)
    seen[value] = place
