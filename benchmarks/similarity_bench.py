"""Gradient pattern similarity on the zoo's SmolLM2-135M-Instruct, on this CPU: samples
per second (one forward and one backward each), peak memory, and the sketch's error
against the exact S.

Export the model first (about 40 s)::

    prm-harness zoo export smollm2-135m-instruct zoo-models/smollm2-135m-instruct
    python benchmarks/similarity_bench.py --samples 24

Set A is short arithmetic answers, set B short Python functions, both made here with a
fixed seed. Prints one JSON line; exits 2 when the model folder is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = ROOT / "zoo-models" / "smollm2-135m-instruct"


def _rss_mb() -> float:
    """Resident set size now (Linux /proc), in MiB."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _sets(n: int, seed: int) -> tuple[list[Any], list[Any]]:
    from harness.diagnostics.similarity import Sample

    rng = random.Random(seed)
    math, code = [], []
    for i in range(n):
        a, b, c = rng.randint(10, 99), rng.randint(10, 99), rng.randint(2, 9)
        steps = " ".join(f"Step {k + 1}: {a} + {k * b} = {a + k * b}."
                         for k in range(rng.randint(1, 6)))
        math.append(Sample(f"What is {a} + {b} * {c}?",
                           f"{steps} First {b} * {c} = {b * c}. Then {a} + {b * c} = "
                           f"{a + b * c}. The answer is {a + b * c}.", "bench-math", i + 1))
        body = "\n".join(f"    total += x[{k}] * {rng.randint(1, 9)}"
                         for k in range(rng.randint(1, 6)))
        code.append(Sample(f"Write a Python function f{i} that combines a list.",
                           f"def f{i}(x):\n    total = 0\n{body}\n    return total\n",
                           "bench-code", i + 1))
    return math, code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--samples", type=int, default=24, help="samples per set")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--layers", default="deep", choices=["deep", "all"])
    parser.add_argument("--f", default="resp_ll", choices=["resp_ll", "wang2025"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not (args.model / "config.json").is_file():
        print(f"{args.model}: no exported model here; run `prm-harness zoo export "
              f"smollm2-135m-instruct {args.model}` first", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(args.threads)
    from harness.diagnostics.similarity import Reference, compute_similarity

    rss_start = _rss_mb()
    start = time.perf_counter()
    ref = Reference.load(args.model, "float32")
    load_s = time.perf_counter() - start
    rss_loaded = _rss_mb()
    set_a, set_b = _sets(args.samples, args.seed)
    start = time.perf_counter()
    result = compute_similarity(ref, set_a, set_b, f=args.f, layers=args.layers,
                                seed=args.seed)
    total_s = time.perf_counter() - start
    tokens = [len(ref.encode(s)[0]) for s in [*set_a, *set_b]]
    assert result.sets is not None
    row = {
        "bench": "similarity", "model": str(args.model), "f": args.f,
        "layers": f"{args.layers} ({result.layers[0]}..{result.layers[-1]}, "
                  f"{len(result.layers)} of {ref.n_layers})",
        "params_per_sample": result.settings["params_per_sample"],
        "n_a": result.n_a, "n_b": result.n_b,
        "tokens_per_sample_mean": round(sum(tokens) / len(tokens), 1),
        "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
        "load_s": round(load_s, 2),
        "gradient_s": result.timing["gradient_s"],
        "samples_per_s": result.timing["samples_per_s"],
        "total_s_with_stats": round(total_s, 2),
        "rss_start_mb": round(rss_start), "rss_after_load_mb": round(rss_loaded),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "S": round(result.S, 4), "ci": [round(x, 4) for x in result.ci],
        "S_sketch": round(result.sketch["S_sketch"], 4),
        "sketch_abs_error": round(result.sketch["abs_error"], 4),
        "sketch_dim": result.sketch["dim"],
        "sketch_bytes": int(sum(s.values.nbytes for s in result.sets)),
        "length_matched_S": (None if result.length_matched is None
                             or result.length_matched["S"] is None
                             else round(result.length_matched["S"], 4)),
        "torch": torch.__version__,
    }
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
