"""TRL token-classification PRMs (PRM_PROTOCOLS.md 3.9).

Plain text ``problem + sep + step_1 + sep + ... + step_k + sep``; HF's ProcessBench script
runs one prefix per step and reads the label of its last token. Causal attention makes
that one forward over the full text, read at the last token of every prefix, provided the
prefix's tokens are a prefix of the full text's tokens; when they are not (the separator
merges with the next step under this tokenizer) the sample is refused.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.errors import ScoreError
from harness.models.prms.protocol import Encoded, Family, Head, Segment, probability_rows
from harness.models.prms.tokens import encode, starts_with


class TokenClassificationFamily(Family):
    name = "token-classification"

    def head(self) -> Head:
        return Head("token-classification", "logits", 2)

    def encode(self, problem: str, steps: Sequence[str], where: str) -> Encoded:
        sep = self.spec.separator
        pieces = [problem, *self.prepare_steps(steps, where)]
        add = self.spec.add_special_tokens
        ids = encode(self.tokenizer, sep.join(pieces) + sep, add)
        read = []
        for k in range(1, len(pieces)):
            prefix = encode(self.tokenizer, sep.join(pieces[:k + 1]) + sep, add)
            if not starts_with(ids, prefix):
                raise ScoreError(
                    f"{where}: step {k}: the tokens of the text up to this step's separator "
                    f"{sep!r} are not a prefix of the full text's tokens (the separator "
                    f"merges with the next step under this tokenizer)")
            read.append(len(prefix) - 1)
        return Encoded([Segment(tuple(ids), tuple(read))])

    def readout(self, rows: dict[str, list[np.ndarray]], encoded: Encoded,
                where: str) -> list[float]:
        c = self.spec.correct_index
        p = probability_rows(rows["prm"][0], c, where)
        if self.spec.readout == "p-correct-minus-p-wrong":
            return (2.0 * p - 1.0).tolist()
        return p.tolist()
