"""Run an exported zoo folder through transformers and vLLM on the same token ids and say
whether they agree: greedy continuations, and the per-token log-probs of the transformers
continuation scored by both (teacher forcing), or the embeddings of an encoder.

Shared by ``benchmarks/zoo_bench.py`` (load time, tokens/s) and the ``vllm`` tests.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

QUESTIONS = ["What is 17 + 25?", "What is 63 - 28?", "What is 9 * 7?", "What is 144 / 12?",
             "What is 38 + 47?", "What is 91 - 56?", "What is 12 * 11?", "What is 81 / 9?",
             "What is 56 + 29?", "What is 70 - 33?", "What is 15 * 4?", "What is 96 / 8?",
             "What is 23 + 68?", "What is 85 - 49?", "What is 14 * 6?", "What is 72 / 6?"]
SHOTS = ("Question: What is 12 + 30?\nAnswer: 12 + 30 = 42. The answer is 42.\n\n"
         "Question: What is 50 - 18?\nAnswer: 50 - 18 = 32. The answer is 32.\n\n")
SENTENCES = ["Step 1: add the two numbers.", "The answer is 42.",
             "First compute 3 * 4 = 12, then subtract 5.",
             "def add(a, b):\n    return a + b", "Therefore x = 7 satisfies the equation."]


def prompt_ids(folder: Path, n: int) -> list[list[int]]:
    """n arithmetic prompts as token ids: chat-templated if the folder has a template,
    else few-shot text (a base model)."""
    from transformers import AutoTokenizer

    tokenizer: Any = AutoTokenizer.from_pretrained(str(folder))
    out = []
    for question in (QUESTIONS * (n // len(QUESTIONS) + 1))[:n]:
        if tokenizer.chat_template:
            ids = tokenizer.apply_chat_template([{"role": "user", "content": question}],
                                                add_generation_prompt=True, tokenize=True,
                                                return_dict=True)["input_ids"]
        else:
            ids = tokenizer(SHOTS + f"Question: {question}\nAnswer:")["input_ids"]
        out.append(list(ids))
    return out


def _eos(folder: Path) -> set[int]:
    import json

    from transformers import AutoTokenizer

    ids = {AutoTokenizer.from_pretrained(str(folder)).eos_token_id}
    config = json.loads((folder / "generation_config.json").read_text()).get("eos_token_id")
    ids.update(config if isinstance(config, list) else [config])
    return {i for i in ids if i is not None}


def _cut(ids: list[int], eos: set[int]) -> list[int]:
    """A continuation up to and including its first eos token."""
    for k, token in enumerate(ids):
        if token in eos:
            return ids[:k + 1]
    return ids


def hf_causal(folder: Path, prompts: list[list[int]], max_tokens: int) -> dict[str, Any]:
    """transformers: load, batched greedy generation, then teacher-forced log-probs and the
    top-1 minus top-2 margin of each continuation token (unpadded, one at a time)."""
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    start = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
    load_s = time.perf_counter() - start
    eos = _eos(folder)
    pad = next(iter(sorted(eos)))
    width = max(len(p) for p in prompts)
    batch = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    config = GenerationConfig(do_sample=False, max_new_tokens=max_tokens,
                              eos_token_id=sorted(eos), pad_token_id=pad)
    start = time.perf_counter()
    with torch.no_grad():
        generated = model.generate(input_ids=batch, attention_mask=mask,
                                   generation_config=config)
    gen_s = time.perf_counter() - start
    outputs = [_cut(row[width:].tolist(), eos) for row in generated]
    logprobs, margins = [], []
    with torch.no_grad():
        for prompt, out in zip(prompts, outputs, strict=True):
            ids = torch.tensor([prompt + out])
            logits = model(input_ids=ids).logits[0, len(prompt) - 1:-1].float()
            lp = torch.log_softmax(logits, dim=-1)
            logprobs.append(lp.gather(1, torch.tensor(out)[:, None])[:, 0].tolist())
            top = lp.topk(2, dim=-1).values
            margins.append((top[:, 0] - top[:, 1]).tolist())
    return {"load_s": load_s, "gen_s": gen_s, "tokens": sum(len(o) for o in outputs),
            "outputs": outputs, "logprobs": logprobs, "margins": margins,
            "params": sum(p.numel() for p in model.parameters())}


def vllm_causal(folder: Path, prompts: list[list[int]], max_tokens: int,
                score: list[list[int]]) -> dict[str, Any]:
    """vLLM (in-process, eager, float32): load, greedy generation on the same ids, and the
    prompt log-probs of ``prompt + score[i]`` (the transformers continuations)."""
    from vllm import LLM, SamplingParams

    start = time.perf_counter()
    llm = LLM(model=str(folder), dtype="float32", enforce_eager=True, seed=0,
              max_model_len=max(len(p) for p in prompts) + max_tokens + 8)
    load_s = time.perf_counter() - start
    requests: Any = [{"prompt_token_ids": p} for p in prompts]
    start = time.perf_counter()
    results = llm.generate(requests, SamplingParams(temperature=0.0, max_tokens=max_tokens),
                           use_tqdm=False)
    gen_s = time.perf_counter() - start
    outputs = [list(r.outputs[0].token_ids) for r in results]
    scored: Any = [{"prompt_token_ids": p + s} for p, s in zip(prompts, score, strict=True)]
    forced = llm.generate(scored, SamplingParams(temperature=0.0, max_tokens=1,
                                                 prompt_logprobs=0), use_tqdm=False)
    logprobs = []
    for prompt, cont, result in zip(prompts, score, forced, strict=True):
        rows = result.prompt_logprobs[len(prompt):]
        logprobs.append([row[token].logprob for row, token in zip(rows, cont, strict=True)])
    tokenizer_ids = llm.get_tokenizer().encode(QUESTIONS[0])
    return {"load_s": load_s, "gen_s": gen_s, "tokens": sum(len(o) for o in outputs),
            "outputs": outputs, "logprobs": logprobs, "tokenizer_probe": tokenizer_ids}


def compare_causal(hf: dict[str, Any], vl: dict[str, Any]) -> dict[str, Any]:
    """Greedy matches, where they split (with transformers' top-2 margin there), and the
    largest log-prob difference over all transformers continuation tokens."""
    same, splits = 0, []
    for k, (a, b) in enumerate(zip(hf["outputs"], vl["outputs"], strict=True)):
        if a == b:
            same += 1
            continue
        at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                  min(len(a), len(b)))
        margin = hf["margins"][k][at] if at < len(hf["margins"][k]) else None
        splits.append({"prompt": k, "token": at, "hf_top2_margin": margin})
    diffs = [abs(x - y) for a, b in zip(hf["logprobs"], vl["logprobs"], strict=True)
             for x, y in zip(a, b, strict=True)]
    return {"greedy_same": same, "greedy_total": len(hf["outputs"]), "splits": splits,
            "logprob_tokens": len(diffs), "max_abs_logprob_diff": max(diffs, default=0.0)}


def _mean_pool(hidden: Any, mask: Any) -> Any:
    import torch

    weights = mask[..., None].to(hidden.dtype)
    pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1)


def hf_encoder(folder: Path, texts: list[str]) -> dict[str, Any]:
    """transformers: load, then mean-pooled, normalised sentence embeddings
    (the sentence-transformers recipe of the folder's modules.json)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder), dtype=torch.float32).eval()
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
    embeddings = _mean_pool(hidden, enc["attention_mask"])
    return {"load_s": load_s, "gen_s": time.perf_counter() - start,
            "tokens": int(enc["attention_mask"].sum()), "embeddings": embeddings.tolist(),
            "params": sum(p.numel() for p in model.parameters())}


def vllm_encoder(folder: Path, texts: list[str]) -> dict[str, Any]:
    """vLLM pooling runner: the folder's own pooling (mean, normalised)."""
    from vllm import LLM

    start = time.perf_counter()
    llm = LLM(model=str(folder), runner="pooling", dtype="float32", enforce_eager=True,
              seed=0, max_model_len=256)
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    results = llm.embed(texts, use_tqdm=False)
    gen_s = time.perf_counter() - start
    return {"load_s": load_s, "gen_s": gen_s,
            "tokens": sum(len(r.prompt_token_ids) for r in results),
            "embeddings": [list(r.outputs.embedding) for r in results]}


def compare_encoder(hf: dict[str, Any], vl: dict[str, Any]) -> dict[str, Any]:
    """Largest element difference and smallest cosine between the two embeddings."""
    worst, cosine = 0.0, 1.0
    for a, b in zip(hf["embeddings"], vl["embeddings"], strict=True):
        worst = max(worst, max(abs(x - y) for x, y in zip(a, b, strict=True)))
        dot = sum(x * y for x, y in zip(a, b, strict=True))
        norm = (sum(x * x for x in a) * sum(y * y for y in b)) ** 0.5
        cosine = min(cosine, dot / norm)
    return {"max_abs_embedding_diff": worst, "min_cosine": cosine,
            "tokens_hf": hf["tokens"], "tokens_vllm": vl["tokens"]}
