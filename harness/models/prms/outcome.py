"""Outcome reward models with a scalar head: Qwen2.5-Math-RM (PRM_PROTOCOLS.md 3.2).

The card renders (system, user = problem, assistant = response) with the chat template,
encodes it without special tokens and reads the head's scalar at the last token. Here step
k's value is that outcome score for the response made of steps 1..k (one sequence per
step), so every step has a score and ``last`` is the card's outcome score.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.errors import ScoreError
from harness.models.prms.protocol import Encoded, Family, Head, Segment
from harness.models.prms.tokens import encode, render_chat


class OutcomeFamily(Family):
    name = "outcome"
    summary = "Qwen2.5-Math-RM: scalar head at the last token of the response (per prefix)"

    def head(self) -> Head:
        return Head("mlp-head", "logits", 1, weights_key=self.spec.head_prefix)

    def encode(self, problem: str, steps: Sequence[str], where: str) -> Encoded:
        written = self.prepare_steps(steps, where)
        segments = []
        for k in range(1, len(written) + 1):
            messages = [
                {"role": "system", "content": self.spec.system_prompt},
                {"role": "user", "content": problem},
                {"role": "assistant", "content": self.spec.step_joiner.join(written[:k])},
            ]
            ids = encode(self.tokenizer, render_chat(self.tokenizer, messages, False), False)
            segments.append(Segment(tuple(ids), (len(ids) - 1,)))
        return Encoded(segments)

    def readout(self, rows: dict[str, list[np.ndarray]], encoded: Encoded,
                where: str) -> list[float]:
        out = []
        for block in rows["prm"]:
            if block.shape != (1, 1) or not np.isfinite(block).all():
                raise ScoreError(f"{where}: expected one finite scalar per prefix")
            out.append(float(block[0, 0]))
        return out
