"""Math-Shepherd-style step-tag PRMs (PRM_PROTOCOLS.md 3.3, 3.7): Math-Shepherd, Math-psa.

Plain text ``prompt_template(problem) + joiner.join(step + suffix)``; at every position
holding the step-tag token, the causal LM's logits of the two label tokens (no shift),
softmax, ``correct_index`` = the good label.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.errors import ConfigError
from harness.models.prms.protocol import Encoded, LabelTokenFamily, Segment
from harness.models.prms.tokens import encode


class StepTagFamily(LabelTokenFamily):
    name = "step-tag"
    summary = "Math-Shepherd / Math-psa: causal LM logits of two label tokens at a step tag"

    def __init__(self, spec: Any, tokenizer: Any) -> None:
        super().__init__(spec, tokenizer)
        if spec.step_tag.text not in spec.step_suffix:
            raise ConfigError(f"spec {spec.model_id}: step_suffix {spec.step_suffix!r} does "
                              f"not contain step_tag {spec.step_tag.text!r}")
        self.tag_id = self.token_id("step_tag")

    def encode(self, problem: str, steps: Sequence[str], where: str) -> Encoded:
        written = self.prepare_steps(steps, where)
        body = self.spec.step_joiner.join(step + self.spec.step_suffix for step in written)
        text = self.spec.prompt_template.format(problem=problem) + body
        ids = encode(self.tokenizer, text, self.spec.add_special_tokens)
        read = [i for i, token in enumerate(ids) if token == self.tag_id]
        self.count_check(len(read), len(written),
                         f"step-tag {self.spec.step_tag.text!r} tokens", where)
        return Encoded([Segment(tuple(ids), tuple(read))])
