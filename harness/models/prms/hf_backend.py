"""The transformers backend: batched forwards on CPU or GPU, rows read at chosen positions.

Sequences are grouped by a padded-token budget after sorting by length (or, for
comparison, in fixed-size batches in input order). Padding goes left or right with an
attention mask and explicit position ids (0.. over the real tokens), so a sequence's rows
do not depend on the batch it lands in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from harness.errors import ConfigError
from harness.models.prms.batching import budget_batches, fixed_batches
from harness.models.prms.protocol import Head, Segment


class TransformersRunner:
    """Computes a head's rows for segments with one transformers model."""

    backend = "transformers"

    def __init__(self, source: str, revision: str | None, head: Head, dtype: str,
                 device: str = "cpu", padding_side: Literal["left", "right"] = "right",
                 batch_tokens: int = 16384, batch_size: int | None = None) -> None:
        from harness.models.prms.hf_loading import load_row_model, max_positions, resolve_device

        if padding_side not in ("left", "right"):
            raise ConfigError(f"padding_side must be 'left' or 'right', not {padding_side!r}")
        if batch_tokens < 1 or (batch_size is not None and batch_size < 1):
            raise ConfigError("batch_tokens and batch_size must be positive")
        self.head = head
        self.padding_side = padding_side
        self.batch_tokens = batch_tokens
        self.batch_size = batch_size
        self.torch_device = resolve_device(device)
        self.device = str(self.torch_device)
        self.model = load_row_model(source, revision, head, dtype, self.torch_device)
        self.max_length = max_positions(self.model)
        self.params = sum(p.numel() for p in self.model.parameters())

    def plan(self, lengths: Sequence[int]) -> list[list[int]]:
        if self.batch_size is not None:
            return fixed_batches(len(lengths), self.batch_size)
        return budget_batches(lengths, self.batch_tokens)

    def rows(self, segments: Sequence[Segment]) -> list[np.ndarray]:
        out: list[Any] = [None] * len(segments)
        for batch in self.plan([len(s.ids) for s in segments]):
            for index, block in zip(batch, self._run([segments[i] for i in batch]),
                                    strict=True):
                out[index] = block
        return out

    def _run(self, batch: Sequence[Segment]) -> list[np.ndarray]:
        import torch

        width = max(len(s.ids) for s in batch)
        ids = torch.zeros((len(batch), width), dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        positions = torch.zeros((len(batch), width), dtype=torch.long)
        b_idx, t_idx, next_ids = [], [], []
        for b, seg in enumerate(batch):
            n = len(seg.ids)
            offset = width - n if self.padding_side == "left" else 0
            ids[b, offset:offset + n] = torch.tensor(seg.ids, dtype=torch.long)
            mask[b, offset:offset + n] = 1
            positions[b, offset:offset + n] = torch.arange(n)
            for t in seg.read:
                b_idx.append(b)
                t_idx.append(offset + t)
                next_ids.append(seg.ids[t + 1] if t + 1 < n else 0)
        dev = self.torch_device
        with torch.inference_mode():
            rows = self.model.rows(ids.to(dev), mask.to(dev), positions.to(dev),
                                   torch.tensor(b_idx, device=dev),
                                   torch.tensor(t_idx, device=dev),
                                   torch.tensor(next_ids, device=dev))
        flat = rows.float().cpu().numpy()
        blocks, start = [], 0
        for seg in batch:
            blocks.append(flat[start:start + len(seg.read)])
            start += len(seg.read)
        return blocks

    def identity(self) -> dict[str, Any]:
        import torch
        import transformers

        return {"backend": self.backend, "device": self.device,
                "padding_side": self.padding_side, "batch_tokens": self.batch_tokens,
                "batch_size": self.batch_size, "torch": torch.__version__,
                "transformers": transformers.__version__}
