"""Tokenizer helpers shared by the protocol families (duck-typed; no torch import).

Specs name special tokens by their text; ``single_token`` resolves the text with the
model's own tokenizer and refuses anything that is not exactly one token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.errors import ConfigError


def encode(tokenizer: Any, text: str, add_special_tokens: bool) -> list[int]:
    return list(tokenizer.encode(text, add_special_tokens=add_special_tokens))


def single_token(tokenizer: Any, text: str, field: str) -> int:
    """The id of ``text`` under this tokenizer; a ConfigError unless it is one token."""
    ids = encode(tokenizer, text, add_special_tokens=False)
    if len(ids) != 1:
        pieces = tokenizer.convert_ids_to_tokens(ids) if ids else []
        raise ConfigError(f"spec field '{field}': {text!r} is {len(ids)} tokens under this "
                          f"model's tokenizer ({pieces}); it must be exactly one token")
    return ids[0]


def render_chat(tokenizer: Any, messages: Sequence[dict[str, str]],
                add_generation_prompt: bool) -> str:
    """The model's own chat template rendered to text."""
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError("this protocol needs the model's chat template, and the tokenizer "
                          "has none")
    text = tokenizer.apply_chat_template(list(messages), tokenize=False,
                                         add_generation_prompt=add_generation_prompt)
    if not isinstance(text, str):
        raise ConfigError("the chat template did not render to text")
    return text


def starts_with(ids: Sequence[int], prefix: Sequence[int]) -> bool:
    return len(prefix) <= len(ids) and list(ids[:len(prefix)]) == list(prefix)
