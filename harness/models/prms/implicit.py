"""Implicit PRMs: EurusPRM (PRM_PROTOCOLS.md 3.6; PRIME-RL/ImplicitPRM eval/processbench.py).

The conversation (user = problem, assistant = the steps joined by ``step_joiner``) is
encoded once. Step ends come from re-encoding the conversation with only the first j
steps (trailing whitespace stripped, the joiner appended when 0 < j < K) and taking
``len - 2``; entry 0 marks the response start. With lp(t) the log-probability of token
t+1 given tokens ..t, q_j = beta * sum over t from the start to end_j of
(lp_prm(t) - lp_ref(t)). ``value: cumulative`` keeps q_j, ``step`` gives q_j - q_(j-1).
As in the reference, a step's last token may merge with the joiner under BPE; the end
index is then the reference's, one token later. Both models read the same ids (the PRM's
tokenizer); the adapter checks that the reference tokenizer has the same vocabulary.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.errors import ScoreError
from harness.models.prms.protocol import Encoded, Family, Head, ModelRef, Segment
from harness.models.prms.tokens import encode, render_chat, starts_with


class ImplicitFamily(Family):
    name = "implicit"
    summary = "EurusPRM: beta * log(pi_prm / pi_ref) summed over each step's tokens"

    @classmethod
    def model_refs(cls, spec: Any) -> dict[str, ModelRef]:
        return {"prm": ModelRef(spec.model_id, spec.revision),
                "reference": ModelRef(spec.reference_model, spec.reference_revision)}

    def head(self) -> Head:
        return Head("causal-lm", "next-logprob", 1)

    def _render(self, problem: str, steps: Sequence[str]) -> str:
        messages = [{"role": "user", "content": problem},
                    {"role": "assistant", "content": self.spec.step_joiner.join(steps)}]
        return render_chat(self.tokenizer, messages, add_generation_prompt=False)

    def encode(self, problem: str, steps: Sequence[str], where: str) -> Encoded:
        written = self.prepare_steps(steps, where)
        ids = encode(self.tokenizer, self._render(problem, written), False)
        bounds = []
        for j in range(len(written) + 1):
            text = self._render(problem, written[:j]).strip()
            if 0 < j < len(written):
                text += self.spec.step_joiner
            partial = encode(self.tokenizer, text, False)
            bound = len(partial) - 2
            # the reference uses len - 2 as is; its last content token may legitimately
            # merge with the joiner (".\n\n" is one Qwen token), everything before may not
            if bound < 0 or bound > len(ids) - 2 \
                    or not starts_with(ids, partial[:max(bound - 1, 0)]):
                raise ScoreError(f"{where}: step {j}: the conversation cut after this step "
                                 f"does not tokenise as a prefix of the whole conversation")
            bounds.append(bound)
        start = bounds[0]
        if any(b < start for b in bounds[1:]) or sorted(bounds) != bounds:
            raise ScoreError(f"{where}: step ends are not increasing after the response "
                             f"start: {bounds}")
        read = tuple(range(start, bounds[-1] + 1))
        # ends as offsets into the read rows
        return Encoded([Segment(tuple(ids), read)], [b - start for b in bounds[1:]])

    def readout(self, rows: dict[str, list[np.ndarray]], encoded: Encoded,
                where: str) -> list[float]:
        prm, ref = rows["prm"][0], rows["reference"][0]
        if prm.shape != ref.shape or prm.ndim != 2 or prm.shape[1] != 1:
            raise ScoreError(f"{where}: PRM and reference log-probs do not line up")
        diff = (prm[:, 0].astype(np.float64) - ref[:, 0].astype(np.float64))
        if not np.isfinite(diff).all():
            raise ScoreError(f"{where}: non-finite log-probabilities")
        q = self.spec.beta * np.cumsum(diff)
        values = q[encoded.extra]
        if self.spec.value == "step":
            values = np.diff(values, prepend=0.0)
        return values.tolist()
