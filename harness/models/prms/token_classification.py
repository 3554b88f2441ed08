"""TRL token-classification PRMs and PURE (PRM_PROTOCOLS.md 3.9).

``encoding: joined``: plain text ``problem + sep + step_1 + sep + ... + step_k + sep``;
HF's ProcessBench script runs one prefix per step and reads the label of its last token.
Causal attention makes that one forward over the full text, read at the last token of
every prefix, provided the prefix's tokens are a prefix of the full text's tokens; when
they are not (the separator merges with the next step under this tokenizer) the sample is
refused. ``encoding: pieces``: the problem's ids, then for every step its own ids and the
separator's ids (TRL's PRMTrainer builds training rows this way, PURE's card scores this
way), read at the separator's last token; pieces never merge.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.errors import ScoreError
from harness.models.prms.protocol import Encoded, Family, Head, Segment, probability_rows
from harness.models.prms.tokens import encode, starts_with


class TokenClassificationFamily(Family):
    name = "token-classification"
    summary = ("TRL token-classification PRMs and PURE: separator after every step, 2-label head "
               "at the separator's last token")

    def head(self) -> Head:
        return Head("token-classification", "logits", 2)

    def encode(self, problem: str, steps: Sequence[str], where: str) -> Encoded:
        if self.spec.encoding == "pieces":
            return self._pieces(problem, self.prepare_steps(steps, where))
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

    def _pieces(self, problem: str, steps: list[str]) -> Encoded:
        ids = encode(self.tokenizer, problem, self.spec.add_special_tokens)
        sep_ids = encode(self.tokenizer, self.spec.separator, False)
        read = []
        for step in steps:
            ids.extend(encode(self.tokenizer, step, False))
            ids.extend(sep_ids)
            read.append(len(ids) - 1)
        return Encoded([Segment(tuple(ids), tuple(read))])

    def readout(self, rows: dict[str, list[np.ndarray]], encoded: Encoded,
                where: str) -> list[float]:
        c = self.spec.correct_index
        p = probability_rows(rows["prm"][0], c, where)
        if self.spec.readout == "p-correct-minus-p-wrong":
            return (2.0 * p - 1.0).tolist()
        return p.tolist()
