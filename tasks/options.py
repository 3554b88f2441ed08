"""Parsing of task options, which arrive as strings from ``--option KEY=VALUE``."""

from __future__ import annotations

from typing import Any

from harness.errors import ConfigError


def bool_option(name: str, value: Any) -> bool:
    """A bool, or one of 1/0, true/false, yes/no, on/off in any case."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"option {name} must be true or false, not {value!r}")
