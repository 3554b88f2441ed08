"""Prefix reuse for causal-decoder PRMs: a scored prefix's keys and values, kept for its
children (docs/search.md, "PRM prefix reuse").

A causal decoder's output at position t depends on the tokens up to t only, so when a
child's token ids start with exactly the ids of a prefix scored before, the child needs a
forward over its new tokens alone, on top of the kept keys and values, and the rows the
parent read at shared positions are the child's rows there too. Whether a model is such a
decoder is not taken from its name: ``reuse_check`` refuses a model whose layers are not
all full attention, whose forward takes no KV cache, or whose rows at early positions
change when later tokens change (a bidirectional encoder), or whose cached continuation
differs from a full pass by more than ``PROBE_TOLERANCE``.

Memory: the kept prefixes are an LRU bounded by the bytes of their keys and values
(``max_bytes``); the least recently used are dropped first and a prefix larger than the
whole bound is not kept. A child whose parent was dropped is scored with a full pass.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: largest |cached - full| row difference the probe accepts, relative to max(1, |rows|),
#: by dtype (float32: 20x the 5e-6 measured on CPU for the tiny Qwen2 token classifier)
PROBE_TOLERANCE = {"float32": 1e-4, "bfloat16": 5e-2, "float16": 1e-2}


@dataclass
class CachedPrefix:
    """One scored sequence: its ids, each layer's [1, heads, len, dim] keys and values,
    and the head's row at each position it was read at."""

    ids: tuple[int, ...]
    kv: list[tuple[Any, Any]]
    rows: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return sum(k.numel() * k.element_size() + v.numel() * v.element_size()
                   for k, v in self.kv)


class PrefixCache:
    """An LRU of ``CachedPrefix`` by key, bounded by ``max_bytes`` of keys and values."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self._entries: OrderedDict[Hashable, CachedPrefix] = OrderedDict()
        self.bytes = 0
        self.evicted = 0
        self.peak_bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> CachedPrefix | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: Hashable, entry: CachedPrefix) -> None:
        size = entry.nbytes
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= old.nbytes
        if size > self.max_bytes:
            return
        self._entries[key] = entry
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, dropped = self._entries.popitem(last=False)
            self.bytes -= dropped.nbytes
            self.evicted += 1
        self.peak_bytes = max(self.peak_bytes, self.bytes)

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0


def usable_start(entry: CachedPrefix, ids: Sequence[int], read: Sequence[int],
                 next_token: bool) -> int:
    """How many leading positions of ``ids`` the kept ``entry`` serves: 0 unless its ids
    are exactly a prefix of ``ids``; else its length, moved back to the first read
    position it holds no valid row for (``next_token``: a row at t also needs the token at
    t + 1, so the entry's last position never serves), and to at most len(ids) - 1 (at
    least one token is fed)."""
    n = len(entry.ids)
    if n > len(ids) or tuple(ids[:n]) != entry.ids:
        return 0
    start = min(n, len(ids) - 1)
    for t in read:
        if t < start and (t not in entry.rows or (next_token and t + 1 >= n)):
            start = t
    return start


def padded_past(entries: Sequence[CachedPrefix], starts: Sequence[int]) -> Any:
    """A DynamicCache holding each entry's first ``starts[b]`` keys and values, left
    aligned in slots [0, start) of row b and zero beyond (the attention mask hides them)."""
    import torch
    from transformers import DynamicCache

    width = max(starts)
    layers = []
    for layer in range(len(entries[0].kv)):
        k0 = entries[0].kv[layer][0]
        shape = (len(entries), k0.shape[1], width, k0.shape[3])
        keys = torch.zeros(shape, dtype=k0.dtype, device=k0.device)
        values = torch.zeros_like(keys)
        for b, (entry, start) in enumerate(zip(entries, starts, strict=True)):
            k, v = entry.kv[layer]
            keys[b, :, :start] = k[0, :, :start]
            values[b, :, :start] = v[0, :, :start]
        layers.append((keys, values))
    return DynamicCache(ddp_cache_data=layers)


def row_kv(cache: Any, b: int, spans: Sequence[tuple[int, int]]) -> list[tuple[Any, Any]]:
    """Row ``b``'s keys and values over the slot ``spans`` of a batched cache, copied out
    (so the batch's tensors can be freed), one [1, heads, len, dim] pair per layer."""
    import torch

    out = []
    for layer in cache.layers:
        keys = torch.cat([layer.keys[b, :, lo:hi] for lo, hi in spans], dim=1)
        values = torch.cat([layer.values[b, :, lo:hi] for lo, hi in spans], dim=1)
        out.append((keys.unsqueeze(0).clone(), values.unsqueeze(0).clone()))
    return out


def full_attention(config: Any) -> bool:
    """Every layer attends to the whole prefix (no sliding window, no chunked layers)."""
    layer_types = getattr(config, "layer_types", None)
    if layer_types:
        return all(t == "full_attention" for t in layer_types)
    return not (getattr(config, "sliding_window", None)
                and getattr(config, "use_sliding_window", True))


def reuse_check(model: Any, device: Any, dtype: str, next_token: bool) -> str | None:
    """None when ``model`` (a RowModel) can continue a kept prefix exactly, else why not.

    Probed on 12 seeded token ids: rows at positions 0-7 must not change when tokens 8-11
    change (causality), and rows at 8-11 computed on the cache of 0-7 must equal a full
    pass within PROBE_TOLERANCE."""
    import torch

    from harness.models.prms.hf_rows import cache_kwargs

    config = model.config
    if getattr(config, "is_encoder_decoder", False):
        return "an encoder-decoder model"
    if not full_attention(config):
        return "not every layer is full attention (sliding or chunked attention)"
    try:
        cache_kwargs(model.cached_module, object())
    except TypeError as exc:
        return str(exc)
    vocab = int(config.vocab_size)
    gen = torch.Generator().manual_seed(15)
    ids = torch.randint(0, vocab, (1, 12), generator=gen)
    other = ids.clone()
    other[0, 8:] = (other[0, 8:] + 1 + torch.randint(0, vocab - 1, (4,), generator=gen)) % vocab

    def rows(seq: Any, positions: range, cache: Any = None, offset: int = 0) -> Any:
        n = seq.shape[1]
        t = torch.arange(n, device=device)
        nxt = torch.cat([seq[0, 1:], seq.new_zeros(1)]).to(device)
        picked = [p - offset for p in positions]
        return model.rows(seq.to(device), torch.ones((1, offset + n), dtype=torch.long,
                                                      device=device),
                          (t + offset).unsqueeze(0), torch.zeros(len(picked), dtype=torch.long,
                                                                 device=device),
                          torch.tensor(picked, device=device), nxt[picked],
                          cache).float().cpu()

    from transformers import DynamicCache

    try:
        with torch.inference_mode():
            full = rows(ids, range(12))
            changed = rows(other, range(12))
            cache = DynamicCache()
            rows(ids[:, :8], range(8), cache)
            continued = rows(ids[:, 8:], range(8, 12), cache, offset=8)
    except Exception as exc:  # a model that cannot run on a cache is not reused
        return f"a cached forward failed ({type(exc).__name__}: {exc})"
    scale = max(1.0, float(full.abs().max()))
    tolerance = PROBE_TOLERANCE.get(dtype, 1e-2) * scale
    # next-token rows at position 7 read token 8, which the changed ids replace
    kept = 7 if next_token else 8
    if float((full[:kept] - changed[:kept]).abs().max()) > tolerance:
        return "rows at early positions change with later tokens (not a causal decoder)"
    error = float((full[8:] - continued).abs().max())
    if error > tolerance:
        return f"a cached continuation differs from a full pass by {error:.3g}"
    return None
