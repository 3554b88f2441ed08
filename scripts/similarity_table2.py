"""Table 2 of the paper: the gradient pattern similarity S (docs/similarity.md) between
the responses a trained PRM selects and the others, on the stored real runs.

Four response sets, from stored files only (the boards' pinned pools, the PRM entries'
stored step scores, the runs' stored lm-eval sample files for the prompts):

- Math_PRM: per problem of the math runs, the response PRM-Math selects: the top-1 of
  the N stored samples by the entry's aggregation of its step scores (the board entry's
  ``prm.aggregation``), ties broken by sample order (the first of the tied samples).
- Math: every other response of those problems.
- Code_PRM / Code: the same on the code runs with PRM-Code.

Each set is a seeded uniform subsample (without replacement) of at most K responses.
A sample's prompt is the task prompt as stored in the run's lm-eval samples file (its
messages' contents joined by a blank line, rendered as one user turn by the reference
model's chat template); its response is the stored completion text (the pool's ``text``).
Every sample's gradient pattern is computed once (``set_summaries``); the pairs come from
the summaries. Writes trained/similarity_table2.json (read by reports/paper.yaml).

    nice -n 19 env OMP_NUM_THREADS=1 .venv/bin/python scripts/similarity_table2.py [--k 12]
"""

from __future__ import annotations

import argparse
import glob
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.aggregate import aggregate  # noqa: E402
from harness.diagnostics.similarity import (  # noqa: E402
    Reference,
    Sample,
    set_summaries,
    similarity_from_summaries,
)
from harness.leaderboard.board import load_board  # noqa: E402
from harness.leaderboard.pools import read_task_pool  # noqa: E402
from harness.leaderboard.validate import validate_entry  # noqa: E402
from harness.store.run_reader import read_run  # noqa: E402
from harness.store.rundir import RunDir  # noqa: E402

#: set family -> (board, PRM entry folder, runs)
DOMAINS = {
    "Math": ("zoo-math", "prm-pb-smollm2-l4",
             ("smollm2-math500-easy", "smollm2-synthetic-arith")),
    "Code": ("zoo-code", "prm-code-smollm2-l4",
             ("smollm2-humanevalplus", "smollm2-mbppplus")),
}
SET_ORDER = ("Math", "Math_PRM", "Code", "Code_PRM")


def _prompts(run_dir: Path) -> dict[str, str]:
    """problem id -> the task prompt stored in the run's lm-eval samples file."""
    files = sorted(glob.glob(str(run_dir / "samples_*.jsonl")))
    if len(files) != 1:
        raise SystemExit(f"{run_dir}: expected one samples_*.jsonl, found {len(files)}")
    out: dict[str, str] = {}
    for line in Path(files[0]).read_text(encoding="utf-8").splitlines():
        if line.strip():
            doc = json.loads(line)["doc"]
            out[doc["problem_id"]] = "\n\n".join(msg["content"] for msg in doc["prompt"])
    return out


def build_sets(root: Path) -> tuple[dict[str, list[tuple[str, Sample]]], dict[str, Any]]:
    """Per set name every (sample id, Sample), and per domain how it was selected."""
    sets: dict[str, list[tuple[str, Sample]]] = {name: [] for name in SET_ORDER}
    info: dict[str, Any] = {}
    for family, (board_name, entry_name, runs) in DOMAINS.items():
        board = load_board(root / "leaderboards" / f"{board_name}.yaml")
        entry = board.path.with_suffix("") / "entries" / entry_name
        pools = {task: read_task_pool(board, task) for task in runs}
        verdict = validate_entry(board, entry, pools)
        if verdict.problems:
            raise SystemExit(f"entry {entry_name} on {board_name} is rejected: "
                             f"{verdict.problems[0]}")
        agg = str(verdict.aggregation)
        ties = 0
        problems = 0
        for task in runs:
            pool = pools[task]
            run_dir = board.task_dir(task)
            records = read_run(RunDir.open(run_dir))
            prompts = _prompts(run_dir)
            for pid in pool.problem_ids:
                samples = records.samples[pid]
                keys = pool.sample_ids[pid]
                scores = np.array([aggregate(s, agg) for s in verdict.scores[task][pid]])
                best = int(np.argmax(scores))  # the first of tied maxima: sample order
                ties += int(np.sum(scores == scores[best]) > 1)
                problems += 1
                for i, sample in enumerate(samples):
                    sid = f"{task}/{pid}#{keys[i]}"
                    item = (sid, Sample(prompts[pid], sample.text, sid, i))
                    sets[f"{family}_PRM" if i == best else family].append(item)
        info[family] = {"board": board_name, "entry": entry_name, "aggregation": agg,
                        "runs": list(runs), "problems": problems,
                        "problems_with_tied_top_score": ties}
    return sets, info


def subsample(items: list[tuple[str, Sample]], k: int, seed: int,
              index: int) -> list[tuple[str, Sample]]:
    """A seeded uniform subsample without replacement of at most k, in stored order."""
    if len(items) <= k:
        return list(items)
    rng = np.random.default_rng([seed, index])
    chosen = sorted(int(i) for i in rng.choice(len(items), size=k, replace=False))
    return [items[i] for i in chosen]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", type=Path, default=ROOT / "zoo-models" /
                        "smollm2-135m-instruct")
    parser.add_argument("--f", default="resp_ll")
    parser.add_argument("--layers", default="deep")
    parser.add_argument("--boot", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=ROOT / "trained" /
                        "similarity_table2.json")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    everything, info = build_sets(ROOT)
    chosen = {name: subsample(everything[name], args.k, args.seed, i)
              for i, name in enumerate(SET_ORDER)}
    ref = Reference.load(args.model)
    summaries = set_summaries(
        ref, {name: [s for _, s in items] for name, items in chosen.items()},
        f=args.f, layers=args.layers, seed=args.seed,
        progress=lambda name, i: print(f"{name} {i}", file=sys.stderr, flush=True))
    pairs: dict[str, Any] = {}
    for x, y in itertools.combinations(SET_ORDER, 2):
        got = similarity_from_summaries(summaries[x], summaries[y], n_boot=args.boot)
        pairs[f"{x}|{y}"] = {"S": got["S"], "ci": got["ci"], "n_a": got["n_a"],
                             "n_b": got["n_b"], "per_layer": got["per_layer"],
                             "sketch": got["sketch"], "length_matched": got["length_matched"]}
    first = next(iter(summaries.values()))
    model = ref.identity()
    for key in ("model", "path"):  # repository-relative, so the stored file is portable
        if isinstance(model.get(key), str) and Path(model[key]).is_relative_to(ROOT):
            model[key] = Path(model[key]).relative_to(ROOT).as_posix()
    doc = {
        "model": model, "f": args.f, "layers": first.layers,
        "layer_selection": args.layers, "k": args.k, "seed": args.seed,
        "n_boot": args.boot, "prompt_rendering": ref.rendering,
        "selection": ("per problem, the top-1 of the N stored samples by the PRM entry's "
                      "aggregation of its stored step scores; ties broken by sample order "
                      "(the first tied sample); X_PRM: the selected responses, X: all "
                      "other responses of the same problems"),
        "subsample": ("seeded uniform subsample without replacement of at most k per set "
                      "(numpy default_rng([seed, set index]))"),
        "domains": info,
        "sets": {name: {"n": len(items), "n_available": len(everything[name]),
                        "source": list(DOMAINS[name.split("_")[0]][2]),
                        "sample_ids": [sid for sid, _ in items],
                        "gradient_s": summaries[name].gradient_s}
                 for name, items in chosen.items()},
        "pairs": pairs,
        "wall_s": round(time.perf_counter() - start, 1),
    }
    args.out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    for key, p in pairs.items():
        print(f"{key}: S = {p['S']:.2f} [{p['ci'][0]:.2f}, {p['ci'][1]:.2f}] "
              f"(n {p['n_a']} x {p['n_b']})")
    print(f"wrote {args.out} in {doc['wall_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
