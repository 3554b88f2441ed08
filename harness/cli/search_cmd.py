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

BUDGET_KEYS = {"policy_tokens": int, "policy_calls": int, "prm_tokens": int, "flops": float,
               "wall_s": float}


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
                   "wall_s= (repeatable).")
@click.option("--problems", "n_problems", type=int, default=None,
              help="How many problems: generated tasks generate that many, others take a "
                   "seeded uniform subset.")
@click.option("--seed", default=0, show_default=True, help="Search seed (and subset seed).")
@click.option("--traces-out", "--trace-out", "trace_out", type=click.Path(path_type=Path),
              default=None, help="Write one trace per problem, one a line (JSONL), to "
                                 "this file (read by `prm-harness trace`).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def search(task_name: str, task_option: tuple[str, ...], policy_name: str,
           policy_option: tuple[str, ...], prm_name: str, prm_option: tuple[str, ...],
           strategy_name: str, strategy_option: tuple[str, ...],
           budget_pairs: tuple[str, ...], n_problems: int | None, seed: int,
           trace_out: Path | None, as_json: bool) -> None:
    """Search every problem with STRATEGY under a per-problem budget; print accuracy
    (95% bootstrap CI over problems) and the compute spent (totals over problems)."""
    import numpy as np

    from harness import registry
    from harness.errors import accepted_options
    from harness.metrics import bootstrap_means, percentile_ci
    from harness.strategies.engine import budget_dict, check_budget

    budget = parse_budget(budget_pairs)
    check_budget(budget)
    strategy_options = {**_typed(strategy_option, "--strategy-option"), "seed": seed}
    strategy = registry.STRATEGIES.build(strategy_name, strategy_options)
    task_options = _typed(task_option, "--task-option")
    generated = "n_problems" in accepted_options(registry.TASKS.get(task_name))
    if generated and n_problems is not None:
        task_options.setdefault("n_problems", n_problems)
    task = registry.TASKS.build(task_name, task_options)
    problems = _problems(task, None if generated else n_problems, seed)
    policy = registry.POLICIES.build(policy_name, _typed(policy_option, "--policy-option"))
    prm = registry.PRMS.build(prm_name, _typed(prm_option, "--prm-option"))

    use_task = getattr(strategy, "use_task", None)
    if use_task is not None:
        use_task(task)  # a vote needs the task's answer keys
    runs = strategy.run(problems, policy, prm, budget)  # type: ignore[attr-defined]
    batch = [(run.problem, [task.prepare(run.problem, 0, run.tree.text(run.answer))])
             for run in runs if run.answer is not None]
    grades = iter(task.grade_batch(batch))
    correct = np.array([float(next(grades)[0].correct) if run.answer is not None else 0.0
                        for run in runs])
    lo, hi = percentile_ci(bootstrap_means(correct, seed=seed))[:, 0]
    spent = {"policy_tokens": sum(r.spent.policy_tokens for r in runs),
             "policy_calls": sum(r.spent.policy_calls for r in runs),
             "prm_tokens": sum(r.spent.prm_tokens for r in runs),
             "flops": float(sum(r.spent.flops for r in runs)),
             "wall_s": float(sum(r.spent.wall_s for r in runs))}
    doc = {"strategy": strategy_name, "n_problems": len(runs),
           "accuracy": {"value": float(correct.mean()), "ci": [float(lo), float(hi)]},
           "spent": spent, "budget": budget_dict(budget)}
    if trace_out is not None:
        with trace_out.open("w", encoding="utf-8") as fh:
            for trace in strategy.traces(budget):  # type: ignore[attr-defined]
                fh.write(json.dumps(trace) + "\n")
    if as_json:
        click.echo(json.dumps(doc))
        return
    acc = doc["accuracy"]
    click.echo(f"{strategy_name}: accuracy {acc['value']:.3f} "  # type: ignore[index]
               f"[{lo:.3f}, {hi:.3f}] over {len(runs)} problems")
    click.echo("spent (all problems): " + ", ".join(f"{k}={v}" for k, v in spent.items()))
