"""Shared by the lm-eval tests: the package check (skip here, fail under CI=true) and a
real samples log written by lm-eval itself (simple_evaluate + its EvaluationTracker)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest


def need_lm_eval() -> Any:
    """The lm_eval package; without it skip, or fail under CI=true (extra lm-eval)."""
    try:
        import lm_eval
    except ImportError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"lm-eval is not installed (extra prm-harness[lm-eval]): {exc}")
        pytest.skip(f"lm-eval is not installed: {exc}")
    return lm_eval


TASK_YAML = """\
task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {docs}
test_split: test
output_type: generate_until
doc_to_text: "{{{{question}}}}"
doc_to_target: "{{{{answer}}}}"
repeats: {repeats}
generation_kwargs:
  until: ["\\n\\n"]
  do_sample: false
  max_gen_toks: 16
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
"""


def lm_eval_samples_log(folder: Path, docs: list[dict[str, Any]], repeats: int,
                        model: str = "dummy", model_args: str = "",
                        name: str = "prmh_local") -> Path:
    """Run lm-eval on a local JSON task and save its samples log as lm-eval does."""
    need_lm_eval()
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    from lm_eval import simple_evaluate
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    folder.mkdir(parents=True, exist_ok=True)
    docs_path = folder / "docs.jsonl"
    docs_path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    (folder / f"{name}.yaml").write_text(TASK_YAML.format(name=name, docs=docs_path,
                                                          repeats=repeats))
    tracker = EvaluationTracker(output_path=str(folder / "out"))
    results = simple_evaluate(model=model, model_args=model_args, tasks=[name],
                              task_manager=TaskManager(include_path=str(folder)),
                              log_samples=True, evaluation_tracker=tracker)
    assert results is not None
    samples = results.pop("samples")
    tracker.save_results_aggregated(results=results, samples=samples)
    tracker.save_results_samples(task_name=name, samples=samples[name])
    (found,) = sorted((folder / "out").rglob(f"samples_{name}_*.jsonl"))
    return found
