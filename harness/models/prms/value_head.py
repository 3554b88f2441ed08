"""Skywork-o1-Open-PRM value-head models (PRM_PROTOCOLS.md 3.5).

Token ids are built piecewise, as the authors' ``prepare_input`` does: the ids of
``bos + problem + "\\n"``, then for every step its own ids followed by the id of the step
token (``"\\n"``); the scalar value head is read at each appended step token. Pieces are
encoded separately, so the step token can never merge with its neighbours. Steps are lines
in this protocol: a newline inside a step becomes a space (spec ``inner_newlines``) or is
refused.
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

    def encode(self, problem: str, steps: Sequence[str], where: str) -> Encoded:
        token = self.spec.step_token.text
        ids = encode(self.tokenizer, self.bos + problem + "\n", add_special_tokens=False)
        read = []
        for k, step in enumerate(self.prepare_steps(steps, where), start=1):
            if token in step:
                if self.spec.inner_newlines == "error":
                    raise ScoreError(f"{where}: step {k} contains the step token {token!r}")
                step = step.replace(token, " ")
            ids.extend(encode(self.tokenizer, step, add_special_tokens=False))
            read.append(len(ids))
            ids.append(self.step_id)
        return Encoded([Segment(tuple(ids), tuple(read))])

    def readout(self, rows: dict[str, list[np.ndarray]], encoded: Encoded,
                where: str) -> list[float]:
        values = rows["prm"][0]
        if values.ndim != 2 or values.shape[1] != 1 or not np.isfinite(values).all():
            raise ScoreError(f"{where}: expected finite [n, 1] value-head outputs")
        return values[:, 0].astype(np.float64).tolist()
