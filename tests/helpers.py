"""Small helpers shared by tests: run the CLI in-process and capture its output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from harness.cli import main


def run_cli(args: list[str], capsys: Any) -> tuple[int, str, str]:
    """Run ``prm-harness ARGS`` through the real entry point; (status, stdout, stderr)."""
    status = main([str(a) for a in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


__all__ = ["CliRunner", "run_cli", "write_jsonl"]
