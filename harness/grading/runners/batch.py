"""Grade many problems' programs in one pass over the sandbox pool."""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
    jobs: list[Job] = []
    where: list[tuple[int, int]] = []
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
                jobs.append(make_job(problem, program))
                where.append((i, j))
                verdicts.append(Verdict(False, None))
        out.append(verdicts)
    runs = sandbox.run_many(jobs) if jobs else []
    for (i, j), run in zip(where, runs, strict=True):
        out[i][j] = judge(items[i][0], run)
    return out
