"""HumanEval+ grading speed: the harness' sandbox vs ``evalplus.evaluate``, same programs,
same parallelism, one run. Prints one JSON line.

    python benchmarks/code_grading_bench.py [--per-problem 10] [--seed 0] [--workers N]
        [--evalplus-python PY] [--python SANDBOX_PY]

The programs are a seeded draw of ``--per-problem`` CodeGen-16B samples per HumanEval task
(1,640 with the default 10; a smaller ``--per-problem`` is the quick slice: evalplus needs
every task to have samples) from the data mirror. Ours runs three times: as by default
(every program on all inputs for its voting class, a failing program stopped once it has
run the default vote budget past its first failure), with no budget at all
(``vote_budget_s=none``: every class exact), and with ``vote_budget_s=0`` (stopped at its
first failure, as evalplus does). Verdicts must be the same in all three; the line says
how many programs' voting classes the default budget changed against the exact run. Both
graders' ground-truth outputs are
computed first (each caches them), so the timed part is grading only; evalplus runs in a
subprocess, its wall time includes its start-up. Needs evalplus 0.3.1 (``pip install
evalplus==0.3.1``) in this interpreter or in ``--evalplus-python``; ``--python`` gives both
graders the same libraries when the programs import some (e.g. pandas).
"""

from __future__ import annotations

import argparse
import ast
import gzip
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from code_agreement import codegen_records, evalplus_version, grade_records, run_evalplus

from harness.data import resolve_data_dir
from harness.grading.sandbox.interpreter import describe
from harness.registry import TASKS


def imported_modules(records: list[dict[str, Any]], prompts: dict[str, str],
                     also: tuple[str, ...]) -> tuple[str, ...]:
    """Top-level non-stdlib modules the programs import, and ``also`` (the preloads)."""
    names = set(also)
    for record in records:
        try:
            tree = ast.parse(prompts[record["task_id"]] + record["completion"])
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return tuple(sorted(names - set(sys.stdlib_module_names)))


def interpreter_facts(python: str, modules: tuple[str, ...]) -> dict[str, Any]:
    """The interpreter's version and the library versions behind ``modules`` (None: not
    installed): what a verdict may turn on (HumanEval/50 and pandas)."""
    facts = describe(python, modules)
    return {"python": facts["version"], "modules": facts["modules"]}


def warm_evalplus(data_dir: Path, workdir: Path, python: str) -> None:
    """Compute (or load) evalplus' cached ground truth outside the timed run."""
    plus = workdir / "HumanEvalPlus.jsonl"
    with gzip.open(data_dir / "humanevalplus/v0.1.10/HumanEvalPlus.jsonl.gz", "rb") as src:
        plus.write_bytes(src.read())
    code = ("from evalplus.data import get_human_eval_plus, get_human_eval_plus_hash; "
            "from evalplus.evaluate import get_groundtruth; "
            "get_groundtruth(get_human_eval_plus(), get_human_eval_plus_hash(), [])")
    env = dict(os.environ, HUMANEVAL_OVERRIDE_PATH=str(plus))
    subprocess.run([python, "-c", code], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def timed_grading(data_dir: Path, records: list[dict[str, Any]], options: dict[str, Any]
                  ) -> tuple[list[Any], float]:
    """Grades ``records`` on a fresh task built with ``options`` (ground truth first,
    untimed); returns the grades and the grading wall time."""
    task = TASKS.build("humanevalplus", options, data_dir=data_dir)
    problems = {p.id: p for p in task.load()}
    task.grader.expected([task.evalplus_problem(p) for p in problems.values()])
    started = time.monotonic()
    grades = grade_records(task, problems, records)
    wall = time.monotonic() - started
    task.close()
    return grades, wall


def changed_votes(records: list[dict[str, Any]], grades: list[Any], exact: list[Any]
                  ) -> list[dict[str, Any]]:
    """Programs whose voting class differs between two gradings of the same records:
    abstaining in one and voting in the other, or classed with different programs."""
    def partition(rows: list[Any]) -> dict[tuple[str, Any], frozenset[int]]:
        groups: dict[tuple[str, Any], set[int]] = {}
        for index, (record, grade) in enumerate(zip(records, rows, strict=True)):
            if grade.vote_key is not None:
                groups.setdefault((record["task_id"], grade.vote_key), set()).add(index)
        return {key: frozenset(members) for key, members in groups.items()}

    def class_of(groups: dict[tuple[str, Any], frozenset[int]]) -> dict[int, frozenset[int]]:
        return {i: members for members in groups.values() for i in members}

    ours, theirs = class_of(partition(grades)), class_of(partition(exact))
    return [{"task_id": records[i]["task_id"], "pool_index": records[i]["pool_index"],
             "default": len(ours.get(i, ())), "exact": len(theirs.get(i, ()))}
            for i in range(len(records)) if ours.get(i) != theirs.get(i)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--per-problem", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--evalplus-python", default=sys.executable,
                        help="an interpreter with evalplus installed (default: this one)")
    parser.add_argument("--python", default=None,
                        help="the sandbox interpreter for the harness (default: this one)")
    args = parser.parse_args()
    data_dir = resolve_data_dir(args.data_dir)
    if data_dir is None:
        parser.error("needs the data mirror: --data-dir or PRM_HARNESS_DATA")
    # evalplus runs in a scratch folder: a relative interpreter path would not resolve there
    args.evalplus_python = os.path.abspath(args.evalplus_python)
    records = codegen_records(data_dir, args.per_problem, args.seed)
    options = {"workers": args.workers, "python": args.python}
    task = TASKS.build("humanevalplus", options, data_dir=data_dir)
    problems = {p.id: p for p in task.load()}
    task.grader.expected([task.evalplus_problem(p) for p in problems.values()])
    with tempfile.TemporaryDirectory(prefix="code-bench-") as tmp:
        warm_evalplus(data_dir, Path(tmp), args.evalplus_python)
        theirs, their_wall = run_evalplus(records, data_dir, args.workers, Path(tmp),
                                          args.evalplus_python)
    started = time.monotonic()
    grades = grade_records(task, problems, records)
    our_wall = time.monotonic() - started
    sandbox_python = task.sandbox().python
    modules = imported_modules(records, {p.id: str(p.metadata["prompt"]) for p in
                                         problems.values()}, tuple(task.preload))
    task.close()
    exact_grades, exact_wall = timed_grading(data_dir, records, {**options,
                                                                 "vote_budget_s": "none"})
    # the same grading as evalplus does it: stop each program at its first failure (no
    # voting classes for failing programs)
    fast_grades, fast_wall = timed_grading(data_dir, records, {**options, "vote_budget_s": 0})
    changed = changed_votes(records, grades, exact_grades)
    # a verdict may flip between the two runs only where a run came within 20% of its
    # time limit (a loaded machine); any other change is a bug
    def borderline(*rows: Any) -> bool:
        return any(bool(g.details.get("timing_borderline")) or g.details.get("status")
                   == "timeout" for g in rows)

    flipped = [{"task_id": r["task_id"], "pool_index": r["pool_index"], "default": g.correct,
                "exact": e.correct, "first_failure": f.correct, "borderline": borderline(g, e, f)}
               for r, g, e, f in zip(records, grades, exact_grades, fast_grades, strict=True)
               if not g.correct == e.correct == f.correct]
    if any(not f["borderline"] for f in flipped):
        raise SystemExit(f"a vote budget changed a verdict: {flipped}")
    ours = [g.correct for g in grades]
    reference = [r["base_status"] == "pass" and r["plus_status"] == "pass" for r in theirs]
    print(json.dumps({
        "bench": "code_grading", "task": "humanevalplus v0.1.10", "programs": len(records),
        "per_problem": args.per_problem, "seed": args.seed, "workers": args.workers,
        "ours_wall_s": round(our_wall, 2), "evalplus_wall_s": round(their_wall, 2),
        "ratio_ours_over_evalplus": round(our_wall / their_wall, 3),
        "ours_voting_classes": sum(g.vote_key is not None for g in grades),
        "vote_budget_s": task.grader.vote_budget_s,
        "ours_exact_wall_s": round(exact_wall, 2),
        "ratio_exact_over_evalplus": round(exact_wall / their_wall, 3),
        "exact_voting_classes": sum(g.vote_key is not None for g in exact_grades),
        "votes_changed_by_budget": changed,
        "cut_by_budget": [{"task_id": r["task_id"], "pool_index": r["pool_index"]}
                          for r, g in zip(records, grades, strict=True) if "cut" in g.details],
        "ours_first_failure_wall_s": round(fast_wall, 2),
        "timing_flips": flipped,
        "ratio_first_failure_over_evalplus": round(fast_wall / their_wall, 3),
        "ours_pass": sum(ours), "evalplus_pass": sum(reference),
        "verdict_agreement": round(sum(a == b for a, b in zip(ours, reference, strict=True))
                                   / len(records), 4),
        "disagreements": [
            {"task_id": r["task_id"], "pool_index": r["pool_index"], "ours": a,
             "evalplus": b, "our_reason": str(g.details.get("reason"))[:160],
             "evalplus_status": [t["base_status"], t["plus_status"]]}
            for r, g, t, a, b in zip(records, grades, theirs, ours, reference, strict=True)
            if a != b],
        "evalplus_version": evalplus_version(args.evalplus_python),
        "python": platform.python_version(), "sandbox_python": sandbox_python,
        "sandbox_interpreter": interpreter_facts(sandbox_python, modules),
        "evalplus_interpreter": interpreter_facts(args.evalplus_python, modules),
        "cpus": os.cpu_count()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
