"""RLHFlow chat-turn PRMs (PRM_PROTOCOLS.md 3.4).

The conversation has one user turn per step (the first is ``first_user_template``) and a
teacher-forced assistant turn ``assistant_label`` after each. The official code runs one
prefix per step and reads the logits that predict its final assistant label; causal
attention makes that one forward over the whole conversation, read one position before
each assistant label. Each position is found by rendering the conversation up to that
user turn with the generation prompt: its tokens must be a prefix of the whole
conversation's tokens and be followed by the label token, or the sample is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.errors import ScoreError
from harness.models.prms.protocol import Encoded, LabelTokenFamily, Segment
from harness.models.prms.tokens import encode, render_chat, starts_with


class ChatTurnFamily(LabelTokenFamily):
    name = "chat-turn"
    summary = "RLHFlow: one user turn per step, P(label) predicted for each assistant turn"

    def __init__(self, spec: Any, tokenizer: Any) -> None:
        super().__init__(spec, tokenizer)
        self.label_id = self.token_id("assistant_label")

    def encode(self, problem: str, steps: Sequence[str], where: str) -> Encoded:
        written = self.prepare_steps(steps, where)
        messages: list[dict[str, str]] = []
        if self.spec.system_prompt is not None:
            messages.append({"role": "system", "content": self.spec.system_prompt})
        user_turns = []
        for k, step in enumerate(written):
            content = (self.spec.first_user_template.format(problem=problem, step=step)
                       if k == 0 else step)
            user_turns.append(len(messages))
            messages.append({"role": "user", "content": content})
            messages.append({"role": "assistant", "content": self.spec.assistant_label.text})
        ids = encode(self.tokenizer, render_chat(self.tokenizer, messages, False), False)
        read = []
        for k, turn in enumerate(user_turns, start=1):
            asked = encode(self.tokenizer,
                           render_chat(self.tokenizer, messages[:turn + 1], True), False)
            if not starts_with(ids, asked) or len(ids) <= len(asked) \
                    or ids[len(asked)] != self.label_id:
                raise ScoreError(
                    f"{where}: step {k}: the conversation up to this turn (with the "
                    f"generation prompt) is not followed by the assistant label "
                    f"{self.spec.assistant_label.text!r} in the whole conversation's tokens")
            read.append(len(asked) - 1)
        return Encoded([Segment(tuple(ids), tuple(read))])
