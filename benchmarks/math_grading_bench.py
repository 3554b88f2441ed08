"""Math grading speed, and the whole selection pipeline, on MATH-500-shaped pools (one JSON line).

Completion texts come from ``math_pools`` (seeded, built from MATH-500's own solutions:
many distinct wrong answers per problem, equivalent respellings of right and wrong answers
such as ``\\frac12`` / ``0.5`` / ``1/2``, completions without a box).

Figures:

- ``grade_*``: 500 problems x 64 completions, extraction then grading (voting classes and
  correctness with math-verify in the worker pool): cold (empty result cache, workers
  started), and warm (same pool again, cache filled).
- ``pipeline_*``: 500 x 256: extract, voting classes + grading (new worker processes, empty
  cache, start-up included), then every metric of ``harness.metrics.compute_all`` (pass,
  prm, maj, wmaj) for N = 1, 2, 4, ..., 256 with bootstrap CIs (``metrics``: value, CI low,
  CI high); the PRM score is a seeded noisy function of correctness.
- ``target_s``: search-and-learn's own scoring of a pool of this shape (extraction and
  single-draw naive/weighted/majority picks only, no grading) was measured at about 330 s
  on this 2-core machine outside this script (``search_and_learn_s``); the aim is ten times
  faster, so ``target_s`` = 33 and ``meets_target`` says whether ``pipeline_s`` is within.
- ``intended_agreement``: share of the 500 x 256 completions graded as they were built
  (right answer in any spelling: correct; wrong answer or no answer: incorrect).
- ``peer_*``: the plain way to use math-verify, measured here on a seeded subset of the
  64-pool (``parse`` each completion, ``verify`` against the parsed gold, in-process, no
  deduplication or cache), scaled to answers per second.

The machine is shared, so the 1-minute load average before the run and the pipeline's CPU
seconds (this process and its worker processes) are printed too: wall time alone moves
with the load.

Run: ``PRM_HARNESS_DATA=../shared/data python benchmarks/math_grading_bench.py``
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from math_pools import Pool, build_pools

from harness import metrics as m
from harness.grading.math.extraction import extract_answer
from harness.grading.math.grader import MathGrader, Verdict
from harness.grading.math.verify_workers import VerifierWorkers
from harness.store.jsonl import read_jsonl

N_PROBLEMS, N_GRADE, N_POOL = 500, 64, 256
KS = [2**i for i in range(9)]
SEARCH_AND_LEARN_S = 330.0
TARGET_S = SEARCH_AND_LEARN_S / 10
PEER_PROBLEMS = 25


def grade_pools(grader: MathGrader, problems: list[dict], texts: list[list[str]]
                ) -> tuple[list[list[str | None]], list[list[Verdict]], float, float]:
    start = time.perf_counter()
    answers = [[extract_answer(t) for t in pool] for pool in texts]
    extract_s = time.perf_counter() - start
    start = time.perf_counter()
    verdicts = grader.grade_many([(p["answer"], a) for p, a in zip(problems, answers,
                                                                     strict=True)])
    return answers, verdicts, extract_s, time.perf_counter() - start


def cpu_seconds() -> float:
    """CPU time of this process plus its reaped children (the closed worker processes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def peer_answers_per_s(problems: list[dict], texts: list[list[str]]) -> float:
    """Plain in-process math-verify: parse each completion, verify against the gold."""
    import logging

    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    rng = np.random.default_rng(1)
    chosen = rng.choice(len(problems), size=PEER_PROBLEMS, replace=False)
    start = time.perf_counter()
    count = 0
    for i in chosen:
        gold = parse("\\boxed{" + problems[i]["answer"] + "}")
        for text in texts[i]:
            verify(gold, parse(text))
            count += 1
    return count / (time.perf_counter() - start)


def metric_pools(problems: list[dict], verdicts: list[list[Verdict]],
                 rng: np.random.Generator) -> list[m.ProblemPool]:
    out = []
    for p, pv in zip(problems, verdicts, strict=True):
        ids: dict[str, int] = {}
        vote = np.array([-1 if v.vote_key is None else ids.setdefault(v.vote_key, len(ids))
                         for v in pv])
        correct = np.array([v.correct for v in pv])
        score = 1 / (1 + np.exp(-(1.5 * correct + rng.normal(0, 1, len(pv)))))
        out.append(m.ProblemPool(p["unique_id"], correct, vote, score))
    return out


def pipeline(problems: list[dict], pools: list[Pool]) -> dict[str, Any]:
    """Extract, grade and compute every metric on the 256-pool, cold; figures."""
    rng = np.random.default_rng(2)
    start = time.perf_counter()
    cpu_start = cpu_seconds()
    pool = VerifierWorkers(timeout_s=5.0)  # new worker processes, start-up counted
    grader = MathGrader(verifiers=pool)
    answers, verdicts, extract_s, grade_s = grade_pools(grader, problems,
                                                        [p.texts for p in pools])
    metric_start = time.perf_counter()
    estimates = m.compute_all(metric_pools(problems, verdicts, rng), KS)
    metrics_s = time.perf_counter() - metric_start
    total_s = time.perf_counter() - start
    pool.close()
    graded = [v.correct for pv in verdicts for v in pv]
    intended = [c for p in pools for c in p.intended]
    return {
        "pipeline_n": N_POOL, "pipeline_extract_s": round(extract_s, 2),
        "pipeline_grade_s": round(grade_s, 2), "pipeline_metrics_s": round(metrics_s, 2),
        "pipeline_s": round(total_s, 2), "pipeline_cpu_s": round(cpu_seconds() - cpu_start, 1),
        "search_and_learn_s": SEARCH_AND_LEARN_S, "target_s": TARGET_S,
        "meets_target": total_s <= TARGET_S,
        "pipeline_vs_search_and_learn": round(SEARCH_AND_LEARN_S / total_s, 1),
        "pool_accuracy": round(float(np.mean(graded)), 4),
        "intended_agreement": round(float(np.mean(np.array(graded) == np.array(intended))), 5),
        "no_answer_share": round(float(np.mean([a is None for pa in answers for a in pa])), 4),
        "distinct_answers_per_problem": round(float(np.mean(
            [len({a for a in pa if a is not None}) for pa in answers])), 1),
        "voting_classes_per_problem": round(float(np.mean(
            [len({v.vote_key for v in pv if v.vote_key is not None}) for pv in verdicts])), 1),
        "metrics": {name: [round(e.value, 4), round(e.ci[0], 4), round(e.ci[1], 4)]
                    for name, e in estimates.items()},
    }


def main() -> int:
    data_dir = os.environ.get("PRM_HARNESS_DATA")
    if not data_dir:
        print("set PRM_HARNESS_DATA to the data folder", file=sys.stderr)
        return 2
    load_before = os.getloadavg()[0]
    problems = [rec for _, rec in read_jsonl(Path(data_dir) / "math500" / "test.jsonl")]
    assert len(problems) == N_PROBLEMS
    pools = build_pools(problems, N_POOL)
    texts64 = [p.texts[:N_GRADE] for p in pools]
    n64 = N_PROBLEMS * N_GRADE

    pool = VerifierWorkers(timeout_s=5.0)
    start = time.perf_counter()
    with pool.worker():
        pass
    startup_s = time.perf_counter() - start
    grader = MathGrader(verifiers=pool)
    _, verdicts64, extract64_s, cold_s = grade_pools(grader, problems, texts64)
    _, _, _, warm_s = grade_pools(grader, problems, texts64)
    statuses: dict[str, int] = {}
    for pv in verdicts64:
        for v in pv:
            statuses[v.status] = statuses.get(v.status, 0) + 1
    peer = peer_answers_per_s(problems, texts64)
    pool.close()

    print(json.dumps({
        "bench": "math_grading", "problems": N_PROBLEMS, "workers": pool.n_workers,
        "load_average_1m_before": round(load_before, 2),
        "worker_startup_s": round(startup_s, 2),
        "grade_n": N_GRADE, "grade_extract_s": round(extract64_s, 3),
        "grade_cold_s": round(cold_s, 3), "grade_warm_s": round(warm_s, 3),
        "grade_cold_answers_per_s": round(n64 / cold_s),
        "grade_warm_answers_per_s": round(n64 / warm_s),
        "grade_statuses": dict(sorted(statuses.items())),
        "peer_answers_per_s": round(peer),
        "cold_vs_peer": round(n64 / cold_s / peer, 1),
        **pipeline(problems, pools),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
