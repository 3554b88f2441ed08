"""The model under training: a token-classification model (2 labels) built on the backbone
folder, cut to its first k layers, frozen below its trainable top."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.training.config import BackboneConfig


def layer_list(model: Any) -> Any:
    """The ModuleList of transformer blocks (decoders: ``model.layers``; BERT-style
    encoders: ``encoder.layer``)."""
    base = model.base_model
    if hasattr(base, "layers"):
        return base.layers
    encoder = getattr(base, "encoder", None)
    if encoder is not None and hasattr(encoder, "layer"):
        return encoder.layer
    raise ConfigError(f"{type(model).__name__}: cannot find its transformer layers")


def head_module(model: Any) -> Any:
    """The classification head (``score`` on decoders, ``classifier`` on encoders)."""
    for name in ("score", "classifier"):
        if hasattr(model, name):
            return getattr(model, name)
    raise ConfigError(f"{type(model).__name__}: no score/classifier head")


def build_model(folder: Path, cfg: BackboneConfig, seed: int) -> Any:
    """Fresh head (seeded), backbone weights from ``folder``; returns the model in train
    mode with only the head and the top ``trainable_layers`` layers requiring grad."""
    import torch
    from transformers import AutoConfig, AutoModelForTokenClassification

    from harness.models.token_classifiers import register_token_classifiers

    register_token_classifiers()
    if not (folder / "config.json").is_file():
        raise ConfigError(f"backbone {folder}: no config.json (export one with "
                          f"`prm-harness zoo export NAME {folder}`)")
    hf_config = AutoConfig.from_pretrained(folder, num_labels=2)
    layer_attr = "num_hidden_layers"
    total = getattr(hf_config, layer_attr)
    keep = cfg.layers or total
    if keep > total:
        raise ConfigError(f"backbone.layers {keep}: {folder} has only {total} layers")
    setattr(hf_config, layer_attr, keep)
    if getattr(hf_config, "layer_types", None):
        hf_config.layer_types = hf_config.layer_types[:keep]
    torch.manual_seed(seed)
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the load report is checked below instead
    try:
        model, info = AutoModelForTokenClassification.from_pretrained(
            folder, config=hf_config, dtype=torch.float32, output_loading_info=True)
    finally:
        hf_logging.set_verbosity(verbosity)
    _check_loaded(info, keep, folder)
    if len(layer_list(model)) != keep:
        raise ConfigError(f"backbone {folder}: built {len(layer_list(model))} layers, "
                          f"asked for {keep}")
    for p in model.parameters():
        p.requires_grad_(False)
    for p in head_module(model).parameters():
        p.requires_grad_(True)
    if cfg.trainable_layers:
        for block in list(layer_list(model))[keep - cfg.trainable_layers:]:
            for p in block.parameters():
                p.requires_grad_(True)
        norm = getattr(model.base_model, "norm", None)  # decoders' final norm
        if norm is not None:
            for p in norm.parameters():
                p.requires_grad_(True)
    return model


_LAYER = re.compile(r"(?:^|\.)(?:layers|layer)\.(\d+)\.")


def _check_loaded(info: dict[str, Any], keep: int, folder: Path) -> None:
    """Only the new head may be missing, and only the cut layers (or a pooler / LM head
    the token classifier has no use for) unused: a renamed tensor is an error."""
    missing = [k for k in info.get("missing_keys", [])
               if k.split(".")[0] not in ("score", "classifier")]
    unused = []
    for key in info.get("unexpected_keys", []):
        match = _LAYER.search(key)
        if match and int(match.group(1)) >= keep:
            continue
        if key.split(".")[0] in ("lm_head", "pooler") or ".pooler." in key:
            continue
        unused.append(key)
    if missing or unused:
        raise ConfigError(f"backbone {folder}: weights missing ({len(missing)}): "
                          f"{', '.join(sorted(missing)[:4]) or '-'}; unused "
                          f"({len(unused)}): {', '.join(sorted(unused)[:4]) or '-'}")


def trainable_state(model: Any) -> dict[str, Any]:
    """The parameters that train, by name (a checkpoint holds these only)."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def count_params(model: Any) -> tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


def position_limit(model: Any) -> int | None:
    value = getattr(model.config, "max_position_embeddings", None)
    return int(value) if value else None
