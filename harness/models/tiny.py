"""Tiny randomly initialised models with a locally trained tokenizer, for tests, benchmarks
and offline demos (no hub access).

The tokenizer is a byte-level BPE with Qwen2's exact normaliser and pre-tokenizer, so
``AutoTokenizer`` gives the same ids whether it returns Qwen2Tokenizer (for a qwen2
config) or the generic fast tokenizer (ENVIRONMENT_NOTES Q2). Needs the ``hf`` extra.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

QWEN_PRETOKENIZE = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"""
                    r""" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""")

#: ChatML, adding a default system turn when none is given (as Qwen2.5's template does)
CHATML_TEMPLATE = (
    "{% if messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful "
    "assistant.<|im_end|>\\n' }}{% endif %}"
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + "
    "'<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")

QWEN_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

#: small but real shapes: head_dim 32, grouped-query attention
TINY_SIZES = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
              "num_attention_heads": 2, "num_key_value_heads": 1,
              "max_position_embeddings": 4096, "initializer_range": 0.2}


def train_tokenizer(text: str, specials: list[str], *, eos: str, added: tuple[str, ...] = (),
                    bos: str | None = None, chat_template: str | None = None,
                    vocab_size: int = 900) -> Any:
    """A fast tokenizer trained on ``text``; ``bos``, when given, is added by encode()."""
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_PRETOKENIZE), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator([text], trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[*specials, "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    if bos is not None:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A $B",
            special_tokens=[(bos, tok.token_to_id(bos))])
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=eos, pad_token="<pad>",
                                 bos_token=bos)
    if added:
        hf.add_tokens(list(added))
    if chat_template is not None:
        hf.chat_template = chat_template
    return hf


def tiny_config(config_cls: Any, tokenizer: Any, **overrides: Any) -> Any:
    """A config of ``config_cls`` with TINY_SIZES and the tokenizer's vocabulary."""
    values: dict[str, Any] = dict(TINY_SIZES, vocab_size=(len(tokenizer) + 63) // 64 * 64,
                                  pad_token_id=tokenizer.pad_token_id,
                                  eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=True)
    values.update(overrides)
    return config_cls(**values)


def save_token_classifier(text: str, path: str | Path, seed: int = 0,
                          **sizes: Any) -> Path:
    """A Qwen2ForTokenClassification (2 labels) and its tokenizer, saved to ``path``."""
    import torch
    from transformers import Qwen2Config, Qwen2ForTokenClassification

    tok = train_tokenizer(text, QWEN_SPECIALS, eos="<|im_end|>", chat_template=CHATML_TEMPLATE)
    torch.manual_seed(seed)
    model = Qwen2ForTokenClassification(tiny_config(Qwen2Config, tok, num_labels=2, **sizes))
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return Path(path)


def save_causal_lm(text: str, path: str | Path, seed: int = 0, **sizes: Any) -> Path:
    """A Qwen2ForCausalLM with a ChatML template and its tokenizer, saved to ``path``."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tok = train_tokenizer(text, QWEN_SPECIALS, eos="<|im_end|>", chat_template=CHATML_TEMPLATE)
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(tiny_config(Qwen2Config, tok, **sizes))
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return Path(path)


def task_text(task_name: str, data_dir: Path | None) -> str:
    """Every problem statement and reference solution of a task: the tokenizers' corpus."""
    from harness.registry import TASKS

    task = TASKS.build(task_name, data_dir=data_dir)
    parts: list[str] = []
    for problem in task.load():
        parts.append(str(problem.metadata.get("statement", "")))
        parts.extend(task.reference_completions(problem))
    return "\n\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    """``python -m harness.models.tiny OUT``: a tiny policy and a tiny PRM for offline runs.

    Random weights, real architectures and a tokenizer trained on the task's own text: the
    models say nothing about accuracy; they exercise the whole model path of ``run``.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m harness.models.tiny",
                                     description=main.__doc__)
    parser.add_argument("out", type=Path, help="folder to write policy/ and prm/ into")
    parser.add_argument("--task", default="math500", help="task whose text trains the "
                        "tokenizers (default math500)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="the benchmark mirror folder (default: $PRM_HARNESS_DATA, else "
                        "the hub, or its local cache when the hub is unreachable)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from harness.data import resolve_data_dir
    from harness.errors import HarnessError

    try:
        text = task_text(args.task, resolve_data_dir(args.data_dir))
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    policy = save_causal_lm(text, args.out / "policy", seed=args.seed)
    prm = save_token_classifier(text, args.out / "prm", seed=args.seed + 1)
    print(f"tiny policy (Qwen2ForCausalLM): {policy}")
    print(f"tiny PRM (Qwen2ForTokenClassification, 2 labels): {prm}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
