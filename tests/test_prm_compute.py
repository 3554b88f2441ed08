"""The PRM compute ledger: tokens, parameters and FLOPs as the documented estimate
(harness/models/compute.py), for a one-model family and the two-model implicit family."""

from __future__ import annotations

import pytest
from prm_tiny import as_problems_samples, build, make_prm
from prm_tiny import samples_from_processbench as draw

from harness.models.compute import FLOPS_METHOD


@pytest.fixture(scope="module")
def items(shared_data):
    return draw(shared_data, 3, seed=71)


def _params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def _chat_tokens(tok, item) -> int:
    """Tokens of EurusPRM's input: the conversation with the steps as 'Step k: ...'."""
    answer = "\n\n".join(f"Step {k}: {s}" for k, s in enumerate(item["steps"], start=1))
    messages = [{"role": "user", "content": item["problem"]},
                {"role": "assistant", "content": answer}]
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    return len(tok.encode(text, add_special_tokens=False))


def test_implicit_prm_flops_count_both_models_once(root, shared_data, items):
    prm_tiny, ref_tiny = build("eurus", root, shared_data), build("eurus-ref", root, shared_data)
    prm = make_prm("implicit", root, shared_data)
    prm.score(*as_problems_samples(items))
    p_prm, p_ref = _params(prm_tiny.modules["model"]), _params(ref_tiny.modules["model"])
    tokens = sum(_chat_tokens(prm_tiny.tokenizer, item) for item in items)
    compute = prm.compute()
    assert (compute.tokens_in, compute.tokens_out, compute.params) == (tokens, 0, p_prm + p_ref)
    assert compute.flops == 2.0 * (p_prm + p_ref) * tokens
    (call,) = prm.compute_calls()
    assert call == {"kind": "score", "tokens_in": tokens, "tokens_out": 0,
                    "params": p_prm + p_ref, "flops": compute.flops,
                    "wall_s": compute.wall_s, "device": "cpu"}
    assert prm.identity()["flops_method"] == FLOPS_METHOD


def test_one_model_prm_flops_and_per_call_records(root, shared_data, items):
    tiny = build("qwen-prm", root, shared_data)
    prm = make_prm("qwen-prm", root, shared_data)
    problems, samples = as_problems_samples(items)
    prm.score(problems[:1], samples[:1])
    prm.score(problems[1:], samples[1:])
    params = _params(tiny.modules["decoder"]) + _params(tiny.modules["head"])
    calls = prm.compute_calls()
    assert [c["kind"] for c in calls] == ["score", "score"]
    for call in calls:
        assert call["params"] == params
        assert call["flops"] == 2.0 * params * call["tokens_in"]
        assert call["wall_s"] > 0
    total = prm.compute()
    assert total.calls == 2 and total.tokens_in == sum(c["tokens_in"] for c in calls)
    assert total.flops == pytest.approx(sum(c["flops"] for c in calls))
