"""``prm-harness search``: one strategy, one policy, one PRM, a per-problem budget; the
accuracy with its bootstrap CI and the compute spent, optionally the traces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import yaml

from harness.cli.options import parse_key_values
from harness.errors import ConfigError
from harness.store.search_dir import BUDGET_KEYS, DEFAULT_SHARD_SIZE


def _typed(pairs: tuple[str, ...], flag: str) -> dict[str, Any]:
    """``KEY=VALUE`` pairs with YAML values (16 -> int, true -> bool)."""
    out: dict[str, Any] = {}
    for key, text in parse_key_values(pairs, flag).items():
        try:
            out[key] = yaml.safe_load(text)
        except yaml.YAMLError:
            out[key] = text
    return out


def parse_budget(pairs: tuple[str, ...]) -> Any:
    from harness.types import Budget

    values: dict[str, Any] = {}
    for key, text in parse_key_values(pairs, "--budget").items():
        if key not in BUDGET_KEYS:
            raise ConfigError(f"--budget: unknown key {key!r}; valid keys: "
                              f"{', '.join(BUDGET_KEYS)}")
        try:
            values[key] = BUDGET_KEYS[key](float(text))
        except ValueError:
            raise ConfigError(f"--budget {key}: {text!r} is not a number") from None
    return Budget(**values)


def _problems(task: Any, wanted: int | None, seed: int) -> list[Any]:
    """All problems, or a seeded uniform subset of ``wanted`` of them (in task order)."""
    import numpy as np

    problems = task.load()
    if wanted is None or wanted >= len(problems):
        return list(problems)
    picked = np.sort(np.random.default_rng([seed, 15]).choice(len(problems), wanted,
                                                              replace=False))
    return [problems[i] for i in picked]


def search_job(strategy_name: str, strategy_options: dict[str, Any], task_name: str,
               task_options: dict[str, Any], n_problems: int | None, policy_name: str,
               policy_options: dict[str, Any], prm_name: str, prm_options: dict[str, Any],
               budget: Any, seed: int, shard_size: int, policy: Any = None,
               prm: Any = None) -> Any:
    """The SearchJob of ``prm-harness search`` for these (typed) options. The strategy and
    the task are built first, so a bad option fails before a model loads; ``policy`` and
    ``prm``, when given, are instances built from the same options (a sweep shares them)."""
    from harness import registry
    from harness.errors import accepted_options
    from harness.pipeline.search_run import SearchJob, prm_label

    strategy_options = {**strategy_options, "seed": seed}
    strategy = registry.STRATEGIES.build(strategy_name, strategy_options)
    task_options = dict(task_options)
    generated = "n_problems" in accepted_options(registry.TASKS.get(task_name))
    if generated and n_problems is not None:
        task_options.setdefault("n_problems", n_problems)
    task = registry.TASKS.build(task_name, task_options)
    problems = _problems(task, None if generated else n_problems, seed)
    if policy is None:
        policy = registry.POLICIES.build(policy_name, policy_options)
    if prm is None:
        prm = registry.PRMS.build(prm_name, prm_options)
    use_task = getattr(strategy, "use_task", None)
    if use_task is not None:
        use_task(task)  # a vote needs the task's answer keys
    return SearchJob(strategy_name=strategy_name, strategy_options=strategy_options,
                     strategy=strategy, task_name=task_name, task_options=task_options,
                     task=task, problems=problems, policy_name=policy_name,
                     policy_options=policy_options, policy=policy, prm_name=prm_name,
                     prm_options=prm_options, prm=prm,
                     prm_label=prm_label(prm_name, prm_options), budget=budget, seed=seed,
                     shard_size=shard_size)


@click.command("search")
@click.option("--task", "task_name", required=True, help="Task name (synthetic-arith, ...).")
@click.option("--task-option", multiple=True, help="KEY=VALUE task option (repeatable).")
@click.option("--policy", "policy_name", required=True, help="Policy (sim, vllm, ...).")
@click.option("--policy-option", multiple=True, help="KEY=VALUE policy option.")
@click.option("--prm", "prm_name", required=True, help="PRM (sim-oracle, sim-noisy, ...).")
@click.option("--prm-option", multiple=True, help="KEY=VALUE PRM option.")
@click.option("--strategy", "strategy_name", required=True,
              help="Strategy: best-of-n, majority, weighted-majority, beam, dvts, smc, mcts "
                   "(or a plug-in).")
@click.option("--strategy-option", multiple=True, help="KEY=VALUE strategy option.")
@click.option("--budget", "budget_pairs", multiple=True,
              help="Per-problem cap: policy_tokens=, policy_calls=, prm_tokens=, flops=, "
                   "wall_s=, prefill_tokens= (repeatable).")
@click.option("--problems", "n_problems", type=int, default=None,
              help="How many problems: generated tasks generate that many, others take a "
                   "seeded uniform subset.")
@click.option("--seed", default=0, show_default=True, help="Search seed (and subset seed).")
@click.option("--traces-out", "--trace-out", "trace_out", type=click.Path(path_type=Path),
              default=None, help="Write one trace per problem, one a line (JSONL), to "
                                 "this file (read by `prm-harness trace`).")
@click.option("--out", "out", type=click.Path(path_type=Path), default=None,
              help="Store the run in this folder (search.json, shards/, timings/); the "
                   "same command with the same --out resumes it, skipping finished shards.")
@click.option("--shard-size", type=click.IntRange(min=1), default=DEFAULT_SHARD_SIZE,
              show_default=True, help="Problems per stored shard (with --out).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def search(task_name: str, task_option: tuple[str, ...], policy_name: str,
           policy_option: tuple[str, ...], prm_name: str, prm_option: tuple[str, ...],
           strategy_name: str, strategy_option: tuple[str, ...],
           budget_pairs: tuple[str, ...], n_problems: int | None, seed: int,
           trace_out: Path | None, out: Path | None, shard_size: int,
           as_json: bool) -> None:
    """Search every problem with STRATEGY under a per-problem budget; print accuracy
    (95% bootstrap CI over problems) and the compute spent (totals over problems)."""
    from harness.pipeline.search_run import run_search, with_wall
    from harness.strategies.engine import check_budget

    budget = parse_budget(budget_pairs)
    check_budget(budget)
    job = search_job(strategy_name, _typed(strategy_option, "--strategy-option"), task_name,
                     _typed(task_option, "--task-option"), n_problems, policy_name,
                     _typed(policy_option, "--policy-option"), prm_name,
                     _typed(prm_option, "--prm-option"), budget, seed, shard_size)
    traces: list[dict[str, Any]] = []

    def keep_traces(index: int, records: list[dict[str, Any]],
                    timing: dict[str, Any]) -> None:
        traces.extend(with_wall(r["trace"], t)
                      for r, t in zip(records, timing["problems"], strict=True))

    doc = run_search(job, out, log=lambda m: click.echo(m, err=True),
                     on_shard=keep_traces if trace_out is not None else None)
    if trace_out is not None:
        with trace_out.open("w", encoding="utf-8") as fh:
            for trace in traces:
                fh.write(json.dumps(trace) + "\n")
    if as_json:
        click.echo(json.dumps(doc))
        return
    acc = doc["accuracy"]
    lo, hi = acc["ci"]
    click.echo(f"{strategy_name}: accuracy {acc['value']:.3f} "
               f"[{lo:.3f}, {hi:.3f}] over {doc['n_problems']} problems")
    click.echo("spent (all problems): " + ", ".join(f"{k}={v}"
                                                     for k, v in doc["spent"].items()))
    if out is not None:
        click.echo(f"stored: {out}")
