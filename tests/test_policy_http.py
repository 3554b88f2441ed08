"""The http policy against a real OpenAI-compatible server on 127.0.0.1 (tests/http_fake_server):
n samples, seeds, token counts, steps, the concurrency limit, and the failure modes: a 429
then success, a 500 retried until the retries run out, a timeout, malformed bodies."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from http_fake_server import Delay, Drop, FakeServer, Raw, Status, openai_handlers

from harness.errors import ConfigError, ServerError
from harness.interfaces import SamplingParams
from harness.models.policies.base import request_seed
from harness.models.policies.http import HttpPolicy

CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
PROMPTS = [[{"role": "user", "content": "Tom has 3 apples and buys 4 more. How many?"}],
           [{"role": "system", "content": "Reason step by step."},
            {"role": "user", "content": "What is 2 + 5?"}]]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    with FakeServer(openai_handlers()) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh(server: FakeServer) -> None:
    server.reset()


def policy(server: FakeServer, **options: object) -> HttpPolicy:
    settings: dict = {"backoff_s": 0.05, "max_backoff_s": 1.0, "timeout_s": 5.0, **options}
    return HttpPolicy(base_url=server.url + "/v1", model="tiny-policy", **settings)


def texts(result: list) -> list[list[str]]:
    return [[c.text for c in group] for group in result]


def test_n_samples_with_token_counts_from_usage(server: FakeServer) -> None:
    pol = policy(server)
    params = SamplingParams(n=3, max_tokens=12, seed=7)
    result = pol.sample(PROMPTS, params)
    assert [len(group) for group in result] == [3, 3]
    bodies = [r.body for r in server.received]
    assert len(bodies) == 6 and all(b["n"] == 1 for b in bodies)
    assert sorted(b["seed"] for b in bodies) == sorted(
        [request_seed(7) + j for j in range(3)] * 2)
    for group, messages in zip(result, PROMPTS, strict=True):
        words = len("\n".join(f"{m['role']}: {m['content']}" for m in messages).split())
        assert {c.prompt_tokens for c in group} == {words}
        assert all(0 <= c.completion_tokens <= 12 for c in group)
        assert all(c.finish_reason in {"stop", "length"} for c in group)
    assert len({c.text for group in result for c in group}) > 1
    total = pol.compute()
    assert total.calls == 1
    assert total.tokens_in == sum(c.prompt_tokens for g in result for c in g)
    assert total.tokens_out == sum(c.completion_tokens for g in result for c in g)
    assert pol.identity()["served_models"] == ["tiny-policy"]


def test_requests_pin_the_sampling_fields_a_server_would_fill(server: FakeServer) -> None:
    """vLLM fills fields a request leaves out from the model's generation_config."""
    policy(server).sample(PROMPTS[:1], SamplingParams(n=1, max_tokens=4))
    policy(server, pin_sampling=False).sample(PROMPTS[:1], SamplingParams(n=1, max_tokens=4))
    pinned, plain = (r.body for r in server.received)
    assert (pinned["top_k"], pinned["min_p"], pinned["repetition_penalty"]) == (-1, 0.0, 1.0)
    assert not {"top_k", "min_p", "repetition_penalty"} & set(plain)
    assert pinned["presence_penalty"] == plain["presence_penalty"] == 0.0
    assert pinned["frequency_penalty"] == plain["frequency_penalty"] == 0.0


def test_one_request_with_n_gives_the_same_samples(server: FakeServer) -> None:
    params = SamplingParams(n=4, max_tokens=10, seed=3)
    per_sample = policy(server).sample(PROMPTS, params)
    server.reset()
    batched = policy(server, n_in_request=True).sample(PROMPTS, params)
    assert [r.body["n"] for r in server.received] == [4, 4]
    assert texts(batched) == texts(per_sample)
    assert ([[c.completion_tokens for c in g] for g in batched]
            == [[c.completion_tokens for c in g] for g in per_sample])


def test_seeds_repeat_and_differ(server: FakeServer) -> None:
    pol = policy(server)
    first = pol.sample(PROMPTS, SamplingParams(n=2, max_tokens=12, seed=1))
    again = pol.sample(PROMPTS, SamplingParams(n=2, max_tokens=12, seed=1))
    other = pol.sample(PROMPTS, SamplingParams(n=2, max_tokens=12, seed=2))
    assert texts(first) == texts(again)
    assert texts(first) != texts(other)


def test_greedy_sends_one_request_and_copies_it(server: FakeServer) -> None:
    result = policy(server).sample(PROMPTS[:1], SamplingParams(n=3, temperature=0.0,
                                                               max_tokens=8))
    assert len(server.received) == 1 and server.received[0].body["n"] == 1
    assert len(set(texts(result)[0])) == 1 and len(result[0]) == 3


def test_concurrency_limit_is_kept(server: FakeServer) -> None:
    server.set_delay(0.15)
    policy(server, concurrency=3).sample(PROMPTS * 4, SamplingParams(n=1, max_tokens=4))
    assert len(server.received) == 8
    assert server.max_in_flight == 3


def test_429_then_success(server: FakeServer) -> None:
    server.script(CHAT, Status(429, retry_after=0.2))
    result = policy(server).sample(PROMPTS[:1], SamplingParams(n=1, max_tokens=6, seed=5))
    assert len(result[0]) == 1
    arrivals = [r.at for r in server.received]
    assert len(arrivals) == 2
    assert arrivals[1] - arrivals[0] >= 0.2  # waited the server's Retry-After


def test_500_is_retried_then_reported(server: FakeServer) -> None:
    server.script(CHAT, *[Status(500, b'{"error": "engine died"}')] * 4)
    pol = policy(server, max_retries=3, backoff_s=0.05)
    with pytest.raises(ServerError) as err:
        pol.sample(PROMPTS[:1], SamplingParams(n=1, max_tokens=6))
    message = str(err.value)
    assert f"POST {server.url}/v1/chat/completions: HTTP 500 (4 attempts)" in message
    assert "engine died" in message
    arrivals = [r.at for r in server.received]
    assert len(arrivals) == 4
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1 and gaps[2] >= 0.2  # exponential backoff


def test_500_then_success_recovers(server: FakeServer) -> None:
    server.script(CHAT, Status(503), Drop())
    result = policy(server).sample(PROMPTS[:1], SamplingParams(n=1, max_tokens=6))
    assert len(result[0]) == 1 and len(server.received) == 3


def test_timeout(server: FakeServer) -> None:
    server.script(CHAT, Delay(1.5))
    pol = policy(server, timeout_s=0.3, max_retries=0)
    with pytest.raises(ServerError, match=r"no answer within 0.3 s \(1 attempt\)"):
        pol.sample(PROMPTS[:1], SamplingParams(n=1, max_tokens=6))
    server.reset()
    server.script(CHAT, Delay(1.5))
    result = policy(server, timeout_s=0.3, max_retries=1).sample(
        PROMPTS[:1], SamplingParams(n=1, max_tokens=6))
    assert len(result[0]) == 1 and len(server.received) == 2


def test_client_errors_are_not_retried(server: FakeServer) -> None:
    server.script(CHAT, Status(400, b'{"error": "max_tokens too large"}'))
    with pytest.raises(ServerError, match=r"HTTP 400 \(1 attempt\).*max_tokens too large"):
        policy(server).sample(PROMPTS[:1], SamplingParams(n=1, max_tokens=6))
    assert len(server.received) == 1


@pytest.mark.parametrize(("body", "expected"), [
    (b"<html>502 Bad Gateway</html>", r"the response body is not JSON .* it starts '<html>"),
    (b'{"choices": []}', r"field 'usage' is missing"),
    (b'{"usage": {"prompt_tokens": 3, "completion_tokens": 1}, "choices": '
     b'[{"index": 0, "message": {"role": "assistant", "content": null}, '
     b'"finish_reason": "stop"}]}',
     r"field 'choices\[0\].message.content' should be str, got NoneType"),
    (b'{"usage": {"prompt_tokens": 3, "completion_tokens": 1}, "choices": []}',
     r"0 choices for n=1"),
])
def test_malformed_bodies_say_what_is_wrong(server: FakeServer, body: bytes,
                                            expected: str) -> None:
    server.script(CHAT, Raw(body))
    with pytest.raises(ServerError, match=expected) as err:
        policy(server).sample(PROMPTS[:1], SamplingParams(n=1, max_tokens=6))
    assert f"POST {server.url}/v1/chat/completions" in str(err.value)
    assert len(server.received) == 1  # a malformed body is not retried


def test_chat_step_needs_prefill_and_keeps_the_delimiter(server: FakeServer) -> None:
    params = SamplingParams(n=6, max_tokens=30, seed=11, stop=["\n\n"])
    with pytest.raises(ConfigError, match="chat_prefill"):
        policy(server).step(PROMPTS, ["", "We add"], params)
    result = policy(server, chat_prefill=True).step(PROMPTS, ["", "We add"], params)
    last = server.received[-1].body
    assert last["continue_final_message"] is True and last["add_generation_prompt"] is False
    assert last["include_stop_str_in_output"] is True
    assert {r.body["messages"][-1]["content"] for r in server.received} == {"", "We add"}
    steps = [c for group in result for c in group]
    assert {c.finish_reason for c in steps} <= {"step", "stop", "length"}
    ended = [c for c in steps if c.finish_reason == "step"]
    assert ended, "no sample reached the delimiter"
    assert all(c.text.endswith("\n\n") and c.text.count("\n\n") == 1 for c in ended)


def test_step_needs_a_server_that_reports_the_stop() -> None:
    """A server that strips stop strings and reports nothing: a step cannot be told from
    the end of the solution, which is an error (never a guess)."""
    params = SamplingParams(n=6, max_tokens=30, seed=11, stop=["\n\n"])
    with FakeServer(openai_handlers(report_stop_reason=False)) as plain:
        pol = HttpPolicy(base_url=plain.url + "/v1", model="m", chat_prefill=True)
        with pytest.raises(ServerError, match="cannot be told from the end of the solution"):
            pol.step(PROMPTS, ["", ""], params)


def test_completions_endpoint_renders_the_chat_template(server: FakeServer,
                                                        tiny_policy_dir: str) -> None:
    from transformers import AutoTokenizer

    pol = policy(server, endpoint="completions", tokenizer=tiny_policy_dir,
                 n_in_request=True)
    params = SamplingParams(n=2, max_tokens=20, seed=4, stop=["\n\n"])
    result = pol.step(PROMPTS, ["We add the numbers.\n\n", ""], params)
    tok = AutoTokenizer.from_pretrained(tiny_policy_dir)
    expected = [tok.apply_chat_template(m, tokenize=False, add_generation_prompt=True) + p
                for m, p in zip(PROMPTS, ["We add the numbers.\n\n", ""], strict=True)]
    assert sorted(r.body["prompt"] for r in server.received) == sorted(expected)
    assert all(r.body["logprobs"] == 0 for r in server.received)
    assert [len(g) for g in result] == [2, 2]


def test_bad_settings_are_config_errors(server: FakeServer, tiny_policy_dir: str) -> None:
    with pytest.raises(ConfigError, match="completions endpoint needs tokenizer"):
        policy(server, endpoint="completions")
    with pytest.raises(ConfigError, match="endpoint must be one of"):
        policy(server, endpoint="responses")
    with pytest.raises(ConfigError, match="PRM_HARNESS_NO_SUCH_KEY is not set"):
        policy(server, api_key_env="PRM_HARNESS_NO_SUCH_KEY")
    with pytest.raises(ConfigError, match=r"params\.stop must name the step delimiter"):
        policy(server, chat_prefill=True).step(PROMPTS, ["", ""], SamplingParams())


def test_unreachable_server_is_reported() -> None:
    with FakeServer({}) as gone:
        url = gone.url
    pol = HttpPolicy(base_url=url + "/v1", model="m", max_retries=1, backoff_s=0.01)
    with pytest.raises(ServerError, match=r"cannot connect: .* \(2 attempts\)"):
        pol.sample(PROMPTS[:1], SamplingParams(n=1, max_tokens=4))
