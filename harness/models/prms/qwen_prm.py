"""The Qwen2.5-Math-PRM family (PRM_PROTOCOLS.md 3.1).

Chat template with the spec's system prompt, the problem as the user turn and the steps
as the assistant turn, each step followed by the step tag (also after the last one); the
two head logits at every tag, softmax, ``correct_index`` = the step is correct.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.errors import ScoreError
from harness.models.prms.protocol import Encoded, Family, Head, Segment, probability_rows
from harness.models.prms.tokens import encode, render_chat


class QwenPrmFamily(Family):
    name = "qwen-prm"
    summary = ("Qwen2.5-Math-PRM: step tag after every step in the chat template, softmax of a "
               "2-label MLP head at each tag")

    def __init__(self, spec: Any, tokenizer: Any) -> None:
        super().__init__(spec, tokenizer)
        self.tag_id = self.token_id("step_tag")

    def head(self) -> Head:
        return Head("mlp-head", "logits", 2, weights_key=self.spec.head_prefix,
                    step_tag_id=self.tag_id)

    def encode(self, problem: str, steps: Sequence[str], where: str) -> Encoded:
        tag = self.spec.step_tag.text
        written = self.prepare_steps(steps, where)
        for k, step in enumerate(written, start=1):
            if tag in step:
                raise ScoreError(f"{where}: step {k} contains the step tag {tag!r}")
        messages = [
            {"role": "system", "content": self.spec.system_prompt},
            {"role": "user", "content": problem},
            {"role": "assistant", "content": "".join(step + tag for step in written)},
        ]
        text = render_chat(self.tokenizer, messages, add_generation_prompt=False)
        ids = encode(self.tokenizer, text, add_special_tokens=True)
        read = [i for i, token in enumerate(ids) if token == self.tag_id]
        self.count_check(len(read), len(written), f"{tag!r} tokens", where)
        return Encoded([Segment(tuple(ids), tuple(read))])

    def readout(self, rows: dict[str, list[np.ndarray]], encoded: Encoded,
                where: str) -> list[float]:
        return probability_rows(rows["prm"][0], self.spec.correct_index, where).tolist()
