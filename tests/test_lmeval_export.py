"""A run in lm-evaluation-harness' shapes: ``run`` writes lmeval_results.json and the
samples log beside metrics.json, ``prm-harness export --format lm-eval`` writes them for
any stored run, and lm-eval's own code reads them back: its result schema (validated with
pydantic), its file-name loaders, its results table, its hashing and its stderr."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import run_cli
from lmeval_helpers import need_lm_eval

CONFIG: dict[str, Any] = {
    "name": "lmeval-export",
    "task": {"name": "synthetic-arith", "options": {"n_problems": 10, "length": 3, "seed": 4}},
    "policy": {"name": "sim"},
    "sampling": {"n": 4, "seed": 0},
    "prms": [{"name": "sim-oracle"}, {"name": "sim-noisy", "label": "noisy",
                                      "options": {"noise": 1.0}}],
    "metrics": {"ks": [1, 2, 4], "aggregations": ["min"], "draws": 30, "bootstrap": 30},
    "report": {"kinds": []},
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("lmeval-export")
    path = tmp / "run.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    from harness.cli import main

    assert main(["run", str(path), "--runs-dir", str(tmp / "runs")]) == 0
    return tmp / "runs" / "lmeval-export"


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_results_and_samples_pass_lm_evals_schema(run_dir):
    need_lm_eval()
    from lm_eval.api.task import TaskConfig
    from lm_eval.result_schema import EvalResults, SampleResult
    from pydantic import TypeAdapter

    results = json.loads((run_dir / "lmeval_results.json").read_text())
    # lm-eval's schema types ``configs`` flatter than the configs lm-eval itself writes
    # (nested generation_kwargs, metric_list...): those are checked as its TaskConfig
    TypeAdapter(EvalResults).validate_python(
        {k: v for k, v in results.items() if k != "configs"})
    config = TaskConfig(**results["configs"]["synthetic-arith"])
    assert (config.output_type, config.repeats) == ("generate_until", 4)
    (samples_path,) = run_dir.glob("samples_synthetic-arith_*.jsonl")
    lines = _lines(samples_path)
    adapter = TypeAdapter(SampleResult)
    for line in lines:
        adapter.validate_python(line)
    for key in ("results", "configs", "versions", "n-samples", "config", "git_hash", "date",
                "task_hashes", "higher_is_better", "n-shot"):
        assert key in results
    assert len(lines) == 10 * 3  # every problem under each filter: none, oracle, noisy
    assert {line["filter"] for line in lines} == {"none", "sim-oracle:min", "noisy:min"}
    assert all(len(line["resps"][0]) == 4 for line in lines)  # the N samples as repeats


def test_metrics_and_stderr_equal_metrics_json_and_lm_evals_formula(run_dir):
    need_lm_eval()
    from lm_eval.api.metrics import mean_stderr

    from harness.store.metrics_file import read_metrics

    metrics = read_metrics(run_dir / "metrics.json")
    task = json.loads((run_dir / "lmeval_results.json").read_text())[
        "results"]["synthetic-arith"]
    names = {e.kind for e in metrics.entries}
    assert names == {"pass", "maj", "prm", "wmaj"}
    for e in metrics.entries:
        filt = "none" if e.prm is None else f"{e.prm}:{e.aggregation}"
        assert task[f"{e.kind}@{e.k},{filt}"] == e.value
        values = metrics.values(e.prm, e.aggregation, e.kind, e.k)
        assert task[f"{e.kind}@{e.k}_stderr,{filt}"] == pytest.approx(mean_stderr(values))
    assert task["prm@4,sim-oracle:min"] > 0 and task["pass@4,none"] > task["pass@1,none"]


def test_hashes_are_lm_evals(run_dir):
    need_lm_eval()
    from lm_eval.utils import handle_non_serializable, hash_string

    (samples_path,) = run_dir.glob("samples_*.jsonl")
    lines = _lines(samples_path)
    for line in lines:
        doc_text = json.dumps(line["doc"], indent=2, default=handle_non_serializable,
                              ensure_ascii=False)
        assert line["doc_hash"] == hash_string(doc_text)
        assert line["prompt_hash"] == hash_string(line["arguments"]["gen_args_0"]["arg_0"])
        assert line["target_hash"] == hash_string(str(line["target"]))
    results = json.loads((run_dir / "lmeval_results.json").read_text())
    joined = "".join(s["doc_hash"] + s["prompt_hash"] + s["target_hash"] for s in lines)
    assert results["task_hashes"]["synthetic-arith"] == hash_string(joined)


def test_export_command_writes_files_lm_evals_loaders_find(run_dir, tmp_path, capsys):
    need_lm_eval()
    import datasets
    from lm_eval.utils import (
        get_file_task_name,
        get_latest_filename,
        get_results_filenames,
        get_sample_results_filenames,
        make_table,
    )

    out = tmp_path / "exported"
    status, _, err = run_cli(["export", run_dir, "--format", "lm-eval", "--out", out],
                                  capsys)
    assert status == 0, err
    files = sorted(str(p) for p in out.iterdir())
    (results_file,) = get_results_filenames(files)
    (samples_file,) = get_sample_results_filenames(files)
    assert get_latest_filename([results_file]) == results_file
    assert get_file_task_name(Path(samples_file).stem) == "synthetic-arith"
    results = json.loads(Path(results_file).read_text())
    assert results == json.loads((run_dir / "lmeval_results.json").read_text())
    table = make_table(results)
    assert "prm@4" in table and "sim-oracle:min" in table and "±" in table
    # lm-eval's tracker reads a samples log back with datasets' json loader
    loaded = datasets.load_dataset("json", data_files=samples_file, split="train")
    assert loaded.num_rows == 30 and set(loaded.column_names) >= {
        "doc_id", "doc", "target", "arguments", "resps", "filtered_resps", "doc_hash",
        "prompt_hash", "target_hash"}
    again = tmp_path / "again"
    run_cli(["export", run_dir, "--format", "lm-eval", "--out", again], capsys)
    assert [p.read_bytes() for p in sorted(again.iterdir())] == \
        [Path(f).read_bytes() for f in sorted(files)]


def test_a_run_without_metrics_is_refused(tmp_path, capsys):
    from harness.store.rundir import RunDir

    RunDir.create(tmp_path, "empty", {"x": 1})
    status, _, err = run_cli(["export", tmp_path / "empty", "--format", "lm-eval", "--out",
                              tmp_path / "o"], capsys)
    assert status != 0 and "metrics.json" in err
