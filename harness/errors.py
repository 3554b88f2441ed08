"""Errors that carry where bad input came from, so the CLI can print one precise line."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any


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


_UNEXPECTED = re.compile(r"unexpected keyword argument '(\w+)'")
_MISSING = re.compile(r"missing \d+ required (?:positional|keyword-only) arguments?: (.+)$")


def accepted_options(target: Any) -> list[str]:
    """The keyword options a plug-in class (or function) takes, following ``**options``
    that ``__init__`` hands on to a base class."""
    return _signature_options(target)[0]


def _signature_options(target: Any) -> tuple[list[str], bool]:
    """(option names, whether that list is complete: no ``**options`` left open)."""
    names: list[str] = []
    callables = ([c.__dict__["__init__"] for c in target.__mro__
                  if c is not object and "__init__" in c.__dict__]
                 if isinstance(target, type) else [target])
    for fn in callables:
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):
            return names, False
        for p in params:
            if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) \
                    and p.name not in names:
                names.append(p.name)
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return names, True
    return names, False


def option_error(what: str, target: Any, options: dict[str, Any],
                 exc: TypeError) -> ConfigError:
    """One line for a plug-in that refused its options: the bad ones, then (separately)
    the valid ones; a TypeError that is not about the options is passed on as it says."""
    valid, complete = _signature_options(target)
    listed = ", ".join(valid) or "none"
    unknown = sorted({*_UNEXPECTED.findall(str(exc)),
                      *(k for k in options if complete and k not in valid)})
    if unknown:
        return ConfigError(f"{what}: unknown option{'s' * (len(unknown) > 1)} "
                           f"{', '.join(unknown)}; valid options: {listed}")
    missing = _MISSING.search(str(exc))
    if missing:
        names = ", ".join(re.findall(r"'(\w+)'", missing.group(1)))
        return ConfigError(f"{what}: missing required option {names}; valid options: "
                           f"{listed}")
    return ConfigError(f"{what}: {exc}")
