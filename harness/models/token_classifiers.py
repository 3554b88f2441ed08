"""Token-classification classes transformers does not ship, registered with its Auto
classes so that training and scoring build them by ``AutoModelForTokenClassification``.

transformers 5.x has a sequence classifier for Gemma 3 text models
(``Gemma3TextForSequenceClassification``) but no token classifier, so a PRM head on the
zoo's gemma3-270m could be neither trained nor scored. The class below is the one
transformers writes for its other decoders: its own ``GenericForTokenClassification`` mixin
on the model family's pre-trained base (weights under ``model.``, head ``score``), nothing
re-implemented. Registering is idempotent, and it never replaces a class transformers has.
"""

# no `from __future__ import annotations`: transformers reads the class's `config`
# annotation as an object
from typing import Any

_REGISTERED = False


def register_token_classifiers() -> None:
    """Add the missing classes to ``AutoModelForTokenClassification`` (once a process)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from transformers import AutoModelForTokenClassification

    for config_cls, model_cls in _missing_classes():
        mapping = AutoModelForTokenClassification._model_mapping
        if config_cls in mapping:
            continue  # a transformers release that ships its own: use that one
        # exist_ok: transformers skips a native config class otherwise (it guards remote
        # code); the check above already keeps any class it ships
        AutoModelForTokenClassification.register(config_cls, model_cls, exist_ok=True)
    _REGISTERED = True


def _missing_classes() -> list[tuple[Any, Any]]:
    out: list[tuple[Any, Any]] = []
    try:
        from transformers.modeling_layers import GenericForTokenClassification
        from transformers.models.gemma3.modeling_gemma3 import (
            Gemma3PreTrainedModel,
            Gemma3TextConfig,
        )
    except ImportError:  # an older transformers: nothing to add
        return out

    class Gemma3TextForTokenClassification(GenericForTokenClassification,
                                           Gemma3PreTrainedModel):
        """Gemma 3 text decoder with a per-token linear head (transformers' generic one)."""

        config: Gemma3TextConfig  # type: ignore[assignment, unused-ignore]
        input_modalities = ("text",)  # type: ignore[assignment, unused-ignore]

    out.append((Gemma3TextConfig, Gemma3TextForTokenClassification))
    return out
