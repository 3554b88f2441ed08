"""Sketch-based statistics for the gradient pattern similarity (``similarity.py``).

The exact S is a single dot product of mean unit vectors, so it carries no per-sample
information; resampling needs each sample's own vector. Those are far too large to keep
(|P| floats each), so each sample's per-layer unit vector is kept as a seeded count
sketch of width d (inner products are preserved in expectation, with a variance of order
1/d). Bootstrap CIs, the permutation test and the length-matched control are all
computed from the mean-over-layers Gram matrix of two sets' sketches.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DEFAULT_SKETCH_DIM = 1 << 16
DEFAULT_BOOT = 1000
DEFAULT_LENGTH_BIN = 32


def _stream_seed(seed: int, layer: int, name: str) -> int:
    """A 63-bit seed per (seed, layer, matrix): independent hashes for every matrix."""
    digest = hashlib.sha256(f"{seed}\0{layer}\0{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


class CountSketch:
    """A seeded count sketch of one layer's concatenated matrices into ``dim`` buckets.

    Bucket and sign of every parameter are drawn once per matrix (int32 and int8, 5 bytes
    per parameter) so each sample costs one ``index_add_`` per matrix."""

    def __init__(self, shapes: dict[str, int], layer: int, seed: int, dim: int) -> None:
        import torch

        self.dim = dim
        self.buckets: dict[str, Any] = {}
        self.signs: dict[str, Any] = {}
        for name, numel in shapes.items():
            gen = torch.Generator().manual_seed(_stream_seed(seed, layer, name))
            self.buckets[name] = torch.randint(0, dim, (numel,), generator=gen,
                                               dtype=torch.int32)
            self.signs[name] = (torch.randint(0, 2, (numel,), generator=gen,
                                              dtype=torch.int8) * 2 - 1)

    def sketch(self, parts: dict[str, Any], scale: float) -> Any:
        """Sketch of the concatenation of ``parts`` (flat tensors) times ``scale``."""
        import torch

        first = next(iter(parts.values()))
        out = torch.zeros(self.dim, dtype=first.dtype)
        for name, flat in parts.items():
            out.index_add_(0, self.buckets[name], flat * self.signs[name].to(flat.dtype))
        return out.mul_(scale)


@dataclass
class SetSketches:
    """The per-sample sketches of one sample set: ``values[i, l]`` is sample i's unit
    vector at the l-th selected layer, sketched; ``lengths`` are response token counts."""

    name: str
    values: np.ndarray          # [n, n_layers, dim]
    lengths: np.ndarray         # [n]
    layers: list[int] = field(default_factory=list)

    @property
    def n(self) -> int:
        return int(self.values.shape[0])


def gram(a: SetSketches, b: SetSketches) -> np.ndarray:
    """G[i, j]: the mean over layers of the sketched cosine of a_i and b_j (float64)."""
    if a.layers != b.layers or a.values.shape[2] != b.values.shape[2]:
        raise ValueError("the two sets were sketched over different layers or widths")
    n_layers = a.values.shape[1]
    out = np.zeros((a.n, b.n))
    for layer in range(n_layers):
        out += a.values[:, layer, :].astype(np.float64) @ b.values[:, layer, :].astype(
            np.float64).T
    return out / n_layers


def bootstrap_all_pairs(g: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """S (x100) of ``n_boot`` resamples: the samples of each set are drawn with
    replacement, independently, and every (a, b) pair of the resample counts."""
    rng = np.random.default_rng(seed)
    n_a, n_b = g.shape
    counts_a = rng.multinomial(n_a, np.full(n_a, 1.0 / n_a), size=n_boot).astype(np.float64)
    counts_b = rng.multinomial(n_b, np.full(n_b, 1.0 / n_b), size=n_boot).astype(np.float64)
    values: np.ndarray = 100.0 * np.einsum("ki,ij,kj->k", counts_a, g, counts_b) / (n_a * n_b)
    return values


def bootstrap_aligned(per_pair: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """S (x100) of ``n_boot`` resamples of the aligned pairs (exact per-pair cosines)."""
    rng = np.random.default_rng(seed)
    n = per_pair.shape[0]
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)
    values: np.ndarray = 100.0 * counts @ per_pair / n
    return values


def percentile_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The percentile interval of a bootstrap distribution."""
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = np.percentile(values, [tail, 100.0 - tail])
    return float(lo), float(hi)


def length_matched(a: SetSketches, b: SetSketches, g: np.ndarray,
                   bin_tokens: int) -> dict[str, Any]:
    """S over only the pairs whose response lengths fall in the same ``bin_tokens``-wide
    bin (from sketches), next to the sketched S over all pairs, so a gap between the two
    shows how much of S is response length."""
    bins_a = a.lengths // bin_tokens
    bins_b = b.lengths // bin_tokens
    mask = bins_a[:, None] == bins_b[None, :]
    matched = int(mask.sum())
    return {
        "bin_tokens": bin_tokens,
        "S": float(100.0 * g[mask].mean()) if matched else None,
        "S_sketch_all_pairs": float(100.0 * g.mean()),
        "matched_pairs": matched,
        "pairs": int(g.size),
        "bins": sorted({int(x) * bin_tokens for x in np.intersect1d(bins_a, bins_b)}),
    }


def permutation_test(first: tuple[SetSketches, SetSketches],
                     second: tuple[SetSketches, SetSketches], n_perm: int = 1000,
                     seed: int = 0) -> dict[str, Any]:
    """Two-sided permutation test of S(A, B) = S(C, D), from sketches.

    Under the null, A and C are exchangeable and so are B and D: the pooled A+C samples
    are split at random into groups of |A| and |C| (likewise B+D), and S(A', B') -
    S(C', D') is recomputed. A side shared by both comparisons (A is C, say) is not
    pooled. p = (1 + #{|perm diff| >= |observed diff|}) / (1 + n_perm)."""
    (a, b), (c, d) = first, second
    share_x, share_y = a is c, b is d
    xs = [a] if share_x else [a, c]
    ys = [b] if share_y else [b, d]
    x = SetSketches("x", np.concatenate([s.values for s in xs]),
                    np.concatenate([s.lengths for s in xs]), a.layers)
    y = SetSketches("y", np.concatenate([s.values for s in ys]),
                    np.concatenate([s.lengths for s in ys]), b.layers)
    g = gram(x, y)

    def diff(rows_a: np.ndarray, rows_c: np.ndarray, cols_b: np.ndarray,
             cols_d: np.ndarray) -> float:
        return float(100.0 * (g[np.ix_(rows_a, cols_b)].mean()
                              - g[np.ix_(rows_c, cols_d)].mean()))

    def split(n_first: int, total: int, shared: bool,
              order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if shared:
            every = np.arange(total)
            return every, every
        return order[:n_first], order[n_first:]

    ra, rc = split(a.n, x.n, share_x, np.arange(x.n))
    cb, cd = split(b.n, y.n, share_y, np.arange(y.n))
    observed = diff(ra, rc, cb, cd)
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(n_perm):
        pa, pc = split(a.n, x.n, share_x, rng.permutation(x.n))
        pb, pd = split(b.n, y.n, share_y, rng.permutation(y.n))
        if abs(diff(pa, pc, pb, pd)) >= abs(observed) - 1e-12:
            hits += 1
    return {"S_first_sketch": float(100.0 * g[np.ix_(ra, cb)].mean()),
            "S_second_sketch": float(100.0 * g[np.ix_(rc, cd)].mean()),
            "diff": observed, "p_value": (1 + hits) / (1 + n_perm), "n_perm": n_perm,
            "seed": seed, "pooled": {"first_side": not share_x, "second_side": not share_y}}
