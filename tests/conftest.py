"""Shared fixtures. Tests that need the real benchmark files fail (not skip) under CI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
_DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"
SHARED_DATA = Path(os.environ.get("PRM_HARNESS_DATA", str(_DEFAULT_DATA)))
os.environ.setdefault("PRM_HARNESS_DATA", str(SHARED_DATA))
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The mirror folder (../shared/data); missing under CI=true is a failure."""
    if not SHARED_DATA.is_dir():
        message = f"shared data folder not found at {SHARED_DATA}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_policy_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny random Qwen2 causal LM folder with a locally trained tokenizer (built once)."""
    pytest.importorskip("transformers")
    from tiny_policy import build_tiny_policy

    return str(build_tiny_policy(tmp_path_factory.mktemp("tiny-policy")))


@pytest.fixture(scope="module")
def code_cache(tmp_path_factory):
    """A fresh cache folder for code grading (expected outputs), per test module."""
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("cache")
        mp.setenv("PRM_HARNESS_CACHE", str(path))
        yield path


@pytest.fixture(scope="session")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the tiny PRM checkpoints (tests/prm_tiny.py builds them on demand)."""
    from prm_tiny import tiny_root

    return tiny_root(tmp_path_factory)


@pytest.fixture(autouse=True)
def _registries_restored():
    """Plug-ins a test registers at run time are forgotten after it, so no test sees
    another's (test_registry lists every known name, and test order must not matter)."""
    from harness import registry

    before = {kind: set(reg._resolved) for kind, reg in registry.REGISTRIES.items()}
    yield
    for kind, reg in registry.REGISTRIES.items():
        for name in set(reg._resolved) - before[kind]:
            if name not in reg.builtins and name not in reg._entry_points():
                del reg._resolved[name]
