"""The hf policy on a tiny random Qwen2 causal LM built in the test: greedy output equals a
plain argmax loop written here (so left padding, the chat template and the neutralised
generation defaults are right), sampling is seeded, steps stop at the delimiter and keep
it, token counts and the compute ledger are exact."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.interfaces import SamplingParams
from harness.models.model_files import safetensors_params

torch = pytest.importorskip("torch")

SHORT = [{"role": "user", "content": "Tom has 3 apples."}]
LONG = [{"role": "system", "content": "Please reason step by step."},
        {"role": "user", "content": "Mia has 12 cards and gives away 5 cards, then buys 9 "
                                    "more cards. How many cards does Mia have now?"}]


@pytest.fixture(scope="module")
def reference(tiny_policy_dir: str) -> tuple[Any, Any]:
    """The tokenizer and model loaded directly, for the independent computations."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_policy_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_policy_dir, dtype=torch.float32).eval()
    return tok, model


@pytest.fixture(scope="module")
def pol(tiny_policy_dir: str) -> Any:
    from harness.models.policies.hf import HfPolicy

    return HfPolicy(tiny_policy_dir, batch_size=4)


def argmax_loop(tok: Any, model: Any, messages: list, prefix: str, max_tokens: int,
                stop: str | None = None) -> tuple[str, int, int]:
    """Greedy decoding by hand: (text, prompt tokens, completion tokens). A character whose
    bytes are cut off at the end is left out (the policies' documented rule, vLLM's too)."""
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = tok(text + prefix, add_special_tokens=False)["input_ids"]
    generated: list[int] = []
    with torch.inference_mode():
        for _ in range(max_tokens):
            logits = model(torch.tensor([ids + generated])).logits[0, -1]
            generated.append(int(logits.argmax()))
            if generated[-1] == tok.eos_token_id:
                text = tok.decode(generated[:-1], skip_special_tokens=True)
                return text.rstrip("\ufffd"), len(ids), len(generated)
            out = tok.decode(generated, skip_special_tokens=True)
            if stop is not None and stop in out:
                return out[:out.index(stop) + len(stop)], len(ids), len(generated)
    text = tok.decode(generated, skip_special_tokens=True)
    return text.rstrip("\ufffd"), len(ids), len(generated)


def test_greedy_equals_a_plain_argmax_loop(pol: Any, reference: tuple) -> None:
    tok, model = reference
    result = pol.sample([SHORT, LONG], SamplingParams(n=2, temperature=0.0, max_tokens=20))
    for messages, group in zip([SHORT, LONG], result, strict=True):
        text, prompt_tokens, completion_tokens = argmax_loop(tok, model, messages, "", 20)
        assert [c.text for c in group] == [text, text]
        assert group[0].prompt_tokens == prompt_tokens
        assert group[0].completion_tokens == completion_tokens


def test_greedy_step_stops_after_the_delimiter(pol: Any, reference: tuple) -> None:
    tok, model = reference
    prefixes = ["", "Mia has 12 cards.\n"]
    params = SamplingParams(n=1, temperature=0.0, max_tokens=40, stop=["\n"])
    result = pol.step([SHORT, LONG], prefixes, params)
    for messages, prefix, group in zip([SHORT, LONG], prefixes, result, strict=True):
        text, prompt_tokens, completion_tokens = argmax_loop(tok, model, messages, prefix, 40,
                                                             stop="\n")
        assert (group[0].text, group[0].prompt_tokens, group[0].completion_tokens) == (
            text, prompt_tokens, completion_tokens)


def test_sampling_is_seeded(pol: Any) -> None:
    params = SamplingParams(n=4, temperature=1.0, max_tokens=16, seed=3)
    first = pol.sample([SHORT, LONG], params)
    again = pol.sample([SHORT, LONG], params)
    other = pol.sample([SHORT, LONG], SamplingParams(n=4, max_tokens=16, seed=4))
    as_text = [[c.text for c in g] for g in first]
    assert as_text == [[c.text for c in g] for g in again]
    assert as_text != [[c.text for c in g] for g in other]
    assert all(len(set(g)) == 4 for g in as_text)  # n distinct samples per prompt


def test_sampled_steps_keep_the_delimiter_and_counts_add_up(pol: Any,
                                                             reference: tuple) -> None:
    tok, _ = reference
    params = SamplingParams(n=6, max_tokens=32, seed=1, stop=["\n"])
    before = pol.compute()
    result = pol.step([SHORT, LONG], ["", "Mia"], params)
    after = pol.compute()
    finishes = [c.finish_reason for g in result for c in g]
    assert "step" in finishes and set(finishes) <= {"step", "stop", "length"}
    for messages, prefix, group in zip([SHORT, LONG], ["", "Mia"], result, strict=True):
        rendered = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert {c.prompt_tokens for c in group} == {
            len(tok(rendered + prefix, add_special_tokens=False)["input_ids"])}
        for c in group:
            if c.finish_reason == "step":
                assert c.text.endswith("\n") and c.text.count("\n") == 1
                assert c.completion_tokens <= 32
            if c.finish_reason == "length":
                assert "\n" not in c.text and c.completion_tokens == 32
    tokens_in = sum(c.prompt_tokens for g in result for c in g)
    tokens_out = sum(c.completion_tokens for g in result for c in g)
    assert after.tokens_in - before.tokens_in == tokens_in
    assert after.tokens_out - before.tokens_out == tokens_out
    assert after.calls == before.calls + 1
    assert after.flops - before.flops == pytest.approx(
        2.0 * pol.compute().params * (tokens_in + tokens_out))


def test_identity_and_parameter_count(pol: Any, reference: tuple) -> None:
    _, model = reference
    identity = pol.identity()
    assert pol.compute().params == sum(p.numel() for p in model.parameters())
    assert safetensors_params(Path(pol.model_source)) == identity["params"]
    assert identity["backend"] == "hf" and identity["batch_size"] == 4
    assert identity["versions"]["torch"] == torch.__version__
    assert identity["files"]["config.json"]["sha256"]
    # the model folder's sampling defaults are recorded and not applied
    assert identity["model_generation_config"]["repetition_penalty"] == 1.5
    assert identity["generation_overrides"]["repetition_penalty"] == 1.0


def test_a_folder_without_chat_template_is_a_config_error(tiny_policy_dir: str,
                                                          tmp_path: Path) -> None:
    from harness.models.policies.hf import HfPolicy

    bare = tmp_path / "bare"
    shutil.copytree(tiny_policy_dir, bare)
    (bare / "chat_template.jinja").unlink()
    pol = HfPolicy(str(bare))
    with pytest.raises(ConfigError, match="has no chat template"):
        pol.sample([SHORT], SamplingParams(n=1, max_tokens=4))
    with pytest.raises(ConfigError, match="cannot load"):
        HfPolicy(str(tmp_path / "missing"))
