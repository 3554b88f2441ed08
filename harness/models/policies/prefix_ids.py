"""Token-id prefixes for search: a step's prefix is fed as the ids it was generated as.

A search extends partial solutions one step at a time. Re-tokenising ``prompt + prefix``
can give other ids than the ones the model generated (a word split otherwise at a step
boundary), and then the model continues from a text it never wrote. Policies that mix
this in keep, per (rendered prompt, prefix text), the ids each step was generated as,
and feed them for the children of that step. Shared by the hf and vllm back-ends.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from harness.models.policies.chat import encode_prompt, render_prompt
from harness.types import Message

#: step ids kept for token-id prefixes (least recently used dropped first)
PREFIX_CACHE_ENTRIES = 1 << 16


class PrefixIds:
    """The ids a step was generated as, kept for its children (needs ``tokenizer``,
    ``chat_template`` and ``_decode``)."""

    tokenizer: Any
    chat_template: str | None
    #: a step's prefix is fed as the ids it was generated as
    takes_token_prefixes = True

    def _init_prefix_ids(self) -> None:
        #: (rendered prompt, prefix text) -> the ids the prefix was generated as
        self._prefix_ids: OrderedDict[tuple[str, str], tuple[int, ...]] = OrderedDict()
        self.prefix_stats = {"reused": 0, "tokenised": 0, "not_kept": 0, "prompt_reused": 0}
        self._rendered_prompts: OrderedDict[str, str] = OrderedDict()

    def _decode(self, ids: list[int]) -> str:
        raise NotImplementedError

    def _rendered(self, messages: list[Message]) -> str:
        """The chat template's text for ``messages``, rendered once per distinct prompt."""
        key = json.dumps(messages, sort_keys=True)
        text = self._rendered_prompts.get(key)
        if text is None:
            text = render_prompt(self.tokenizer, messages, "", self.chat_template)
            self._rendered_prompts[key] = text
            while len(self._rendered_prompts) > PREFIX_CACHE_ENTRIES:
                self._rendered_prompts.popitem(last=False)
        return text

    def prefix_token_ids(self, rendered: str, prefix: str) -> list[int]:
        """The ids fed for (rendered prompt, prefix): the kept ids of the step that wrote
        ``prefix`` when there is one, else the tokenised text."""
        key = (rendered, prefix)
        found = self._prefix_ids.get(key)
        if found is not None:
            self._prefix_ids.move_to_end(key)
            self.prefix_stats["reused" if prefix else "prompt_reused"] += 1
            return list(found)
        ids = encode_prompt(self.tokenizer, rendered + prefix)
        if prefix:
            self.prefix_stats["tokenised"] += 1
        else:  # the prompt alone: every step from the root of this problem reads it
            self._remember((rendered, ""), tuple(ids))
        return ids

    def _keep_prefix(self, rendered: str, text: str, ids: list[int], step_ids: list[int],
                     step_text: str) -> None:
        if self._decode(step_ids) != step_text:  # the stop string ended inside a token
            self.prefix_stats["not_kept"] += 1
            return
        self._remember((rendered, text), (*ids, *step_ids))

    def _remember(self, key: tuple[str, str], ids: tuple[int, ...]) -> None:
        self._prefix_ids[key] = ids
        self._prefix_ids.move_to_end(key)
        while len(self._prefix_ids) > PREFIX_CACHE_ENTRIES:
            self._prefix_ids.popitem(last=False)
