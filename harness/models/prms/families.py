"""Protocol family name -> its class (imported on demand)."""

from __future__ import annotations

import importlib
from typing import Any

from harness.errors import ConfigError
from harness.models.prms.protocol import Family

FAMILY_CLASSES: dict[str, str] = {
    "chat-turn": "harness.models.prms.chat_turn:ChatTurnFamily",
    "generative": "harness.models.prms.generative:GenerativeFamily",
    "implicit": "harness.models.prms.implicit:ImplicitFamily",
    "outcome": "harness.models.prms.outcome:OutcomeFamily",
    "qwen-prm": "harness.models.prms.qwen_prm:QwenPrmFamily",
    "step-tag": "harness.models.prms.step_tag:StepTagFamily",
    "token-classification": "harness.models.prms.token_classification:TokenClassificationFamily",
    "value-head": "harness.models.prms.value_head:ValueHeadFamily",
}


def family_for(spec: Any, tokenizer: Any) -> Family:
    """The family object for a validated spec, bound to the model's tokenizer."""
    target = FAMILY_CLASSES.get(spec.family)
    if target is None:
        raise ConfigError(f"no implementation for protocol family {spec.family!r}")
    module, attr = target.split(":")
    cls = getattr(importlib.import_module(module), attr)
    family: Family = cls(spec, tokenizer)
    return family
