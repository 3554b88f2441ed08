"""Real back-ends under the search engine: the hf policy's per-request seeds (a request's
step does not depend on what else is in the batch), its token-id prefixes (a child's
prefix is fed as the parent's ids plus the step's ids) and its guarded Gumbel-max pick,
on the tiny random Qwen2 causal LM of tests/tiny_policy.py."""

from __future__ import annotations

from typing import Any

import pytest
from search_policy_checks import (
    LONG,
    OTHER,
    SHORT,
    check_alone_equals_batched,
    check_child_prefix_ids,
    seeded,
)

from harness.errors import ConfigError

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def pol(tiny_policy_dir: str) -> Any:
    from harness.models.policies.hf import HfPolicy

    return HfPolicy(tiny_policy_dir, batch_size=3)


@pytest.mark.parametrize("options", [{}, {"top_p": 0.8}, {"temperature": 0.0},
                                     {"temperature": 0.7}])
def test_a_request_gives_the_same_step_alone_and_in_any_batch(pol: Any,
                                                              options: dict) -> None:
    check_alone_equals_batched(pol, options)
    stats = pol.recompute_stats
    assert stats["max_logit_error"] <= pol.batch_tolerance


def test_seeded_steps_refuse_bad_arguments(pol: Any) -> None:
    with pytest.raises(ConfigError, match="2 seeds for 1 prompts"):
        pol.step([SHORT], [""], seeded([1, 2]))
    with pytest.raises(ConfigError, match="n=1"):
        pol.step([SHORT], [""], seeded([1], n=2))


def test_a_child_prefix_is_fed_as_the_parent_ids_plus_the_step_ids(pol: Any) -> None:
    check_child_prefix_ids(pol, "\n")
    # a prefix no step wrote is tokenised from its text
    tokenised = pol.prefix_stats["tokenised"]
    pol.step([LONG], ["Mia counts.\n"], seeded([5]))
    assert pol.prefix_stats["tokenised"] == tokenised + 1
    text = pol.tokenizer.apply_chat_template(LONG, tokenize=False, add_generation_prompt=True)
    assert pol.last_fed[0] == pol.tokenizer(text + "Mia counts.\n",
                                            add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("temperature,top_p", [(0.0, 1.0), (1.0, 1.0), (0.5, 1.0),
                                               (1.0, 0.7)])
def test_a_guarded_pick_never_differs_from_the_exact_one(temperature: float,
                                                          top_p: float) -> None:
    """Logits moved by up to the tolerance (worst case: every entry by +-t) either give
    the exact logits' token or are refused (None): the guard's bounds hold."""
    from harness.models.policies.hf import choose_batch, gumbel

    tolerance = 0.05
    gen = torch.Generator().manual_seed(0)
    refused = 0
    for trial in range(60):
        vocab = 5 if trial % 3 == 0 else 200
        scale = [0.05, 1.0, 4.0][trial % 3]
        exact = torch.randn(32, vocab, generator=gen, dtype=torch.float64) * scale
        moved = exact + tolerance * (2 * torch.randint(0, 2, exact.shape, generator=gen) - 1)
        noise = None if temperature == 0 else torch.stack(
            [gumbel(vocab, gen) for _ in range(32)])
        want = choose_batch(exact, noise, temperature, top_p, None)
        got = choose_batch(moved, noise, temperature, top_p, tolerance)
        assert None not in want
        for g, w in zip(got, want, strict=True):
            assert g is None or g == w
        refused += got.count(None)
    # the guard fires, and not on everything (the nucleus cut of a flat 200-token
    # distribution is often within the bound at this large tolerance: top-p is guarded
    # far more often than plain sampling)
    assert 0 < refused < 60 * 32 * (0.9 if top_p < 1 else 0.5)


def test_gumbel_max_samples_the_softmax() -> None:
    """The pick's distribution is softmax(logits / T) (chi-square-free check: each
    frequency within 4 standard errors over 20000 draws)."""
    from harness.models.policies.hf import choose_batch, gumbel

    logits = torch.tensor([[1.0, 0.0, -1.0, 2.0]], dtype=torch.float64)
    gen = torch.Generator().manual_seed(1)
    draws = 20000
    counts = torch.zeros(4)
    for _ in range(draws):
        (token,) = choose_batch(logits, gumbel(4, gen).unsqueeze(0), 0.5, 1.0, None)
        assert token is not None
        counts[token] += 1
    want = torch.softmax(logits[0] / 0.5, dim=0).float()
    se = (want * (1 - want) / draws).sqrt()
    assert ((counts / draws - want).abs() <= 4 * se + 1e-9).all()


def test_a_per_request_temperature_is_honoured_in_a_mixed_batch(pol: Any) -> None:
    alone = pol.step([LONG], [""], seeded([42], temperature=0.6))[0][0]
    batch = seeded([1, 42, 3], temperature=1.0)
    batch.temperatures = [1.0, 0.6, 0.0]
    mixed = pol.step([SHORT, LONG, OTHER], ["", "", ""], batch)
    assert (mixed[1][0].text, mixed[1][0].completion_tokens) == (alone.text,
                                                                 alone.completion_tokens)
    greedy = pol.step([OTHER], [""], seeded([3], temperature=0.0))[0][0]
    assert mixed[2][0].text == greedy.text


# -- the search engine end to end with the hf policy and a transformers PRM -------------

E2E = {"best-of-n": {"n": 4}, "smc": {"particles": 4}}
E2E_COMMON = {"stop": " ", "max_tokens": 8, "max_steps": 3, "seed": 3}


@pytest.fixture(scope="module")
def arith() -> list[Any]:
    from harness import registry

    return registry.TASKS.build("synthetic-arith", {"n_problems": 3, "length": 3}).load()


@pytest.fixture(scope="module")
def tiny_prm(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A tiny random Qwen2ForTokenClassification read with the TRL token-classification
    spec (tokenizer trained on synthetic-arith text)."""
    from tiny_policy import training_text

    from harness.models.prms.adapter import TransformersPRM
    from harness.models.tiny import save_token_classifier

    path = save_token_classifier(training_text(), tmp_path_factory.mktemp("tiny-prm"))
    return TransformersPRM("HuggingFaceH4/Qwen2.5-Math-7B-Instruct-PRM-0.2", str(path),
                           dtype="float32")


def _tree(run: Any) -> list[tuple]:
    return [(n.id, n.step, n.status, n.tokens, n.prompt_tokens, n.prm_tokens)
            for n in run.tree.nodes.values()]


def _scores(run: Any) -> list[list[float]]:
    return [list(n.scores or []) for n in run.tree.nodes.values()]


@pytest.mark.parametrize("name", sorted(E2E))
def test_search_with_real_backends_is_budgeted_and_batch_invariant(
        name: str, pol: Any, tiny_prm: Any, arith: list[Any]) -> None:
    from harness import registry
    from harness.types import Budget

    budget = Budget(policy_calls=24)

    def run(problems: list[Any]) -> list[Any]:
        strategy = registry.STRATEGIES.build(name, {**E2E[name], **E2E_COMMON})
        return strategy.run(problems, pol, tiny_prm, budget)

    together = run(arith)
    alone = [run([p])[0] for p in arith]
    backwards = run(arith[::-1])[::-1]
    for a, b, c in zip(together, alone, backwards, strict=True):
        assert a.spent.policy_calls <= 24
        assert _tree(a) == _tree(b) == _tree(c)
        # the PRM's float32 scores may move with its batch by rounding only
        for x, y in zip(_scores(a), _scores(b), strict=True):
            assert x == pytest.approx(y, abs=1e-5)
    scored = [n for r in together for n in r.tree.nodes.values() if n.scores is not None]
    assert scored and all(n.prm_tokens > 0 for n in scored)
    for r in together:
        nodes = r.tree.nodes
        for n in nodes.values():
            if n.scores is None:
                assert n.prm_unique_tokens == 0
                continue
            above = nodes[n.parent or "0"]
            while above.scores is None and above.parent is not None:
                above = nodes[above.parent]
            shared = above.prm_tokens if above.scores is not None else 0
            assert n.prm_unique_tokens == n.prm_tokens - shared
        assert r.spent.prm_unique_tokens == sum(n.prm_unique_tokens for n in nodes.values())
    if name == "best-of-n":  # only finished solutions are scored: nothing is shared
        assert all(r.spent.prm_unique_tokens == r.spent.prm_tokens for r in together)
    else:  # every prefix is scored: its parent's tokens are shared
        assert sum(r.spent.prm_unique_tokens for r in together) < \
            sum(r.spent.prm_tokens for r in together)
