"""Errors that carry where bad input came from, so the CLI can print one precise line."""

from __future__ import annotations

from pathlib import Path


class HarnessError(Exception):
    """Any failure the user can act on; the CLI prints it as one line and exits non-zero."""


class InputError(HarnessError):
    """Bad input data: names the file, the 1-based line and the field at fault."""

    def __init__(
        self,
        message: str,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        self.message = message
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = self.path or "<input>"
        if self.line is not None:
            where += f":{self.line}"
        if self.field is not None:
            return f"{where}: field '{self.field}': {self.message}"
        return f"{where}: {self.message}"


class ConfigError(HarnessError):
    """A run configuration or plug-in spec that cannot be used as written."""


class ScoreError(HarnessError):
    """A PRM failed to produce a usable score; never replaced by a default value."""


class ServerError(HarnessError):
    """A model server or engine failed, or answered with something unusable: the message
    names the request (method and URL) and what was wrong, never a silently empty result."""
