"""Load PRM weights with transformers, without running any code from the hub.

Custom heads (Qwen2ForProcessRewardModel / Qwen2ForRewardModel's MLP, Skywork's value head)
are rebuilt here: the decoder comes from transformers' own class for the config's
``model_type`` and the head's tensors are read from the checkpoint's safetensors files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.models.prms.protocol import Head

_DTYPES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}


def torch_dtype(name: str) -> Any:
    import torch

    if name not in _DTYPES:
        raise ConfigError(f"unknown dtype {name!r}; choose from {', '.join(_DTYPES)}")
    return getattr(torch, _DTYPES[name])


def resolve_device(device: str) -> Any:
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise ConfigError(f"bad device {device!r}: {exc}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asked for, but torch sees no CUDA device")
    return resolved


def _where(source: str, revision: str | None) -> str:
    return f"{source}@{revision}" if revision else source


def load_tokenizer(source: str, revision: str | None) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(source, revision=revision, trust_remote_code=False)
    except Exception as exc:
        raise ConfigError(f"cannot load the tokenizer of {_where(source, revision)} "
                          f"({type(exc).__name__}: {exc}); pass --model with a local "
                          f"copy of the model") from None


def _checkpoint_file(source: str, revision: str | None, filename: str) -> Path | None:
    folder = Path(source)
    if folder.is_dir():
        path = folder / filename
        return path if path.is_file() else None
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        return Path(hf_hub_download(source, filename, revision=revision))
    except EntryNotFoundError:
        return None
    except Exception as exc:
        raise ConfigError(f"cannot fetch {filename} of {_where(source, revision)} "
                          f"({type(exc).__name__}: {exc}); pass --model with a local copy"
                          ) from None


def _weight_files(source: str, revision: str | None) -> dict[str, Path]:
    """tensor name -> safetensors file holding it."""
    from safetensors import safe_open

    index = _checkpoint_file(source, revision, "model.safetensors.index.json")
    if index is not None:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        files: dict[str, Path] = {}
        for name in sorted(set(weight_map.values())):
            path = _checkpoint_file(source, revision, name)
            if path is None:
                raise ConfigError(f"{_where(source, revision)}: {name} is in the index but "
                                  f"missing")
            files[name] = path
        return {key: files[name] for key, name in weight_map.items()}
    single = _checkpoint_file(source, revision, "model.safetensors")
    if single is None:
        raise ConfigError(f"{_where(source, revision)}: no safetensors weights "
                          f"(model.safetensors or its index)")
    with safe_open(str(single), framework="pt") as handle:
        return dict.fromkeys(handle.keys(), single)


def read_tensors(source: str, revision: str | None, keys: list[str]) -> dict[str, Any]:
    """Named tensors from the checkpoint; a missing name is a ConfigError."""
    from safetensors import safe_open

    located = _weight_files(source, revision)
    missing = [k for k in keys if k not in located]
    if missing:
        raise ConfigError(f"{_where(source, revision)}: the checkpoint has no tensor "
                          f"{missing[0]!r}; the spec's head does not match these weights")
    out = {}
    for key in keys:
        with safe_open(str(located[key]), framework="pt") as handle:
            out[key] = handle.get_tensor(key)
    return out


def checkpoint_params(source: str) -> int | None:
    """Parameter count from a local folder's safetensors headers; None when not local."""
    folder = Path(source)
    if not folder.is_dir():
        return None
    from safetensors import safe_open

    total = 0
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    for path in files:
        with safe_open(str(path), framework="pt") as handle:
            for key in handle.keys():  # noqa: SIM118 - safe_open is not a mapping
                shape = handle.get_slice(key).get_shape()
                count = 1
                for dim in shape:
                    count *= dim
                total += count
    return total


def _from_pretrained(cls: Any, source: str, revision: str | None, dtype: Any,
                     allowed_unused: tuple[str, ...] = ()) -> Any:
    """Load with transformers and refuse any weight it did not fill from the checkpoint.

    A missing, unexpected or wrongly shaped tensor would otherwise leave randomly
    initialised weights behind a warning (a causal-LM folder loaded as a
    token-classification PRM, a renamed key). ``allowed_unused``: prefixes of checkpoint
    tensors this class is expected to leave unused (a head read separately)."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the report below replaces transformers' warnings
    hf_logging.disable_progress_bar()
    try:
        model, info = cls.from_pretrained(source, revision=revision, dtype=dtype,
                                          trust_remote_code=False, output_loading_info=True)
    except Exception as exc:
        raise ConfigError(f"cannot load {_where(source, revision)} with {cls.__name__} "
                          f"({type(exc).__name__}: {exc})") from None
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()
    check_loading_info(info, f"{_where(source, revision)} as {type(model).__name__}",
                       allowed_unused)
    return model


def check_loading_info(info: dict[str, Any], where: str,
                       allowed_unused: tuple[str, ...] = ()) -> None:
    """ConfigError naming the missing, unexpected and mismatched tensors of one load."""
    missing = sorted(info.get("missing_keys") or ())
    unexpected = sorted(k for k in info.get("unexpected_keys") or ()
                        if not k.startswith(allowed_unused))
    mismatched = sorted(f"{k} {tuple(a)} vs {tuple(b)}"
                        for k, a, b in info.get("mismatched_keys") or ())
    problems = [f"{label} ({len(keys)}): {', '.join(keys[:6])}{' ...' if len(keys) > 6 else ''}"
                for label, keys in (("missing", missing), ("unexpected", unexpected),
                                    ("mismatched shapes", mismatched)) if keys]
    errors = [str(e) for e in info.get("error_msgs") or ()]
    if errors:
        problems.append(f"errors: {errors[0]}")
    if problems:
        raise ConfigError(f"{where}: the checkpoint's weights do not match the model (they "
                          f"would be left randomly initialised): {'; '.join(problems)}")


def _linear(weight: Any, bias: Any | None, dtype: Any) -> Any:
    import torch

    layer = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(bias)
    return layer.to(dtype)


def load_row_model(source: str, revision: str | None, head: Head, dtype_name: str,
                   device: Any) -> Any:
    """A ``RowModel`` (see hf_rows.py) for ``head``, on ``device``, in eval mode."""
    from transformers import (
        AutoModel,
        AutoModelForCausalLM,
        AutoModelForTokenClassification,
    )

    from harness.models.prms import hf_rows

    dtype = torch_dtype(dtype_name)
    if head.loader in ("mlp-head", "linear-head"):
        key = head.weights_key
        # the decoder class leaves the head (read below) and a causal LM's lm_head unused
        decoder = _from_pretrained(AutoModel, source, revision, dtype,
                                   allowed_unused=(f"{key}.", "lm_head."))
        if head.loader == "mlp-head":
            names = [f"{key}.0.weight", f"{key}.0.bias", f"{key}.2.weight", f"{key}.2.bias"]
            t = read_tensors(source, revision, names)
            import torch

            module = torch.nn.Sequential(_linear(t[names[0]], t[names[1]], dtype),
                                         torch.nn.ReLU(),
                                         _linear(t[names[2]], t[names[3]], dtype))
        else:
            t = read_tensors(source, revision, [f"{key}.weight", f"{key}.bias"])
            module = _linear(t[f"{key}.weight"], t[f"{key}.bias"], dtype)
        out_features = module[-1].out_features if head.loader == "mlp-head" \
            else module.out_features
        if out_features != head.width:
            raise ConfigError(f"{_where(source, revision)}: the head has {out_features} "
                              f"outputs, the protocol needs {head.width}")
        model: hf_rows.RowModel = hf_rows.DecoderWithHead(decoder, module)
    elif head.loader == "token-classification":
        from harness.models.token_classifiers import register_token_classifiers

        register_token_classifiers()
        hf = _from_pretrained(AutoModelForTokenClassification, source, revision, dtype)
        if hf.config.num_labels != head.width:
            raise ConfigError(f"{_where(source, revision)}: {hf.config.num_labels} labels, "
                              f"the protocol needs {head.width}")
        model = hf_rows.TokenClassifier(hf)
    else:
        hf = _from_pretrained(AutoModelForCausalLM, source, revision, dtype)
        model = hf_rows.CausalLMRows(hf, head)
    model.to(device).eval()
    if isinstance(model, hf_rows.CausalLMRows):
        model.check_logits_path(device)
    return model


def max_positions(model: Any) -> int | None:
    config = model.config
    value = getattr(config, "max_position_embeddings", None)
    return int(value) if value else None


def config_max_length(source: str, revision: str | None) -> int | None:
    """``max_position_embeddings`` from the model's config, when it can be read."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(source, revision=revision, trust_remote_code=False)
    except Exception:
        return None
    value = getattr(config, "max_position_embeddings", None)
    return int(value) if value else None
