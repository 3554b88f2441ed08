"""Zoo models through transformers and vLLM on CPU: load time, tokens/s, agreement.

Run it where both are installed (the tox env ``vllm`` with the zoo packages, or a venv
made as ENVIRONMENT_NOTES Q3 says), e.g.::

    VLLM_ENABLE_V1_MULTIPROCESSING=0 VLLM_CPU_KVCACHE_SPACE=1 HF_HUB_OFFLINE=1 \\
        python benchmarks/zoo_bench.py --exports /tmp/zoo_exports

Exports missing under --exports are made first (``prm-harness zoo export``). Causal LMs:
greedy generation of --prompts arithmetic prompts (chat template, or few-shot for a base
model), at most --max-tokens each, both engines given the same token ids; agreement is the
number of identical greedy continuations and the largest per-token log-prob difference on
the transformers continuations scored by both. The encoder: mean-pooled embeddings.
Prints one JSON line; ``--no-vllm`` measures transformers only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from harness.models.zoo import MODELS, export, get_model, read_provenance
from harness.models.zoo import agreement as ag


def _folder(root: Path, name: str) -> tuple[Path, float | None]:
    folder = root / name
    if (folder / "zoo_provenance.json").is_file():
        return folder, None
    start = time.perf_counter()
    export(get_model(name), folder)
    return folder, round(time.perf_counter() - start, 1)


def _rates(run: dict[str, Any]) -> dict[str, float]:
    return {"load_s": round(run["load_s"], 2), "run_s": round(run["gen_s"], 2),
            "tokens": run["tokens"], "tokens_per_s": round(run["tokens"] / run["gen_s"], 1)}


def bench(name: str, root: Path, prompts: int, max_tokens: int, vllm: bool) -> dict[str, Any]:
    folder, export_s = _folder(root, name)
    row: dict[str, Any] = {"model": name, "revision": read_provenance(folder)["revision"],
                           "export_s": export_s}
    if MODELS[name].kind == "encoder":
        texts = (ag.SENTENCES * (prompts * 4 // len(ag.SENTENCES) + 1))[:prompts * 4]
        hf = ag.hf_encoder(folder, texts)
        row.update(params=hf["params"], texts=len(texts), hf=_rates(hf))
        if vllm:
            vl = ag.vllm_encoder(folder, texts)
            row.update(vllm=_rates(vl), agreement=ag.compare_encoder(hf, vl))
        return row
    ids = ag.prompt_ids(folder, prompts)
    hf = ag.hf_causal(folder, ids, max_tokens)
    row.update(params=hf["params"], prompts=len(ids), max_tokens=max_tokens, hf=_rates(hf))
    if vllm:
        vl = ag.vllm_causal(folder, ids, max_tokens, hf["outputs"])
        row.update(vllm=_rates(vl), agreement=ag.compare_causal(hf, vl))
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exports", type=Path, required=True, help="Folder of exports.")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--no-vllm", action="store_true")
    args = parser.parse_args()
    import torch

    out: dict[str, Any] = {"bench": "zoo", "python": platform.python_version(),
                           "torch_threads": torch.get_num_threads(),
                           "cpu_count": os.cpu_count(), "models": []}
    for name in args.models.split(","):
        out["models"].append(bench(name, args.exports, args.prompts, args.max_tokens,
                                   not args.no_vllm))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
