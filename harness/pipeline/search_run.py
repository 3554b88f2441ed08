"""Running a search shard by shard into a stored, resumable search run (store/search_dir).

Shared by ``prm-harness search --out DIR`` and ``prm-harness run`` with a ``strategy:``
section. Each shard of problems is one engine run; since a problem's search never sees
another problem's requests (engine.py), cutting the problems into shards changes no
result, only the measured wall seconds, which are kept apart in ``timings/``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import __version__
from harness.interfaces import PRM, Policy, Task
from harness.store.provenance import git_revision
from harness.store.search_dir import (
    DEFAULT_SHARD_SIZE,
    SEARCH_SCHEMA,
    WALL,
    SearchDir,
    strip_wall,
    summarise,
)
from harness.types import Budget, Problem

__all__ = ["DEFAULT_SHARD_SIZE", "SearchJob", "run_search", "with_wall"]


@dataclass
class SearchJob:
    """Everything one search run is made of, built and checked by the caller."""

    strategy_name: str
    strategy_options: dict[str, Any]
    strategy: Any  # a SearchStrategy (run, traces, identity)
    task_name: str
    task_options: dict[str, Any]
    task: Task
    problems: Sequence[Problem]
    policy_name: str
    policy_options: dict[str, Any]
    policy: Policy
    prm_name: str
    prm_options: dict[str, Any]
    prm: PRM
    prm_label: str
    budget: Budget
    seed: int
    shard_size: int = DEFAULT_SHARD_SIZE

    def settings(self) -> dict[str, Any]:
        """What the run is (compared exactly on resume), as plain JSON values."""
        from harness.strategies.engine import budget_dict

        doc = {
            "strategy": {"name": self.strategy_name, "options": self.strategy_options,
                         "identity": self.strategy.identity()},
            "task": {"name": self.task_name, "options": self.task_options,
                     "identity": self.task.identity()},
            "policy": {"name": self.policy_name, "options": self.policy_options,
                       "identity": self.policy.identity(),
                       "resolved": type(self.policy).resolved_identity(**self.policy_options)},
            "prm": {"name": self.prm_name, "label": self.prm_label,
                    "options": self.prm_options, "identity": self.prm.identity(),
                    "resolved": type(self.prm).resolved_identity(**self.prm_options)},
            "budget": budget_dict(self.budget), "seed": self.seed,
            "problem_ids": [p.id for p in self.problems], "shard_size": self.shard_size,
        }
        plain: dict[str, Any] = json.loads(json.dumps(doc))
        return plain


def prm_label(name: str, options: dict[str, Any]) -> str:
    """How reports name a PRM given on the command line: its name and options."""
    if not options:
        return name
    return f"{name}(" + ",".join(f"{k}={options[k]}" for k in sorted(options)) + ")"


def with_wall(trace: dict[str, Any], timing: dict[str, Any]) -> dict[str, Any]:
    """A stored trace with its wall seconds put back from its timings record."""
    nodes = [{**n, WALL: w} for n, w in zip(trace["nodes"], timing["node_wall_s"],
                                             strict=True)]
    ticks = [{**t, "spent": {**t["spent"], WALL: w}}
             for t, w in zip(trace["ticks"], timing["tick_wall_s"], strict=True)]
    return {**trace, "nodes": nodes, "ticks": ticks,
            "spent": {**trace["spent"], WALL: timing["wall_s"]}}


def _search_shard(job: SearchJob, problems: Sequence[Problem]
                  ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One shard's records (deterministic) and its timings (measured)."""
    start = time.perf_counter()
    runs = job.strategy.run(list(problems), job.policy, job.prm, job.budget)
    traces = job.strategy.traces(job.budget)
    answered = [(run.problem, [job.task.prepare(run.problem, 0, run.tree.text(run.answer))])
                for run in runs if run.answer is not None]
    grades = iter(job.task.grade_batch(answered))
    rows, timing_rows = [], []
    for run, trace in zip(runs, traces, strict=True):
        correct = bool(next(grades)[0].correct) if run.answer is not None else False
        clean, node_walls = strip_wall(trace)
        spent = {k: v for k, v in run.spent.as_dict().items() if k != WALL}
        rows.append({"problem_id": run.problem.id, "answer_text": trace["answer_text"],
                     "correct": correct, "spent": spent, "trace": clean})
        timing_rows.append({"problem_id": run.problem.id, "wall_s": run.spent.wall_s,
                            "node_wall_s": node_walls,
                            "tick_wall_s": [t["spent"][WALL] for t in trace["ticks"]]})
    timing = {"problems": timing_rows, "shard_wall_s": time.perf_counter() - start}
    return rows, timing


def run_search(job: SearchJob, out: Path | None,
               log: Callable[[str], None] = lambda message: None,
               on_shard: Callable[[int, list[dict[str, Any]], dict[str, Any]], None]
               | None = None) -> dict[str, Any]:
    """Search every problem, shard by shard; with ``out``, store each shard as it ends
    and skip the shards already stored. The summary, with ``spent.wall_s`` (the sum of
    the measured wall seconds) added; ``on_shard(index, records, timing)`` sees every
    shard (a stored one with its stored timings)."""
    settings = job.settings()
    store = SearchDir(out) if out is not None else None
    size = job.shard_size if store is not None else max(len(job.problems), 1)
    shards = [list(job.problems[i:i + size]) for i in range(0, len(job.problems), size)]
    document = {"schema_version": SEARCH_SCHEMA, "kind": "search", **settings,
                "harness": {"version": __version__, "git_revision": git_revision()},
                "summary": None}
    rows: list[dict[str, Any]] = []
    wall = 0.0

    def work() -> None:
        nonlocal wall
        reused = 0
        for index, problems in enumerate(shards):
            ids = [p.id for p in problems]
            if store is not None and store.has_shard(index):
                records = store.read_shard(index, ids)
                timing = store.read_timing(index)
                reused += 1
            else:
                records, timing = _search_shard(job, problems)
                if store is not None:
                    store.write_shard(index, records, timing)
            rows.extend(records)
            wall += sum(float(t["wall_s"]) for t in timing["problems"])
            if on_shard is not None:
                on_shard(index, records, timing)
        if reused:
            log(f"search: {reused} of {len(shards)} shards were stored already")

    if store is None:
        work()
    else:
        with store.lock():
            store.start(document)
            work()
            summary = summarise(job.strategy_name, rows, settings["budget"], job.seed)
            store.finish(summary)
    summary = summarise(job.strategy_name, rows, settings["budget"], job.seed)
    summary["spent"]["wall_s"] = wall
    return summary

