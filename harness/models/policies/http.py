"""``http``: a policy behind an OpenAI-compatible server (vLLM, SGLang, TGI, OpenAI...).

- ``endpoint="chat"`` posts messages to ``/chat/completions``; the server applies its chat
  template. ``endpoint="completions"`` posts text to ``/completions``, rendered here with
  the chat template of ``tokenizer`` (a local folder or hub id), as the hf/vllm back-ends do.
- ``base_url`` is the API root, e.g. ``http://127.0.0.1:8000/v1``.
- n samples: temperature 0 is greedy (one request, its answer copied n times); otherwise,
  by default, one request per sample (seed request_seed + j, exact token counts
  from each response's ``usage``). ``n_in_request=True`` sends one request with ``n`` and
  counts each choice's tokens from its logprobs (checked against ``usage``).
- ``step`` keeps the delimiter: requests ask for ``include_stop_str_in_output`` (vLLM); a
  server that strips it must report ``stop_reason`` (vLLM does), otherwise a step that ended
  at the delimiter cannot be told from a finished solution and the call fails. On the chat
  endpoint a step continues the assistant message (``continue_final_message``, a vLLM /
  SGLang extension), so it needs ``chat_prefill=True`` to say the server supports it.
- A vLLM server fills the sampling fields a request leaves out from the model folder's
  generation_config.json (repetition_penalty, top_k, min_p...), so the request pins them to
  "no effect" (``pin_sampling=True``: top_k=-1, min_p=0, repetition_penalty=1, which vLLM
  and SGLang accept); set it false for a server that rejects those fields (api.openai.com).

Search (``step`` with ``SeededParams.seeds``, ``takes_request_seeds``): every prompt is its
own request, ``n: 1``, with that prompt's seed and (when ``SeededParams.temperatures`` has
them) temperature, so the server gets the same body for the same (prompt, prefix, seed)
whatever else is in the batch and in whatever order. That makes a step batch-invariant only
if the server seeds each request's sampler by itself (vLLM and SGLang do); a server that
ignores ``seed`` (or batches requests so that logits move) gives other steps on a rerun,
which nothing on the client can detect: the rule sent is recorded (``step_seed_rule`` in
``identity()``), what the server did with it is not.

Token-id prefixes (``takes_token_prefixes``, endpoint ``completions`` only, which renders
prompts here): a seeded step sends ``prompt`` as token ids (the rendered chat template's
ids, then the ids the parent step was generated as, harness.models.policies.prefix_ids)
and asks for the step's ids back (``return_token_ids``, a vLLM server extension). A step whose
response holds no ids (another server) or whose ids do not decode to its text is not kept;
its children are tokenised from text here, as before.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from harness import __version__
from harness.errors import ConfigError, ServerError
from harness.interfaces import Completion, SamplingParams
from harness.models.http_json import JsonClient, RetryPolicy, dig
from harness.models.policies.base import (
    LedgerPolicy,
    check_params,
    check_seeded_step,
    check_step_args,
    request_seed,
    step_finish,
)
from harness.models.policies.chat import load_tokenizer, read_chat_template, render_prompts
from harness.models.policies.prefix_ids import PrefixIds
from harness.types import Message

ENDPOINTS = {"chat": "/chat/completions", "completions": "/completions"}
STANDARD_NEUTRAL = {"presence_penalty": 0.0, "frequency_penalty": 0.0}
EXTENSION_NEUTRAL = {"top_k": -1, "min_p": 0.0, "repetition_penalty": 1.0}


CACHED_TOKENS_COUNTING = ("usage.prompt_tokens_details.cached_tokens of every response "
                          "(0 where the server sends none: prefill = the whole prompt)")


class HttpPolicy(PrefixIds, LedgerPolicy):
    """Registered as policy ``http``."""

    backend = "http"
    #: ``step`` honours ``SeededParams.seeds``: one request per prompt with its own seed
    takes_request_seeds = True
    step_seed_rule = ("step with SeededParams.seeds: one request per prompt, body "
                      "{n: 1, seed: seed of the request, temperature: its temperature}; "
                      "batch invariant only if the server seeds each request by itself")

    def __init__(self, base_url: str, model: str, endpoint: str = "chat",
                 revision: str | None = None, concurrency: int = 8, timeout_s: float = 120.0,
                 max_retries: int = 4, backoff_s: float = 0.5, max_backoff_s: float = 30.0,
                 n_in_request: bool = False, chat_prefill: bool = False,
                 tokenizer: str | None = None, chat_template: str | None = None,
                 api_key_env: str | None = None, params: int | None = None,
                 pin_sampling: bool = True, extra_body: dict[str, Any] | None = None) -> None:
        if endpoint not in ENDPOINTS:
            raise ConfigError(f"http policy: endpoint must be one of {sorted(ENDPOINTS)}, "
                              f"got {endpoint!r}")
        if endpoint == "completions" and tokenizer is None:
            raise ConfigError("http policy: the completions endpoint needs tokenizer=PATH|ID "
                              "to render the chat template")
        if concurrency < 1:
            raise ConfigError(f"http policy: concurrency must be >= 1, got {concurrency}")
        super().__init__(params=params, device="remote")
        headers = {}
        if api_key_env is not None:
            key = os.environ.get(api_key_env)
            if not key:
                raise ConfigError(f"http policy: environment variable {api_key_env} is not set")
            headers["Authorization"] = f"Bearer {key}"
        self.client = JsonClient(base_url, timeout_s,
                                 RetryPolicy(max_retries, backoff_s, max_backoff_s), headers)
        self.model, self.revision, self.endpoint = model, revision, endpoint
        self.concurrency, self.n_in_request = concurrency, n_in_request
        self.chat_prefill, self.pin_sampling = chat_prefill, pin_sampling
        self.extra_body = dict(extra_body or {})
        self.tokenizer_source = tokenizer
        self.chat_template = read_chat_template(chat_template)
        self.tokenizer = load_tokenizer(tokenizer, revision) if tokenizer else None
        self._served: set[str] = set()
        #: prompt tokens the server says its prefix cache served (OpenAI's
        #: usage.prompt_tokens_details.cached_tokens), summed over responses
        self.cached_prompt_tokens = 0
        #: token-id prefixes need the prompt rendered here: the completions endpoint
        self.takes_token_prefixes = endpoint == "completions"
        self._init_prefix_ids()
        self.prefix_stats["no_ids"] = 0  # steps not kept: their response held no token_ids
        #: the ids fed and the step ids returned for each row of the last seeded step
        #: call (empty lists on the chat endpoint, which sends messages)
        self.last_fed: list[list[int]] = []
        self.last_step_ids: list[list[int]] = []

    # -- the Policy interface -----------------------------------------------------------

    def sample(self, prompts: Sequence[list[Message]], params: SamplingParams
               ) -> list[list[Completion]]:
        check_params(params)
        return self._run(prompts, None, params)

    def step(self, prompts: Sequence[list[Message]], prefixes: Sequence[str],
             params: SamplingParams) -> list[list[Completion]]:
        """With ``params.seeds`` (one per prompt, the search engine's call): one request
        per prompt with its own seed and temperature; else n samples per prompt."""
        seeds = getattr(params, "seeds", None)
        if seeds:
            check_seeded_step(prompts, prefixes, params, seeds)
        else:
            check_params(params)
            check_step_args(prompts, prefixes, params)
        if self.endpoint == "chat" and not self.chat_prefill:
            raise ConfigError("http policy: step() on the chat endpoint continues the "
                              "assistant message, which needs a server that supports "
                              "continue_final_message (vLLM, SGLang): set chat_prefill=true, "
                              "or use endpoint=completions with tokenizer=...")
        if seeds:
            return self._seeded_step(prompts, prefixes, params, seeds)
        return self._run(prompts, prefixes, params)

    @classmethod
    def resolved_identity(cls, **options: Any) -> dict[str, Any]:
        """The served weights cannot be pinned from here (``revision`` records what the
        user says they are); the local tokenizer and template files can."""
        from harness.models.policies.chat import template_files_identity

        return {"backend_version": cls.version,
                **template_files_identity(options.get("tokenizer"),
                                          options.get("chat_template"))}

    def identity(self) -> dict[str, Any]:
        return {"backend": self.backend, "model": self.model, "revision": self.revision,
                "endpoint": self.endpoint, "n_in_request": self.n_in_request,
                "chat_prefill": self.chat_prefill, "pin_sampling": self.pin_sampling,
                "tokenizer": self.tokenizer_source,
                "token_prefixes": self.takes_token_prefixes,
                "step_seed_rule": self.step_seed_rule,
                "chat_template_override": self.chat_template is not None,
                "extra_body": self.extra_body, "served_models": sorted(self._served),
                "client": {**self.client.settings(), "concurrency": self.concurrency},
                "tokens_in_counting": "usage.prompt_tokens of every request",
                "cached_tokens_counting": CACHED_TOKENS_COUNTING,
                "versions": {"prm-harness": __version__}, **self.ledger_identity()}

    # -- requests -------------------------------------------------------------------------

    def _body(self, messages: list[Message], prefix: str | None,
              prompt: str | list[int] | None, params: SamplingParams) -> dict[str, Any]:
        """What every request for one prompt sends, before ``n`` and ``seed``."""
        body: dict[str, Any] = {"model": self.model, "temperature": params.temperature,
                                "top_p": params.top_p, "max_tokens": params.max_tokens,
                                **STANDARD_NEUTRAL,
                                **(EXTENSION_NEUTRAL if self.pin_sampling else {}),
                                **self.extra_body}
        if self.endpoint == "chat":
            body["messages"] = list(messages)
            if prefix is not None:
                body["messages"].append({"role": "assistant", "content": prefix})
                body.update(continue_final_message=True, add_generation_prompt=False)
        else:
            body["prompt"] = prompt
        if params.stop:
            body.update(stop=list(params.stop), include_stop_str_in_output=True)
        return body

    def _bodies(self, messages: list[Message], prefix: str | None, text: str | None,
                params: SamplingParams) -> list[dict[str, Any]]:
        """The request bodies for one prompt: one with ``n``, or n with one sample each."""
        body = self._body(messages, prefix, text, params)
        seed = request_seed(params.seed)
        if params.temperature == 0:  # greedy: one sample, copied n times by _run
            return [{**body, "n": 1, "seed": seed}]
        if self.n_in_request:
            logprobs: dict[str, Any] = ({"logprobs": True} if self.endpoint == "chat"
                                        else {"logprobs": 0})
            return [{**body, "n": params.n, "seed": seed, **logprobs}]
        return [{**body, "n": 1, "seed": seed + j} for j in range(params.n)]

    def _run(self, prompts: Sequence[list[Message]], prefixes: Sequence[str] | None,
             params: SamplingParams) -> list[list[Completion]]:
        texts: list[str | None] = [None] * len(prompts)
        if self.endpoint == "completions":
            texts = list(render_prompts(self.tokenizer, prompts, prefixes, self.chat_template))
        jobs: list[tuple[int, dict[str, Any]]] = []
        for i, messages in enumerate(prompts):
            prefix = prefixes[i] if prefixes is not None else None
            jobs.extend((i, body) for body in self._bodies(messages, prefix, texts[i], params))
        start = time.perf_counter()
        answers = self._post_all([body for _, body in jobs])
        out: list[list[Completion]] = [[] for _ in prompts]
        tokens_in = tokens_out = 0
        where = f"POST {self.client.base_url}{ENDPOINTS[self.endpoint]}"
        for (i, body), answer in zip(jobs, answers, strict=True):
            completions, used_in, used_out = self._read(answer, body, params,
                                                        prefixes is not None, where)
            out[i].extend(completions * params.n if params.temperature == 0 else completions)
            tokens_in += used_in
            tokens_out += used_out
        self.ledger.record(tokens_in, tokens_out, time.perf_counter() - start,
                           "step" if prefixes is not None else "sample")
        return out

    def _post_all(self, bodies: list[dict[str, Any]]) -> list[Any]:
        """The answers to ``bodies``, in order, at most ``concurrency`` in flight."""
        path = ENDPOINTS[self.endpoint]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = [pool.submit(self.client.post, path, body) for body in bodies]
            try:
                return [f.result() for f in futures]
            except BaseException:
                for f in futures:
                    f.cancel()
                raise

    def _seeded_step(self, prompts: Sequence[list[Message]], prefixes: Sequence[str],
                     params: SamplingParams, seeds: Sequence[int]) -> list[list[Completion]]:
        """One body per prompt, built from that prompt's (messages, prefix, seed,
        temperature) alone, so neither the batch nor its order changes what is sent."""
        temperatures = list(getattr(params, "temperatures", None) or
                            [params.temperature] * len(prompts))
        if len(temperatures) != len(prompts):
            raise ConfigError(f"step: {len(temperatures)} temperatures for {len(prompts)} "
                              f"prompts")
        if any(t < 0 for t in temperatures):
            raise ConfigError(f"step: temperatures must be >= 0, got {temperatures}")
        ids = self.takes_token_prefixes
        rendered = [self._rendered(m) if ids else "" for m in prompts]
        fed = [self.prefix_token_ids(r, prefix) if ids else []
               for r, prefix in zip(rendered, prefixes, strict=True)]
        bodies = []
        for messages, prefix, prompt_ids, seed, t in zip(prompts, prefixes, fed, seeds,
                                                         temperatures, strict=True):
            body = self._body(messages, prefix, prompt_ids, params)
            body.update(n=1, seed=int(seed), temperature=float(t))
            if ids:
                body["return_token_ids"] = True
            bodies.append(body)
        start = time.perf_counter()
        answers = self._post_all(bodies)
        wall = time.perf_counter() - start
        where = f"POST {self.client.base_url}{ENDPOINTS[self.endpoint]}"
        out: list[list[Completion]] = []
        tokens_in = tokens_out = 0
        self.last_fed, self.last_step_ids = fed, []
        for r, prefix, prompt_ids, body, answer in zip(rendered, prefixes, fed, bodies,
                                                       answers, strict=True):
            completions, used_in, used_out = self._read(answer, body, params, True, where)
            (step,) = completions
            step_ids = self._step_ids(answer, used_out, where) if ids else None
            self.last_step_ids.append(step_ids or [])
            if step_ids is None and ids:
                self.prefix_stats["no_ids"] += 1
            elif step_ids is not None and step.finish_reason == "step":
                self._keep_prefix(r, prefix + step.text, prompt_ids, step_ids, step.text)
            tokens_in += used_in
            tokens_out += used_out
            out.append([step])
        self.ledger.record(tokens_in, tokens_out, wall, "step")
        return out

    @staticmethod
    def _step_ids(answer: Any, completion_tokens: int, where: str) -> list[int] | None:
        """The step's token ids (vLLM's ``return_token_ids``), None if the server sent
        none; ids that disagree with ``usage`` are a malformed response."""
        found = answer["choices"][0].get("token_ids")
        if found is None:
            return None
        if not isinstance(found, list) or not all(type(t) is int for t in found):
            raise ServerError(f"{where}: malformed response: choices[0].token_ids should "
                              f"be a list of ints")
        if len(found) != completion_tokens:
            raise ServerError(f"{where}: malformed response: {len(found)} token_ids but "
                              f"usage.completion_tokens is {completion_tokens}")
        return found

    def _decode(self, ids: list[int]) -> str:
        """Text of ``ids`` as a vLLM server detokenizes it (specials skipped, a character
        cut off at the end left out)."""
        return str(self.tokenizer.decode(ids, skip_special_tokens=True)).rstrip("\ufffd")

    def _read(self, answer: Any, body: dict[str, Any], params: SamplingParams, is_step: bool,
              where: str) -> tuple[list[Completion], int, int]:
        """Completions of one response, and its usage (prompt, completion tokens)."""
        prompt_tokens = dig(answer, ("usage", "prompt_tokens"), int, where)
        completion_tokens = dig(answer, ("usage", "completion_tokens"), int, where)
        cached = self._cached_tokens(answer, prompt_tokens, where)
        self.cached_prompt_tokens += cached
        choices = dig(answer, ("choices",), list, where)
        if len(choices) != body["n"]:
            raise ServerError(f"{where}: malformed response: {len(choices)} choices for "
                              f"n={body['n']}")
        served = answer.get("model")
        if isinstance(served, str):
            self._served.add(served)
        order = sorted(range(len(choices)), key=lambda k: choices[k].get("index", k)
                       if isinstance(choices[k], dict) else k)
        completions = []
        for k in order:
            text_path: tuple[str | int, ...] = (("choices", k, "message", "content")
                                                if self.endpoint == "chat"
                                                else ("choices", k, "text"))
            text = dig(answer, text_path, str, where)
            finish = dig(answer, ("choices", k, "finish_reason"), (str, type(None)), where)
            text, finish = self._keep_stop(answer, k, text, finish, params, is_step, where)
            if "logprobs" in body:
                n_tokens = self._choice_tokens(answer, k, where)
            else:
                n_tokens = completion_tokens
            completions.append(Completion(text, prompt_tokens, n_tokens, finish,
                                          cached_prompt_tokens=cached))
        if "logprobs" in body and sum(c.completion_tokens for c in completions) \
                != completion_tokens:
            raise ServerError(f"{where}: malformed response: choices' logprobs hold "
                              f"{sum(c.completion_tokens for c in completions)} tokens but "
                              f"usage.completion_tokens is {completion_tokens}")
        return completions, prompt_tokens, completion_tokens

    @staticmethod
    def _cached_tokens(answer: Any, prompt_tokens: int, where: str) -> int:
        """``usage.prompt_tokens_details.cached_tokens``: the prompt tokens the server's
        prefix cache served (vLLM sends it with ``--enable-prompt-tokens-details``); 0
        where the server sends none, so prefill is then counted as the whole prompt."""
        details = answer["usage"].get("prompt_tokens_details")
        if details is None:
            return 0
        if not isinstance(details, dict):
            raise ServerError(f"{where}: malformed response: usage.prompt_tokens_details "
                              f"should be an object")
        cached = details.get("cached_tokens")
        if cached is None:
            return 0
        if type(cached) is not int or not 0 <= cached <= prompt_tokens:
            raise ServerError(f"{where}: malformed response: usage.prompt_tokens_details."
                              f"cached_tokens is {cached!r}, not an int in 0..prompt_tokens "
                              f"({prompt_tokens})")
        return cached

    def _keep_stop(self, answer: Any, k: int, text: str, finish: str | None,
                   params: SamplingParams, is_step: bool, where: str
                   ) -> tuple[str, str | None]:
        """Put back a delimiter the server stripped, and name the step's finish."""
        stops = params.stop
        if stops and finish == "stop" and not any(text.endswith(s) for s in stops):
            choice = answer["choices"][k]
            if "stop_reason" not in choice and is_step:
                raise ServerError(
                    f"{where}: choice {k} finished with 'stop' but neither ends with a stop "
                    f"string nor reports stop_reason, so a step delimiter cannot be told from "
                    f"the end of the solution; use a server that honours "
                    f"include_stop_str_in_output (vLLM)")
            reason = choice.get("stop_reason")
            if isinstance(reason, str) and reason in stops:
                text += reason
        return text, step_finish(text, finish, stops) if is_step else finish

    @staticmethod
    def _choice_tokens(answer: Any, k: int, where: str) -> int:
        logprobs = dig(answer, ("choices", k, "logprobs"), dict, where)
        if "content" in logprobs:
            return len(dig(answer, ("choices", k, "logprobs", "content"), list, where))
        return len(dig(answer, ("choices", k, "logprobs", "tokens"), list, where))
