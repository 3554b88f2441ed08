"""``prm-harness grade TASK SAMPLES.jsonl``: grade model outputs with the task's checker."""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness.cli.options import parse_key_values
from harness.grading.samples_file import read_samples
from harness.pipeline.stages import grade_problems
from harness.progress import track
from harness.registry import TASKS
from harness.store.atomic import write_bytes
from harness.store.jsonl import render_jsonl
from harness.types import Grade


@click.command("grade")
@click.argument("task_name", metavar="TASK")
@click.argument("samples", type=click.Path(path_type=Path))
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Local mirror folder (default: $PRM_HARNESS_DATA, else the hub).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Write each line back with correct, answer, vote_key and detail.")
@click.option("--option", "task_options", multiple=True, metavar="KEY=VALUE",
              help="Task option (e.g. version=v0.1.0).")
@click.option("--chunk", default=64, show_default=True, help="Problems graded per batch.")
def grade(task_name: str, samples: Path, data_dir: Path | None, out: Path | None,
          task_options: tuple[str, ...], chunk: int) -> None:
    """Grade SAMPLES (problem_id + completion per line) and print the accuracy."""
    task = TASKS.build(task_name, parse_key_values(task_options), data_dir=data_dir)
    problems = task.load()
    pairs, records = read_samples(samples, task, problems)
    grades: dict[tuple[str, int], Grade] = {}
    batches = [pairs[i:i + chunk] for i in range(0, len(pairs), chunk)]
    for batch in track(batches, f"grading {task_name}", total=len(batches)):
        for (problem, _), problem_grades in zip(batch, grade_problems(task, batch),
                                                strict=True):
            for g in problem_grades:
                grades[(problem.id, g.sample_index)] = g
    n_correct = sum(g.correct for g in grades.values())
    if out is not None:
        rows = []
        counters: dict[str, int] = {}
        sample_by_key = {(p.id, s.index): s for p, ss in pairs for s in ss}
        for record in records:
            pid = str(record.get("problem_id", record.get("task_id")))
            index = counters.get(pid, 0)
            counters[pid] = index + 1
            g = grades[(pid, index)]
            s = sample_by_key[(pid, index)]
            rows.append({**record, "correct": g.correct,
                         "answer": s.answer if s.answer is not None else s.program,
                         "vote_key": g.vote_key, "detail": g.details})
        write_bytes(out, render_jsonl(rows))
    summary = {"task": task_name, "n_problems": len(pairs), "n_samples": len(grades),
               "n_correct": n_correct, "accuracy": n_correct / len(grades)}
    click.echo(json.dumps(summary))
