"""Tokens/s of a zoo policy through the ``hf`` back-end, as the stored runs use it.

    python examples/real/measure_tps.py FOLDER --task math500 --batch-size 1 --n 16 \
        --max-tokens 128 --problems 2 [--chat-template examples/real/raw.jinja]

Prints one JSON line: generated tokens, wall seconds, tokens/s, the 1-minute load average
before and after (the machine is shared), and the settings.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from harness.config import TaskConfig
from harness.interfaces import SamplingParams
from harness.models.policies.hf import HfPolicy
from harness.pipeline import plugins


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--task", default="math500")
    ap.add_argument("--task-option", action="append", default=[])
    ap.add_argument("--prompt-style", default="default")
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--problems", type=int, default=2)
    ap.add_argument("--chat-template", default=None)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    options = dict(o.split("=", 1) for o in args.task_option)
    task = plugins.task(TaskConfig(name=args.task, options=options))
    problems = task.load()[:args.problems]
    prompts = [task.prompt(p, args.prompt_style) for p in problems]
    t0 = time.perf_counter()
    policy = HfPolicy(args.model, batch_size=args.batch_size, chat_template=args.chat_template)
    load_s = time.perf_counter() - t0
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    params = SamplingParams(n=args.n, temperature=1.0, max_tokens=args.max_tokens, seed=0)
    out = policy.sample(prompts, params)
    wall = time.perf_counter() - start
    tokens = sum(c.completion_tokens for row in out for c in row)
    print(json.dumps({
        "model": args.model, "task": args.task, "batch_size": args.batch_size, "n": args.n,
        "max_tokens": args.max_tokens, "problems": len(problems),
        "threads": torch.get_num_threads(), "load_s": round(load_s, 1),
        "generated_tokens": tokens, "wall_s": round(wall, 1),
        "tokens_per_s": round(tokens / wall, 1),
        "padded_tokens_per_s": round(len(problems) * args.n * args.max_tokens / wall, 1),
        "loadavg_before": load_before, "loadavg_after": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
