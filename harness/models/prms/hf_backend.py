"""The transformers backend: batched forwards on CPU or GPU, rows read at chosen positions.

Sequences are grouped by a padded-token budget after sorting by length (or, for
comparison, in fixed-size batches in input order). Padding goes left or right with an
attention mask and explicit position ids (0.. over the real tokens), so a sequence's rows
do not depend on the batch it lands in.

Prefix reuse (``rows`` with keys, hf_prefix_cache.py): a segment whose parent's kept ids
are exactly a prefix of its own is run as its new tokens alone on the parent's keys and
values; ``last_computed`` holds the tokens each segment of the last call fed the model.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, Literal

import numpy as np

from harness.errors import ConfigError
from harness.models.prms.batching import budget_batches, fixed_batches
from harness.models.prms.hf_prefix_cache import (
    CachedPrefix,
    PrefixCache,
    padded_past,
    reuse_check,
    row_kv,
    usable_start,
)
from harness.models.prms.protocol import Head, Segment

#: default bound of the kept prefixes' keys and values, in MiB
PREFIX_CACHE_MB = 1024.0


class TransformersRunner:
    """Computes a head's rows for segments with one transformers model."""

    backend = "transformers"

    def __init__(self, source: str, revision: str | None, head: Head, dtype: str,
                 device: str = "cpu", padding_side: Literal["left", "right"] = "right",
                 batch_tokens: int = 16384, batch_size: int | None = None,
                 prefix_cache_mb: float = PREFIX_CACHE_MB) -> None:
        from harness.models.prms.hf_loading import load_row_model, max_positions, resolve_device

        if padding_side not in ("left", "right"):
            raise ConfigError(f"padding_side must be 'left' or 'right', not {padding_side!r}")
        if batch_tokens < 1 or (batch_size is not None and batch_size < 1):
            raise ConfigError("batch_tokens and batch_size must be positive")
        if not prefix_cache_mb >= 0:
            raise ConfigError(f"prefix_cache_mb must be >= 0, got {prefix_cache_mb!r}")
        self.head = head
        self.padding_side = padding_side
        self.batch_tokens = batch_tokens
        self.batch_size = batch_size
        self.torch_device = resolve_device(device)
        self.device = str(self.torch_device)
        self.model = load_row_model(source, revision, head, dtype, self.torch_device)
        self.max_length = max_positions(self.model)
        self.params = sum(p.numel() for p in self.model.parameters())
        self.dtype = dtype
        self.prefix_cache = PrefixCache(int(prefix_cache_mb * (1 << 20)))
        #: None until probed; then "" (this model reuses prefixes) or why it cannot
        self._reuse_refusal: str | None = None if prefix_cache_mb > 0 else "prefix_cache_mb 0"
        self._probed = prefix_cache_mb <= 0
        #: tokens fed to the model for each segment of the last ``rows`` call
        self.last_computed: list[int] = []
        self.reuse_stats = {"reused": 0, "not_prefix": 0, "no_parent": 0, "full": 0,
                            "computed_tokens": 0, "served_tokens": 0}

    @property
    def reuses_prefixes(self) -> bool:
        """Whether this model continues kept prefixes (probed once, reuse_check)."""
        if not self._probed:
            self._probed = True
            self._reuse_refusal = reuse_check(self.model, self.torch_device, self.dtype,
                                              self.head.output == "next-logprob") or ""
        return self._reuse_refusal == ""

    @property
    def reuse_refusal(self) -> str:
        """Why this model never reuses a prefix ("" when it does)."""
        return "" if self.reuses_prefixes else str(self._reuse_refusal)

    def plan(self, lengths: Sequence[int]) -> list[list[int]]:
        if self.batch_size is not None:
            return fixed_batches(len(lengths), self.batch_size)
        return budget_batches(lengths, self.batch_tokens)

    def rows(self, segments: Sequence[Segment], keys: Sequence[Hashable] | None = None,
             parents: Sequence[Sequence[Hashable]] | None = None) -> list[np.ndarray]:
        """Each segment's rows at its read positions. With ``keys`` (one per segment) and a
        model that reuses prefixes, every segment is kept under its key, and one whose
        first ``parents`` key found kept (nearest first) holds a prefix of its ids feeds
        only the tokens after it; else (or without keys) a full pass."""
        out: list[Any] = [None] * len(segments)
        self.last_computed = [len(s.ids) for s in segments]
        reuse = keys is not None and self.reuses_prefixes
        full = list(range(len(segments)))
        continued: list[tuple[int, CachedPrefix, int]] = []
        if reuse:
            assert keys is not None and parents is not None
            full = []
            for i, seg in enumerate(segments):
                entry = next((e for e in map(self.prefix_cache.get, parents[i])
                              if e is not None), None)
                start = 0 if entry is None else usable_start(
                    entry, seg.ids, seg.read, self.head.output == "next-logprob")
                stat = ("no_parent" if entry is None else "not_prefix"
                        if start == 0 and not _starts_with(seg.ids, entry.ids)
                        else "reused" if start else "full")
                self.reuse_stats[stat] += 1
                if start:
                    assert entry is not None
                    continued.append((i, entry, start))
                    self.last_computed[i] = len(seg.ids) - start
                else:
                    full.append(i)
            self.reuse_stats["computed_tokens"] += sum(self.last_computed)
            self.reuse_stats["served_tokens"] += sum(s for _, _, s in continued)
        for batch in self.plan([len(segments[i].ids) for i in full]):
            chosen = [full[j] for j in batch]
            for index, block in zip(chosen, self._run([segments[i] for i in chosen],
                                                      [keys[i] for i in chosen]
                                                      if reuse and keys else None),
                                    strict=True):
                out[index] = block
        for batch in self._plan_continued([(len(segments[i].ids), s)
                                           for i, _, s in continued]):
            group = [continued[j] for j in batch]
            assert keys is not None
            blocks = self._continue([segments[i] for i, _, _ in group],
                                    [e for _, e, _ in group], [s for _, _, s in group],
                                    [keys[i] for i, _, _ in group])
            for (index, _, _), block in zip(group, blocks, strict=True):
                out[index] = block
        return out

    def _plan_continued(self, sizes: Sequence[tuple[int, int]]) -> list[list[int]]:
        """Continued segments grouped longest first so that len(batch) x (longest kept
        part + longest new part) stays within batch_tokens (or batch_size rows)."""
        order = sorted(range(len(sizes)), key=lambda i: (-sizes[i][0], i))
        batches: list[list[int]] = []
        current: list[int] = []
        past = new = 0
        for i in order:
            n, start = sizes[i]
            grown_past, grown_new = max(past, start), max(new, n - start)
            full = (self.batch_size is not None and len(current) >= self.batch_size) or \
                (self.batch_size is None and
                 (len(current) + 1) * (grown_past + grown_new) > self.batch_tokens)
            if current and full:
                batches.append(current)
                current, grown_past, grown_new = [], start, n - start
            current.append(i)
            past, new = grown_past, grown_new
        if current:
            batches.append(current)
        return batches

    def _read_positions(self, batch: Sequence[Segment], starts: Sequence[int],
                        offsets: Sequence[int]) -> tuple[list[int], list[int], list[int]]:
        """(batch row, slot, next token id) of every read position at or after its
        segment's start (earlier ones come from the kept rows)."""
        b_idx, t_idx, next_ids = [], [], []
        for b, (seg, start, offset) in enumerate(zip(batch, starts, offsets, strict=True)):
            n = len(seg.ids)
            for t in seg.read:
                if t >= start:
                    b_idx.append(b)
                    t_idx.append(offset + t - start)
                    next_ids.append(seg.ids[t + 1] if t + 1 < n else 0)
        return b_idx, t_idx, next_ids

    def _forward(self, ids: Any, mask: Any, positions: Any,
                 reads: tuple[list[int], list[int], list[int]], cache: Any) -> np.ndarray:
        """The head's rows at the (batch row, slot, next id) ``reads`` of one batch, as
        float32 numpy (``cache``: the keys and values it continues and extends)."""
        import torch

        dev = self.torch_device
        b_idx, t_idx, next_ids = (torch.tensor(x, dtype=torch.long, device=dev) for x in reads)
        with torch.inference_mode():
            rows = self.model.rows(ids.to(dev), mask.to(dev), positions.to(dev), b_idx, t_idx,
                                   next_ids, cache)
        return rows.float().cpu().numpy()

    def _continue(self, batch: Sequence[Segment], entries: Sequence[CachedPrefix],
                  starts: Sequence[int], keys: Sequence[Hashable]) -> list[np.ndarray]:
        """The new tokens of each segment run on its kept prefix (past left aligned in
        slots [0, start), new tokens at [width, width + new), padding masked), kept in
        turn under its key."""
        import torch

        past = max(starts)
        new = max(len(s.ids) - st for s, st in zip(batch, starts, strict=True))
        ids = torch.zeros((len(batch), new), dtype=torch.long)
        mask = torch.zeros((len(batch), past + new), dtype=torch.long)
        positions = torch.zeros((len(batch), new), dtype=torch.long)
        for b, (seg, start) in enumerate(zip(batch, starts, strict=True)):
            q = len(seg.ids) - start
            ids[b, :q] = torch.tensor(seg.ids[start:], dtype=torch.long)
            mask[b, :start] = 1
            mask[b, past:past + q] = 1
            positions[b, :q] = torch.arange(start, len(seg.ids))
        b_idx, t_idx, next_ids = self._read_positions(batch, starts, [0] * len(batch))
        cache = padded_past(entries, starts)
        flat = self._forward(ids, mask, positions, (b_idx, t_idx, next_ids), cache)
        blocks, cursor = [], 0
        for b, (seg, entry, start, key) in enumerate(zip(batch, entries, starts, keys,
                                                         strict=True)):
            got: dict[int, np.ndarray] = {}
            for t in seg.read:
                if t >= start:
                    got[t] = flat[cursor]
                    cursor += 1
                else:
                    got[t] = entry.rows[t]
            blocks.append(np.stack([got[t] for t in seg.read]) if seg.read
                          else flat[:0])
            spans = [(0, start), (past, past + len(seg.ids) - start)]
            self.prefix_cache.put(key, CachedPrefix(tuple(seg.ids), row_kv(cache, b, spans),
                                                    got))
        return blocks

    def _run(self, batch: Sequence[Segment],
             keys: Sequence[Hashable] | None = None) -> list[np.ndarray]:
        """One padded full pass; with ``keys`` it runs on a fresh KV cache and keeps every
        segment (its keys and values and read rows) under its key."""
        import torch
        from transformers import DynamicCache

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
        cache = None if keys is None else DynamicCache()
        flat = self._forward(ids, mask, positions, (b_idx, t_idx, next_ids), cache)
        blocks, start = [], 0
        for b, seg in enumerate(batch):
            block = flat[start:start + len(seg.read)]
            blocks.append(block)
            start += len(seg.read)
            if keys is not None:
                n = len(seg.ids)
                offset = width - n if self.padding_side == "left" else 0
                self.prefix_cache.put(keys[b], CachedPrefix(
                    tuple(seg.ids), row_kv(cache, b, [(offset, offset + n)]),
                    dict(zip(seg.read, block, strict=True))))
        return blocks

    def reset_prefixes(self) -> None:
        """Drop every kept prefix (the search engine does at the end of its run)."""
        self.prefix_cache.clear()

    def identity(self) -> dict[str, Any]:
        import torch
        import transformers

        return {"backend": self.backend, "device": self.device,
                "padding_side": self.padding_side, "batch_tokens": self.batch_tokens,
                "batch_size": self.batch_size, "torch": torch.__version__,
                "transformers": transformers.__version__}


def _starts_with(ids: Sequence[int], prefix: Sequence[int]) -> bool:
    return len(prefix) <= len(ids) and tuple(ids[:len(prefix)]) == tuple(prefix)
