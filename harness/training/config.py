"""The ``train-prm`` configuration (YAML), validated with pydantic; a bad field is one line
naming the file, the line and the field."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from harness.config import field_error, read_yaml_config


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BackboneConfig(_Strict):
    """The model under the head: a Hugging Face folder (a ``zoo export``, or any local
    decoder or encoder that ``AutoModelForTokenClassification`` builds)."""

    path: str
    #: keep only the first k transformer layers (smaller PRMs from one backbone)
    layers: int | None = Field(default=None, ge=1)
    #: how many of the top kept layers train; 0 = a head on frozen features
    trainable_layers: int = Field(default=0, ge=0)
    #: whether the tokenizer adds its special tokens (BOS, CLS/SEP) around the problem
    add_special_tokens: bool = True

    @model_validator(mode="after")
    def _layers(self) -> BackboneConfig:
        if self.layers is not None and self.trainable_layers > self.layers:
            raise ValueError(f"trainable_layers {self.trainable_layers} is more than "
                             f"layers {self.layers}")
        return self


Split = Literal["train", "dev", "test"]


class DataConfig(_Strict):
    """Labels files (the ``labels build`` contract) and which of their splits to use."""

    files: list[str] = Field(min_length=1)
    train_splits: list[Split] = Field(default_factory=lambda: list[Split](["train"]))
    dev_splits: list[Split] = Field(default_factory=lambda: list[Split](["dev"]))
    domains: list[Literal["math", "code"]] | None = None
    #: a seeded draw of this many training records (never the first N); None: all
    max_records: int | None = Field(default=None, ge=1)
    max_dev_records: int | None = Field(default=None, ge=1)
    #: records whose encoding is longer are left out and counted (None: the backbone's
    #: position limit)
    max_tokens: int | None = Field(default=None, ge=8)
    #: hard: a soft label counts as good when above 0 (Math-Shepherd's "any rollout
    #: correct"); soft: the label itself is the target; as-labelled: each record's own kind
    targets: Literal["as-labelled", "hard", "soft"] = "as-labelled"


class OptimConfig(_Strict):
    """AdamW with linear warmup then constant; BCE summed over a batch's labelled steps."""

    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    warmup_steps: int = Field(default=10, ge=0)
    batch_size: int = Field(default=16, ge=1)  # records per optimizer step
    max_steps: int = Field(default=200, ge=1)
    #: weight of a bad step's loss (bad steps are rare: 13% in ProcessBench's labels)
    negative_weight: float = Field(default=1.0, gt=0)


class TrainConfig(_Strict):
    name: str = Field(min_length=1)  # the trained PRM's model id in its spec
    out: str
    backbone: BackboneConfig
    data: DataConfig
    optim: OptimConfig = Field(default_factory=OptimConfig)
    separator: str = Field(default="\n\n", min_length=1)
    eval_every: int = Field(default=50, ge=1)
    save_every: int = Field(default=50, ge=1)
    seed: int = 0
    #: torch threads (results are bitwise reproducible for a fixed count)
    threads: int | None = Field(default=None, ge=1)

    _path: Path | None = PrivateAttr(default=None)

    def resolve(self, value: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        path = Path(value)
        if path.is_absolute() or self._path is None:
            return path
        return self._path.parent / path

    def raw(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def training_key(self) -> str:
        """What makes two trainings the same: everything but where the output goes."""
        data = self.raw()
        data.pop("out")
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def load_train_config(path: str | Path) -> TrainConfig:
    """Read and validate; a bad field is one line naming the file, line and field."""
    raw, origin = read_yaml_config(path)
    try:
        config = TrainConfig.model_validate(raw)
    except ValidationError as exc:
        raise field_error(exc, origin) from None
    config._path = origin.path
    return config
