"""Chat prompts as the model sees them: the model folder's chat template, then the partial
solution appended as raw text (for ``step``). Shared by the hf, vllm and http back-ends so
they feed a model the same token ids."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.interfaces import Completion, SamplingParams
from harness.models.policies.base import LedgerPolicy, check_params, check_step_args
from harness.types import Message


def load_tokenizer(source: str, revision: str | None = None) -> Any:
    """A transformers tokenizer from a local folder or a hub id (never running hub code)."""
    from transformers import AutoTokenizer

    where = f"{source}@{revision}" if revision else source
    try:
        return AutoTokenizer.from_pretrained(source, revision=revision, trust_remote_code=False)
    except Exception as exc:  # transformers raises many types for a missing/bad folder
        raise ConfigError(f"cannot load the tokenizer of {where}: "
                          f"{type(exc).__name__}: {exc}") from None


def read_chat_template(path: str | None) -> str | None:
    """The text of a ``--chat-template`` file (None keeps the model folder's own)."""
    if path is None:
        return None
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"chat template file not found: {file}")
    return file.read_text(encoding="utf-8")


def render_prompt(tokenizer: Any, messages: list[Message], prefix: str = "",
                  chat_template: str | None = None) -> str:
    """The prompt text: chat template with the assistant turn opened, then ``prefix``."""
    if chat_template is None and not getattr(tokenizer, "chat_template", None):
        raise ConfigError(
            f"the tokenizer {getattr(tokenizer, 'name_or_path', '?')!r} has no chat template; "
            "give one with the policy option chat_template=PATH")
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                         chat_template=chat_template)
    if not isinstance(text, str):
        raise ConfigError(f"chat template rendered {type(text).__name__}, expected text")
    return text + prefix


def render_prompts(tokenizer: Any, prompts: Sequence[list[Message]],
                   prefixes: Sequence[str] | None, chat_template: str | None) -> list[str]:
    prefixes = prefixes if prefixes is not None else [""] * len(prompts)
    return [render_prompt(tokenizer, messages, prefix, chat_template)
            for messages, prefix in zip(prompts, prefixes, strict=True)]


def template_files_identity(tokenizer: str | None, chat_template: str | None,
                            model: str | None = None) -> dict[str, Any]:
    """The resolved identity of a policy's tokenizer (when it is not the model's own) and
    of its ``--chat-template`` file: both decide the prompt text the model sees."""
    from harness.models.model_files import resolved_revision
    from harness.store.keys import file_sha256

    out: dict[str, Any] = {}
    if tokenizer is not None and tokenizer != model:
        out["tokenizer"] = resolved_revision(tokenizer)
    if chat_template is not None:  # a missing file: building the policy names it
        found = Path(chat_template).is_file()
        out["chat_template_sha256"] = file_sha256(chat_template) if found else None
    return out


def encode_prompt(tokenizer: Any, text: str) -> list[int]:
    """Token ids of a rendered prompt; the template already holds any BOS, so no specials
    are added (what vLLM's own chat path does)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return list(ids)


class TemplatePolicy(LedgerPolicy):
    """A local-model policy: renders prompts here, then generates from the text."""

    tokenizer: Any
    chat_template: str | None

    @classmethod
    def resolved_identity(cls, **options: Any) -> dict[str, Any]:
        """The weights' folder sha256 or hub commit, plus tokenizer and template files."""
        from harness.models.model_files import resolved_revision

        model = options.get("model")
        if not isinstance(model, str):
            raise ConfigError(f"{cls.backend} policy: option 'model' (a folder or hub id) "
                              f"is required")
        return {"backend_version": cls.version,
                "model": resolved_revision(model, options.get("revision")),
                **template_files_identity(options.get("tokenizer"),
                                          options.get("chat_template"), model)}

    def sample(self, prompts: Sequence[list[Message]], params: SamplingParams
               ) -> list[list[Completion]]:
        check_params(params)
        return self._run(render_prompts(self.tokenizer, prompts, None, self.chat_template),
                         params, is_step=False)

    def step(self, prompts: Sequence[list[Message]], prefixes: Sequence[str],
             params: SamplingParams) -> list[list[Completion]]:
        check_params(params)
        check_step_args(prompts, prefixes, params)
        return self._run(render_prompts(self.tokenizer, prompts, prefixes, self.chat_template),
                         params, is_step=True)

    @abstractmethod
    def _run(self, texts: list[str], params: SamplingParams, is_step: bool
             ) -> list[list[Completion]]:
        """``params.n`` completions for each rendered prompt text."""
