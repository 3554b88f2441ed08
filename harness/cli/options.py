"""Parsing shared by several commands."""

from __future__ import annotations

import click


def parse_key_values(pairs: tuple[str, ...], flag: str = "--option") -> dict[str, str]:
    """``("a=1", "b=x")`` -> ``{"a": "1", "b": "x"}``; a pair without '=' is a usage error."""
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint=flag)
        key, value = pair.split("=", 1)
        out[key] = value
    return out
