"""The sandbox's own failure (not a verdict on the program)."""

from __future__ import annotations

from harness.errors import ConfigError


class SandboxError(ConfigError):
    """The sandbox itself could not be set up or broke (not a verdict on the program)."""
