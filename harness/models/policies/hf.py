"""``hf``: a policy run with Hugging Face transformers, batched, on CPU or GPU.

Prompts are rendered with the model folder's chat template (policies.chat), left-padded
and generated ``batch_size`` prompts at a time, each with ``num_return_sequences=n``.
Only the SamplingParams decide the decoding: the model's generation_config.json defaults
(top_k, repetition_penalty, ...) are overridden with neutral values, so every back-end
samples from the same distribution. The RNG is seeded per batch from the request seed and
the batch's first prompt index: a pool is reproducible for the same ``batch_size``.
Temperature 0 is greedy decoding (the n samples are then copies).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from harness.errors import ConfigError
from harness.interfaces import Completion, SamplingParams
from harness.models.model_files import folder_identity
from harness.models.policies.base import first_stop, request_seed
from harness.models.policies.chat import TemplatePolicy, load_tokenizer, read_chat_template

# settings SamplingParams does not carry, pinned to "no effect" (the model's own
# generation_config is replaced by a blank one, whose global defaults hold top_k=50)
NEUTRAL = {"top_k": 0, "typical_p": 1.0, "repetition_penalty": 1.0, "num_beams": 1,
           "no_repeat_ngram_size": 0}
DTYPES = ("float32", "bfloat16", "float16")


class HfPolicy(TemplatePolicy):
    """Registered as policy ``hf``."""

    backend = "hf"
    seed_rule = ("torch.manual_seed(request seed + index of the batch's first prompt) before "
                 "each batch of batch_size prompts; request seed = first 31 bits of "
                 "sha256(['policy-seed', seed])")

    def __init__(self, model: str, revision: str | None = None, tokenizer: str | None = None,
                 dtype: str = "float32", device: str = "cpu", batch_size: int = 8,
                 chat_template: str | None = None) -> None:
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
