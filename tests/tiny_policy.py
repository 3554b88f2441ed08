"""A tiny randomly initialised Qwen2 causal LM with a locally trained tokenizer and a
ChatML chat template, saved as a normal model folder (ENVIRONMENT_NOTES Q2).

The tokenizer is trained on synthetic-arith problems and solutions (generated offline), so
the model's vocabulary covers the text the policy tests use (the tokenizer and sizes of
harness.models.tiny, with a ChatML template that adds no default system turn). Built once
per process.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

CHATML = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + "
          "'<|im_end|>\\n' }}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")

_BUILT: dict[str, Path] = {}


def training_text() -> str:
    from harness.registry import TASKS

    task = TASKS.build("synthetic-arith", {"n_problems": 40})
    parts = []
    for problem in task.load():
        parts.append(problem.prompt[-1]["content"])
        parts.append(problem.metadata["solution"])
    return "\n\n".join(parts)


def build_tiny_policy(folder: Path) -> Path:
    """Write the model folder (config, weights, tokenizer, chat template) once."""
    key = str(folder)
    if key in _BUILT:
        return _BUILT[key]
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from harness.models.tiny import QWEN_SPECIALS, tiny_config, train_tokenizer

    hf_tok = train_tokenizer(training_text(), QWEN_SPECIALS, eos="<|im_end|>",
                             chat_template=CHATML, vocab_size=600)
    torch.manual_seed(0)
    config = tiny_config(Qwen2Config, hf_tok, max_position_embeddings=2048,
                         bos_token_id=None, initializer_range=0.3)
    model = Qwen2ForCausalLM(config)
    # model defaults (as Qwen ships them) that the policies must not apply
    model.generation_config.update(do_sample=True, top_k=20, repetition_penalty=1.5)
    model.save_pretrained(folder)
    hf_tok.save_pretrained(folder)
    _BUILT[key] = folder
    return folder
