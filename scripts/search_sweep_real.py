"""The stored real-model search sweep: SmolLM2-135M-Instruct (the zoo's policy) guided by
PRM-Math (``prm-pb-smollm2-l4``, trained by ``prm-harness train-prm
examples/training/prm-pb-smollm2-l4.yaml``), every strategy at width 4, at several
per-problem budgets of step requests, on synthetic-arith and the easy MATH-500 slice.

Each point is the same ``SearchJob`` that ``prm-harness search`` builds from the flags
this script prints for it (``--print-commands``), stored under ``runs/search-real/`` in the
same layout, so one such command resumes or checks any point. The policy and the PRM are
built once per backend and shared by all the points: a vLLM engine takes about a minute
to start on this CPU, one per point would cost more than the searches. Between points the
policy's kept prefix ids are cleared, so a point starts as it does in its own process;
vLLM's KV prefix cache is kept, which changes only which prompt tokens count as prefilled
(``prefill_tokens``), not the budget used here (``policy_calls``).

    python scripts/search_sweep_real.py --backend vllm      # the curves (vLLM on CPU)
    python scripts/search_sweep_real.py --backend hf --tasks synthetic-arith \
        --budgets 8 --problems 4 --shard-size 4             # every strategy on transformers
    python scripts/search_sweep_real.py --table             # the stored points, a table

Defaults: budgets of 4, 8 and 16 step requests a problem; 20 synthetic-arith problems and
a seeded 10 of MATH-500's 133 level-1/2 problems (about 35 and 45 minutes of the vLLM
sweep on this 2-core CPU).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: every strategy at width 4, as scripts/search_sweep_sim.sh
STRATEGIES: dict[str, dict[str, Any]] = {
    "best-of-n": {"n": 4}, "majority": {"n": 4}, "weighted-majority": {"n": 4},
    "beam": {"n": 4, "m": 2}, "dvts": {"n": 4, "m": 2}, "smc": {"particles": 4},
    "mcts": {"width": 3, "rule": "puct", "backup": "max", "output": "value"},
    "compute-aware": {"initial_width": 4},
}
#: the two task slices: easy synthetic-arith (2 steps, difficulty 1) and MATH-500 levels 1-2
TASKS: dict[str, dict[str, Any]] = {
    "synthetic-arith": {"task": "synthetic-arith", "options": {"length": 2, "difficulty": 1},
                        "search": {"max_tokens": 64, "max_steps": 6}, "problems": 20},
    "math500-easy": {"task": "math500", "options": {"levels": "1,2"},
                     "search": {"max_tokens": 96, "max_steps": 8}, "problems": 10},
}
POLICY_MODEL = "zoo-models/smollm2-135m-instruct"
PRM_DIR = "train-out/prm-pb-smollm2-l4"
POLICY_OPTIONS = {
    "vllm": {"model": POLICY_MODEL, "dtype": "float32", "max_model_len": 2048,
             "enforce_eager": True},
    "hf": {"model": POLICY_MODEL, "dtype": "float32", "batch_size": 16},
}
PRM_OPTIONS = {"spec": f"{PRM_DIR}/prm.yaml", "model": f"{PRM_DIR}/prm"}


def strategy_options(task_key: str, strategy: str) -> dict[str, Any]:
    """A point's strategy options: the strategy's width, the task's step limits, T 0.7."""
    return {**STRATEGIES[strategy], **TASKS[task_key]["search"], "temperature": 0.7}


def _flags(kind: str, options: dict[str, Any]) -> list[str]:
    return [x for k, v in options.items()
            for x in (f"--{kind}-option", f"{k}={json.dumps(v) if isinstance(v, bool) else v}")]


def point_command(backend: str, task_key: str, strategy: str, calls: int, problems: int,
                  out: Path, shard_size: int) -> list[str]:
    """The ``prm-harness search`` command of one point (the same SearchJob)."""
    task = TASKS[task_key]
    return ["prm-harness", "search", "--task", task["task"],
            *_flags("task", task["options"]), "--policy", backend,
            *_flags("policy", POLICY_OPTIONS[backend]), "--prm", "transformers",
            *_flags("prm", PRM_OPTIONS), "--strategy", strategy,
            *_flags("strategy", strategy_options(task_key, strategy)),
            "--budget", f"policy_calls={calls}", "--problems", str(problems), "--seed", "0",
            "--shard-size", str(shard_size), "--out", str(out), "--json"]


def _cell(search_json: Path) -> str:
    """One point of the table, from its stored summary ("—" where it is not stored)."""
    if not search_json.is_file():
        return "—"
    summary = json.loads(search_json.read_text())["summary"]
    if summary is None:
        return "unfinished"
    acc, n = summary["accuracy"], summary["n_problems"]
    lo, hi = acc["ci"]
    return (f"{acc['value']:.2f} [{lo:.2f}, {hi:.2f}]; "
            f"{summary['spent']['policy_tokens'] / n:.0f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("vllm", "hf"), default="vllm")
    parser.add_argument("--tasks", nargs="+", choices=tuple(TASKS), default=list(TASKS))
    parser.add_argument("--strategies", nargs="+", choices=tuple(STRATEGIES),
                        default=list(STRATEGIES))
    parser.add_argument("--budgets", nargs="+", type=int, default=[4, 8, 16])
    parser.add_argument("--problems", type=int, default=None,
                        help="problems per task (default: 20 synthetic-arith, 10 MATH-500)")
    parser.add_argument("--shard-size", type=int, default=10)
    parser.add_argument("--runs", type=Path, default=Path("runs/search-real"))
    parser.add_argument("--print-commands", action="store_true",
                        help="print each point's prm-harness search command and stop")
    parser.add_argument("--table", action="store_true",
                        help="print the stored points' accuracy [95%% CI] and tokens per "
                             "problem as a Markdown table, one per task, and stop")
    args = parser.parse_args(argv)
    points = [(t, s, b) for t in args.tasks for s in args.strategies for b in args.budgets]

    def n_problems(task_key: str) -> int:
        return args.problems or int(TASKS[task_key]["problems"])

    def out_dir(task_key: str, strategy: str, calls: int) -> Path:
        return args.runs / f"{task_key}-{args.backend}-{strategy}-calls{calls}"

    if args.table:
        for t in args.tasks:
            print(f"\n{t} ({args.backend}): accuracy [95% CI]; generated tokens per problem\n")
            print("| strategy | " + " | ".join(f"{b} calls" for b in args.budgets) + " |")
            print("|---|" + "---|" * len(args.budgets))
            for s in args.strategies:
                cells = [_cell(out_dir(t, s, b) / "search.json") for b in args.budgets]
                print(f"| {s} | " + " | ".join(cells) + " |")
        return 0

    if args.print_commands:
        for t, s, b in points:
            print(shlex.join(point_command(args.backend, t, s, b, n_problems(t),
                                           out_dir(t, s, b), args.shard_size)))
        return 0

    from harness import registry
    from harness.cli.search_cmd import parse_budget, search_job
    from harness.pipeline.search_run import run_search

    # the options are the typed values the printed flags parse to (YAML scalars)
    policy = registry.POLICIES.build(args.backend, POLICY_OPTIONS[args.backend])
    prm = registry.PRMS.build("transformers", PRM_OPTIONS)
    for t, s, b in points:
        task = TASKS[t]
        policy._init_prefix_ids()  # type: ignore[attr-defined]
        job = search_job(s, strategy_options(t, s),
                         task["task"], task["options"], n_problems(t), args.backend,
                         POLICY_OPTIONS[args.backend], "transformers", PRM_OPTIONS,
                         parse_budget((f"policy_calls={b}",)), 0, args.shard_size,
                         policy=policy, prm=prm)
        start = time.perf_counter()
        doc = run_search(job, out_dir(t, s, b), log=lambda m: print(m, file=sys.stderr))
        acc = doc["accuracy"]
        print(json.dumps({"task": t, "backend": args.backend, "strategy": s, "calls": b,
                          "accuracy": acc, "spent": doc["spent"],
                          "wall_s": round(time.perf_counter() - start, 1)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
