"""Training checkpoints: the trainable weights, the optimizer and the counters, written to
a temporary folder and renamed into place, so a kill leaves the last whole one."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

STATE = "state.json"


def checkpoint_dir(out: Path, step: int) -> Path:
    return out / "checkpoints" / f"step-{step:06d}"


def save(out: Path, step: int, model: Any, optimizer: Any, scheduler: Any,
         state: dict[str, Any]) -> Path:
    import torch
    from safetensors.torch import save_file

    final = checkpoint_dir(out, step)
    tmp = final.parent / f".{final.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    weights = {n: p.detach().contiguous() for n, p in model.named_parameters()
               if p.requires_grad}
    save_file(weights, str(tmp / "trainable.safetensors"))
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
               tmp / "optimizer.pt")
    (tmp / STATE).write_text(json.dumps({**state, "step": step}, indent=1, sort_keys=True))
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    return final


def latest(out: Path) -> Path | None:
    """The newest whole checkpoint (one with its state file), or None."""
    folder = out / "checkpoints"
    if not folder.is_dir():
        return None
    done = sorted(p for p in folder.glob("step-*") if (p / STATE).is_file())
    return done[-1] if done else None


def find(out: Path, step: int) -> Path:
    path = checkpoint_dir(out, step)
    if not (path / STATE).is_file():
        have = sorted(p.name for p in (out / "checkpoints").glob("step-*")) \
            if (out / "checkpoints").is_dir() else []
        raise ConfigError(f"{out}: no checkpoint at step {step}; have: "
                          f"{', '.join(have) or 'none'}")
    return path


def read_state(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((path / STATE).read_text())
    return data


def load_weights(path: Path, model: Any) -> None:
    """Put a checkpoint's trainable weights into ``model`` (every name must match)."""
    import torch
    from safetensors.torch import load_file

    weights = load_file(str(path / "trainable.safetensors"))
    params = dict(model.named_parameters())
    unknown = sorted(set(weights) - set(params))
    if unknown:
        raise ConfigError(f"{path}: weights for parameters the model lacks: {unknown[:3]}")
    with torch.no_grad():
        for name, value in weights.items():
            params[name].copy_(value)


def load_optimizer(path: Path, optimizer: Any, scheduler: Any) -> None:
    import torch

    data = torch.load(path / "optimizer.pt", weights_only=False)
    optimizer.load_state_dict(data["optimizer"])
    scheduler.load_state_dict(data["scheduler"])
