"""Export a zoo model once into an ordinary Hugging Face folder (safetensors, tokenizer,
chat template where the model has one) that transformers and vLLM both load.

A GGUF checkpoint loads in transformers only as a quantized model that cannot be saved, so
its dequantized float32 weights are copied into a fresh model of the same config (every
key must match) and that one is saved. The folder is written beside DIR and renamed into
place at the end, so a failed export leaves nothing half-written under DIR.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.models.zoo.catalog import (
    ZooModel,
    check_installed,
    join_weights,
    shipped_path,
    weight_chunks,
    weights_sha256,
)

PROVENANCE = "zoo_provenance.json"


def _versions() -> dict[str, str | None]:
    from harness.models.zoo.catalog import installed_version

    return {name: installed_version(name)
            for name in ("torch", "transformers", "tokenizers", "safetensors", "gguf")}


def _gguf_export(model: ZooModel, work: Path, out: Path) -> dict[str, Any]:
    """Dequantize the GGUF into a fresh model; save it with its tokenizer in ``out``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    chunks = weight_chunks(model)
    if len(chunks) == 1:
        gguf_dir, sha = chunks[0].parent, weights_sha256(model)
    else:  # joined into the scratch folder, which is removed afterwards
        gguf_dir, sha = work, join_weights(model, work / model.weights_name)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_dir), gguf_file=model.weights_name)
    loaded: Any = AutoModelForCausalLM.from_pretrained(
        str(gguf_dir), gguf_file=model.weights_name, dtype=torch.float32)
    settings = loaded.config.to_dict()
    settings.pop("quantization_config", None)
    settings.pop("_name_or_path", None)
    config = type(loaded.config).from_dict(settings)
    config.architectures = [type(loaded).__name__]
    fresh = type(loaded)(config).to(torch.float32)
    try:  # every key of the dequantized model must land in the fresh one, and no other
        fresh.load_state_dict(loaded.state_dict(), strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"zoo export {model.name}: the GGUF weights do not fit a fresh "
                          f"{type(loaded).__name__}: {first}") from None
    fresh.generation_config = loaded.generation_config
    fresh.eval()
    fresh.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return {"weights_sha256": sha, "architecture": type(fresh).__name__,
            "params": sum(p.numel() for p in fresh.parameters()), "dtype": "float32",
            "chat_template": bool(getattr(tokenizer, "chat_template", None))}


def _encoder_export(model: ZooModel, out: Path) -> dict[str, Any]:
    """The shipped folder is already an HF folder (sentence-transformers layout): copy it."""
    assert model.folder is not None
    source = shipped_path(model, model.folder)
    shutil.copytree(source, out, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".gitattributes", "__pycache__"))
    config = json.loads((out / "config.json").read_text())
    from harness.models.model_files import safetensors_params

    return {"weights_sha256": weights_sha256(model),
            "architecture": (config.get("architectures") or ["?"])[0],
            "params": safetensors_params(out), "dtype": config.get("torch_dtype", "float32"),
            "chat_template": False}


def export(model: ZooModel, target: Path) -> dict[str, Any]:
    """Write the model's HF folder at ``target`` (absent or empty); returns its provenance."""
    version = check_installed(model)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConfigError(f"zoo export {model.name}: {target} exists and is not an empty "
                          "folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f".{target.name}.", dir=target.parent) as tmp:
        out, work = Path(tmp) / "out", Path(tmp) / "work"
        out.mkdir()
        work.mkdir()
        if model.kind == "gguf-causal-lm":
            made = _gguf_export(model, work, out)
        else:
            made = _encoder_export(model, out)
        license_names = []
        for item in model.license_files:
            path = shipped_path(model, item)
            shutil.copyfile(path, out / path.name)
            license_names.append(path.name)
        provenance = {
            "schema_version": 1, "zoo_model": model.name, "package": model.package,
            "package_version": version, "weights_file": model.weights_name,
            "revision": f"{version}+sha256:{made['weights_sha256']}",
            "matches_catalog": made["weights_sha256"] == model.known_sha256,
            "source": model.source, "license": model.license,
            "license_files": license_names, **made, "exported_with": _versions(),
        }
        (out / PROVENANCE).write_text(json.dumps(provenance, indent=2, sort_keys=True) + "\n")
        for path in out.rglob("*"):  # safetensors writes 0600; an export is for everyone
            path.chmod(0o755 if path.is_dir() else 0o644)
        if target.exists():
            target.rmdir()
        out.rename(target)
    return {**provenance, "export_s": round(time.perf_counter() - start, 2)}


def read_provenance(folder: Path) -> dict[str, Any]:
    """The provenance an export wrote (one line if the folder is no zoo export)."""
    path = folder / PROVENANCE
    if not path.is_file():
        raise ConfigError(f"{folder}: no {PROVENANCE}; not a zoo export")
    data: dict[str, Any] = json.loads(path.read_text())
    return data
