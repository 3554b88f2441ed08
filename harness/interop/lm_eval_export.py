"""A stored run in lm-evaluation-harness' shapes: its results JSON and samples log.

The results JSON has lm-eval's top-level fields (``results``, ``group_subtasks``,
``configs``, ``versions``, ``n-shot``, ``higher_is_better``, ``n-samples``, ``config``,
``git_hash``, ``date``, ``task_hashes``, ...). Each metric of metrics.json is one lm-eval
metric ``"<kind>@<k>,<filter>"`` with its ``"<kind>@<k>_stderr,<filter>"``: the filter is
``none`` for the PRM-free pass@k and maj@k, and ``<prm>:<aggregation>`` for a PRM's prm@k
and wmaj@k. The stderr is lm-eval's ``mean_stderr`` of the per-problem values (sample
standard deviation over sqrt(problems)); metrics.json's bootstrap interval is kept in the
task config's ``metadata``.

The samples log ``samples_<task>_<date>.jsonl`` has one line per (problem, filter), as
lm-eval writes with ``--log_samples``: ``doc_id`` (the problem's position), ``doc`` (id,
prompt messages, metadata), ``target``, ``arguments`` (one request: the prompt messages as
JSON, lm-eval's chat-request form, and the generation kwargs), ``resps`` (the N sampled
texts, lm-eval's repeats), ``filtered_resps`` (every sample's extracted answer for
``none``; the answer the PRM's best-of-N picks for a PRM filter), the filter's per-problem
metric values, and ``doc_hash`` / ``prompt_hash`` / ``target_hash`` computed as lm-eval
computes them. ``task_hashes`` combines those as lm-eval's tracker does. ``date`` is the
run's creation time, so exporting the same run twice writes the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from harness import __version__
from harness.interfaces import Task
from harness.store.atomic import write_text
from harness.store.metrics_file import MetricsFile, read_run_metrics
from harness.store.run_reader import RunRecords, build_pools, read_run
from harness.store.rundir import RunDir
from harness.types import Problem

RESULTS_BESIDE_METRICS = "lmeval_results.json"
NO_FILTER = "none"


def hash_string(text: str) -> str:
    """lm-eval's ``hash_string``: sha256 of the UTF-8 text, hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def doc_hash(doc: dict[str, Any]) -> str:
    """lm-eval's doc hash: ``hash_string(json.dumps(doc, indent=2, ensure_ascii=False))``."""
    return hash_string(json.dumps(doc, indent=2, default=str, ensure_ascii=False))


def filter_name(prm: str | None, aggregation: str | None) -> str:
    """The lm-eval filter name of one selector, ``<prm>:<aggregation>`` (a comma in a PRM
    label becomes ``;``: lm-eval splits ``metric,filter`` keys at the first comma)."""
    if prm is None:
        return NO_FILTER
    return f"{prm}:{aggregation}".replace(",", ";")


def mean_stderr(values: list[float]) -> float:
    """lm-eval's ``mean_stderr``: sample standard deviation / sqrt(n) (0 for one value)."""
    if len(values) < 2:
        return 0.0
    return float(np.std(np.asarray(values, dtype=float), ddof=1) / math.sqrt(len(values)))


def date_id(created: str | None) -> str:
    """lm-eval's file-name date (``2024-05-01T12-34-56.000000``) from an ISO time."""
    when = datetime.fromisoformat(created) if created else datetime.fromtimestamp(0)
    return when.strftime("%Y-%m-%dT%H-%M-%S.%f")


def _timestamp(created: str | None) -> float:
    return datetime.fromisoformat(created).timestamp() if created else 0.0


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _task_facts(run: RunDir, task: Task | None = None,
                problems: Sequence[Problem] | None = None
                ) -> tuple[str, dict[str, dict[str, Any]], str]:
    """(task name, problem id -> {prompt, reference, metadata}, prompt style).

    A run with a stored config reads its problems from ``task``/``problems`` when the
    caller has them (the runner), else from its task built anew (closed after); an
    imported run has only the problems the manifest recorded."""
    manifest = run.manifest()
    config = manifest.get("config") or {}
    task_cfg = config.get("task")
    facts: dict[str, dict[str, Any]] = {}
    style = "default"
    if task_cfg:
        style = task_cfg.get("prompt_style", "default")
        built = task is None
        if task is None:
            from harness.registry import TASKS

            task = TASKS.build(task_cfg["name"], task_cfg.get("options") or {},
                               data_dir=task_cfg.get("data_dir"))
        try:
            wanted = set(manifest.get("problem_ids") or [])
            for problem in (problems if problems is not None else task.load()):
                if problem.id in wanted:
                    facts[problem.id] = {"prompt": task.prompt(problem, style),
                                         "reference": problem.reference,
                                         "metadata": problem.metadata}
        finally:
            close = getattr(task, "close", None)
            if built and callable(close):
                close()
        return str(task_cfg["name"]), facts, style
    source = manifest.get("source") or {}
    name = source.get("task") or f"import_{Path(source.get('path', 'run')).stem}"
    for pid, info in (manifest.get("problems") or {}).items():
        facts[pid] = {"prompt": info.get("prompt"), "reference": info.get("answer"),
                      "metadata": {k: v for k, v in info.items() if k not in ("prompt",)}}
    return str(name), facts, style


def _gen_kwargs(config: dict[str, Any]) -> dict[str, Any]:
    sampling = config.get("sampling") or {}
    temperature = float(sampling.get("temperature", 1.0))
    return {"until": list(sampling.get("stop") or []),
            "max_gen_toks": sampling.get("max_tokens"), "do_sample": temperature > 0,
            "temperature": temperature, "top_p": sampling.get("top_p", 1.0)}


def _target(reference: Any) -> str:
    return reference if isinstance(reference, str) else json.dumps(
        reference, default=str, sort_keys=True, ensure_ascii=False)


def _picks(records: RunRecords, prm: str, aggregation: str) -> dict[str, int]:
    """The sample each problem's best-of-N picks by aggregated score (ties: first)."""
    return {pool.problem_id: int(np.argmax(pool.score)) for pool in
            build_pools(records, prm, aggregation) if pool.score is not None}


def _answer(sample: Any) -> str:
    value = sample.answer if sample.answer is not None else sample.program
    return "" if value is None else str(value)


def build_samples(run: RunDir, metrics: MetricsFile, records: RunRecords, task: str,
                  facts: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The samples log's lines: every problem under every filter (selector)."""
    config = run.manifest().get("config") or {}
    kwargs = _gen_kwargs(config)
    lines: list[dict[str, Any]] = []
    position = {pid: i for i, pid in enumerate(metrics.problem_ids)}
    for prm, aggregation in metrics.selectors():
        name = filter_name(prm, aggregation)
        entries = metrics.entries_of(prm, aggregation)
        picks = (_picks(records, prm, aggregation)
                 if prm is not None and aggregation is not None else {})
        for pid in records.problem_ids:
            info = facts.get(pid, {})
            doc = _jsonable({"problem_id": pid, "task": task, "prompt": info.get("prompt"),
                             "metadata": info.get("metadata") or {}})
            target = _target(info.get("reference"))
            prompt = json.dumps(info.get("prompt"), ensure_ascii=False)
            samples = records.samples[pid]
            filtered: list[Any] = ([[_answer(s) for s in samples]] if prm is None
                                   else [_answer(samples[picks[pid]])])
            line: dict[str, Any] = {
                "doc_id": position[pid], "doc": doc, "target": target,
                "arguments": {"gen_args_0": {"arg_0": prompt, "arg_1": kwargs}},
                "resps": [[s.text for s in samples]], "filtered_resps": filtered,
                "filter": name, "metrics": [f"{e.kind}@{e.k}" for e in entries],
                "doc_hash": doc_hash(doc), "prompt_hash": hash_string(prompt),
                "target_hash": hash_string(target)}
            for e in entries:
                values = metrics.values(prm, aggregation, e.kind, e.k)
                line[f"{e.kind}@{e.k}"] = float(values[position[pid]])
            lines.append(line)
    return lines


def build_results(run: RunDir, metrics: MetricsFile, task: str,
                  samples: list[dict[str, Any]]) -> dict[str, Any]:
    """lm-eval's results JSON for the run (one task)."""
    manifest = run.manifest()
    config = manifest.get("config") or {}
    policy = config.get("policy") or {}
    sampling = config.get("sampling") or {}
    env = manifest.get("environment") or {}
    task_metrics: dict[str, Any] = {"name": task, "alias": task,
                                    "sample_len": metrics.n_problems}
    higher: dict[str, bool] = {}
    cis: dict[str, list[float]] = {}
    metric_list = []
    for e in metrics.entries:
        name, filt = f"{e.kind}@{e.k}", filter_name(e.prm, e.aggregation)
        values = metrics.values(e.prm, e.aggregation, e.kind, e.k)
        task_metrics[f"{name},{filt}"] = e.value
        task_metrics[f"{name}_stderr,{filt}"] = mean_stderr(values)
        cis[f"{name},{filt}"] = list(e.ci)
        if name not in higher:
            higher[name] = True
            metric_list.append({"metric": name, "aggregation": "mean",
                                "higher_is_better": True})
    first_sample = next(iter(samples), None)
    task_config = {
        "task": task, "output_type": "generate_until", "repeats": max(metrics.pool_sizes),
        "num_fewshot": 0, "generation_kwargs": (first_sample or {}).get(
            "arguments", {}).get("gen_args_0", {}).get("arg_1", _gen_kwargs(config)),
        "metric_list": metric_list,
        "filter_list": [{"name": filter_name(p, a)} for p, a in metrics.selectors()],
        "metadata": {"prm_harness_version": __version__, "run": run.path.name,
                     "task_identity": _jsonable(manifest.get("task_identity")),
                     "methods": metrics.methods, "parameters": metrics.parameters,
                     "ci": cis, "content": manifest.get("content")}}
    task_hash = hash_string("".join(s["doc_hash"] + s["prompt_hash"] + s["target_hash"]
                                    for s in samples))
    options = policy.get("options") or {}
    model_name = str(options.get("model", policy.get("name", "imported")))
    return {
        "results": {task: task_metrics},
        "group_subtasks": {task: []},
        "configs": {task: task_config},
        "versions": {task: 1.0},
        "n-shot": {task: 0},
        "higher_is_better": {task: higher},
        "n-samples": {task: {"original": metrics.n_problems,
                             "effective": metrics.n_problems}},
        "config": {"model": f"prm-harness/{policy.get('name', 'imported')}",
                   "model_args": _jsonable(options) if options else None,
                   "batch_size": None, "device": None, "limit": None,
                   "bootstrap_iters": int(metrics.parameters.get("bootstrap", 0)),
                   "gen_kwargs": _gen_kwargs(config) if config else None,
                   "random_seed": int(sampling.get("seed", 0)),
                   "numpy_seed": int(metrics.parameters.get("seed", 0)),
                   "torch_seed": int(sampling.get("seed", 0)), "fewshot_seed": 0},
        "git_hash": env.get("git_revision") or "",
        "date": _timestamp(manifest.get("created")),
        "model_source": "prm-harness",
        "model_name": model_name,
        "model_name_sanitized": re.sub(r"[\"<>:/|\\?*\[\]]+", "__", model_name),
        "task_hashes": {task: task_hash},
        "total_evaluation_time_seconds": str(
            (manifest.get("compute_ledger") or {}).get("wall_s", "")),
    }


def export_lm_eval(run: RunDir, out_dir: Path, results_name: str | None = None,
                   task: Task | None = None, problems: Sequence[Problem] | None = None
                   ) -> list[Path]:
    """Write the run's results JSON and samples log under ``out_dir``; their paths.

    ``results_name`` None names the results ``results_<date>.json`` (lm-eval's own name,
    which its loaders look for)."""
    metrics = read_run_metrics(run)
    records = read_run(run)
    name, facts, _style = _task_facts(run, task, problems)
    samples = build_samples(run, metrics, records, name, facts)
    results = build_results(run, metrics, name, samples)
    stamp = date_id(run.manifest().get("created"))
    safe_task = "".join(c if c.isalnum() or c in "-." else "_" for c in name)
    out_dir.mkdir(parents=True, exist_ok=True)
    results_path = out_dir / (results_name or f"results_{stamp}.json")
    samples_path = out_dir / f"samples_{safe_task}_{stamp}.jsonl"
    _write_if_changed(results_path, json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    _write_if_changed(samples_path, "".join(json.dumps(s, ensure_ascii=False) + "\n"
                                            for s in samples))
    return [results_path, samples_path]


def _write_if_changed(path: Path, text: str) -> None:
    """Write atomically, leaving a file that already holds ``text`` untouched (a re-run
    rewrites nothing)."""
    if path.is_file() and path.read_bytes() == text.encode("utf-8"):
        return
    write_text(path, text)


def export_beside_metrics(run: RunDir, task: Task | None = None,
                          problems: Sequence[Problem] | None = None) -> list[Path]:
    """``lmeval_results.json`` and the samples log next to the run's metrics.json."""
    return export_lm_eval(run, run.path, RESULTS_BESIDE_METRICS, task, problems)
