"""PRM training and scoring speed on a real backbone. Prints one JSON line.

    python benchmarks/train_bench.py [--backbone zoo-models/smollm2-135m-instruct]
        [--labels labels-out/processbench.jsonl] [--records 24] [--layers 4] [--steps 6]
        [--prm train-out/prm-pb-smollm2-l4] [--items 48]

Three timings, each on the same seeded records:
- ``train_tok_s``: ``train-prm``'s loop with the top layer trainable (forward, BCE at the
  read positions, backward, AdamW). The peer is a bare PyTorch loop over the same model,
  examples and optimiser with nothing else (no checkpoints, logs or counters): the ratio
  says what the trainer's bookkeeping costs.
- ``features_tok_s``: the frozen backbone's one pass per example (head-only training).
- ``score_tok_s``: ``prm-harness score`` with a trained PRM folder (``--prm``) on ProcessBench
  items, model load excluded (the CLI's own ``wall_s``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml


def _config(tmp: Path, args: argparse.Namespace, trainable: int, steps: int) -> Path:
    doc = {"name": "bench", "out": str(tmp / f"out-{trainable}"),
           "backbone": {"path": str(Path(args.backbone).resolve()), "layers": args.layers,
                        "trainable_layers": trainable},
           "data": {"files": [str(Path(args.labels).resolve())], "max_records": args.records,
                    "max_dev_records": 1},
           "optim": {"batch_size": 4, "max_steps": steps, "warmup_steps": 1},
           "eval_every": 10 ** 6, "save_every": 10 ** 6, "seed": 0}
    path = tmp / f"bench-{trainable}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def bare_loop(cfg_path: Path, steps: int) -> float:
    """Tokens/s of a plain forward/backward/AdamW loop on the trainer's examples."""
    import torch
    from transformers import AutoTokenizer

    from harness.training.backbone import build_model, position_limit
    from harness.training.config import load_train_config
    from harness.training.examples import family_for, load_examples
    from harness.training.trainer import batch_indices

    cfg = load_train_config(cfg_path)
    model = build_model(Path(cfg.backbone.path), cfg.backbone, cfg.seed)
    model.eval()
    tok = AutoTokenizer.from_pretrained(cfg.backbone.path)
    examples, _, _ = load_examples(cfg, family_for(cfg, tok, position_limit(model)),
                                   position_limit(model))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    tokens, start = 0, time.perf_counter()
    for step in range(steps):
        opt.zero_grad()
        for i in batch_indices(step, cfg.optim.batch_size, len(examples), cfg.seed):
            ex = examples[i]
            logits = model(input_ids=torch.tensor([ex.ids])).logits[0, list(ex.read)]
            t = torch.tensor(ex.targets)
            keep = ~torch.isnan(t)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                (logits[:, 1] - logits[:, 0])[keep], t[keep], reduction="sum")
            loss.backward()
            tokens += len(ex.ids)
        opt.step()
    return tokens / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", default="zoo-models/smollm2-135m-instruct")
    ap.add_argument("--labels", default="labels-out/processbench.jsonl")
    ap.add_argument("--records", type=int, default=24)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--prm", default="train-out/prm-pb-smollm2-l4")
    ap.add_argument("--items", type=int, default=48)
    args = ap.parse_args()
    from harness.training.config import load_train_config
    from harness.training.trainer import train

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        full = train(load_train_config(_config(tmp, args, 1, args.steps)))
        ours = full["tokens"] / full["train_s"]
        peer = bare_loop(_config(tmp, args, 1, args.steps), args.steps)
        head = train(load_train_config(_config(tmp, args, 0, 1)))
        # one step of a head on frozen features: its time is the feature pass of the batch
        features = head["tokens"] / head["train_s"]
        score: dict[str, object] = {}
        prm = Path(args.prm) / "prm"
        if prm.is_dir():
            items = tmp / "items.jsonl"
            subprocess.run([sys.executable, "-m", "harness.cli", "processbench", "items",
                            str(items), "--split", "gsm8k"], check=True, capture_output=True)
            lines = items.read_text().splitlines()
            items.write_text("\n".join(lines[::max(1, len(lines) // args.items)][:args.items])
                             + "\n")
            done = subprocess.run(
                [sys.executable, "-m", "harness.cli", "score", str(items), "--prm",
                 str(Path(args.prm) / "prm.yaml"), "--model", str(prm), "--out",
                 str(tmp / "scores.jsonl")], check=True, capture_output=True, text=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            score = {"score_items": result["n_samples"], "score_tokens": result["tokens_in"],
                     "score_wall_s": result["wall_s"],
                     "score_tok_s": round(result["tokens_in"] / result["wall_s"], 1)}
    print(json.dumps({
        "bench": "train", "backbone": args.backbone, "layers": args.layers,
        "records": args.records, "steps": args.steps,
        "params": full["params"], "trainable_params_top1": full["trainable_params"],
        "train_tok_s": round(ours, 1), "bare_loop_tok_s": round(peer, 1),
        "ratio_train_over_bare": round(ours / peer, 3),
        "features_tok_s": round(features, 1), **score,
        "threads": os.environ.get("OMP_NUM_THREADS"), "cpus": os.cpu_count(),
        "python": platform.python_version()}))


if __name__ == "__main__":
    main()
