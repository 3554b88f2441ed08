"""``prm-harness generate``: policy -> pool JSONL + provenance, through the real entry point,
with the sim, hf and http (real server on 127.0.0.1) back-ends."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli
from http_fake_server import FakeServer, openai_handlers

from harness.registry import TASKS
from harness.store.jsonl import read_jsonl
from harness.store.records import sample_from_row

ARITH = ["synthetic-arith", "--option", "n_problems=8"]


def read_pool_and_provenance(out: Path) -> tuple[list[Any], dict[str, Any]]:
    samples = [sample_from_row(row, out, line) for line, row in read_jsonl(out)]
    provenance = json.loads(out.with_name(out.name + ".provenance.json").read_text())
    assert provenance["pool_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    return samples, provenance


def test_sim_pool_with_steps_answers_and_provenance(tmp_path: Path, capsys) -> None:
    out = tmp_path / "pool.jsonl"
    status, stdout, stderr = run_cli(["generate", *ARITH, "--policy", "sim", "-n", "4",
                                      "--problems", "2:5", "--seed", "3", "--out", out],
                                     capsys)
    assert status == 0, stderr
    summary = json.loads(stdout)
    assert (summary["problems"], summary["samples"]) == (3, 12)
    samples, provenance = read_pool_and_provenance(out)
    problems = TASKS.build("synthetic-arith", {"n_problems": 8}).load()
    assert [s.problem_id for s in samples] == [p.id for p in problems[2:5] for _ in range(4)]
    assert [s.index for s in samples] == [0, 1, 2, 3] * 3
    for s in samples:
        assert "".join(s.steps) == s.text and len(s.steps) > 1
        assert s.answer is not None and f"\\boxed{{{s.answer}}}" in s.text
        assert s.prompt_tokens > 0 and s.completion_tokens > 0
    assert provenance["problem_ids"] == [p.id for p in problems[2:5]]
    assert provenance["task"]["n_problems"] == 8
    assert provenance["sampling"] == {"n": 4, "temperature": 1.0, "top_p": 1.0,
                                      "max_tokens": 1024, "seed": 3, "stop": []}
    assert provenance["policy"] == {"name": "sim", "options": {}}
    assert provenance["policy_identity"]["policy"] == "sim"
    assert provenance["compute"]["tokens_out"] == sum(s.completion_tokens for s in samples)
    assert provenance["environment"]["packages"]["numpy"]
    assert provenance["n_samples"] == 12


def test_hf_pool(tmp_path: Path, capsys, tiny_policy_dir: str) -> None:
    out = tmp_path / "pool.jsonl"
    status, _, stderr = run_cli(["generate", *ARITH, "--policy", "hf", "--model",
                                 tiny_policy_dir, "--policy-option", "batch_size=2", "-n", "2",
                                 "--max-tokens", "12", "--limit", "3", "--out", out], capsys)
    assert status == 0, stderr
    samples, provenance = read_pool_and_provenance(out)
    assert len(samples) == 6
    assert all(0 < s.completion_tokens <= 12 for s in samples)
    identity = provenance["policy_identity"]
    assert identity["backend"] == "hf" and identity["batch_size"] == 2
    assert provenance["policy"]["options"] == {"model": tiny_policy_dir, "batch_size": 2}
    assert provenance["compute"]["params"] == identity["params"] > 0
    assert provenance["compute"]["flops"] == pytest.approx(
        2 * identity["params"] * (provenance["compute"]["tokens_in"]
                                  + provenance["compute"]["tokens_out"]))
    assert len(provenance["compute_calls"]) == 1


def test_http_pool_against_a_real_server(tmp_path: Path, capsys) -> None:
    out = tmp_path / "pool.jsonl"
    with FakeServer(openai_handlers()) as server:
        status, _, stderr = run_cli(["generate", *ARITH, "--policy", "http", "--base-url",
                                     server.url + "/v1", "--model", "served-policy", "-n", "3",
                                     "--max-tokens", "16", "--ids",
                                     "synthetic-arith/0/1,synthetic-arith/0/6", "--out", out],
                                    capsys)
        received = len(server.received)
    assert status == 0, stderr
    samples, provenance = read_pool_and_provenance(out)
    assert received == 6
    assert [s.problem_id for s in samples] == ["synthetic-arith/0/1"] * 3 + [
        "synthetic-arith/0/6"] * 3
    assert provenance["policy_identity"]["served_models"] == ["served-policy"]
    assert provenance["compute"]["tokens_out"] == sum(s.completion_tokens for s in samples)


@pytest.mark.parametrize(("args", "expected"), [
    (["--policy", "sim", "--problems", "5:2"], "selects no problems"),
    (["--policy", "sim", "--ids", "synthetic-arith/0/99"], "unknown problem ids"),
    (["--policy", "sim", "--limit", "2", "--problems", "0:2"],
     "at most one of --problems, --ids, --limit"),
    (["--policy", "nope"], "unknown policy 'nope'; known: hf, http, lm-eval, replay, sim, vllm"),
    (["--policy", "sim", "-n", "0"], "sampling n must be at least 1"),
    (["--policy", "http", "--model", "m"], "missing required option base_url"),
    (["--policy", "replay"], "missing required option pool"),
])
def test_bad_requests_are_one_line_errors(tmp_path: Path, capsys, args: list,
                                          expected: str) -> None:
    out = tmp_path / "pool.jsonl"
    status, _, stderr = run_cli(["generate", *ARITH, *args, "--out", out], capsys)
    assert status != 0 and expected in stderr
    assert not out.exists()
