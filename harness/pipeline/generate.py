"""Policy -> pool: sample n completions per problem and turn them into Samples (steps and
the extracted answer from the task), plus the provenance that goes with the pool."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.interfaces import Policy, SamplingParams, Task
from harness.models.compute import FLOPS_METHOD
from harness.progress import bar
from harness.store.atomic import write_bytes
from harness.store.jsonl import render_jsonl
from harness.store.keys import canonical_json
from harness.store.provenance import environment, now_utc
from harness.store.records import to_row
from harness.types import Problem, Sample


def generate_pool(task: Task, problems: Sequence[Problem], policy: Policy,
                  params: SamplingParams, prompt_style: str = "default",
                  chunk_size: int = 64, progress: bool = True) -> list[Sample]:
    """``params.n`` samples for every problem, in problem order then sample order.

    Problems go to the policy ``chunk_size`` at a time (a progress bar ticks per chunk
    unless ``progress`` is off, e.g. inside the runner's own bar); a policy that answers
    with the wrong number of prompts or samples is an error, never padded.
    """
    samples: list[Sample] = []
    chunks = [problems[i:i + chunk_size] for i in range(0, len(problems), chunk_size)]
    with _progress(progress, f"generating {task.name}", len(problems)) as advance:
        for chunk in chunks:
            prompts = [task.prompt(p, prompt_style) for p in chunk]
            completions = policy.sample(prompts, params)
            if len(completions) != len(chunk):
                raise HarnessError(f"policy returned {len(completions)} results for "
                                   f"{len(chunk)} prompts")
            for problem, outs in zip(chunk, completions, strict=True):
                if len(outs) != params.n:
                    raise HarnessError(f"policy returned {len(outs)} completions for problem "
                                       f"{problem.id!r}, expected n={params.n}")
                for j, out in enumerate(outs):
                    sample = task.prepare(problem, j, out.text)
                    sample.prompt_tokens = out.prompt_tokens
                    sample.completion_tokens = out.completion_tokens
                    sample.finish_reason = out.finish_reason
                    samples.append(sample)
            advance(len(chunk))
    return samples


@contextmanager
def _progress(enabled: bool, label: str, total: int) -> Iterator[Callable[[int], None]]:
    if not enabled:
        yield lambda n: None
        return
    with bar(label, total=total) as advance:
        yield advance


def pool_provenance(task: Task, problems: Sequence[Problem], policy: Policy,
                    params: SamplingParams, prompt_style: str, policy_spec: dict[str, Any],
                    wall_s: float) -> dict[str, Any]:
    """Everything needed to say how a pool was made (and to make it again)."""
    calls = getattr(policy, "compute_calls", None)
    identity = policy.identity()
    return {
        "kind": "pool",
        "created": now_utc(),
        "task": task.identity(),
        "prompt_style": prompt_style,
        "problem_ids": [p.id for p in problems],
        "policy": policy_spec,
        "policy_identity": identity,
        "sampling": asdict(params),
        "seeds": {"seed": params.seed,
                  "rule": identity.get("seed_rule", "the policy's own (see policy_identity)")},
        "compute": {**asdict(policy.compute()), "flops_method": FLOPS_METHOD},
        "compute_calls": calls() if callable(calls) else None,
        "wall_s": wall_s,
        "environment": environment(),
    }


def write_pool(path: Path, samples: Sequence[Sample], provenance: dict[str, Any]) -> Path:
    """The pool JSONL (one ``to_row(Sample)`` a line) and ``<path>.provenance.json`` beside
    it, which also records the pool's sha256; both written atomically."""
    data = render_jsonl(to_row(s) for s in samples)
    write_bytes(path, data)
    sidecar = path.with_name(path.name + ".provenance.json")
    document = {**provenance, "pool_file": path.name, "n_samples": len(samples),
                "pool_sha256": hashlib.sha256(data).hexdigest()}
    write_bytes(sidecar, (canonical_json(document) + "\n").encode("utf-8"))
    return sidecar

