"""The HTTP PRM backend against a real server on 127.0.0.1 (vLLM's /pooling protocol, rows
from a real tiny model): equal scores for every pooling route (per-token rows of a token
classifier, STEP rows at the tag, LM columns of label tokens for step-tag and chat-turn
PRMs, a scalar per token for the outcome RM), retries on 429, failures on 500 / timeout /
malformed bodies, all with clear errors."""

from __future__ import annotations

import pytest
import torch
from prm_server import PoolingServer
from prm_tiny import FAMILY_CASES, as_problems_samples, build, make_prm
from prm_tiny import samples_from_processbench as draw

from harness.errors import ScoreError
from harness.models.prms.adapter import HttpPRM


@pytest.fixture(scope="module")
def data(shared_data):
    return as_problems_samples(draw(shared_data, 10, seed=41))


def token_rows(model):
    """A token-classification server: one row of raw logits per token."""
    def rows(ids):
        with torch.inference_mode():
            return model(torch.tensor([ids])).logits[0].tolist()
    return rows


def step_rows(tiny):
    """A Qwen2ForProcessRewardModel server with STEP pooling: rows at the tag only."""
    tag = tiny.tokenizer.convert_tokens_to_ids("<extra_0>")

    def rows(ids):
        with torch.inference_mode():
            hidden = tiny.modules["decoder"](torch.tensor([ids])).last_hidden_state[0]
            logits = tiny.modules["head"](hidden)
        return [logits[t].tolist() for t, token in enumerate(ids) if token == tag]
    return rows


def lm_column_rows(tiny, columns):
    """A causal LM served as a classifier over label tokens (vLLM's classifier_from_token,
    method no_post_processing): one row per token, the LM logits of those tokens."""
    def rows(ids):
        with torch.inference_mode():
            return tiny.modules["model"](torch.tensor([ids])).logits[0][:, columns].tolist()
    return rows


def scalar_rows(tiny):
    """A Qwen2ForRewardModel with ALL pooling: one scalar per token (a flat list)."""
    def rows(ids):
        with torch.inference_mode():
            hidden = tiny.modules["decoder"](torch.tensor([ids])).last_hidden_state[0]
            return tiny.modules["head"](hidden)[:, 0].tolist()
    return rows


def _shepherd_columns(tok):
    return tok.encode("+ -")[1:]  # the card's candidates


def _rlhflow_columns(tok):
    return [tok.encode("+")[-1], tok.encode("-")[-1]]  # prm_evaluate.py's candidates


#: case -> how the server computes rows for its tiny model (as vLLM's route for it would)
SERVED = {
    "token-classification": lambda tiny: token_rows(tiny.modules["model"]),
    "qwen-prm": step_rows,
    "step-tag/math-shepherd": lambda tiny: lm_column_rows(
        tiny, _shepherd_columns(tiny.tokenizer)),
    "chat-turn": lambda tiny: lm_column_rows(tiny, _rlhflow_columns(tiny.tokenizer)),
    "outcome": scalar_rows,
}


@pytest.mark.parametrize("case", sorted(SERVED))
def test_http_scores_equal_the_transformers_backend(case, root, shared_data, data):
    spec, kind = FAMILY_CASES[case]
    tiny = build(kind, root, shared_data)
    rows = SERVED[case](tiny)
    want = [r.scores for r in make_prm(case, root, shared_data).score(*data)]
    with PoolingServer(rows) as server:
        prm = HttpPRM(spec, str(tiny.path), url=server.url, served_model="tiny",
                      batch_tokens=3000, concurrency=2)
        got = [r.scores for r in prm.score(*data)]
        bodies = [r["body"] for r in server.requests]
    for have, expect in zip(got, want, strict=True):
        assert have == pytest.approx(expect, abs=1e-5)
    assert len(bodies) > 1  # the token budget split the work into several requests
    assert all(b["task"] == "token_classify" and b["use_activation"] is False
               and b["model"] == "tiny" for b in bodies)
    # one sequence per sample; the outcome family runs one per step prefix
    sequences = sum(len(s.steps) for s in data[1]) if case == "outcome" else len(data[1])
    assert sum(len(b["input"]) for b in bodies) == sequences
    assert prm.compute().tokens_in == sum(len(ids) for b in bodies for ids in b["input"])


@pytest.fixture(scope="module")
def served(root, shared_data):
    tiny = build("token-classification", root, shared_data)
    with PoolingServer(token_rows(tiny.modules["model"])) as server:
        yield tiny, server


def _prm(tiny, server, **options):
    options.setdefault("backoff_s", 0.01)
    return HttpPRM("HuggingFaceH4/Qwen2.5-Math-7B-Instruct-PRM-0.2", str(tiny.path),
                   url=server.url, batch_tokens=10**6, **options)


def test_429_then_success(served, data):
    tiny, server = served
    server.requests.clear()
    server.script[:] = [("status", 429, {"Retry-After": "0"})]
    scores = _prm(tiny, server, retries=2).score(*data)
    assert len(scores) == len(data[1]) and len(server.requests) == 2


def test_500_is_retried_then_fails(served, data):
    tiny, server = served
    server.requests.clear()
    server.script[:] = [("status", 500)] * 3
    with pytest.raises(ScoreError, match=r"PRM server: HTTP 500 from .*/pooling.*gave up "
                                         r"after 3 attempts"):
        _prm(tiny, server, retries=2).score(*data)
    assert len(server.requests) == 3


def test_timeout_fails_clearly(served, data):
    tiny, server = served
    server.requests.clear()
    server.script[:] = [("sleep", 1.5), ("sleep", 1.5)]
    with pytest.raises(ScoreError, match=r"no reply from .*/pooling within 0.3 s.*gave up "
                                         r"after 2 attempts"):
        _prm(tiny, server, retries=1, timeout_s=0.3).score(*data)
    assert len(server.requests) == 2


@pytest.mark.parametrize(("body", "message"), [
    (b"<html>busy</html>", "malformed JSON from"),
    (b'{"data": []}', "malformed reply from .*: expected 'data' with"),
    (b'{"object": "list"}', "malformed reply"),
])
def test_malformed_bodies_are_errors_not_retried(served, data, body, message):
    tiny, server = served
    server.requests.clear()
    server.script[:] = [("raw", body)]
    with pytest.raises(ScoreError, match=message):
        _prm(tiny, server, retries=3).score(*data)
    assert len(server.requests) == 1


def test_wrong_row_count_and_client_errors(served, data):
    tiny, server = served
    one = (data[0][:1], data[1][:1])
    server.script[:] = [("raw", b'{"data": [{"index": 0, "data": [[0.1, 0.2]]}]}')]
    with pytest.raises(ScoreError, match=r"vLLM returned 1 rows for \d+ tokens"):
        _prm(tiny, server).score(*one)
    server.requests.clear()
    server.script[:] = [("status", 400)]
    with pytest.raises(ScoreError, match="HTTP 400"):
        _prm(tiny, server, retries=3).score(*one)
    assert len(server.requests) == 1  # a client error is not retried
