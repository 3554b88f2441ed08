"""Generative verifiers read as P(yes) / (P(yes) + P(no)) (PRM_PROTOCOLS.md 3.10).

For step k the conversation is the system prompt, one user turn per step up to k (the
first is ``first_user_template``) and, for the steps before k, the teacher-forced verdict
turn ``prior_assistant``. It is rendered without a generation prompt, the template's
closing eos (and newline) is dropped when ``strip_eos`` is set (GenPRM's ``build_prompt``),
and ``verdict_prefix`` is appended; the score is the next-token probability of the yes
token against the no token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.errors import ConfigError
from harness.models.prms.protocol import Encoded, Family, Head, Segment, probability_rows
from harness.models.prms.tokens import encode, render_chat


class GenerativeFamily(Family):
    name = "generative"
    summary = "verifier LM: P(yes) / (P(yes) + P(no)) for a verdict token after each step"

    def __init__(self, spec: Any, tokenizer: Any) -> None:
        super().__init__(spec, tokenizer)
        self.verdict_ids = (self.token_id("yes_token"), self.token_id("no_token"))
        if spec.strip_eos and not getattr(tokenizer, "eos_token", None):
            raise ConfigError(f"spec {spec.model_id}: strip_eos is set but the tokenizer "
                              f"defines no eos token")

    def head(self) -> Head:
        return Head("causal-lm", "columns", 2, columns=self.verdict_ids)

    def _prompt(self, messages: list[dict[str, str]]) -> str:
        text = render_chat(self.tokenizer, messages, add_generation_prompt=False)
        if self.spec.strip_eos:
            eos = self.tokenizer.eos_token
            for ending in (eos + "\n", eos):
                if text.endswith(ending):
                    text = text[:-len(ending)]
                    break
        return text + self.spec.verdict_prefix

    def encode(self, problem: str, steps: Sequence[str], where: str) -> Encoded:
        written = self.prepare_steps(steps, where)
        base: list[dict[str, str]] = []
        if self.spec.system_prompt is not None:
            base.append({"role": "system", "content": self.spec.system_prompt})
        segments = []
        turns: list[dict[str, str]] = []
        for k, step in enumerate(written):
            content = (self.spec.first_user_template.format(problem=problem, step=step)
                       if k == 0 else step)
            turns.append({"role": "user", "content": content})
            text = self._prompt(base + turns)
            ids = encode(self.tokenizer, text, self.spec.add_special_tokens)
            segments.append(Segment(tuple(ids), (len(ids) - 1,)))
            turns.append({"role": "assistant", "content": self.spec.prior_assistant})
        return Encoded(segments)

    def readout(self, rows: dict[str, list[np.ndarray]], encoded: Encoded,
                where: str) -> list[float]:
        return [float(probability_rows(block, 0, where)[0]) for block in rows["prm"]]
