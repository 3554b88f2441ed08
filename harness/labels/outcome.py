"""Outcome labels: solutions from samples files, graded by the task's own grader.

A step's Monte Carlo label is the chance that a continuation of its prefix reaches a correct
result. With the solution's own continuation as the one rollout, a correct solution shows
that every prefix can reach a correct result (every step 1.0), and a wrong one says only
that its last step did not (0.0; earlier steps are unknown, so null and not trained on).
This is how code solutions are labelled here without an annotating LLM: by execution, in
the sandbox, never in this process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness import registry
from harness.errors import ConfigError, InputError
from harness.labels.common import problem_text, train_or_dev
from harness.labels.config import DevSplit, OutcomeSource
from harness.pipeline.plan import select_problems
from harness.store.jsonl import read_jsonl
from harness.store.keys import file_sha256
from harness.types import Problem, Sample


def _read(path: Path, task: Any, known_ids: set[str], problems: dict[str, Problem],
          unknown: str) -> tuple[dict[str, list[Sample]], dict[str, Any]]:
    """Samples per problem id from one file (file order), and what was dropped.

    Not ``grading.samples_file.read_samples``: that refuses a problem the task lacks,
    where labels drop and count the lines of another dataset version."""
    samples: dict[str, list[Sample]] = {}
    dropped: dict[str, int] = {}
    for line_no, record in read_jsonl(path):
        id_field = "problem_id" if "problem_id" in record else "task_id"
        pid = record.get(id_field)
        if not isinstance(pid, str):
            raise InputError("missing or not a string", path=path, line=line_no,
                             field=id_field)
        if pid not in known_ids:
            if unknown == "error":
                raise InputError(f"unknown problem {pid!r} for task {task.name}",
                                 path=path, line=line_no, field=id_field)
            dropped[pid] = dropped.get(pid, 0) + 1
            continue
        if pid not in problems:  # known, but not among the selected problems
            continue
        rows = samples.setdefault(pid, [])
        try:
            rows.append(task.prepare_record(problems[pid], len(rows), record))
        except KeyError as exc:
            raise InputError("missing or not a string", path=path, line=line_no,
                             field=str(exc.args[0])) from None
    if not samples:
        raise InputError("no line of this file is a selected problem of task "
                         f"{task.name!r}", path=path)
    return samples, {"lines_dropped_unknown_problem": sum(dropped.values()),
                     "unknown_problems": sorted(dropped)[:20]}


def _labels(n_steps: int, correct: bool) -> list[float | None]:
    return [1.0] * n_steps if correct else [None] * (n_steps - 1) + [0.0]


def outcome_records(cfg: OutcomeSource, dev: DevSplit, data_dir: Path | None, resolve: Any
                    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Records of one outcome source (one per non-empty solution), and its provenance."""
    task = registry.TASKS.build(cfg.task.name, cfg.task.options,
                                data_dir=resolve(cfg.task.data_dir) if cfg.task.data_dir
                                else data_dir)
    try:
        try:
            loaded = task.load()
            chosen = select_problems(loaded, cfg.task.problems)
        except ConfigError as exc:
            raise ConfigError(f"task.problems: {exc}") from None
        problems = {p.id: p for p in chosen}
        known_ids = {p.id for p in loaded}
        names = cfg.labelers or [f"f{i}" for i in range(len(cfg.files))]
        records: list[dict[str, Any]] = []
        files: list[dict[str, Any]] = []
        for name, file in zip(names, cfg.files, strict=True):
            if cfg.in_mirror:
                if data_dir is None:
                    raise ConfigError("in_mirror: needs the data mirror (set "
                                      "PRM_HARNESS_DATA or data_dir)")
                path = Path(data_dir) / file
            else:
                path = resolve(file)
            samples, dropped = _read(path, task, known_ids, problems,
                                     cfg.unknown_problems)
            batch = [(problems[pid], rows) for pid, rows in samples.items()]
            grades = task.grade_batch(batch)
            empty = correct = 0
            for (problem, rows), row_grades in zip(batch, grades, strict=True):
                for sample, grade in zip(rows, row_grades, strict=True):
                    steps = task.split_steps(sample.text)
                    if not steps or not sample.text.strip():
                        empty += 1
                        continue
                    correct += grade.correct
                    records.append({
                        "id": f"outcome/{problem.id}/{name}.s{sample.index:03d}",
                        "source": "outcome", "domain": task.domain,
                        "problem_id": problem.id, "problem": problem_text(problem),
                        "steps": steps, "labels": _labels(len(steps), grade.correct),
                        "label_kind": "hard",
                        "split": train_or_dev("outcome", problem.id, cfg.dev or dev),
                        "meta": {"labeler": name, "task": task.name,
                                 "solution_index": sample.index,
                                 "correct": grade.correct,
                                 "status": grade.details.get("status")}})
            files.append({"labeler": name, "file": file if cfg.in_mirror else str(path),
                          "in_mirror": cfg.in_mirror, "sha256": file_sha256(path),
                          "problems": len(samples),
                          "solutions": sum(len(r) for r in samples.values()),
                          "correct": correct, "skipped_empty_solutions": empty, **dropped})
        info = {"task": task.identity(), "files": files,
                "rule": "correct solution: every step 1.0; wrong: last step 0.0, the "
                        "others null (the solution as its own single Monte Carlo rollout)"}
        return records, info
    finally:
        close = getattr(task, "close", None)
        if close is not None:
            close()
