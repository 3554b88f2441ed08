"""Verdict agreement of the harness' code grading with reference graders; prints JSON.

    python scripts/code_agreement.py stored humanevalplus --model 7b-base
    python scripts/code_agreement.py stored mbppplus --model 1.5b-base
    python scripts/code_agreement.py stored bigcodebench-hard --model 7b-base \\
        --python .venv-bigcodebench/bin/python
    python scripts/code_agreement.py evalplus --per-problem 2 --seed 0 [--write-fixture F]
        [--evalplus-python /path/with/evalplus/bin/python] [--python SANDBOX_PYTHON]

``stored`` compares with the per-sample results stored next to the Qwen2.5-Coder samples in
the data mirror (graded by evalplus, or by BigCodeBench's evaluator). ``evalplus`` grades a
seeded draw of the CodeGen-16B HumanEval pool with the harness and with
``evalplus.evaluate`` (which must be installed; it runs offline on a gunzipped copy of the
mirror's HumanEval+ file) and compares. Every disagreement is listed with both sides'
reasons.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.data import resolve_data_dir
from harness.registry import TASKS

SAMPLES = "samples"
STORED = {
    "humanevalplus": ("qwen2.5-coder_base_evalplus/{model}/humaneval/"
                      "generated_eval_results.json", {"version": "v0.1.10"}),
    "mbppplus": ("qwen2.5-coder_base_evalplus/{model}/mbpp/generated_eval_results.json",
                 {"version": "v0.1.0"}),
    "bigcodebench-hard": ("qwen2.5-coder_base_bigcodebench_hard/{model}/"
                          "completion-sanitized-calibrated_hard_eval_results.json", {}),
}
CODEGEN_POOL = ("codet_humaneval_codegen16B/"
                "HumanEval_codegen16B_temp0.8_topp0.95_num100_max300_code_solution.jsonl")


def _stored_verdict(task_name: str, row: dict[str, Any]) -> bool:
    if task_name == "bigcodebench-hard":
        return row["status"] == "pass"
    return row["base_status"] == "pass" and row["plus_status"] == "pass"


def _stored_reason(task_name: str, row: dict[str, Any]) -> Any:
    if task_name == "bigcodebench-hard":
        return {"status": row["status"], "failed": sorted(row.get("details") or {})[:5]}
    return {"base": row["base_status"], "plus": row["plus_status"],
            "plus_fail_tests": str(row.get("plus_fail_tests"))[:200]}


def grade_records(task: Any, problems: dict[str, Any], records: list[dict[str, Any]]
                  ) -> list[Any]:
    """Grades evalplus-style records (task_id + solution/completion) in one batch."""
    by_problem: dict[str, list[Any]] = {}
    order = []
    for record in records:
        problem = problems[record["task_id"]]
        samples = by_problem.setdefault(problem.id, [])
        order.append((problem.id, len(samples)))
        samples.append(task.prepare_record(problem, len(samples), record))
    batch = [(problems[pid], samples) for pid, samples in by_problem.items()]
    graded = dict(zip(by_problem, task.grade_batch(batch), strict=True))
    return [graded[pid][index] for pid, index in order]


def stored_agreement(task_name: str, model: str, data_dir: Path, python: str | None,
                     workers: int | None, task_ids: list[str] | None = None,
                     **options: Any) -> dict[str, Any]:
    relpath, task_options = STORED[task_name]
    path = data_dir / SAMPLES / relpath.format(model=model)
    results = json.loads(path.read_text())["eval"]
    if python:
        task_options = {**task_options, "python": python}
    task = TASKS.build(task_name, {"workers": workers, **task_options, **options},
                       data_dir=data_dir)
    problems = {p.id: p for p in task.load()}
    chosen = task_ids or sorted(results)
    records, theirs = [], []
    for task_id in chosen:
        for row in results[task_id]:
            records.append({"task_id": task_id, "solution": row["solution"]})
            theirs.append(row)
    started = time.monotonic()
    if task_name == "bigcodebench-hard":
        task.calibrated = False  # the stored solutions are already calibrated
    grades = grade_records(task, problems, records)
    report = _compare(task_name, records, grades,
                      [_stored_verdict(task_name, r) for r in theirs],
                      [_stored_reason(task_name, r) for r in theirs])
    report.update(reference=str(path.relative_to(data_dir)), model=model,
                  task_options={k: v for k, v in task_options.items() if k != "python"},
                  wall_s=round(time.monotonic() - started, 1))
    task.close()
    return report


def _compare(task_name: str, records: list[dict[str, Any]], grades: list[Any],
             reference: list[bool], reasons: list[Any]) -> dict[str, Any]:
    excluded, agree, disagreements, timing = [], 0, [], []
    for record, grade, ref, why in zip(records, grades, reference, reasons, strict=True):
        if grade.details.get("status") == "missing-library":
            excluded.append({"task_id": record["task_id"], "missing": grade.details["missing"],
                             "reference_verdict": ref})
            continue
        borderline = grade.details.get("timing_borderline")
        if borderline:
            timing.append({"task_id": record["task_id"], "ours": grade.correct,
                           "reference": ref, **borderline})
        if grade.correct == ref:
            agree += 1
        else:
            disagreements.append({"task_id": record["task_id"], "ours": grade.correct,
                                  "reference": ref,
                                  "our_reason": str(grade.details.get("reason"))[:300],
                                  "reference_reason": why,
                                  "timing_borderline": bool(borderline)})
    compared = agree + len(disagreements)
    split = [d for d in disagreements if d["timing_borderline"]]
    return {"task": task_name, "n": len(records), "compared": compared, "agree": agree,
            "agreement": round(agree / compared, 4) if compared else None,
            "ours_pass": sum(g.correct for g in grades),
            "reference_pass": sum(reference), "missing_library": len(excluded),
            "missing_library_tasks": excluded,
            "disagreements": [d for d in disagreements if not d["timing_borderline"]],
            "timing_borderline_disagreements": split,
            "timing_borderline_verdicts": timing,
            "needs_network": sorted({r["task_id"] for r, g in zip(records, grades, strict=True)
                                     if g.details.get("status") == "needs-network"})}


def _is_line_subsequence(short: str, long: str) -> bool:
    lines = iter(long.splitlines())
    return all(any(line == other for other in lines) for line in short.splitlines())


def join_prompt(pool_prompt: str, prompts: dict[str, str]) -> str:
    """The task whose prompt the pool's prompt was cut from. CodeT dropped the docstring
    examples from prompts, so the join asks for the pool prompt's lines to appear in order
    in exactly one task's prompt, and failing that for its ``def`` line (the function to
    complete) to appear in exactly one."""
    exact = [task_id for task_id, text in prompts.items() if text == pool_prompt]
    matches = exact or [task_id for task_id, text in prompts.items()
                        if _is_line_subsequence(pool_prompt.strip("\n"), text)]
    if not matches:  # otherwise the signature line of the function to complete decides
        signature = [line for line in pool_prompt.splitlines() if line.startswith("def ")][-1]
        matches = [task_id for task_id, text in prompts.items()
                   if signature in text.splitlines()]
    if len(matches) != 1:
        raise ValueError(f"pool prompt matches {len(matches)} tasks: {pool_prompt[:80]!r}")
    return matches[0]


def codegen_records(data_dir: Path, per_problem: int, seed: int) -> list[dict[str, Any]]:
    """A seeded draw of ``per_problem`` CodeGen-16B samples for every HumanEval task, as
    evalplus-style records (joined to task ids on the prompt text, see join_prompt)."""
    with gzip.open(data_dir / "humanevalplus/v0.1.10/HumanEvalPlus.jsonl.gz", "rt") as handle:
        prompts = {row["task_id"]: row["prompt"] for row in map(json.loads, handle)}
    rng = random.Random(seed)
    records = []
    with open(data_dir / SAMPLES / CODEGEN_POOL, encoding="utf-8") as handle:
        for row in map(json.loads, handle):
            task_id = join_prompt(row["prompt"], prompts)
            for index in sorted(rng.sample(range(len(row["samples"])), per_problem)):
                records.append({"task_id": task_id, "completion": row["samples"][index],
                                "pool_index": index})
    records.sort(key=lambda r: (int(r["task_id"].split("/")[1]), r["pool_index"]))
    return records


def evalplus_version(python: str) -> str:
    """The version of evalplus installed for ``python``."""
    return subprocess.run([python, "-c", "import evalplus; print(evalplus.__version__)"],
                          capture_output=True, text=True, check=True).stdout.strip()


def run_evalplus(records: list[dict[str, Any]], data_dir: Path, parallel: int,
                 workdir: Path, python: str = sys.executable
                 ) -> tuple[list[dict[str, Any]], float]:
    """``evalplus.evaluate`` on ``records`` in a subprocess, offline; (rows, wall s)."""
    plus = workdir / "HumanEvalPlus.jsonl"
    with gzip.open(data_dir / "humanevalplus/v0.1.10/HumanEvalPlus.jsonl.gz", "rb") as src:
        plus.write_bytes(src.read())
    samples = workdir / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": r["task_id"],
                                           "completion": r["completion"]}) + "\n"
                               for r in records))
    env = dict(os.environ, HUMANEVAL_OVERRIDE_PATH=str(plus), TOKENIZERS_PARALLELISM="false")
    code = ("from evalplus.evaluate import evaluate; "
            f"evaluate('humaneval', samples={str(samples)!r}, parallel={parallel})")
    started = time.monotonic()
    subprocess.run([python, "-c", code], env=env, check=True, cwd=workdir,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.monotonic() - started
    results = json.loads((workdir / "samples_eval_results.json").read_text())["eval"]
    rows = []
    counters: dict[str, int] = {}
    for record in records:
        index = counters.get(record["task_id"], 0)
        counters[record["task_id"]] = index + 1
        rows.append(results[record["task_id"]][index])
    return rows, wall


def evalplus_agreement(data_dir: Path, per_problem: int, seed: int, workers: int,
                       evalplus_python: str = sys.executable,
                       python: str | None = None) -> dict[str, Any]:
    records = codegen_records(data_dir, per_problem, seed)
    with tempfile.TemporaryDirectory(prefix="evalplus-agreement-") as tmp:
        theirs, their_wall = run_evalplus(records, data_dir, workers, Path(tmp),
                                          evalplus_python)
    task = TASKS.build("humanevalplus", {"workers": workers, "python": python}, data_dir=data_dir)
    problems = {p.id: p for p in task.load()}
    started = time.monotonic()
    grades = grade_records(task, problems, records)
    our_wall = time.monotonic() - started
    task.close()
    report = _compare("humanevalplus", records, grades,
                      [_stored_verdict("humanevalplus", r) for r in theirs],
                      [_stored_reason("humanevalplus", r) for r in theirs])
    report.update(reference=f"evalplus {evalplus_version(evalplus_python)} evaluate "
                            "(HumanEval+ v0.1.10)",
                  sandbox_python=python or sys.executable,
                  pool=CODEGEN_POOL, per_problem=per_problem, seed=seed,
                  wall_s={"ours": round(our_wall, 1), "evalplus": round(their_wall, 1)})
    report["verdicts"] = [{"task_id": r["task_id"], "pool_index": r["pool_index"],
                           "evalplus": _stored_verdict("humanevalplus", t)}
                          for r, t in zip(records, theirs, strict=True)]
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--workers", type=int, default=None)
    sub = parser.add_subparsers(dest="command", required=True)
    stored = sub.add_parser("stored")
    stored.add_argument("task", choices=sorted(STORED))
    stored.add_argument("--model", default="7b-base", choices=["1.5b-base", "7b-base"])
    stored.add_argument("--python", default=None)
    stored.add_argument("--option", action="append", default=[], metavar="KEY=VALUE")
    ev = sub.add_parser("evalplus")
    ev.add_argument("--per-problem", type=int, default=2)
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--write-fixture", default=None)
    ev.add_argument("--evalplus-python", default=sys.executable,
                    help="an interpreter with evalplus installed (default: this one)")
    ev.add_argument("--python", default=None,
                    help="the sandbox interpreter for the harness' runs (default: this one)")
    args = parser.parse_args(argv)
    data_dir = resolve_data_dir(args.data_dir)
    if data_dir is None:
        parser.error("needs the data mirror: --data-dir or PRM_HARNESS_DATA")
    if args.command == "stored":
        options = dict(pair.split("=", 1) for pair in args.option)
        report = stored_agreement(args.task, args.model, data_dir, args.python, args.workers,
                                  **options)
    else:
        report = evalplus_agreement(data_dir, args.per_problem, args.seed,
                                    args.workers or len(os.sched_getaffinity(0)),
                                    args.evalplus_python, args.python)
        if args.write_fixture:
            Path(args.write_fixture).write_text(json.dumps(
                {key: report[key] for key in ("reference", "pool", "per_problem", "seed",
                                              "verdicts")}, indent=1) + "\n")
        report.pop("verdicts")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
