"""Gradient pattern similarity of two response sets under a reference causal LM.

After Wang et al. (AAAI 2025), the metric seed 003 (Table 2) uses: a sample s activates
parameter i by A(theta, s)_i = |theta_i * dF(theta, s)/dtheta_i|; per layer l the vector
A_l(s) runs over that layer's attention q, k, v, o and MLP gate, up, down weight
matrices, found by module name (a size cut such as max(shape) <= 15000 would silently
drop every MLP matrix of a 7B model). Two sets compare by

    S(S1, S2) = 100 * mean_{l in L} mean_{(s1, s2) in S1 x S2} cos(A_l(s1), A_l(s2)).

The mean over pairs of cosines is the dot product of the two sets' mean unit vectors, so
S is computed exactly while streaming: one forward and one backward per sample, one
running sum of |P| floats for set A, and one dot product per sample of set B; no pairwise
matrix of full vectors is ever built. Each sample's per-layer unit vector is also kept as
a count sketch (``similarity_stats``) for bootstrap CIs, the length-matched control and
permutation tests. ``--pairs aligned`` is the original paper's protocol: the mean over i
of cos(A(s1_i), A(s2_i)), exact, for sets of equal size.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from harness.diagnostics import similarity_stats as st
from harness.errors import ConfigError, InputError
from harness.store.jsonl import jsonl_records

FName = Literal["resp_ll", "wang2025"]
F_NAMES: tuple[str, ...] = ("resp_ll", "wang2025")
F_DESCRIPTIONS = {
    "resp_ll": "mean log-likelihood of the response tokens given the rendered prompt",
    "wang2025": "the largest logit at the last position of prompt + response "
                "(as the original code)",
}
MATRIX_ROLES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
_MATRIX = re.compile(r"(?:^|\.)layers\.(\d+)\.(?:self_attn|mlp)\.("
                     + "|".join(MATRIX_ROLES) + r")\.weight$")
DTYPES = ("float32", "float64")
RMSNORM_CLASSES = frozenset({"Qwen2RMSNorm", "LlamaRMSNorm", "MistralRMSNorm"})


@dataclass(frozen=True)
class Sample:
    """One prompt/response pair and where it was read from (for error messages)."""

    prompt: str
    response: str
    source: str = "<memory>"
    line: int = 0


def read_set(path: Path) -> list[Sample]:
    """The samples of a JSONL file with ``prompt`` and ``response`` strings per line."""
    samples = []
    for line, record in jsonl_records(path, {"prompt": str, "response": str}):
        if not record["response"].strip():
            raise InputError("empty response", path=path, line=line, field="response")
        samples.append(Sample(record["prompt"], record["response"], str(path), line))
    if not samples:
        raise InputError("no samples (the file has no non-blank line)", path=path)
    return samples


def select_matrices(model: Any) -> dict[int, dict[str, Any]]:
    """layer index -> {role: weight} for the seven projection matrices of each decoder
    layer, matched by module name whatever their shape."""
    found: dict[int, dict[str, Any]] = {}
    for name, param in model.named_parameters():
        match = _MATRIX.search(name)
        if match:
            found.setdefault(int(match.group(1)), {})[match.group(2)] = param
    if not found:
        raise ConfigError(f"{type(model).__name__}: no parameter named like "
                          f"'layers.N.(self_attn|mlp).({'|'.join(MATRIX_ROLES)}).weight'")
    for layer, mats in found.items():  # a fused or renamed projection must not vanish
        absent = [r for r in MATRIX_ROLES if r not in mats]
        if absent:
            raise ConfigError(f"{type(model).__name__}: layer {layer} has no "
                              f"{', '.join(absent)} weight (fused projections are not "
                              "supported)")
    return dict(sorted(found.items()))


def resolve_layers(n_layers: int, mode: str) -> list[int]:
    """``deep``: the deep half [floor(n/2), n - 3]; ``all``: every layer."""
    if mode == "all":
        return list(range(n_layers))
    if mode != "deep":
        raise ConfigError(f"--layers {mode!r}: expected 'deep' or 'all'")
    chosen = list(range(n_layers // 2, n_layers - 2))
    if not chosen:
        raise ConfigError(f"--layers deep: [n/2, n-3] is empty for a model of {n_layers} "
                          "layers; use --layers all")
    return chosen


class Reference:
    """The reference causal LM, its tokenizer, and how prompts are rendered."""

    def __init__(self, model: Any, tokenizer: Any, path: str | None = None) -> None:
        import torch

        self._torch = torch
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.path = path
        self.dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
        self.matrices = select_matrices(model)
        self.n_layers = int(getattr(model.config, "num_hidden_layers", len(self.matrices)))
        self.chat_template = bool(getattr(tokenizer, "chat_template", None))
        self.float64_norms = self._keep_norms_float64() if self.dtype == "float64" else []
        keep = {id(p) for mats in self.matrices.values() for p in mats.values()}
        for param in model.parameters():  # gradients only where patterns are read
            param.requires_grad_(id(param) in keep)

    def _keep_norms_float64(self) -> list[str]:
        """Qwen2/Llama/Mistral RMSNorms cast to float32 inside; in a float64 model that
        would put float32 rounding into every gradient. Same formula, dtype kept."""
        torch = self._torch
        patched = set()
        for module in self.model.modules():
            name = type(module).__name__
            if name not in RMSNORM_CLASSES:
                continue

            def forward(x: Any, module: Any = module) -> Any:
                variance = x.pow(2).mean(-1, keepdim=True)
                return module.weight * (x * torch.rsqrt(variance + module.variance_epsilon))

            module.forward = forward
            patched.add(name)
        if getattr(self.model.config, "_attn_implementation", None) == "eager":
            self.model.set_attn_implementation("sdpa")  # eager's softmax is float32
        return sorted(patched)

    @classmethod
    def load(cls, path: Path, dtype: str = "float32") -> Reference:
        """Load a local HF folder in ``dtype`` (float32 or float64)."""
        if dtype not in DTYPES:
            raise ConfigError(f"--dtype {dtype!r}: expected one of {', '.join(DTYPES)}")
        if not (path / "config.json").is_file():
            raise InputError("not a model folder (no config.json)", path=path)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(path))
        model = AutoModelForCausalLM.from_pretrained(str(path),
                                                     dtype=getattr(torch, dtype))
        return cls(model, tokenizer, str(path))

    @property
    def rendering(self) -> str:
        """How prompts become text: the tokenizer's chat template, or plain concatenation."""
        return "chat_template" if self.chat_template else "plain"

    def encode(self, sample: Sample) -> tuple[list[int], int]:
        """Token ids of prompt + response and the number of prompt tokens.

        Chat template: the prompt is one user turn plus the generation prompt; the response
        follows as raw text (no end-of-turn token). Plain: prompt text (with the
        tokenizer's own special tokens, e.g. BOS) then the response text. Prompt and
        response are tokenized separately so the boundary is exact."""
        tok = self.tokenizer
        if self.chat_template:
            text = tok.apply_chat_template([{"role": "user", "content": sample.prompt}],
                                           add_generation_prompt=True, tokenize=False)
            prompt_ids = list(tok(text, add_special_tokens=False)["input_ids"])
        else:
            prompt_ids = list(tok(sample.prompt)["input_ids"])
        response_ids = list(tok(sample.response, add_special_tokens=False)["input_ids"])
        if not response_ids:
            raise InputError("the response has no tokens", path=sample.source,
                             line=sample.line, field="response")
        if not prompt_ids:
            raise InputError("the prompt has no tokens (and the tokenizer adds no BOS)",
                             path=sample.source, line=sample.line, field="prompt")
        return prompt_ids + response_ids, len(prompt_ids)

    def objective(self, ids: list[int], n_prompt: int, f: str) -> Any:
        """F(theta, s) as a scalar tensor with a graph to the selected matrices."""
        torch = self._torch
        x = torch.tensor([ids])
        if f == "wang2025":
            logits = self.model(input_ids=x, logits_to_keep=1, use_cache=False).logits
            return logits[0, -1].max()
        if f == "resp_ll":
            n_resp = len(ids) - n_prompt
            logits = self.model(input_ids=x, logits_to_keep=n_resp + 1,
                                use_cache=False).logits[0, :-1]
            targets = x[0, n_prompt:]
            logp = torch.log_softmax(logits, dim=-1)
            return logp.gather(1, targets[:, None]).mean()
        raise ConfigError(f"--f {f!r}: expected one of {', '.join(F_NAMES)}")

    def patterns(self, sample: Sample, f: str, layers: Sequence[int],
                 f_scale: float = 1.0) -> tuple[dict[int, dict[str, Any]], dict[int, float],
                                                int]:
        """Per layer: {role: flat A} and ||A_l||; plus the response token count.

        One forward and one backward; ``f_scale`` multiplies F (a hook for the test that
        S does not depend on F's scale)."""
        torch = self._torch
        ids, n_prompt = self.encode(sample)
        params = [(layer, role, p) for layer in layers
                  for role, p in self.matrices[layer].items()]
        value = self.objective(ids, n_prompt, f) * f_scale
        grads = torch.autograd.grad(value, [p for _, _, p in params])
        parts: dict[int, dict[str, Any]] = {layer: {} for layer in layers}
        squares: dict[int, float] = dict.fromkeys(layers, 0.0)
        with torch.no_grad():
            for (layer, role, p), g in zip(params, grads, strict=True):
                a = (p.detach() * g).abs_().reshape(-1)
                parts[layer][role] = a
                squares[layer] += float(torch.dot(a, a))
        norms = {layer: squares[layer] ** 0.5 for layer in layers}
        for layer, norm in norms.items():
            if not norm > 0.0:
                raise InputError(f"the gradient pattern at layer {layer} is zero (F does "
                                 "not depend on it): its cosine is undefined",
                                 path=sample.source, line=sample.line)
        return parts, norms, len(ids) - n_prompt

    def identity(self) -> dict[str, Any]:
        """The model as the harness records models elsewhere (folder identity, hashes)."""
        config = self.model.config
        out: dict[str, Any] = {"architecture": type(self.model).__name__,
                               "model_type": getattr(config, "model_type", None),
                               "n_layers": self.n_layers, "dtype": self.dtype,
                               "config_sha256": hashlib.sha256(
                                   config.to_json_string(use_diff=False).encode()).hexdigest()}
        if self.path is not None:
            from harness.models.model_files import folder_identity

            out = {**folder_identity(self.path), **out}
        return out


@dataclass
class SimilarityResult:
    """S with its CI and everything needed to say how it was made."""

    S: float
    ci: tuple[float, float]
    f: str
    layers: list[int]
    pairs: str
    n_a: int
    n_b: int
    per_layer: list[float]
    model: dict[str, Any]
    settings: dict[str, Any]
    sketch: dict[str, Any] = field(default_factory=dict)
    length_matched: dict[str, Any] | None = None
    sets: tuple[st.SetSketches, st.SetSketches] | None = None
    per_pair: list[float] | None = None
    timing: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The JSON document (the CLI's ``--json``)."""
        return {"S": self.S, "ci": list(self.ci), "f": self.f, "layers": self.layers,
                "n_a": self.n_a, "n_b": self.n_b, "model": self.model,
                "pairs": self.pairs, "f_definition": F_DESCRIPTIONS[self.f],
                "per_layer": self.per_layer, "settings": self.settings,
                "sketch": self.sketch, "length_matched": self.length_matched,
                "timing": self.timing}


def _dot(xs: dict[str, Any], ys: dict[str, Any]) -> float:
    import torch

    return float(sum(torch.dot(xs[k], ys[k]) for k in xs))


def _each(ref: Reference, samples: Sequence[Sample], f: str, layers: list[int],
          f_scale: float) -> Iterator[tuple[dict[int, dict[str, Any]], dict[int, float], int]]:
    for sample in samples:
        yield ref.patterns(sample, f, layers, f_scale)


def _layers_and_sketches(ref: Reference, layers: str | list[int], seed: int,
                         sketch_dim: int) -> tuple[list[int], dict[int, Any]]:
    """The layers measured and one seeded count sketch per layer: the same for the
    pairwise and the set-summary paths, so their sketches hash alike."""
    chosen = resolve_layers(ref.n_layers, layers) if isinstance(layers, str) else layers
    missing = [layer for layer in chosen if layer not in ref.matrices]
    if missing:
        raise ConfigError(f"layers {missing} have no projection matrices in the model")
    sketches = {layer: st.CountSketch({r: p.numel() for r, p in ref.matrices[layer].items()},
                                      layer, seed, sketch_dim) for layer in chosen}
    return chosen, sketches


def compute_similarity(ref: Reference, set_a: Sequence[Sample], set_b: Sequence[Sample], *,
                       f: str = "resp_ll", layers: str | list[int] = "deep",
                       pairs: str = "all", seed: int = 0,
                       sketch_dim: int = st.DEFAULT_SKETCH_DIM,
                       n_boot: int = st.DEFAULT_BOOT,
                       length_bin: int = st.DEFAULT_LENGTH_BIN, f_scale: float = 1.0,
                       progress: Callable[[int], None] | None = None) -> SimilarityResult:
    """S(set_a, set_b) under ``ref``; see the module docstring for the definition."""
    if f not in F_NAMES:
        raise ConfigError(f"--f {f!r}: expected one of {', '.join(F_NAMES)}")
    if pairs not in ("all", "aligned"):
        raise ConfigError(f"--pairs {pairs!r}: expected 'all' or 'aligned'")
    if not set_a or not set_b:
        raise ConfigError("both sample sets must be non-empty")
    if pairs == "aligned" and len(set_a) != len(set_b):
        raise ConfigError(f"--pairs aligned needs sets of equal size (got {len(set_a)} "
                          f"and {len(set_b)})")
    chosen, sketches = _layers_and_sketches(ref, layers, seed, sketch_dim)
    done = 0
    start = time.perf_counter()

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done)

    def sketch_row(parts: dict[int, dict[str, Any]], norms: dict[int, float]) -> np.ndarray:
        return np.stack([sketches[layer].sketch(parts[layer], 1.0 / norms[layer]).numpy()
                         for layer in chosen])

    rows_a: list[np.ndarray] = []
    rows_b: list[np.ndarray] = []
    len_a: list[int] = []
    len_b: list[int] = []
    per_pair: list[float] | None = None
    if pairs == "all":
        sums: dict[int, dict[str, Any]] = {}
        for parts, norms, n_resp in _each(ref, set_a, f, chosen, f_scale):
            rows_a.append(sketch_row(parts, norms))
            for layer in chosen:  # in place: a second copy of |P| floats is never made
                for r, a in parts[layer].items():
                    a.div_(norms[layer])
                    if layer not in sums:
                        continue
                    sums[layer][r].add_(a)
                sums.setdefault(layer, parts[layer])
            len_a.append(n_resp)
            tick()
        totals = dict.fromkeys(chosen, 0.0)
        for parts, norms, n_resp in _each(ref, set_b, f, chosen, f_scale):
            for layer in chosen:
                totals[layer] += _dot(parts[layer], sums[layer]) / norms[layer]
            rows_b.append(sketch_row(parts, norms))
            len_b.append(n_resp)
            tick()
        per_layer = [100.0 * totals[layer] / (len(set_a) * len(set_b)) for layer in chosen]
    else:
        cos = np.zeros((len(set_a), len(chosen)))
        for i, (sa, sb) in enumerate(zip(set_a, set_b, strict=True)):
            parts_a, norms_a, n_a_resp = ref.patterns(sa, f, chosen, f_scale)
            rows_a.append(sketch_row(parts_a, norms_a))
            len_a.append(n_a_resp)
            tick()
            parts_b, norms_b, n_b_resp = ref.patterns(sb, f, chosen, f_scale)
            rows_b.append(sketch_row(parts_b, norms_b))
            len_b.append(n_b_resp)
            tick()
            for j, layer in enumerate(chosen):
                cos[i, j] = (_dot(parts_a[layer], parts_b[layer])
                             / (norms_a[layer] * norms_b[layer]))
            del parts_a, parts_b
        per_layer = [100.0 * float(v) for v in cos.mean(axis=0)]
        per_pair = [float(v) for v in cos.mean(axis=1)]
    elapsed = time.perf_counter() - start
    s_exact = float(np.mean(per_layer))
    set_a_sk = st.SetSketches("a", np.stack(rows_a), np.array(len_a), list(chosen))
    set_b_sk = st.SetSketches("b", np.stack(rows_b), np.array(len_b), list(chosen))
    if pairs == "all":
        g = st.gram(set_a_sk, set_b_sk)
        s_sketch = float(100.0 * g.mean())
        # the bootstrap runs on sketches; shifting it by (exact - sketch) centres it on S
        boot = st.bootstrap_all_pairs(g, n_boot, seed) + (s_exact - s_sketch)
        matched = st.length_matched(set_a_sk, set_b_sk, g, length_bin)
    else:
        assert per_pair is not None
        diag = np.einsum("ild,ild->i", set_a_sk.values.astype(np.float64),
                         set_b_sk.values.astype(np.float64)) / len(chosen)
        s_sketch = float(100.0 * diag.mean())
        boot = st.bootstrap_aligned(np.array(per_pair), n_boot, seed)
        matched = None
    return SimilarityResult(
        S=s_exact, ci=st.percentile_ci(boot), f=f, layers=list(chosen), pairs=pairs,
        n_a=len(set_a), n_b=len(set_b), per_layer=per_layer, model=ref.identity(),
        settings={"seed": seed, "n_boot": n_boot, "ci_level": 0.95,
                  "ci_method": ("percentile bootstrap over aligned pairs (exact cosines)"
                                if pairs == "aligned" else
                                "percentile bootstrap resampling the samples of each set, "
                                "S recomputed from sketches, shifted by S - S_sketch"),
                  "prompt_rendering": ref.rendering,
                  "layer_selection": layers if isinstance(layers, str) else "explicit",
                  "n_layers": ref.n_layers, "matrices": list(MATRIX_ROLES),
                  "params_per_sample": sum(p.numel() for layer in chosen
                                           for p in ref.matrices[layer].values()),
                  "f_scale": f_scale, "float64_norms_patched": ref.float64_norms},
        sketch={"dim": sketch_dim, "S_sketch": s_sketch, "abs_error": abs(s_sketch - s_exact)},
        length_matched=matched, sets=(set_a_sk, set_b_sk), per_pair=per_pair,
        timing={"gradient_s": round(elapsed, 3),
                "samples_per_s": round(done / elapsed, 3) if elapsed > 0 else 0.0})


def similarity(model_dir: Path, set_a: Path, set_b: Path, *, dtype: str = "float32",
               **options: Any) -> SimilarityResult:
    """Read both sets (all input errors before the model loads), load, compute."""
    samples_a = read_set(set_a)
    samples_b = read_set(set_b)
    ref = Reference.load(model_dir, dtype)
    return compute_similarity(ref, samples_a, samples_b, **options)


# -- many sets, each sample's pattern computed once -----------------------------------


@dataclass
class SetSummary:
    """What S needs of one sample set, each sample's pattern computed once: per layer the
    mean unit vector ({role: flat tensor}), and the per-sample sketches (bootstrap CI,
    length-matched control). Two summaries made by one ``set_summaries`` call compare
    with ``similarity_from_summaries``."""

    name: str
    n: int
    f: str
    layers: list[int]
    seed: int
    means: dict[int, dict[str, Any]]
    sketches: st.SetSketches
    gradient_s: float = 0.0


def set_summaries(ref: Reference, sets: dict[str, Sequence[Sample]], *,
                  f: str = "resp_ll", layers: str | list[int] = "deep", seed: int = 0,
                  sketch_dim: int = st.DEFAULT_SKETCH_DIM, f_scale: float = 1.0,
                  progress: Callable[[str, int], None] | None = None
                  ) -> dict[str, SetSummary]:
    """One forward and one backward per sample of every set; per set the per-layer mean
    unit vectors (|P| floats in the model's dtype) and the per-sample count sketches,
    hashed as ``compute_similarity`` hashes them (same ``seed`` and ``sketch_dim``), so
    ``similarity_from_summaries(a, b)`` gives its S, per-layer values and CI."""
    if f not in F_NAMES:
        raise ConfigError(f"--f {f!r}: expected one of {', '.join(F_NAMES)}")
    if not sets or any(not samples for samples in sets.values()):
        raise ConfigError("every sample set must be non-empty")
    chosen, sketches = _layers_and_sketches(ref, layers, seed, sketch_dim)
    out: dict[str, SetSummary] = {}
    for name, samples in sets.items():
        start = time.perf_counter()
        sums: dict[int, dict[str, Any]] = {}
        rows: list[np.ndarray] = []
        lengths: list[int] = []
        for i, (parts, norms, n_resp) in enumerate(_each(ref, samples, f, chosen, f_scale)):
            rows.append(np.stack([sketches[layer].sketch(parts[layer],
                                                         1.0 / norms[layer]).numpy()
                                  for layer in chosen]))
            for layer in chosen:
                for r, a in parts[layer].items():
                    a.div_(norms[layer])
                    if layer in sums:
                        sums[layer][r].add_(a)
                sums.setdefault(layer, parts[layer])
            lengths.append(n_resp)
            if progress is not None:
                progress(name, i + 1)
        for mats in sums.values():
            for a in mats.values():
                a.div_(len(samples))
        out[name] = SetSummary(name, len(samples), f, list(chosen), seed, sums,
                               st.SetSketches(name, np.stack(rows), np.array(lengths),
                                              list(chosen)),
                               round(time.perf_counter() - start, 3))
    return out


def similarity_from_summaries(a: SetSummary, b: SetSummary, *, n_boot: int = st.DEFAULT_BOOT,
                              length_bin: int = st.DEFAULT_LENGTH_BIN) -> dict[str, Any]:
    """S(a, b) over all pairs from two summaries: exact S (dot products of the mean unit
    vectors), per layer, and the sketch bootstrap CI shifted by S - S_sketch, as
    ``compute_similarity`` computes them."""
    if (a.f, a.layers, a.seed) != (b.f, b.layers, b.seed):
        raise ConfigError("the two summaries differ in F, layers or seed")
    per_layer = [100.0 * _dot(a.means[layer], b.means[layer]) for layer in a.layers]
    s_exact = float(np.mean(per_layer))
    g = st.gram(a.sketches, b.sketches)
    s_sketch = float(100.0 * g.mean())
    boot = st.bootstrap_all_pairs(g, n_boot, a.seed) + (s_exact - s_sketch)
    return {"S": s_exact, "ci": list(st.percentile_ci(boot)), "per_layer": per_layer,
            "n_a": a.n, "n_b": b.n,
            "sketch": {"dim": int(a.sketches.values.shape[2]), "S_sketch": s_sketch,
                       "abs_error": abs(s_sketch - s_exact)},
            "length_matched": st.length_matched(a.sketches, b.sketches, g, length_bin)}
