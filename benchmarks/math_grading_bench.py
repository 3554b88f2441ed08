"""Math grading speed, and the whole selection pipeline, on MATH-500-shaped pools (one JSON line).

Completions are built from real data with a seed: each is a MATH-500 reference solution
whose final ``\\boxed{}`` holds the gold answer in one of several equivalent spellings
(``\\dfrac``, spaces, ``a/b``), a wrong answer (another MATH-500 problem's gold, or an
integer gold +/- 1), or no box at all (cut before it). Per-problem accuracy is Beta(2, 2).

Figures:

- ``grade_*``: 500 problems x 64 completions, extraction then grading (voting classes and
  correctness with math-verify in the worker pool): cold (empty result cache, workers
  started), and warm (same pool again, cache filled).
- ``pipeline_*``: 500 x 256: extract, voting classes + grading (new worker processes, empty
  cache, start-up included), then every
  metric of ``harness.metrics.compute_all`` (pass, prm, maj, wmaj) for N = 1, 2, 4, ..., 256
  with bootstrap CIs; the PRM score is a seeded noisy function of correctness.
- ``peer_*``: the plain way to use math-verify, measured here on a seeded subset of the
  64-pool (``parse`` each completion, ``verify`` against the parsed gold, in-process, no
  deduplication or cache), scaled to answers per second. search-and-learn's own scoring of
  a 500 x 256 pool (extraction and single-draw picks, no grading) was measured at about
  330 s on this machine outside this script; ``pipeline_vs_330s`` is that figure over ours.
  The machine is shared, so the 1-minute load average and the pipeline's CPU seconds (this
  process and its worker processes) are printed too: wall time alone moves with the load.

Run: ``PRM_HARNESS_DATA=../shared/data python benchmarks/math_grading_bench.py``
"""

from __future__ import annotations

import json
import os
import re
import resource
import sys
import time
from pathlib import Path

import numpy as np

from harness import metrics as m
from harness.grading.answer_extraction import extract_answer
from harness.grading.math_answers import MathGrader
from harness.grading.verify_pool import VerifierPool
from harness.store.jsonl import read_jsonl

N_PROBLEMS, N_GRADE, N_POOL = 500, 64, 256
KS = [2**i for i in range(9)]
SEARCH_AND_LEARN_S = 330.0
PEER_PROBLEMS = 25


def spellings(gold: str) -> list[str]:
    """Equivalent ways to write the gold answer (all must grade as correct)."""
    forms = {gold, gold.replace("\\frac", "\\dfrac"), gold.replace(",", ", ")}
    simple = re.fullmatch(r"\\frac\{(-?\d+)\}\{(\d+)\}", gold)
    if simple:
        forms.add(f"{simple.group(1)}/{simple.group(2)}")
    return sorted(forms)


def build_pools(problems: list[dict], n: int, seed: int = 0) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    golds = [p["answer"] for p in problems]
    pools = []
    for p in problems:
        solution, gold = p["solution"], p["answer"]
        cut = solution.rfind("\\boxed")
        head = solution[:cut]
        tail_end = solution.find("}", cut)
        rest = solution[tail_end + 1:] if tail_end >= 0 else ""
        distractors = list(rng.choice(golds, size=6, replace=False))
        if re.fullmatch(r"-?\d+", gold):
            distractors += [str(int(gold) + 1), str(int(gold) - 1)]
        distractors = [d for d in distractors if d != gold]
        weights = 1.0 / np.arange(1, len(distractors) + 1)
        weights /= weights.sum()
        accuracy = rng.beta(2, 2)
        forms = spellings(gold)
        texts = []
        for _ in range(n):
            u = rng.random()
            if u < accuracy:
                answer = forms[rng.integers(len(forms))]
            elif u < accuracy + 0.05:
                texts.append(head.rstrip())
                continue
            else:
                answer = distractors[rng.choice(len(distractors), p=weights)]
            texts.append(f"{head}\\boxed{{{answer}}}{rest}")
        pools.append(texts)
    return pools


def grade_pools(grader: MathGrader, problems: list[dict], pools: list[list[str]]):
    start = time.perf_counter()
    answers = [[extract_answer(t) for t in texts] for texts in pools]
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


def peer_answers_per_s(problems: list[dict], pools: list[list[str]]) -> float:
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
        for text in pools[i]:
            verify(gold, parse(text))
            count += 1
    return count / (time.perf_counter() - start)


def main() -> int:
    data_dir = os.environ.get("PRM_HARNESS_DATA")
    if not data_dir:
        print("set PRM_HARNESS_DATA to the data folder", file=sys.stderr)
        return 2
    problems = [rec for _, rec in read_jsonl(Path(data_dir) / "math500" / "test.jsonl")]
    assert len(problems) == N_PROBLEMS
    pools256 = build_pools(problems, N_POOL)
    pools64 = [texts[:N_GRADE] for texts in pools256]
    n64 = N_PROBLEMS * N_GRADE

    pool = VerifierPool(timeout_s=5.0)
    start = time.perf_counter()
    with pool.worker():
        pass
    startup_s = time.perf_counter() - start

    grader = MathGrader(pool=pool)
    _, verdicts64, extract64_s, cold_s = grade_pools(grader, problems, pools64)
    _, _, _, warm_s = grade_pools(grader, problems, pools64)
    statuses: dict[str, int] = {}
    for pv in verdicts64:
        for v in pv:
            statuses[v.status] = statuses.get(v.status, 0) + 1

    peer = peer_answers_per_s(problems, pools64)

    pool.close()
    rng = np.random.default_rng(2)
    start = time.perf_counter()
    cpu_start = cpu_seconds()
    # cold: new worker processes (their start-up counted) and an empty result cache
    pool = VerifierPool(timeout_s=5.0)
    pipeline = MathGrader(pool=pool)
    answers256, verdicts256, extract256_s, grade256_s = grade_pools(pipeline, problems,
                                                                    pools256)
    metric_start = time.perf_counter()
    metric_pools = []
    for p, pv in zip(problems, verdicts256, strict=True):
        ids: dict[str, int] = {}
        vote = np.array([-1 if v.vote_key is None else ids.setdefault(v.vote_key, len(ids))
                         for v in pv])
        correct = np.array([v.correct for v in pv])
        score = 1 / (1 + np.exp(-(1.5 * correct + rng.normal(0, 1, len(pv)))))
        metric_pools.append(m.ProblemPool(p["unique_id"], correct, vote, score))
    estimates = m.compute_all(metric_pools, KS)
    metrics_s = time.perf_counter() - metric_start
    pipeline_s = time.perf_counter() - start
    pool.close()
    pipeline_cpu_s = cpu_seconds() - cpu_start

    accuracy = float(np.mean([v.correct for pv in verdicts256 for v in pv]))
    print(json.dumps({
        "bench": "math_grading", "problems": N_PROBLEMS, "workers": pool.n_workers,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "worker_startup_s": round(startup_s, 2),
        "grade_n": N_GRADE, "grade_extract_s": round(extract64_s, 3),
        "grade_cold_s": round(cold_s, 3), "grade_warm_s": round(warm_s, 3),
        "grade_cold_answers_per_s": round(n64 / cold_s),
        "grade_warm_answers_per_s": round(n64 / warm_s),
        "grade_statuses": statuses,
        "peer_answers_per_s": round(peer),
        "cold_vs_peer": round(n64 / cold_s / peer, 1),
        "pipeline_n": N_POOL, "pipeline_extract_s": round(extract256_s, 2),
        "pipeline_grade_s": round(grade256_s, 2), "pipeline_metrics_s": round(metrics_s, 2),
        "pipeline_s": round(pipeline_s, 2), "pipeline_cpu_s": round(pipeline_cpu_s, 1),
        "pipeline_metrics": len(estimates),
        "pipeline_vs_330s": round(SEARCH_AND_LEARN_S / pipeline_s, 1),
        "pool_accuracy": round(accuracy, 4),
        "maj@256": round(estimates["maj@256"].value, 4),
        "prm@256": round(estimates["prm@256"].value, 4),
        "distinct_answers_per_problem_256": round(float(np.mean(
            [len({a for a in ans if a is not None}) for ans in answers256])), 1),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
