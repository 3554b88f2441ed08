"""The trained PRM as the harness scores it: an ordinary Hugging Face token-classification
folder and a spec YAML of the token-classification family (pieces encoding), so ``score``,
``run``, ``ci`` and leaderboards use it unchanged."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import yaml

from harness.models.model_files import folder_sha256
from harness.training import checkpoint
from harness.training.backbone import build_model, position_limit
from harness.training.config import TrainConfig
from harness.training.examples import spec_data

PROVENANCE = "trained_prm.json"


def _versions() -> dict[str, str]:
    import torch
    import transformers

    from harness import __version__

    return {"prm-harness": __version__, "torch": torch.__version__,
            "transformers": transformers.__version__}


def _timeless(value: Any) -> Any:
    """``value`` without its wall-time entries (keys ending in ``_s``), recursively."""
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if not k.endswith("_s")}
    return value


def _licence_names() -> list[str]:
    """File names of every zoo model's licence files (a zoo export keeps their names; the
    Gemma terms must ship with anything made from Gemma weights), and the usual ones of a
    local folder."""
    from pathlib import PurePosixPath

    from harness.models.zoo.catalog import MODELS

    names = {"LICENSE", "NOTICE"}
    for model in MODELS.values():
        names.update(PurePosixPath(item.path).name for item in model.license_files)
    return sorted(names)


def export_prm(config: TrainConfig, step: int, target: Path,
               summary: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``target`` (the PRM folder) and ``target``.yaml (its spec) from the checkpoint
    at ``step``; returns the provenance written into the folder."""
    from transformers import AutoTokenizer

    out = config.resolve(config.out)
    ckpt = checkpoint.find(out, step)
    folder = config.resolve(config.backbone.path)
    model = build_model(folder, config.backbone, config.seed)
    checkpoint.load_weights(ckpt, model)
    tmp = target.parent / f".{target.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp)
    AutoTokenizer.from_pretrained(folder).save_pretrained(tmp)
    for name in _licence_names():  # the backbone's licences and terms travel along
        if (folder / name).is_file():
            shutil.copyfile(folder / name, tmp / name)
    backbone_prov = folder / "zoo_provenance.json"
    # no wall times in the folder: its hash is the PRM's identity (score caches, boards),
    # so the same training must give the same folder (train.json keeps the times)
    state = _timeless(checkpoint.read_state(ckpt))
    provenance = {
        "schema_version": 1, "name": config.name, "step": step, "checkpoint": str(ckpt),
        "config": config.raw(), "training_key": config.training_key(),
        "backbone": {"path": str(folder), "sha256": folder_sha256(folder),
                     "zoo": json.loads(backbone_prov.read_text())
                     if backbone_prov.is_file() else None},
        "counters": state, "summary": _timeless(summary), "versions": _versions(),
    }
    (tmp / PROVENANCE).write_text(json.dumps(provenance, indent=1, sort_keys=True) + "\n")
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
    spec = spec_data(config, position_limit(model))
    spec["notes"] = (f"trained by prm-harness train-prm from {folder} to step {step}; "
                     f"weights folder {target.name}/ ({PROVENANCE} holds the provenance)")
    spec_path = target.with_suffix(".yaml")
    spec_path.write_text("# written by prm-harness train-prm\n"
                         + yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
    return provenance
