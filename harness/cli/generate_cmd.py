"""``prm-harness generate TASK --policy NAME --out POOL.jsonl``: policy -> pool.

Writes the pool (one Sample a line: text, steps, extracted answer, token counts, finish
reason) and ``POOL.jsonl.provenance.json`` (task identity, problem ids, policy identity,
sampling parameters, seeds, versions, compute).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click
import yaml

from harness.cli.options import parse_key_values


def _policy_options(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs with YAML values (true, 0.5, [a, b], {k: v})."""
    out: dict[str, Any] = {}
    for key, text in parse_key_values(pairs, "--policy-option").items():
        try:
            out[key] = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise click.BadParameter(f"{key}={text!r}: not a YAML value ({exc})",
                                     param_hint="--policy-option") from None
    return out


def _selection(problems: str | None, ids: str | None, limit: int | None) -> Any:
    from pydantic import ValidationError

    from harness.config import ProblemSelection

    given = [x is not None for x in (problems, ids, limit)]
    if sum(given) > 1:
        raise click.UsageError("give at most one of --problems, --ids, --limit")
    if not any(given):
        return None
    try:
        if limit is not None:
            return ProblemSelection(slice=f"0:{limit}")
        if ids is not None:
            return ProblemSelection(ids=[i for i in ids.split(",") if i])
        return ProblemSelection(slice=problems)
    except ValidationError as exc:
        raise click.BadParameter(exc.errors()[0]["msg"], param_hint="--problems") from None


@click.command("generate")
@click.argument("task_name", metavar="TASK")
@click.option("--policy", "policy_name", required=True,
              help="Policy back-end: vllm, hf, http, replay, sim (or a plug-in).")
@click.option("--model", default=None, help="Model folder or hub id (vllm, hf, http).")
@click.option("--revision", default=None, help="Model revision (commit) to load or record.")
@click.option("--base-url", default=None, help="http: API root, e.g. http://host:8000/v1.")
@click.option("--endpoint", type=click.Choice(["chat", "completions"]), default=None,
              help="http: which endpoint to call.")
@click.option("--pool", "replay_pool", type=click.Path(path_type=Path), default=None,
              help="replay: the pool JSONL to serve.")
@click.option("--policy-option", "policy_options", multiple=True, metavar="KEY=VALUE",
              help="Any other policy option, YAML value (e.g. dtype=float32).")
@click.option("-n", "--n", "n", default=8, show_default=True, help="Samples per problem.")
@click.option("--temperature", default=1.0, show_default=True)
@click.option("--top-p", default=1.0, show_default=True)
@click.option("--max-tokens", default=1024, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--stop", multiple=True, help="Stop string (repeatable).")
@click.option("--problems", default=None, metavar="START:STOP",
              help="A slice of the task's problems, in benchmark order.")
@click.option("--ids", default=None, metavar="ID,ID,...", help="Explicit problem ids.")
@click.option("--limit", type=int, default=None, help="The first N problems (= 0:N).")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Local mirror folder (default: $PRM_HARNESS_DATA, else the hub).")
@click.option("--option", "task_options", multiple=True, metavar="KEY=VALUE",
              help="Task option.")
@click.option("--prompt-style", default="default", show_default=True)
@click.option("--chunk", default=64, show_default=True, help="Problems per policy call.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Pool JSONL to write (provenance goes to OUT.provenance.json).")
def generate(task_name: str, policy_name: str, model: str | None, revision: str | None,
             base_url: str | None, endpoint: str | None, replay_pool: Path | None,
             policy_options: tuple[str, ...], n: int, temperature: float, top_p: float,
             max_tokens: int, seed: int, stop: tuple[str, ...], problems: str | None,
             ids: str | None, limit: int | None, data_dir: Path | None,
             task_options: tuple[str, ...], prompt_style: str, chunk: int, out: Path) -> None:
    """Sample N completions per problem of TASK with a policy and write the pool."""
    from harness.interfaces import SamplingParams
    from harness.models.policies.base import check_params
    from harness.pipeline.generate import generate_pool, pool_provenance, write_pool
    from harness.pipeline.plan import select_problems
    from harness.registry import POLICIES, TASKS

    selection = _selection(problems, ids, limit)
    params = SamplingParams(n=n, temperature=temperature, top_p=top_p, max_tokens=max_tokens,
                            seed=seed, stop=list(stop))
    check_params(params)
    task = TASKS.build(task_name, parse_key_values(task_options), data_dir=data_dir)
    chosen = select_problems(task.load(), selection)
    named = {"model": model, "revision": revision, "base_url": base_url, "endpoint": endpoint,
             "pool": str(replay_pool) if replay_pool is not None else None}
    options = {**{k: v for k, v in named.items() if v is not None},
               **_policy_options(policy_options)}
    spec = {"name": policy_name, "options": options}
    if policy_name == "replay":
        options = {**options, "task": task, "prompt_style": prompt_style}
    policy = POLICIES.build(policy_name, options)
    start = time.perf_counter()
    samples = generate_pool(task, chosen, policy, params, prompt_style, chunk)
    wall = time.perf_counter() - start
    sidecar = write_pool(out, samples, pool_provenance(task, chosen, policy, params,
                                                       prompt_style, spec, wall))
    compute = policy.compute()
    click.echo(json.dumps({"task": task_name, "policy": policy_name, "problems": len(chosen),
                           "samples": len(samples), "tokens_in": compute.tokens_in,
                           "tokens_out": compute.tokens_out, "wall_s": round(wall, 3),
                           "pool": str(out), "provenance": str(sidecar)}))
