"""PRM prefix reuse (harness/models/prms/hf_prefix_cache.py): a child whose parent's kept
ids are exactly a prefix of its own is scored on the parent's keys and values, and gets
the scores a full pass gives; a parent whose ids are not a prefix is a counted full pass;
an encoder never reuses; the kept prefixes stay within their byte bound; and the search
engine's ledger counts the tokens fed, checked against a count made from the encodings.
Real tiny models of each family (tests/prm_tiny.py), float32 CPU."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from prm_tiny import as_problems_samples, make_prm, max_abs_diff, tiny_root  # noqa: E402
from prm_tiny import samples_from_processbench as draw  # noqa: E402

from harness.models.prms.protocol import Segment  # noqa: E402
from harness.types import Sample  # noqa: E402

#: scores with reuse against scores without (measured up to 1e-6 on these models)
TOL = 1e-5
#: families whose encoding of a prefix is a prefix of its child's encoding; the chat
#: templates of qwen-prm and the implicit PRM close the turn after the last step, so there
#: a parent's ids never are
PREFIX_FAMILIES = ("token-classification", "step-tag/math-shepherd", "outcome")
CLOSED_TURN = ("qwen-prm", "implicit")


def _chains(items: list[dict[str, Any]], depth: int) -> list[tuple[list[Any], list[Any]]]:
    """Level m = every item's first m steps (items with fewer steps drop out): a search's
    ticks, each scoring the children of the last one's prefixes."""
    problems, _ = as_problems_samples(items)
    levels = []
    for m in range(1, depth + 1):
        keep = [(p, it) for p, it in zip(problems, items, strict=True) if len(it["steps"]) >= m]
        levels.append(([p for p, _ in keep],
                       [Sample(it["id"], 0, "", steps=list(it["steps"][:m])) for _, it in keep]))
    return levels


def _score_levels(prm: Any, levels: list[tuple[list[Any], list[Any]]]
                  ) -> tuple[list[list[float]], list[int]]:
    scores, fed = [], []
    for problems, samples in levels:
        scores.extend(r.scores for r in prm.score(problems, samples))
        fed.extend(prm.last_computed_tokens)
    return scores, fed


def _against_full_passes(reusing: Any, plain: Any, levels: list[tuple[list[Any], list[Any]]]
                         ) -> tuple[list[list[float]], list[int], float]:
    """(scores, tokens fed, largest score difference) of ``reusing`` with reuse on,
    against ``plain`` (no cache) on the same levels."""
    reusing.prefix_reuse(True)
    got, fed = _score_levels(reusing, levels)
    want = [r.scores for problems, samples in levels for r in plain.score(problems, samples)]
    return got, fed, max_abs_diff(got, want)


@pytest.fixture(scope="module")
def items(shared_data: Path) -> list[dict[str, Any]]:
    return draw(shared_data, 4, seed=5)


@pytest.mark.parametrize("case", [*PREFIX_FAMILIES, *CLOSED_TURN])
def test_prefix_chains_score_the_same_with_and_without_reuse(
        case: str, items: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory,
        shared_data: Path) -> None:
    root = tiny_root(tmp_path_factory)
    reusing = make_prm(case, root, shared_data)
    plain = make_prm(case, root, shared_data, prefix_cache_mb=0)
    levels = _chains(items, 5)
    got, fed, worst = _against_full_passes(reusing, plain, levels)
    print(f"\n[prefix-reuse] {case}: max |reuse - full| = {worst:.2e}")
    assert worst <= TOL
    read = [sum(len(seg.ids) for seg in plain.encode(p, s).segments)
            for problems, samples in levels for p, s in zip(problems, samples, strict=True)]
    children = sum(len(samples) for _, samples in levels[1:])
    for role, stats in reusing.prefix_stats().items():
        assert stats["reuses_prefixes"], (role, stats["why_not"])
        if case in CLOSED_TURN:  # every child finds its parent, whose ids are no prefix
            assert stats["not_prefix"] == children
            assert stats["reused"] == 0
        else:
            assert stats["reused"] >= children and stats["not_prefix"] == 0
    if case in CLOSED_TURN:
        assert fed == read
    else:
        assert all(f <= r for f, r in zip(fed, read, strict=True))
        assert sum(fed) < 0.6 * sum(read)
    # the ledger counts what was fed (FLOPs follow it)
    assert reusing.compute().tokens_in == sum(fed)
    assert plain.compute().tokens_in == sum(read)
    # batch composition: one item at a time, in reverse, gives the same scores
    reusing.prefix_reuse(True)
    alone = []
    for item in reversed(items):
        alone.append(_score_levels(reusing, _chains([item], 5))[0])
    by_item = {it["id"]: s for it, s in zip(reversed(items), alone, strict=True)}
    again = [by_item[s.problem_id][len(s.steps) - 1]
             for _, samples in levels for s in samples]
    assert max_abs_diff(again, got) <= TOL


def test_a_parent_whose_ids_are_not_a_prefix_is_a_counted_full_pass(
        tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> None:
    """The runner checks the ids, not the key: a kept parent whose ids differ from the
    child's start (one token changed) is never continued."""
    prm = make_prm("token-classification", tiny_root(tmp_path_factory), shared_data)
    runner = prm.runners["prm"]
    ids = tuple(range(5, 45))
    parent = Segment(ids[:24], (11, 23))
    changed = (*ids[:10], ids[10] + 1, *ids[11:])
    child = Segment(changed, (11, 23, 39))
    same_start = Segment(ids, (11, 23, 39))
    runner.rows([parent], ["p"], [[]])
    before = dict(runner.reuse_stats)
    got = runner.rows([child, same_start], ["c", "s"], [["p"], ["p"]])
    assert runner.reuse_stats["not_prefix"] == before["not_prefix"] + 1
    assert runner.reuse_stats["reused"] == before["reused"] + 1
    assert runner.last_computed == [len(changed), len(ids) - 24]
    want = runner.rows([child, same_start])
    for g, w in zip(got, want, strict=True):
        assert float(abs(g - w).max()) <= TOL


def test_the_kept_prefixes_stay_within_their_bound(
        items: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory,
        shared_data: Path) -> None:
    """A bound of a few prefixes' keys and values: old ones are dropped (their children
    get a full pass), the bytes never exceed it, and the scores are unchanged."""
    root = tiny_root(tmp_path_factory)
    per_token = 2 * 2 * 1 * 32 * 4  # K and V x layers x KV heads x head dim x float32
    small = make_prm("token-classification", root, shared_data,
                     prefix_cache_mb=per_token * 600 / (1 << 20))
    plain = make_prm("token-classification", root, shared_data, prefix_cache_mb=0)
    assert _against_full_passes(small, plain, _chains(items, 5))[2] <= TOL
    stats = small.prefix_stats()["prm"]
    assert stats["evicted"] > 0 and stats["no_parent"] > len(items)
    assert stats["peak_bytes"] <= stats["max_bytes"]
    assert stats["reused"] > 0
    small.prefix_reuse(False)
    assert small.prefix_stats()["prm"]["kept"] == 0


def test_an_encoder_prm_never_reuses(tmp_path: Path, items: list[dict[str, Any]],
                                    shared_data: Path) -> None:
    """A BERT token classifier (bidirectional) is refused by the probe and scored with
    full passes: fed tokens = input tokens, scores = a PRM without any cache."""
    from prm_tiny import corpus
    from transformers import BertConfig, BertForTokenClassification

    from harness.models.prms.adapter import TransformersPRM
    from harness.models.tiny import QWEN_SPECIALS, tiny_config, train_tokenizer

    tok = train_tokenizer(corpus(shared_data), QWEN_SPECIALS, eos="<|im_end|>")
    torch.manual_seed(4)
    config = tiny_config(BertConfig, tok, num_labels=2, max_position_embeddings=2048)
    BertForTokenClassification(config).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    spec = "HuggingFaceH4/Qwen2.5-Math-7B-Instruct-PRM-0.2"
    bert = TransformersPRM(spec, str(tmp_path), dtype="float32")
    plain = TransformersPRM(spec, str(tmp_path), dtype="float32", prefix_cache_mb=0)
    levels = _chains(items, 3)
    _, fed, worst = _against_full_passes(bert, plain, levels)
    assert worst <= TOL
    stats = bert.prefix_stats()["prm"]
    assert not stats["reuses_prefixes"] and stats["why_not"]
    print(f"\n[prefix-reuse] bert refused: {stats['why_not']}")
    assert stats["reused"] == 0 and stats["kept"] == 0
    read = [sum(len(seg.ids) for seg in bert.encode(p, s).segments)
            for problems, samples in levels for p, s in zip(problems, samples, strict=True)]
    assert fed == read


# -- the search engine end to end ------------------------------------------------------

@pytest.fixture(scope="module")
def pol(tiny_policy_dir: str) -> Any:
    from harness.models.policies.hf import HfPolicy

    return HfPolicy(tiny_policy_dir, batch_size=8)


@pytest.fixture(scope="module")
def arith_prms(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    from tiny_policy import training_text

    from harness.models.prms.adapter import TransformersPRM
    from harness.models.tiny import save_token_classifier

    path = save_token_classifier(training_text(), tmp_path_factory.mktemp("arith-prm"))
    spec = "HuggingFaceH4/Qwen2.5-Math-7B-Instruct-PRM-0.2"
    return (TransformersPRM(spec, str(path), dtype="float32"),
            TransformersPRM(spec, str(path), dtype="float32", prefix_cache_mb=0))


def _fed_by_encodings(prm: Any, run: Any) -> dict[str, int]:
    """Each scored node's tokens fed, counted from the encodings alone: its ids less those
    of its nearest scored ancestor when they are a prefix of its own (at least one token
    is fed), else all its ids."""
    tree = run.tree
    ids: dict[str, tuple[int, ...]] = {}
    out = {}
    for node in tree.nodes.values():
        if node.scores is None:
            continue
        sample = Sample(run.problem.id, 0, "", steps=tree.steps(node))
        (seg,) = prm.encode(run.problem, sample).segments
        ids[node.id] = seg.ids
        above = tree.nodes[node.parent or "0"]
        while above.scores is None and above.parent is not None:
            above = tree.nodes[above.parent]
        mine = seg.ids
        kept = ids.get(above.id) if above.scores is not None else None
        if kept is not None and mine[:len(kept)] == kept:
            out[node.id] = len(mine) - min(len(kept), len(mine) - 1)
        else:
            out[node.id] = len(mine)
    return out


@pytest.mark.parametrize("name,options", [("beam", {"n": 8, "m": 4}),
                                          ("smc", {"particles": 4})])
def test_search_with_prefix_reuse_gives_the_same_trees_and_counts_what_it_fed(
        name: str, options: dict[str, Any], pol: Any, arith_prms: tuple[Any, Any]) -> None:
    from harness import registry
    from harness.types import Budget

    problems = registry.TASKS.build("synthetic-arith", {"n_problems": 3, "length": 3}).load()
    common = {"stop": " ", "max_tokens": 8, "max_steps": 4, "seed": 3, "rounds": 1}
    reusing, plain = arith_prms

    def run(prm: Any) -> list[Any]:
        strategy = registry.STRATEGIES.build(name, {**options, **common})
        return strategy.run(problems, pol, prm, Budget())

    with_reuse, without = run(reusing), run(plain)
    worst = 0.0
    for a, b in zip(with_reuse, without, strict=True):
        assert [(n.id, n.step, n.status, n.prm_tokens, n.prm_unique_tokens)
                for n in a.tree.nodes.values()] == \
            [(n.id, n.step, n.status, n.prm_tokens, n.prm_unique_tokens)
             for n in b.tree.nodes.values()]
        for x, y in zip(a.tree.nodes.values(), b.tree.nodes.values(), strict=True):
            for u, v in zip(x.scores or [], y.scores or [], strict=True):
                worst = max(worst, abs(u - v))
        want = _fed_by_encodings(reusing, a)
        assert {n.id: n.prm_computed_tokens for n in a.tree.nodes.values()
                if n.scores is not None} == want
        assert a.spent.prm_computed_tokens == sum(want.values())
        assert b.spent.prm_computed_tokens == b.spent.prm_tokens
        # hf keeps no KV cache across calls: every prompt token is prefilled
        assert a.spent.prefill_tokens == a.spent.prompt_tokens > 0
    print(f"\n[prefix-reuse] {name}: max |reuse - full| = {worst:.2e}")
    assert worst <= TOL
    fed = sum(r.spent.prm_computed_tokens for r in with_reuse)
    unique = sum(r.spent.prm_unique_tokens for r in with_reuse)
    read = sum(r.spent.prm_tokens for r in with_reuse)
    assert unique <= fed < read
    # the engine dropped the kept prefixes at the end of its run
    assert reusing.prefix_stats()["prm"]["kept"] == 0


def test_a_trace_of_a_reusing_search_replays_its_spend(pol: Any,
                                                       arith_prms: tuple[Any, Any]) -> None:
    """The fed-token counts travel in the trace (written where they differ from the input
    tokens) and replay_answer rebuilds the spend from it."""
    from harness import registry
    from harness.strategies.engine import replay_answer
    from harness.types import Budget

    problems = registry.TASKS.build("synthetic-arith", {"n_problems": 2, "length": 3}).load()
    strategy = registry.STRATEGIES.build("beam", {"n": 4, "m": 2, "stop": " ", "max_tokens": 8,
                                                  "max_steps": 3, "seed": 1, "rounds": 1})
    for run in strategy.run(problems, pol, arith_prms[0], Budget()):
        trace = run.trace({}, Budget())
        written = [n for n in trace["nodes"] if "prm_computed_tokens" in n]
        assert written and all(n["prm_computed_tokens"] < n["prm_tokens"] for n in written)
        assert "prefill_tokens" not in trace["spent"]  # hf: prefill = prompt tokens
        _, spent = replay_answer(json.loads(json.dumps(trace)))
        assert spent == run.spent.as_dict()


def test_a_prefill_budget_caps_the_prefilled_prompt_tokens() -> None:
    """prefill_tokens is a budget kind like the others: admitted while the predicted
    prefill fits (a tick can overshoot by its own requests at most), and left out of the
    budget's dict while unset, so stored runs' settings are unchanged."""
    from harness import registry
    from harness.strategies.engine import budget_dict
    from harness.types import Budget

    problems = registry.TASKS.build("synthetic-arith", {"n_problems": 4, "length": 6}).load()
    policy = registry.POLICIES.build("sim", {})
    prm = registry.PRMS.build("sim-oracle", {})

    def run(budget: Budget) -> list[Any]:
        strategy = registry.STRATEGIES.build("smc", {"particles": 4, "seed": 0})
        return strategy.run(problems, policy, prm, budget)

    cap = 2000
    free, capped = run(Budget(policy_calls=400)), run(Budget(prefill_tokens=cap))
    for a, b in zip(free, capped, strict=True):
        assert b.stopped == "budget"
        assert a.spent.prefill_tokens > cap
        ticks = [sum(n.prefill_tokens for n in b.tree.nodes.values() if n.tick == t)
                 for t in range(len(b.ticks))]
        assert cap - max(ticks) <= b.spent.prefill_tokens <= cap + max(ticks)
        assert b.spent.prefill_tokens == b.spent.prompt_tokens  # sim keeps no cache
    assert "prefill_tokens" not in budget_dict(Budget(policy_calls=3))
    assert budget_dict(Budget(prefill_tokens=5))["prefill_tokens"] == 5
