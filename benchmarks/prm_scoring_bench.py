"""PRM scoring throughput: token-budget length-sorted batches vs fixed-size batches in input
order, on CPU, one JSON line.

A tiny random Qwen2 token-classification PRM (tokenizer trained on the data, so token
counts are realistic) scores real ProcessBench solutions (a seeded sample of 300 from the
MATH split, of widely varying length) through the TRL token-classification protocol, once
with a padded-token budget over length-sorted sequences and once in fixed batches of
``--batch-size`` in file order. The peer is the naive fixed-size batching in the same run;
scores must agree (max difference reported). Target: the budget is faster (ratio > 1).

    PRM_HARNESS_DATA=../shared/data python benchmarks/prm_scoring_bench.py
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SPEC = "HuggingFaceH4/Qwen2.5-Math-7B-Instruct-PRM-0.2"


def load_items(data_dir: Path, split: str) -> list[dict]:
    with open(data_dir / "processbench" / f"{split}.json", encoding="utf-8") as handle:
        return json.load(handle)


def main() -> None:
    from harness.data import resolve_data_dir
    from harness.models.prms.adapter import TransformersPRM
    from harness.models.prms.batching import budget_batches, fixed_batches, padded_tokens
    from harness.models.tiny import save_token_classifier
    from harness.types import Problem, Sample

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="math")
    parser.add_argument("--batch-tokens", type=int, default=16384)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--samples", type=int, default=300,
                        help="seeded random subset of the split (0 = all of it)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--hidden", type=int, default=64, help="tiny model width")
    parser.add_argument("--layers", type=int, default=2)
    args = parser.parse_args()
    data_dir = resolve_data_dir(None)
    if data_dir is None:
        raise SystemExit("set PRM_HARNESS_DATA to the mirror folder")
    items = load_items(data_dir, args.split)
    if args.samples:
        items = [items[i] for i in sorted(random.Random(0).sample(range(len(items)),
                                                                  args.samples))]
    problems = [Problem(it["id"], "processbench", "math", [], None,
                        {"statement": it["problem"]}) for it in items]
    samples = [Sample(it["id"], 0, "", steps=it["steps"]) for it in items]
    import torch

    torch.manual_seed(0)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        corpus = "\n\n".join(it["problem"] + "\n\n" + "\n\n".join(it["steps"])
                             for it in load_items(data_dir, "gsm8k"))
        sizes = {} if args.hidden == 64 and args.layers == 2 else {
            "hidden_size": args.hidden, "intermediate_size": 2 * args.hidden,
            "num_attention_heads": max(2, args.hidden // 32), "num_key_value_heads": 1,
            "num_hidden_layers": args.layers}
        path = save_token_classifier(corpus, Path(tmp) / "tiny-prm", **sizes)
        modes = {"budget_sorted": {"batch_tokens": args.batch_tokens},
                 "fixed_in_order": {"batch_size": args.batch_size}}
        scores = {}
        for name, options in modes.items():
            prm = TransformersPRM(SPEC, str(path), dtype="float32", device=args.device,
                                  **options)
            prm.score(problems[:8], samples[:8])  # warm-up
            before = prm.compute()
            start = time.perf_counter()
            scored = prm.score(problems, samples)
            wall = time.perf_counter() - start
            tokens = prm.compute().tokens_in - before.tokens_in
            lengths = [len(seg.ids) for p, s in zip(problems, samples, strict=True)
                       for seg in prm.encode(p, s).segments]
            plan = budget_batches(lengths, args.batch_tokens) if name == "budget_sorted" \
                else fixed_batches(len(lengths), args.batch_size)
            padded = padded_tokens(lengths, plan)
            results[name] = {"tokens_per_s": round(tokens / wall, 1), "wall_s": round(wall, 3),
                             "batches": len(plan),
                             "padding_fraction": round(1 - tokens / padded, 4)}
            scores[name] = [v for r in scored for v in r.scores]
    diff = max(abs(a - b) for a, b in zip(scores["budget_sorted"], scores["fixed_in_order"],
                                          strict=True))
    budget, fixed = results["budget_sorted"], results["fixed_in_order"]
    print(json.dumps({
        "bench": "prm_scoring", "data": f"processbench/{args.split}", "samples": len(samples),
        "tokens": tokens, "model": f"tiny Qwen2ForTokenClassification (h{args.hidden}, "
                                   f"{args.layers} layers), fp32",
        "device": prm.runners["prm"].device, "threads": torch.get_num_threads(),
        "batch_tokens": args.batch_tokens,
        "fixed_batch_size": args.batch_size, "budget_sorted": budget, "fixed_in_order": fixed,
        "speedup_budget_vs_fixed": round(budget["tokens_per_s"] / fixed["tokens_per_s"], 2),
        "max_score_diff": diff}))


if __name__ == "__main__":
    main()
