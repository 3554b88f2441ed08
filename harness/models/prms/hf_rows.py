"""torch modules that compute a head's rows at chosen (batch, position) pairs.

Only the read positions go through the head (and through the LM head for causal LMs), so a
7B PRM never materialises [batch, length, vocabulary] logits.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from harness.errors import ConfigError
from harness.models.prms.protocol import Head

#: rows of LM logits computed at once (a 152k vocabulary in float32 is 0.6 MB a row)
LM_CHUNK = 256


def cache_kwargs(module: Any, cache: Any | None) -> dict[str, Any]:
    """Keyword arguments that run ``module`` on a transformers KV cache, which the forward
    extends in place (``cache`` in newer transformers, ``past_key_values`` before); none
    without one. A module whose forward takes neither cannot reuse a prefix."""
    if cache is None:
        return {}
    names = inspect.signature(module.forward).parameters
    for name in ("cache", "past_key_values"):
        if name in names:
            return {name: cache, "use_cache": True}
    raise TypeError(f"{type(module).__name__}.forward takes no KV cache")


class RowModel(torch.nn.Module):
    """Base: ``rows`` gives [n_read, width] for the (b_idx, t_idx) positions of a batch.
    With ``cache`` (a transformers DynamicCache) the batch continues the cached keys and
    values, and the forward appends its own to it (prefix reuse, hf_prefix_cache.py)."""

    config: Any
    #: the transformers module the KV cache is passed to
    cached_module: Any

    def rows(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
             position_ids: torch.Tensor, b_idx: torch.Tensor, t_idx: torch.Tensor,
             next_ids: torch.Tensor, cache: Any | None = None) -> torch.Tensor:
        raise NotImplementedError


class DecoderWithHead(RowModel):
    """A transformers decoder plus a head rebuilt from the checkpoint (MLP or Linear)."""

    def __init__(self, decoder: Any, head: torch.nn.Module) -> None:
        super().__init__()
        self.decoder = decoder
        self.head = head
        self.config = decoder.config
        self.cached_module = decoder

    def rows(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
             position_ids: torch.Tensor, b_idx: torch.Tensor, t_idx: torch.Tensor,
             next_ids: torch.Tensor, cache: Any | None = None) -> torch.Tensor:
        hidden = self.decoder(input_ids=input_ids, attention_mask=attention_mask,
                              position_ids=position_ids,
                              **cache_kwargs(self.decoder, cache)).last_hidden_state
        return self.head(hidden[b_idx, t_idx])


class TokenClassifier(RowModel):
    """An AutoModelForTokenClassification; its logits at the read positions."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model
        self.config = model.config
        self.cached_module = model

    def rows(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
             position_ids: torch.Tensor, b_idx: torch.Tensor, t_idx: torch.Tensor,
             next_ids: torch.Tensor, cache: Any | None = None) -> torch.Tensor:
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask,
                            position_ids=position_ids,
                            **cache_kwargs(self.model, cache)).logits
        return logits[b_idx, t_idx]


class CausalLMRows(RowModel):
    """An AutoModelForCausalLM read through its decoder and LM head at chosen positions:
    a few columns of the logits, or the log-probability of the actual next token."""

    def __init__(self, model: Any, head: Head) -> None:
        super().__init__()
        self.model = model
        self.config = model.config
        self.output = head.output
        self.columns = list(head.columns)
        self.decoder = model.base_model
        self.cached_module = self.decoder
        self.lm_head = model.get_output_embeddings()
        if self.lm_head is None:
            raise ConfigError(f"{type(model).__name__} has no LM head")

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.lm_head(hidden).float()

    def check_logits_path(self, device: torch.device) -> None:
        """Refuse architectures whose logits are not lm_head(decoder output) (soft-capping,
        scaling): reading through the decoder would then silently differ."""
        probe = torch.arange(1, 6, device=device).unsqueeze(0) % self.config.vocab_size
        with torch.inference_mode():
            full = self.model(input_ids=probe).logits.float()
            mine = self._logits(self.decoder(input_ids=probe).last_hidden_state)
        scale = float(full.abs().max()) or 1.0
        if float((full - mine).abs().max()) > 1e-3 * scale:
            raise ConfigError(f"{type(self.model).__name__}: logits are not the LM head "
                              f"applied to the decoder's output; this loader cannot read it")

    def rows(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
             position_ids: torch.Tensor, b_idx: torch.Tensor, t_idx: torch.Tensor,
             next_ids: torch.Tensor, cache: Any | None = None) -> torch.Tensor:
        hidden = self.decoder(input_ids=input_ids, attention_mask=attention_mask,
                              position_ids=position_ids, **cache_kwargs(self.decoder, cache)
                              ).last_hidden_state[b_idx, t_idx]
        out = []
        for start in range(0, hidden.shape[0], LM_CHUNK):
            logits = self._logits(hidden[start:start + LM_CHUNK])
            if self.output == "columns":
                out.append(logits[:, self.columns])
            else:
                nxt = next_ids[start:start + LM_CHUNK].unsqueeze(1)
                out.append(torch.log_softmax(logits, dim=-1).gather(1, nxt))
        return torch.cat(out) if out else hidden.new_zeros((0, max(1, len(self.columns))))
