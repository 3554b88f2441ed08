"""Training rows from labels files, encoded by the very family that will score the trained
PRM (token-classification, ``encoding: pieces``), so training and scoring read the same
positions."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.labels.read import LabelRecord, read_labels
from harness.models.prms.specs import parse_spec
from harness.models.prms.token_classification import TokenClassificationFamily
from harness.training.config import TrainConfig


@dataclass(frozen=True)
class Example:
    """One labelled solution: token ids, the positions its head reads, a target per read
    position (NaN: unlabelled, not trained on)."""

    id: str
    ids: tuple[int, ...]
    read: tuple[int, ...]
    targets: tuple[float, ...]

    @property
    def labelled(self) -> int:
        return sum(1 for t in self.targets if t == t)


def spec_data(config: TrainConfig, max_length: int | None) -> dict[str, Any]:
    """The spec the trained PRM is scored with (PRM_PROTOCOLS.md 3.9, pieces encoding)."""
    return {
        "model_id": config.name,
        "family": "token-classification",
        "protocol": "prm-harness train-prm (docs/training.md); PRM_PROTOCOLS.md 3.9 pieces",
        "native_range": "probability in [0, 1] of label 1 (correct)",
        "to_unit": "identity",
        "dtype": "float32",
        "max_length": max_length,
        "strip_steps": True,
        "separator": config.separator,
        "correct_index": 1,
        "add_special_tokens": config.backbone.add_special_tokens,
        "encoding": "pieces",
        "readout": "p-correct",
        "recommended_aggregation": "min",
        "notes": f"trained by prm-harness train-prm from {config.backbone.path}",
    }


def family_for(config: TrainConfig, tokenizer: Any, max_length: int | None
               ) -> TokenClassificationFamily:
    spec = parse_spec(spec_data(config, max_length), f"train-prm {config.name}")
    return TokenClassificationFamily(spec, tokenizer)


def _target(value: float | None, kind: str, mode: str) -> float:
    if value is None:
        return float("nan")
    if mode == "hard" or (mode == "as-labelled" and kind == "hard"):
        return 1.0 if value > 0 else 0.0
    return float(value)


def seeded_draw(records: list[LabelRecord], n: int | None, seed: int, what: str
                ) -> list[LabelRecord]:
    """``n`` records chosen by a hash of (seed, id): never the first n of a file."""
    if n is None or n >= len(records):
        return records

    def rank(rec: LabelRecord) -> str:
        return hashlib.sha256(f"{seed}\0{what}\0{rec.id}".encode()).hexdigest()

    chosen = {r.id for r in sorted(records, key=rank)[:n]}
    return [r for r in records if r.id in chosen]


def load_examples(config: TrainConfig, family: TokenClassificationFamily, limit: int | None
                  ) -> tuple[list[Example], list[Example], dict[str, Any]]:
    """Train and dev examples, and what was read and left out (for the provenance)."""
    records: list[LabelRecord] = []
    files = []
    for name in config.data.files:
        path = config.resolve(name)
        recs = read_labels(path)
        files.append({"path": str(path), "records": len(recs),
                      "sha256": hashlib.sha256(path.read_bytes()).hexdigest()})
        records.extend(recs)
    if config.data.domains is not None:
        records = [r for r in records if r.domain in config.data.domains]
    train = [r for r in records if r.split in config.data.train_splits]
    dev = [r for r in records if r.split in config.data.dev_splits]
    train = seeded_draw(train, config.data.max_records, config.seed, "train")
    dev = seeded_draw(dev, config.data.max_dev_records, config.seed, "dev")
    max_tokens = config.data.max_tokens or limit
    dropped: dict[str, int] = {"too_long": 0, "no_label": 0}

    def encode(recs: list[LabelRecord]) -> list[Example]:
        out = []
        for rec in recs:
            encoded = family.encode(rec.problem, list(rec.steps), rec.id)
            (segment,) = encoded.segments
            targets = tuple(_target(v, rec.label_kind, config.data.targets) for v in rec.labels)
            if max_tokens is not None and len(segment.ids) > max_tokens:
                dropped["too_long"] += 1
                continue
            example = Example(rec.id, tuple(segment.ids), tuple(segment.read), targets)
            if example.labelled == 0:
                dropped["no_label"] += 1
                continue
            out.append(example)
        return out

    train_ex, dev_ex = encode(train), encode(dev)
    info = {"files": files, "train_records": len(train_ex), "dev_records": len(dev_ex),
            "left_out": dropped, "max_tokens": max_tokens,
            "train_tokens": int(sum(len(e.ids) for e in train_ex)),
            "train_labelled_steps": int(sum(e.labelled for e in train_ex)),
            "train_positive_share": _share(train_ex)}
    return train_ex, dev_ex, info


def _share(examples: list[Example]) -> float | None:
    values = np.array([t for e in examples for t in e.targets if t == t])
    return round(float(values.mean()), 4) if values.size else None
