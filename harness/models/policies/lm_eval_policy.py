"""``lm-eval``: any model lm-evaluation-harness' registry builds, used as a policy.

``model`` is lm-eval's model name (``hf``, ``vllm``, ``local-completions``,
``local-chat-completions``, ``dummy``, ...) and ``model_args`` its arguments exactly as
lm-eval takes them (a ``"k=v,k=v"`` string, or a mapping); ``batch_size`` and ``device``
are passed as lm-eval's ``--batch_size`` / ``--device`` are. Needs the extra
``prm-harness[lm-eval]``.

Every call goes through the model's ``generate_until`` with one request per (problem,
sample) (temperature 0: one per problem, its answer copied n times). The SamplingParams
map to lm-eval's generation kwargs: ``until`` = ``params.stop``, ``max_gen_toks`` =
``max_tokens``, ``do_sample`` = temperature > 0 (with ``temperature`` and ``top_p``).

Prompts: with ``apply_chat_template=True`` (lm-eval's ``--apply_chat_template``) the
messages go through the model's own ``apply_chat_template``; otherwise the messages'
contents are joined with a blank line (a base model's plain prompt). ``step`` appends the
partial solution to that text.

lm-eval's ``generate_until`` returns text only, cut before the first ``until`` string.
``step`` puts the delimiter (``params.stop[0]``) back, so joining steps gives the
solution, and calls it ``"step"`` unless the answer used the whole token budget
(``"length"``): an end of sequence cannot be told from a delimiter through this
interface, so a solution the model ended gets a delimiter too (its next step comes back
empty). ``sample`` returns the text as lm-eval cut it (the stop string left out).
Token counts re-encode the prompt and the answer with the model's tokenizer
(``tok_encode``) where it has one, and are 0 for a model without one (``dummy``).

Seeds: before each ``generate_until`` call Python's, NumPy's and torch's RNGs are seeded
with the request seed (``request_seed(params.seed)``), as lm-eval's own ``--seed`` does;
API models take their seed from ``model_args`` (recorded in the identity).
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from typing import Any

from harness.errors import ConfigError
from harness.interfaces import Completion, SamplingParams
from harness.models.policies.base import (
    LedgerPolicy,
    check_params,
    check_step_args,
    request_seed,
)
from harness.types import Message

SEED_RULE_LM_EVAL = ("random.seed, numpy.random.seed and torch.manual_seed set to the "
                     "request seed before each generate_until call; request seed = first 31 "
                     "bits of sha256(['policy-seed', seed])")


def gen_kwargs(params: SamplingParams) -> dict[str, Any]:
    """lm-eval's generation kwargs for one request."""
    sampling = params.temperature > 0
    out: dict[str, Any] = {"until": list(params.stop), "max_gen_toks": params.max_tokens,
                           "do_sample": sampling}
    if sampling:
        out["temperature"] = params.temperature
        out["top_p"] = params.top_p
    else:
        out["temperature"] = 0.0
    return out


def plain_prompt(messages: list[Message]) -> str:
    """The messages' contents, joined by a blank line (no chat template)."""
    return "\n\n".join(m["content"] for m in messages)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:  # pragma: no cover - numpy is a core dependency
        pass
    try:
        import torch
    except ImportError:  # API models need no torch
        return
    torch.manual_seed(seed)


class LmEvalPolicy(LedgerPolicy):
    """Registered as policy ``lm-eval``."""

    backend = "lm-eval"
    seed_rule = SEED_RULE_LM_EVAL

    def __init__(self, model: str, model_args: str | Mapping[str, Any] | None = None,
                 batch_size: int | str = 1, device: str | None = None,
                 apply_chat_template: bool = False, params: int | None = None) -> None:
        try:
            import lm_eval
            from lm_eval.api.registry import get_model
        except ImportError:
            raise ConfigError("policy 'lm-eval' needs lm-evaluation-harness: pip install "
                              "'prm-harness[lm-eval]'") from None
        try:
            cls = get_model(model)
        except Exception as exc:  # lm-eval raises ValueError/KeyError for unknown names
            raise ConfigError(f"lm-eval policy: lm-eval cannot build model {model!r}: "
                              f"{type(exc).__name__}: {exc}") from None
        extra = {"batch_size": batch_size, "device": device}
        try:
            if isinstance(model_args, Mapping):
                self.lm = cls.create_from_arg_obj(dict(model_args), extra)
            else:
                self.lm = cls.create_from_arg_string(model_args or "", extra)
        except Exception as exc:  # whatever the model's constructor raises
            raise ConfigError(f"lm-eval policy: building {model!r} with model_args "
                              f"{model_args!r} failed: {type(exc).__name__}: {exc}") from None
        self.model_name = model
        self.model_args = dict(model_args) if isinstance(model_args, Mapping) else model_args
        self.batch_size, self.device_name = batch_size, device
        self.apply_chat_template = apply_chat_template
        self.lm_eval_version = getattr(lm_eval, "__version__", None)
        counted = params
        inner = getattr(self.lm, "model", None)
        if counted is None and inner is not None and hasattr(inner, "parameters"):
            counted = sum(p.numel() for p in inner.parameters())
        super().__init__(params=counted, device=str(device or "default"))

    # -- the Policy interface -------------------------------------------------------------

    @classmethod
    def resolved_identity(cls, **options: Any) -> dict[str, Any]:
        """lm-eval's version and, for a local ``pretrained=`` folder, its files' hashes."""
        out: dict[str, Any] = {"backend_version": cls.version}
        try:
            import lm_eval

            out["lm_eval"] = getattr(lm_eval, "__version__", None)
        except ImportError:
            out["lm_eval"] = None
        pretrained = _model_arg(options.get("model_args"), "pretrained")
        if pretrained is not None:
            from harness.models.model_files import resolved_revision

            out["pretrained"] = resolved_revision(pretrained,
                                                  _model_arg(options.get("model_args"),
                                                             "revision"))
        return out

    def identity(self) -> dict[str, Any]:
        return {"backend": self.backend, "lm_eval_model": self.model_name,
                "model_args": self.model_args, "batch_size": self.batch_size,
                "lm_eval_device": self.device_name,
                "apply_chat_template": self.apply_chat_template,
                "lm_class": f"{type(self.lm).__module__}.{type(self.lm).__qualname__}",
                "token_counting": ("re-encoded with the model's tok_encode"
                                   if self._can_count() else "none (model has no tok_encode)"),
                "versions": {"lm_eval": self.lm_eval_version},
                **self.ledger_identity()}

    def sample(self, prompts: Sequence[list[Message]], params: SamplingParams
               ) -> list[list[Completion]]:
        check_params(params)
        return self._run([self._render(p) for p in prompts], params, is_step=False)

    def step(self, prompts: Sequence[list[Message]], prefixes: Sequence[str],
             params: SamplingParams) -> list[list[Completion]]:
        check_params(params)
        check_step_args(prompts, prefixes, params)
        texts = [self._render(p) + prefix for p, prefix in zip(prompts, prefixes, strict=True)]
        return self._run(texts, params, is_step=True)

    # -- internals ------------------------------------------------------------------------

    def _render(self, messages: list[Message]) -> str:
        if not self.apply_chat_template:
            return plain_prompt(messages)
        text = self.lm.apply_chat_template([dict(m) for m in messages])
        if not isinstance(text, str):
            raise ConfigError(f"lm-eval policy: apply_chat_template returned "
                              f"{type(text).__name__}, expected text")
        return text

    def _can_count(self) -> bool:
        return callable(getattr(type(self.lm), "tok_encode", None))

    def _count(self, text: str) -> int:
        if not self._can_count() or not text:
            return 0
        return len(self.lm.tok_encode(text))

    def _run(self, texts: list[str], params: SamplingParams, is_step: bool
             ) -> list[list[Completion]]:
        from lm_eval.api.instance import Instance

        start = time.perf_counter()
        greedy = params.temperature == 0
        per_prompt = 1 if greedy else params.n
        kwargs = gen_kwargs(params)
        requests = []
        for i, text in enumerate(texts):
            for j in range(per_prompt):
                requests.append(Instance(request_type="generate_until", doc={},
                                         arguments=(text, dict(kwargs)),
                                         idx=j, metadata=("prm-harness", i, per_prompt)))
        _seed_everything(request_seed(params.seed))
        answers = self.lm.generate_until(requests, disable_tqdm=True)
        if len(answers) != len(requests):
            raise ConfigError(f"lm-eval policy: {self.model_name} answered {len(answers)} "
                              f"of {len(requests)} requests")
        out: list[list[Completion]] = []
        tokens_in = tokens_out = 0
        for i, text in enumerate(texts):
            prompt_tokens = self._count(text)
            completions = [self._completion(answers[i * per_prompt + j], prompt_tokens,
                                            params, is_step) for j in range(per_prompt)]
            tokens_in += prompt_tokens * len(completions)
            tokens_out += sum(c.completion_tokens for c in completions)
            out.append(completions * params.n if greedy else completions)
        self.ledger.record(tokens_in, tokens_out, time.perf_counter() - start,
                           "step" if is_step else "sample")
        return out

    def _completion(self, answer: Any, prompt_tokens: int, params: SamplingParams,
                    is_step: bool) -> Completion:
        if not isinstance(answer, str):
            raise ConfigError(f"lm-eval policy: generate_until returned "
                              f"{type(answer).__name__}, expected text")
        tokens = self._count(answer)
        if self._can_count() and tokens >= params.max_tokens:
            return Completion(answer, prompt_tokens, tokens, "length")
        if is_step:  # generate_until cut the text before the delimiter: put it back
            return Completion(answer + params.stop[0], prompt_tokens, tokens, "step")
        return Completion(answer, prompt_tokens, tokens, "stop")


def _model_arg(model_args: Any, key: str) -> str | None:
    """One argument of lm-eval's ``model_args`` (string or mapping), as text."""
    if isinstance(model_args, Mapping):
        value = model_args.get(key)
        return None if value is None else str(value)
    if isinstance(model_args, str):
        for part in model_args.split(","):
            name, sep, value = part.partition("=")
            if sep and name.strip() == key:
                return value.strip()
    return None
