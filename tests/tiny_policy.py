"""A tiny randomly initialised Qwen2 causal LM with a locally trained tokenizer and a
ChatML chat template, saved as a normal model folder (ENVIRONMENT_NOTES Q2).

The tokenizer is trained on synthetic-arith problems and solutions (generated offline), so
the model's vocabulary covers the text the policy tests use. Built once per process.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

QWEN_RE = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"""
           r""" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""")
CHATML = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + "
          "'<|im_end|>\\n' }}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")

_BUILT: dict[str, Path] = {}


def training_text() -> str:
    from harness.build import build_task

    task = build_task("synthetic-arith", None, n_problems=40)
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
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_RE), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator([training_text()], trainers.BpeTrainer(
        vocab_size=600, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>",
                                     pad_token="<|endoftext|>")
    hf_tok.chat_template = CHATML
    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=(len(hf_tok) + 63) // 64 * 64, hidden_size=64, intermediate_size=128,
        num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
        max_position_embeddings=2048, pad_token_id=hf_tok.pad_token_id,
        eos_token_id=hf_tok.eos_token_id, bos_token_id=None, tie_word_embeddings=True,
        initializer_range=0.3)
    model = Qwen2ForCausalLM(config)
    # model defaults (as Qwen ships them) that the policies must not apply
    model.generation_config.update(do_sample=True, top_k=20, repetition_penalty=1.5)
    model.save_pretrained(folder)
    hf_tok.save_pretrained(folder)
    _BUILT[key] = folder
    return folder
