"""Skywork-o1-Open-PRM value-head models (PRM_PROTOCOLS.md 3.5).

Token ids are built piecewise, as the authors' ``prepare_input`` does: the ids of
``bos + problem + "\\n"``, then the response split at every ``"\\n"``, each piece's own ids
followed by the id of the step token ``"\\n"``, every such newline flagged; pieces are
encoded separately, so the newline can never merge with its neighbours. The card's steps
are lines; the harness's steps may hold several, so a step's score is the value head at
the newline that ends it, its last line's (spec ``inner_newlines: keep``, what the card
computes for the same response). A step that ends in line breaks keeps them (a blank line
is a flagged newline of its own in the card); any other step gets one newline after it,
the card's joiner. ``inner_newlines: space`` writes inner newlines as spaces instead
(compute-optimal-tts), ``error`` refuses them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.errors import ConfigError, ScoreError
from harness.models.prms.protocol import Encoded, Family, Head, Segment
from harness.models.prms.tokens import encode


class ValueHeadFamily(Family):
    name = "value-head"
    summary = "Skywork-o1-PRM: newline after every line, sigmoid of a scalar value head"

    def __init__(self, spec: Any, tokenizer: Any) -> None:
        super().__init__(spec, tokenizer)
        self.step_id = self.token_id("step_token")
        self.bos = ""
        if spec.prepend_bos:
            if not getattr(tokenizer, "bos_token", None):
                raise ConfigError(f"spec {spec.model_id}: prepend_bos is set but the "
                                  f"tokenizer defines no BOS token")
            self.bos = tokenizer.bos_token

    def head(self) -> Head:
        return Head("linear-head", "logits", 1, weights_key=self.spec.head_key)

    def clean_step(self, step: str) -> str:
        """Kept whole when lines are kept: its line breaks are the card's flagged lines."""
        if self.spec.inner_newlines == "keep" and not self.spec.strip_steps:
            return step
        return super().clean_step(step)

    def _lines(self, step: str, k: int, where: str) -> list[str]:
        token = self.spec.step_token.text
        if token in step and self.spec.inner_newlines == "error":
            raise ScoreError(f"{where}: step {k} contains the step token {token!r}")
        if self.spec.inner_newlines == "space":
            return [step.replace(token, " ")]
        lines = step.split(token)
        return lines[:-1] if step.endswith(token) else lines

    def encode(self, problem: str, steps: Sequence[str], where: str) -> Encoded:
        ids = encode(self.tokenizer, self.bos + problem + "\n", add_special_tokens=False)
        read = []
        for k, step in enumerate(self.prepare_steps(steps, where), start=1):
            for line in self._lines(step, k, where):
                if line:
                    ids.extend(encode(self.tokenizer, line, add_special_tokens=False))
                ids.append(self.step_id)
            read.append(len(ids) - 1)
        return Encoded([Segment(tuple(ids), tuple(read))])

    def readout(self, rows: dict[str, list[np.ndarray]], encoded: Encoded,
                where: str) -> list[float]:
        values = rows["prm"][0]
        if values.ndim != 2 or values.shape[1] != 1 or not np.isfinite(values).all():
            raise ScoreError(f"{where}: expected finite [n, 1] value-head outputs")
        return values[:, 0].astype(np.float64).tolist()
