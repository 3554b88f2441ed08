"""The http policy against a real OpenAI-compatible server on 127.0.0.1 (tests/http_fake_server):
n samples, seeds, token counts, steps, the concurrency limit, and the failure modes: a 429
then success, a 500 retried until the retries run out, a timeout, malformed bodies; seeded
steps (one body per prompt, the same whatever the batch), token-id prefixes on the
completions endpoint, and search through the engine, batch invariant."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from http_fake_server import WORDS, Delay, Drop, FakeServer, Raw, Status, openai_handlers
from search_policy_checks import LONG, check_alone_equals_batched, check_child_prefix_ids, seeded

from harness.errors import ConfigError, ServerError
from harness.interfaces import PRM, SamplingParams
from harness.models.compute import ComputeLedger, Metered
from harness.models.policies.base import request_seed
from harness.models.policies.http import HttpPolicy
from harness.store.keys import key_of
from harness.types import Problem, Sample, StepScores

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


# -- seeded steps (the search engine's calls) -------------------------------------------

SEEDED_STOP = ["\n\n"]


def seeded_step(pol: HttpPolicy, rows: list[tuple[list, str, int]], **kw: object) -> list:
    """``pol.step`` with one seed per row (prompt, prefix, seed)."""
    return pol.step([r[0] for r in rows], [r[1] for r in rows],
                    seeded([r[2] for r in rows], **{"stop": SEEDED_STOP, **kw}))


def bodies_by_seed(server: FakeServer) -> dict[int, str]:
    """What the server got for each seed, as canonical JSON (the whole body)."""
    return {r.body["seed"]: json.dumps(r.body, sort_keys=True) for r in server.received}


@pytest.fixture(scope="module")
def word_ids(tiny_policy_dir: str) -> dict[str, list[int]]:
    """Each word the fake server draws, as the tiny tokenizer's ids."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_policy_dir)
    return {w: tok(w, add_special_tokens=False)["input_ids"] for w in WORDS}


@pytest.fixture(scope="module")
def id_server(word_ids: dict[str, list[int]]) -> Iterator[FakeServer]:
    """A fake server that returns each step's token ids (vLLM's return_token_ids)."""
    with FakeServer(openai_handlers(word_ids=word_ids)) as running:
        yield running


@pytest.fixture
def chat_pol(server: FakeServer) -> HttpPolicy:
    return policy(server, chat_prefill=True)


@pytest.fixture
def ids_pol(id_server: FakeServer, tiny_policy_dir: str) -> HttpPolicy:
    id_server.reset()
    return policy(id_server, endpoint="completions", tokenizer=tiny_policy_dir)


def test_a_seeded_step_is_the_same_alone_and_batched_in_either_order(
        server: FakeServer, chat_pol: HttpPolicy) -> None:
    """Same text, counts and finish, and the server gets byte-identical bodies."""
    a, b = (PROMPTS[0], "", 101), (PROMPTS[1], "We add", 202)
    alone_a = seeded_step(chat_pol, [a])[0][0]
    alone_b = seeded_step(chat_pol, [b])[0][0]
    alone_bodies = bodies_by_seed(server)
    server.reset()
    ab = seeded_step(chat_pol, [a, b])
    ab_bodies = bodies_by_seed(server)
    server.reset()
    ba = seeded_step(chat_pol, [b, a])
    assert bodies_by_seed(server) == ab_bodies == alone_bodies
    assert [ab[0][0], ab[1][0]] == [alone_a, alone_b] == [ba[1][0], ba[0][0]]
    assert alone_a != alone_b
    # the same prompt and prefix under another seed is another draw
    others = {seeded_step(chat_pol, [(PROMPTS[0], "", s)])[0][0].text for s in range(6)}
    assert len(others) > 1


def test_seeded_bodies_carry_each_prompts_seed_and_temperature(
        server: FakeServer, chat_pol: HttpPolicy) -> None:
    params = seeded([11, 22, 33], stop=SEEDED_STOP, temperature=0.9)
    params.temperatures = [0.9, 0.0, 0.5]
    result = chat_pol.step([PROMPTS[0], PROMPTS[1], PROMPTS[0]], ["", "We", ""], params)
    assert [len(g) for g in result] == [1, 1, 1]
    got = {r.body["seed"]: r.body for r in server.received}
    assert sorted(got) == [11, 22, 33]
    assert [got[s]["temperature"] for s in (11, 22, 33)] == [0.9, 0.0, 0.5]
    assert all(b["n"] == 1 and "logprobs" not in b for b in got.values())
    assert got[22]["messages"][-1] == {"role": "assistant", "content": "We"}
    # temperature 0 is honoured per request: the fake server's greedy draw ignores the seed
    greedy = seeded_step(chat_pol, [(PROMPTS[1], "We", 999)], temperature=0.0)[0][0]
    assert result[1][0] == greedy
    # no temperatures: every body has params.temperature
    server.reset()
    seeded_step(chat_pol, [(PROMPTS[0], "", 1), (PROMPTS[1], "", 2)], temperature=0.7)
    assert {r.body["temperature"] for r in server.received} == {0.7}
    assert chat_pol.compute().calls == 3 and "one request per prompt" in \
        chat_pol.identity()["step_seed_rule"]


def test_seeded_steps_refuse_bad_arguments(server: FakeServer, chat_pol: HttpPolicy) -> None:
    with pytest.raises(ConfigError, match="2 seeds for 1 prompts"):
        chat_pol.step(PROMPTS[:1], [""], seeded([1, 2], stop=SEEDED_STOP))
    with pytest.raises(ConfigError, match="n=1"):
        chat_pol.step(PROMPTS[:1], [""], seeded([1], n=2, stop=SEEDED_STOP))
    params = seeded([1, 2], stop=SEEDED_STOP)
    params.temperatures = [1.0]
    with pytest.raises(ConfigError, match="1 temperatures for 2 prompts"):
        chat_pol.step(PROMPTS, ["", ""], params)
    params.temperatures = [1.0, -0.5]
    with pytest.raises(ConfigError, match="temperatures must be >= 0"):
        chat_pol.step(PROMPTS, ["", ""], params)
    with pytest.raises(ConfigError, match=r"params\.stop must name the step delimiter"):
        chat_pol.step(PROMPTS[:1], [""], seeded([1], stop=[]))
    with pytest.raises(ConfigError, match="chat_prefill"):
        policy(server).step(PROMPTS[:1], [""], seeded([1], stop=SEEDED_STOP))
    assert server.received == []  # refused before any request


@pytest.mark.parametrize("options", [{}, {"temperature": 0.0}, {"temperature": 0.7}])
def test_search_checks_on_both_endpoints(chat_pol: HttpPolicy, ids_pol: HttpPolicy,
                                         options: dict) -> None:
    """The checks every search back-end passes (tests/search_policy_checks)."""
    assert not chat_pol.takes_token_prefixes and ids_pol.takes_token_prefixes
    check_alone_equals_batched(chat_pol, options)
    check_alone_equals_batched(ids_pol, options)
    assert any(ids_pol.last_step_ids) and ids_pol.prefix_stats["no_ids"] == 0


def test_completions_sends_token_ids_and_feeds_a_child_the_parents_ids(
        id_server: FakeServer, ids_pol: HttpPolicy, tiny_policy_dir: str) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_policy_dir)
    seeded_step(ids_pol, [(PROMPTS[0], "", 5)])
    (first,) = id_server.received
    rendered = tok.apply_chat_template(PROMPTS[0], tokenize=False, add_generation_prompt=True)
    assert first.body["prompt"] == tok(rendered, add_special_tokens=False)["input_ids"]
    assert first.body["return_token_ids"] is True
    check_child_prefix_ids(ids_pol, "\n\n")
    # the children are sent exactly the ids they were fed (requests arrive in any order)
    children = id_server.received[-len(ids_pol.last_fed):]
    assert sorted(r.body["prompt"] for r in children) == sorted(ids_pol.last_fed)


def test_a_step_whose_stop_ends_inside_a_token_is_not_kept(ids_pol: HttpPolicy) -> None:
    """'\\n' stops inside the fake vocabulary's one '\\n\\n' token: the ids decode to more
    than the step's text, so the step is not kept and its children are tokenised."""
    out = seeded_step(ids_pol, [(LONG, "", s) for s in range(30)], stop=["\n"],
                      max_tokens=12)
    cut = [c.text for (c,) in out if c.finish_reason == "step"]
    assert cut and ids_pol.prefix_stats["not_kept"] == len(cut)
    tokenised = ids_pol.prefix_stats["tokenised"]
    seeded_step(ids_pol, [(LONG, cut[0], 1)], stop=["\n"])
    assert ids_pol.prefix_stats["tokenised"] == tokenised + 1


def test_a_server_without_token_ids_falls_back_to_text(server: FakeServer,
                                                       tiny_policy_dir: str) -> None:
    pol = policy(server, endpoint="completions", tokenizer=tiny_policy_dir)
    out = seeded_step(pol, [(LONG, "", s) for s in range(8)])
    assert pol.prefix_stats["no_ids"] == 8 and pol.last_step_ids == [[]] * 8
    ended = [c.text for (c,) in out if c.finish_reason == "step"]
    assert ended
    seeded_step(pol, [(LONG, ended[0], 1)])
    assert pol.prefix_stats["tokenised"] == 1 and pol.prefix_stats["reused"] == 0


def test_token_ids_that_disagree_with_usage_are_malformed(server: FakeServer,
                                                          tiny_policy_dir: str) -> None:
    server.script(COMPLETIONS, Raw(
        b'{"usage": {"prompt_tokens": 3, "completion_tokens": 2}, "choices": [{"index": 0, '
        b'"text": "We", "finish_reason": "length", "token_ids": [5]}]}'))
    pol = policy(server, endpoint="completions", tokenizer=tiny_policy_dir)
    with pytest.raises(ServerError, match=r"1 token_ids but usage\.completion_tokens is 2"):
        seeded_step(pol, [(LONG, "", 1)])


# -- the search engine end to end with the http policy ----------------------------------

SEARCHES = {"best-of-n": {"n": 4}, "smc": {"particles": 4}, "beam": {"n": 4, "m": 2},
            "compute-aware": {"initial_width": 2, "max_width": 4, "expand": 2}}
SEARCH_COMMON = {"stop": "\n\n", "max_tokens": 12, "max_steps": 3, "seed": 3}


class HashPRM(Metered, PRM):
    """Scores each step by a hash of (problem, prefix): deterministic, batch-free."""

    prm_id = "hash"

    def __init__(self) -> None:
        self.ledger = ComputeLedger(params=None, device="cpu")

    def score(self, problems: Sequence[Problem], samples: Sequence[Sample]
              ) -> list[StepScores]:
        out = []
        for problem, sample in zip(problems, samples, strict=True):
            scores = [int(key_of([problem.id, sample.steps[:k + 1]])[:6], 16) / 0xFFFFFF
                      for k in range(len(sample.steps))]
            out.append(StepScores(sample.problem_id, sample.index, self.prm_id, scores))
        self.ledger.record(0, 0, 0.0, "score")
        return out


@pytest.mark.parametrize("name", sorted(SEARCHES))
@pytest.mark.parametrize("endpoint", ["chat", "completions"])
def test_search_through_the_engine_is_batch_invariant(
        name: str, endpoint: str, server: FakeServer, id_server: FakeServer,
        tiny_policy_dir: str) -> None:
    from harness import registry
    from harness.types import Budget

    problems = registry.TASKS.build("synthetic-arith", {"n_problems": 3,
                                                        "length": 3}).load()
    if endpoint == "chat":
        pol = policy(server, chat_prefill=True)
    else:
        pol = policy(id_server, endpoint="completions", tokenizer=tiny_policy_dir)

    def run(batch: list[Problem]) -> list[Any]:
        strategy = registry.STRATEGIES.build(name, {**SEARCHES[name], **SEARCH_COMMON})
        return strategy.run(batch, pol, HashPRM(), Budget(policy_calls=24))

    def tree(r: Any) -> list[tuple]:
        return [(n.id, n.step, n.status, n.tokens, n.prompt_tokens, n.scores)
                for n in r.tree.nodes.values()]

    # every problem searched with the others, in reverse order, and on its own
    batches = [problems, problems[::-1], *([p] for p in problems)]
    trees: dict[str, list[list[tuple]]] = {p.id: [] for p in problems}
    for batch in batches:
        for searched in run(batch):
            assert searched.spent.policy_calls <= 24
            trees[searched.problem.id].append(tree(searched))
    for problem_id, seen in trees.items():
        assert len(seen) == 3 and seen[0] == seen[1] == seen[2], problem_id
    nodes = [node for seen in trees.values() for node in seen[0] if node[0] != "0"]
    assert len({step for _, step, *_ in nodes}) > 3  # real draws, not one repeated text
    if endpoint == "completions":
        assert pol.prefix_stats["reused"] > 0  # children were fed their parents' ids


def test_cached_prompt_tokens_are_read_from_usage(word_ids: dict[str, list[int]],
                                                  tiny_policy_dir: str) -> None:
    """A server's prefix-cache report (usage.prompt_tokens_details.cached_tokens) reaches
    each step's completion, the policy's total and the engine's prefill count."""
    from harness import registry
    from harness.types import Budget

    with FakeServer(openai_handlers(word_ids=word_ids, cache_block=4)) as running:
        pol = policy(running, endpoint="completions", tokenizer=tiny_policy_dir)
        first = seeded_step(pol, [(LONG, "", 5)])[0][0]
        assert first.cached_prompt_tokens == 0  # nothing seen yet
        again = seeded_step(pol, [(LONG, "", 6)])[0][0]
        want = (first.prompt_tokens - 1) // 4 * 4  # whole blocks, short of the last token
        assert again.cached_prompt_tokens == want > 0
        assert pol.cached_prompt_tokens == want
        assert "cached_tokens" in pol.identity()["cached_tokens_counting"]

        problems = registry.TASKS.build("synthetic-arith", {"n_problems": 2,
                                                            "length": 3}).load()
        strategy = registry.STRATEGIES.build("beam", {**SEARCHES["beam"], **SEARCH_COMMON})
        nodes = [n for r in strategy.run(problems, pol, HashPRM(), Budget(policy_calls=24))
                 for n in r.tree.nodes.values() if n.id != "0"]
        assert all(n.prefill_tokens <= n.prompt_tokens for n in nodes)
        # children read their parents' prompts from the cache: prefill is well below them
        assert sum(n.prefill_tokens for n in nodes) < sum(n.prompt_tokens for n in nodes) / 2


@pytest.mark.parametrize("details", [{"cached_tokens": -1}, {"cached_tokens": 10},
                                     {"cached_tokens": "3"}, {"cached_tokens": 2.0}, [3]])
def test_a_malformed_cached_token_count_is_a_server_error(details: object) -> None:
    answer = {"usage": {"prompt_tokens": 9, "prompt_tokens_details": details}}
    with pytest.raises(ServerError, match=r"POST x: malformed response: usage\.prompt_tokens"):
        HttpPolicy._cached_tokens(answer, 9, "POST x")


def test_no_cached_token_report_counts_the_whole_prompt_as_prefill() -> None:
    for usage in ({}, {"prompt_tokens_details": None}, {"prompt_tokens_details": {}}):
        assert HttpPolicy._cached_tokens({"usage": {"prompt_tokens": 9, **usage}}, 9, "x") == 0
