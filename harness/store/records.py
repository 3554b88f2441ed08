"""Versioned (de)serialisation of the core records to JSON objects.

Every stored line carries ``schema_version``; a reader refuses versions it does not know.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness.errors import InputError
from harness.types import Grade, Sample, StepScores

SCHEMA_VERSION = 1
KNOWN_SCHEMAS = {1}


def _check_version(row: dict[str, Any], path: str | Path | None, line: int | None) -> None:
    version = row.get("schema_version")
    if version not in KNOWN_SCHEMAS:
        raise InputError(
            f"unknown schema_version {version!r} (this harness reads {sorted(KNOWN_SCHEMAS)})",
            path=path,
            line=line,
            field="schema_version",
        )


def to_row(record: Sample | Grade | StepScores) -> dict[str, Any]:
    row = {"schema_version": SCHEMA_VERSION}
    row.update(asdict(record))
    return row


def sample_from_row(row: dict[str, Any], path: str | Path | None = None,
                    line: int | None = None) -> Sample:
    _check_version(row, path, line)
    fields = {k: v for k, v in row.items() if k != "schema_version"}
    return Sample(**fields)


def grade_from_row(row: dict[str, Any], path: str | Path | None = None,
                   line: int | None = None) -> Grade:
    _check_version(row, path, line)
    fields = {k: v for k, v in row.items() if k != "schema_version"}
    return Grade(**fields)


def step_scores_from_row(row: dict[str, Any], path: str | Path | None = None,
                         line: int | None = None) -> StepScores:
    _check_version(row, path, line)
    fields = {k: v for k, v in row.items() if k != "schema_version"}
    return StepScores(**fields)
