"""Tokenizer helpers shared by the protocol families (duck-typed; no torch import).

Specs name special tokens by their text (``TokenRef``, ``JointLabels`` in specs.py);
``resolve_token`` and ``resolve_labels`` find their ids with the model's own tokenizer by
the rule the spec states, and refuse anything that rule does not pin to one token.
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


def _pieces(tokenizer: Any, ids: list[int]) -> list[str]:
    return list(tokenizer.convert_ids_to_tokens(ids)) if ids else []


def resolve_token(tokenizer: Any, ref: Any, field: str) -> int:
    """The id of a ``TokenRef``: the single token of its text (``take: only``), or the
    last token of its encoding after pieces that decode to whitespace (``take: last``)."""
    if ref.take == "only":
        return single_token(tokenizer, ref.text, field)
    ids = encode(tokenizer, ref.text, add_special_tokens=False)
    if not ids:
        raise ConfigError(f"spec field '{field}': {ref.text!r} encodes to no tokens")
    if tokenizer.decode(ids[:-1]).strip():
        raise ConfigError(f"spec field '{field}': {ref.text!r} is {len(ids)} tokens under "
                          f"this model's tokenizer ({_pieces(tokenizer, ids)}); 'take: last' "
                          f"may only skip whitespace pieces before the token")
    return ids[-1]


def resolve_labels(tokenizer: Any, labels: Any, field: str) -> tuple[int, int]:
    """The two label ids: each ``TokenRef`` resolved, or the two tokens of a joint text."""
    if isinstance(labels, tuple):
        first, second = (resolve_token(tokenizer, ref, field) for ref in labels)
        return first, second
    ids = encode(tokenizer, labels.joint, add_special_tokens=False)
    if len(ids) != 2:
        raise ConfigError(f"spec field '{field}': joint {labels.joint!r} is {len(ids)} tokens "
                          f"under this model's tokenizer ({_pieces(tokenizer, ids)}); it must "
                          f"be exactly two (the good and the bad label)")
    return ids[0], ids[1]


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
