"""``hf``: a policy run with Hugging Face transformers, batched, on CPU or GPU.

Prompts are rendered with the model folder's chat template (policies.chat), left-padded
and generated ``batch_size`` prompts at a time, each with ``num_return_sequences=n``.
Only the SamplingParams decide the decoding: the model's generation_config.json defaults
(top_k, repetition_penalty, ...) are overridden with neutral values, so every back-end
samples from the same distribution. The RNG is seeded per batch from the request seed and
the batch's first prompt index: a pool is reproducible for the same ``batch_size``.
Temperature 0 is greedy decoding (the n samples are then copies).

``step`` with per-request seeds (``SeededParams.seeds``, the search engine's calls) runs
its own decode loop instead (``takes_request_seeds``): prompts are left-padded with an
attention mask and explicit position ids and decoded together with a KV cache, but every
row draws from its own ``torch.Generator`` seeded with its seed (one Gumbel draw per
vocabulary entry a token) and picks its token by Gumbel-max from its own logits. Batched
float logits are not bitwise batch-invariant (GEMM and attention kernels round differently
for other batch shapes: measured up to 6.4e-5 on CPU float32 for a tiny Qwen2), so a pick
whose outcome could flip under a logit error of ``batch_tolerance`` (the top two perturbed
scores, a top-p cut or a greedy tie that close; the bounds are in ``choose_batch``) is
redone from the row's *canonical* logits: one forward of that row alone, without padding
or cache. A request's step is then the same alone or in any batch, provided the batched
logits stay within ``batch_tolerance`` of the canonical ones; every recompute measures
that error and an excess is an error, never ignored.

Token-id prefixes (``takes_token_prefixes``): the ids of each returned step are kept,
keyed by (rendered prompt, prefix + step text), so the next step under it is fed the
parent's ids plus the step's ids rather than the re-tokenised text (a step whose ids do
not decode to exactly its text is not kept; its children's prefix is tokenised).
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from harness.errors import ConfigError
from harness.interfaces import Completion, SamplingParams
from harness.models.model_files import folder_identity
from harness.models.policies.base import (
    check_seeded_step,
    first_stop,
    request_seed,
)
from harness.models.policies.chat import (
    TemplatePolicy,
    load_tokenizer,
    read_chat_template,
)
from harness.models.policies.prefix_ids import PrefixIds
from harness.types import Message

# settings SamplingParams does not carry, pinned to "no effect" (the model's own
# generation_config is replaced by a blank one, whose global defaults hold top_k=50)
NEUTRAL = {"top_k": 0, "typical_p": 1.0, "repetition_penalty": 1.0, "num_beams": 1,
           "no_repeat_ngram_size": 0}
DTYPES = ("float32", "bfloat16", "float16")
#: largest |batched - canonical| logit error a seeded pick is guarded against, by dtype.
#: float32: 4x the 6.4e-5 measured on CPU (tiny Qwen2, batch 1 to 6, left padding);
#: the half-precision values are not measured (a recompute that sees more raises)
BATCH_TOLERANCE = {"float32": 2.5e-4, "bfloat16": 0.125, "float16": 0.03}


@dataclass
class _Row:
    """One seeded step request in the decode loop."""

    ids: list[int]
    generator: Any
    generated: list[int]


class HfPolicy(PrefixIds, TemplatePolicy):
    """Registered as policy ``hf``."""

    backend = "hf"
    #: ``step`` honours ``SeededParams.seeds`` (one generator per request, see above)
    takes_request_seeds = True
    step_seed_rule = ("step with SeededParams.seeds: torch.Generator().manual_seed(seed of "
                      "the request); per generated token one float64 uniform per vocabulary "
                      "entry, Gumbel-max over logits / T (top-p: over the nucleus)")
    seed_rule = ("torch.manual_seed(request seed + index of the batch's first prompt) before "
                 "each batch of batch_size prompts; request seed = first 31 bits of "
                 "sha256(['policy-seed', seed])")

    def __init__(self, model: str, revision: str | None = None, tokenizer: str | None = None,
                 dtype: str = "float32", device: str = "cpu", batch_size: int = 8,
                 chat_template: str | None = None,
                 batch_tolerance: float | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, GenerationConfig

        if dtype not in DTYPES:
            raise ConfigError(f"hf policy: dtype must be one of {DTYPES}, got {dtype!r}")
        if batch_size < 1:
            raise ConfigError(f"hf policy: batch_size must be >= 1, got {batch_size}")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"hf policy: device {device!r} asked for, but torch sees no GPU")
        self.model_source, self.revision = model, revision
        self.tokenizer_source = tokenizer or model
        self.dtype, self.batch_size = dtype, batch_size
        self.chat_template = read_chat_template(chat_template)
        self.tokenizer = load_tokenizer(self.tokenizer_source, revision)
        self.tokenizer.padding_side = "left"
        self.model: Any
        try:
            self.model = AutoModelForCausalLM.from_pretrained(
                model, revision=revision, dtype=getattr(torch, dtype), trust_remote_code=False)
        except Exception as exc:  # transformers raises many types for a bad folder
            raise ConfigError(f"hf policy: cannot load {model}: {type(exc).__name__}: "
                              f"{exc}") from None
        self.model.to(device).eval()
        # the folder's sampling defaults are recorded, not applied (eos ids are kept)
        self.model_generation_config = self.model.generation_config.to_diff_dict()
        self.model.generation_config = GenerationConfig()
        self.device = device
        self.batch_tolerance = (BATCH_TOLERANCE[dtype] if batch_tolerance is None
                                else float(batch_tolerance))
        if not self.batch_tolerance > 0:
            raise ConfigError(f"hf policy: batch_tolerance must be > 0, got {batch_tolerance}")
        self._init_prefix_ids()
        #: canonical recomputes of seeded picks, and the largest logit error they saw
        self.recompute_stats: dict[str, float] = {"picks": 0, "recomputed": 0,
                                                  "max_logit_error": 0.0}
        #: the ids fed and the step ids kept for each row of the last seeded step call
        self.last_fed: list[list[int]] = []
        self.last_step_ids: list[list[int]] = []
        self._cache_kw = ("cache" if "cache" in inspect.signature(self.model.forward).parameters
                          else "past_key_values")
        self.eos_ids = self._eos_ids()
        self.pad_id = (self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None
                       else self.eos_ids[0])
        super().__init__(params=sum(p.numel() for p in self.model.parameters()),
                         device=device)

    def _eos_ids(self) -> list[int]:
        """The tokenizer's eos plus the folder's generation_config eos ids (vLLM's rule)."""
        configured = self.model_generation_config.get("eos_token_id")
        extra = configured if isinstance(configured, (list, tuple)) else [configured]
        ids = [self.tokenizer.eos_token_id, *extra]
        ids = list(dict.fromkeys(i for i in ids if i is not None))
        if not ids:
            raise ConfigError(f"hf policy: {self.model_source} names no eos token")
        return ids

    # -- the Policy interface (sample and step: TemplatePolicy) ---------------------------

    def identity(self) -> dict[str, Any]:
        import torch
        import transformers

        return {"backend": self.backend, **folder_identity(self.model_source, self.revision),
                "tokenizer": self.tokenizer_source, "dtype": self.dtype,
                "batch_size": self.batch_size,
                "chat_template_override": self.chat_template is not None,
                "generation_overrides": NEUTRAL,
                "model_generation_config": self.model_generation_config,
                "model_generation_config_use": "eos_token_id only (with the tokenizer's eos)",
                "tokens_in_counting": "prompt tokens once per sample (the prompt is "
                                      "repeated n times in the batch)",
                "step_seed_rule": self.step_seed_rule,
                "batch_tolerance": self.batch_tolerance,
                "versions": {"torch": torch.__version__,
                             "transformers": transformers.__version__},
                **self.ledger_identity()}

    # -- generation -----------------------------------------------------------------------

    def _generation_config(self, params: SamplingParams, n: int) -> Any:
        from transformers import GenerationConfig

        sampling = params.temperature > 0
        return GenerationConfig(
            max_new_tokens=params.max_tokens, do_sample=sampling,
            temperature=params.temperature if sampling else None,
            top_p=params.top_p if sampling else None, num_return_sequences=n,
            eos_token_id=self.eos_ids, pad_token_id=self.pad_id,
            stop_strings=list(params.stop) or None, **NEUTRAL)

    def _run(self, texts: list[str], params: SamplingParams, is_step: bool
             ) -> list[list[Completion]]:
        import torch

        start = time.perf_counter()
        greedy = params.temperature == 0
        config = self._generation_config(params, 1 if greedy else params.n)
        out: list[list[Completion]] = []
        tokens_in = tokens_out = 0
        for first in range(0, len(texts), self.batch_size):
            batch = texts[first:first + self.batch_size]
            enc = self.tokenizer(batch, return_tensors="pt", padding=True,
                                 add_special_tokens=False).to(self.device)
            torch.manual_seed(request_seed(params.seed) + first)
            with torch.inference_mode():
                generated = self.model.generate(**enc, generation_config=config,
                                                tokenizer=self.tokenizer)
            width = enc["input_ids"].shape[1]
            prompt_lengths = enc["attention_mask"].sum(dim=1).tolist()
            per_prompt = 1 if greedy else params.n
            for i, prompt_tokens in enumerate(prompt_lengths):
                rows = generated[i * per_prompt:(i + 1) * per_prompt, width:].tolist()
                completions = [self._completion(row, prompt_tokens, params.stop, is_step)
                               for row in rows]
                tokens_in += prompt_tokens * len(rows)
                tokens_out += sum(c.completion_tokens for c in completions)
                out.append(completions * params.n if greedy else completions)
        self.ledger.record(tokens_in, tokens_out, time.perf_counter() - start,
                           "step" if is_step else "sample")
        return out

    def _decode(self, ids: list[int]) -> str:
        """Text of ``ids``; a character cut off at the end (its bytes incomplete) is left
        out rather than shown as U+FFFD, as vLLM's detokenizer does."""
        return self.tokenizer.decode(ids, skip_special_tokens=True).rstrip("\ufffd")

    def _completion(self, row: list[int], prompt_tokens: int, stops: Sequence[str],
                    is_step: bool) -> Completion:
        """Cut a generated row at its first eos or stop string (kept), whichever is first;
        the padding after a finished row is never counted."""
        eos_at = next((k for k, token in enumerate(row) if token in self.eos_ids), None)
        ids = row if eos_at is None else row[:eos_at]
        text = self._decode(ids)
        cut = first_stop(text, stops) if stops else None
        if cut is not None:
            # the fewest tokens whose text holds the stop string (decoding is monotone)
            lo, hi = 1, len(ids)
            while lo < hi:
                mid = (lo + hi) // 2
                if first_stop(self._decode(ids[:mid]), stops) is not None:
                    hi = mid
                else:
                    lo = mid + 1
            return Completion(text[:cut], prompt_tokens, lo, "step" if is_step else "stop")
        if eos_at is not None:
            return Completion(text, prompt_tokens, eos_at + 1, "stop")
        return Completion(text, prompt_tokens, len(row), "length")

    # -- seeded steps (the search engine's calls) ---------------------------------------

    def step(self, prompts: Sequence[list[Message]], prefixes: Sequence[str],
             params: SamplingParams) -> list[list[Completion]]:
        """With ``params.seeds`` (one per prompt): each request's step from its own seed,
        independent of the rest of the batch; else the batch-seeded ``generate`` path."""
        seeds = getattr(params, "seeds", None)
        if not seeds:
            return super().step(prompts, prefixes, params)
        check_seeded_step(prompts, prefixes, params, seeds)
        rendered = [self._rendered(m) for m in prompts]
        fed = [self.prefix_token_ids(r, prefix) for r, prefix in zip(rendered, prefixes,
                                                                      strict=True)]
        start = time.perf_counter()
        out: list[list[Completion]] = []
        tokens_in = tokens_out = 0
        generated = self._seeded_generate(fed, [int(s) for s in seeds], params)
        self.last_fed, self.last_step_ids = fed, []
        for r, prefix, ids, row in zip(rendered, prefixes, fed, generated, strict=True):
            completion = self._completion(row, len(ids), params.stop, is_step=True)
            kept = row[:completion.completion_tokens]
            self.last_step_ids.append(kept)
            if completion.finish_reason == "step":
                self._keep_prefix(r, prefix + completion.text, ids, kept, completion.text)
            tokens_in += len(ids)
            tokens_out += completion.completion_tokens
            out.append([completion])
        self.ledger.record(tokens_in, tokens_out, time.perf_counter() - start, "step")
        return out

    def _seeded_generate(self, fed: list[list[int]], seeds: list[int],
                         params: SamplingParams) -> list[list[int]]:
        """Generated ids of every row (up to eos, a stop string or max_tokens), rows
        batched ``batch_size`` at a time in length order, per temperature (a request's
        own ``SeededParams.temperatures`` entry when given; any grouping gives the same)."""
        import torch

        temperatures = list(getattr(params, "temperatures", None) or
                            [params.temperature] * len(fed))
        if len(temperatures) != len(fed) or any(t < 0 for t in temperatures):
            raise ConfigError(f"step: temperatures must be {len(fed)} values >= 0, got "
                              f"{temperatures}")
        out: list[list[int]] = [[] for _ in fed]
        for temperature in sorted(set(temperatures)):  # one decode loop per temperature
            mine = replace(params, temperature=temperature)
            order = sorted((i for i in range(len(fed)) if temperatures[i] == temperature),
                           key=lambda i: (len(fed[i]), i))
            for first in range(0, len(order), self.batch_size):
                chunk = order[first:first + self.batch_size]
                rows = [_Row(fed[i], torch.Generator().manual_seed(seeds[i]), [])
                        for i in chunk]
                self._decode_rows(rows, mine)
                for i, row in zip(chunk, rows, strict=True):
                    out[i] = row.generated
        return out

    def _forward(self, ids: Any, mask: Any, positions: Any, cache: Any) -> Any:
        """Last-position logits only (the LM head never runs over the prompt)."""
        return self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                          use_cache=True, logits_to_keep=1, **{self._cache_kw: cache})

    def _decode_rows(self, rows: list[_Row], params: SamplingParams) -> None:
        """One left-padded batch decoded with a KV cache; finished rows leave the batch."""
        import torch
        from transformers import DynamicCache

        dev = self.device
        width = max(len(r.ids) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for b, row in enumerate(rows):
            ids[b, width - len(row.ids):] = torch.tensor(row.ids, dtype=torch.long)
            mask[b, width - len(row.ids):] = 1
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        ids, mask, positions = ids.to(dev), mask.to(dev), positions.to(dev)
        cache = DynamicCache()
        active = list(range(len(rows)))
        longest_stop = max((len(s) for s in params.stop), default=0)
        with torch.inference_mode():
            for _ in range(params.max_tokens):
                logits = self._forward(ids, mask, positions, cache).logits[:, -1, :]
                picks = self._pick([rows[k] for k in active], logits, params)
                still = []
                for j, (k, token) in enumerate(zip(active, picks, strict=True)):
                    row = rows[k]
                    row.generated.append(token)
                    if token in self.eos_ids:
                        continue
                    tail = self._decode(row.generated[-(4 * longest_stop + 4):])
                    if params.stop and first_stop(tail, params.stop) is not None:
                        continue
                    still.append(j)
                if not still:
                    break
                if len(still) < len(active):
                    keep = torch.tensor(still, device=dev)
                    cache.batch_select_indices(keep)
                    mask, positions = mask[keep], positions[keep]
                active = [active[j] for j in still]
                ids = torch.tensor([[rows[k].generated[-1]] for k in active], device=dev)
                mask = torch.cat([mask, torch.ones_like(ids)], dim=1)
                positions = positions[:, -1:] + 1

    def _canonical_logits(self, row: _Row) -> Any:
        """The row's next-token logits from one forward of it alone (no padding, no
        cache): the reference every guarded pick agrees with."""
        import torch

        seq = torch.tensor([[*row.ids, *row.generated]], device=self.device)
        return self.model(input_ids=seq, logits_to_keep=1).logits[0, -1].double().cpu()

    def _pick(self, rows: list[_Row], logits: Any, params: SamplingParams) -> list[int]:
        """Each row's next token from its own generator and its logits row (see the
        module docstring for the guard that makes it batch-invariant)."""
        import torch

        batch = logits.double().cpu()
        noise = None if params.temperature == 0 else torch.stack([
            gumbel(batch.shape[1], row.generator) for row in rows])
        picks = choose_batch(batch, noise, params.temperature, params.top_p,
                             self.batch_tolerance)
        stats = self.recompute_stats
        stats["picks"] += len(rows)
        out = []
        for k, (row, token) in enumerate(zip(rows, picks, strict=True)):
            if token is None:
                canonical = self._canonical_logits(row)
                error = float((canonical - batch[k]).abs().max())
                stats["recomputed"] += 1
                stats["max_logit_error"] = max(stats["max_logit_error"], error)
                if error > self.batch_tolerance:
                    raise ConfigError(
                        f"hf policy: batched logits differ from the row's own by {error:.3g}"
                        f", over batch_tolerance {self.batch_tolerance:g}; a step could "
                        f"depend on its batch: raise the policy option batch_tolerance")
                (token,) = choose_batch(canonical.unsqueeze(0),
                                        None if noise is None else noise[k:k + 1],
                                        params.temperature, params.top_p, None)
                assert token is not None
            out.append(token)
        return out


def gumbel(size: int, generator: Any) -> Any:
    """``size`` float64 Gumbel(0, 1) draws from ``generator`` (one uniform each)."""
    import torch

    uniform = torch.rand(size, generator=generator, dtype=torch.float64)
    return -torch.log(-torch.log(uniform))


def choose_batch(logits: Any, noise: Any | None, temperature: float, top_p: float,
                 tolerance: float | None) -> list[int | None]:
    """Each row's token by Gumbel-max, argmax(logits / T + noise) over the top-p nucleus
    (``noise`` None: greedy), from [B, V] float64 ``logits``; None for a row whose token a
    logit error up to ``tolerance`` could change (``tolerance`` None: never None).

    A logit error of t moves every logits / T + noise value by at most t / T, so the
    argmax cannot change while its lead over the runner-up exceeds 2t / T (2t for greedy;
    for Gumbel-max that gap is about Exp(1) distributed, so a guarded pick is rare at any
    vocabulary size). The nucleus: the mass ranked above a token is a share
    c = A / (A + B) of sums of exp(logit / T), and B / A scales by at most exp(+-2t/T),
    which moves c by at most c (1 - c) expm1(2t/T) (``share_margin``); a rank swap at the
    cut needs two probabilities within a factor exp(2t/T)."""
    import torch

    scores = logits.clone() if noise is None else logits / temperature + noise
    fragile = torch.zeros(logits.shape[0], dtype=torch.bool)
    grow = 0.0 if tolerance is None or noise is None else math.expm1(
        2 * tolerance / temperature)
    if noise is not None and top_p < 1.0:
        probs = torch.softmax(logits / temperature, dim=1)
        sorted_p, order = torch.sort(probs, dim=1, descending=True, stable=True)
        before = torch.cumsum(sorted_p, dim=1) - sorted_p  # mass ranked above each token
        inside = before < top_p
        kept = inside.sum(dim=1, keepdim=True)
        keep = torch.zeros_like(inside).scatter(1, order, inside)
        scores = scores.masked_fill(~keep, -math.inf)
        if tolerance is not None:
            near = ((before - top_p).abs() <= share_margin(before, grow)).any(dim=1)
            last = sorted_p.gather(1, (kept - 1).clamp(min=0))[:, 0]
            after = sorted_p.gather(1, kept.clamp(max=probs.shape[1] - 1))[:, 0]
            swap = (kept[:, 0] < probs.shape[1]) & (last <= after * (1 + grow))
            fragile |= near | swap
    tokens = torch.argmax(scores, dim=1)
    if tolerance is not None and scores.shape[1] > 1:
        top = torch.topk(scores, 2, dim=1).values
        lead = 2 * tolerance / (1.0 if noise is None else temperature)
        fragile |= (top[:, 0] - top[:, 1]) <= lead
    return [None if f else t for t, f in zip(tokens.tolist(), fragile.tolist(), strict=True)]


def share_margin(share: Any, grow: float) -> Any:
    """How far a share c = A / (A + B) can move when B / A scales by 1 + grow at most
    (c (1 - c) grow), plus 1e-12 for float64 rounding of the sums."""
    return share * (1 - share) * grow + 1e-12
