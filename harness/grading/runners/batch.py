"""Grade many problems' programs in one pass over the sandbox pool."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from harness.grading.runners.verdict import Verdict
from harness.grading.sandbox.core import Job, RunResult, Sandbox

P = TypeVar("P")

NO_CODE = {"status": "no-code", "reason": "no program found"}


def grade_batch(items: Sequence[tuple[P, Sequence[str | None]]], sandbox: Sandbox,
                  make_job: Callable[[P, str], Job],
                  judge: Callable[[P, RunResult], Verdict],
                  skip: Callable[[P], dict[str, Any] | None] = lambda problem: None,
                  ) -> list[list[Verdict]]:
    """Verdicts for every program of every problem; all runs share the worker pool.

    A program that is None (no code) gets a no-code verdict; a problem for which ``skip``
    returns details (e.g. a missing library) gets that verdict for every program.
    """
    todo: list[tuple[int, int, str]] = []
    out: list[list[Verdict]] = []
    for i, (problem, programs) in enumerate(items):
        skipped = skip(problem)
        verdicts = []
        for j, program in enumerate(programs):
            if skipped is not None:
                verdicts.append(Verdict(False, None, dict(skipped)))
            elif program is None:
                verdicts.append(Verdict(False, None, dict(NO_CODE)))
            else:
                todo.append((i, j, program))
                verdicts.append(Verdict(False, None))
        out.append(verdicts)
    if not todo:
        return out

    def one(entry: tuple[int, int, str]) -> None:
        # built, run and judged in a worker thread: payloads are not all held at once,
        # and judging overlaps the other slots' runs instead of waiting for the last one
        i, j, program = entry
        problem = items[i][0]
        out[i][j] = judge(problem, sandbox.run(make_job(problem, program)))

    with ThreadPoolExecutor(sandbox.workers, thread_name_prefix="grade") as pool:
        for _ in pool.map(one, todo):
            pass
    return out
