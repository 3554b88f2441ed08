"""Checks shared by the tests of policies under the search engine (hf, vllm): a seeded
request's step does not depend on its batch, and a child's prefix is fed as the parent's
ids plus the step's ids."""

from __future__ import annotations

from typing import Any

from harness.strategies.engine import SeededParams

SHORT = [{"role": "user", "content": "Tom has 3 apples."}]
LONG = [{"role": "system", "content": "Please reason step by step."},
        {"role": "user", "content": "Mia has 12 cards and gives away 5 cards, then buys 9 "
                                    "more cards. How many cards does Mia have now?"}]
OTHER = [{"role": "user", "content": "Ava buys 7 pens."}]


def seeded(seeds: list[int], **kw: Any) -> SeededParams:
    values: dict[str, Any] = {"n": 1, "temperature": 1.0, "max_tokens": 24, "stop": ["\n"]}
    values.update(kw)
    return SeededParams(seeds=seeds, **values)


def check_alone_equals_batched(pol: Any, options: dict) -> None:
    """The target request's step alone, and first, in the middle and last of a batch of
    7 (other padding and groupings), is the same text, ids and counts; another seed of
    the same prompt is another draw when sampling."""
    target = (LONG, "Mia has 12 cards.\n", 1234)
    others = [(SHORT, "", 7), (OTHER, "Ava", 8), (LONG, "", 1234), (SHORT, "Tom has", 9),
              (LONG, "Mia has 12 cards.\n", 99), (OTHER, "", 10)]
    alone = pol.step([target[0]], [target[1]], seeded([target[2]], **options))[0][0]
    alone_ids = pol.last_step_ids[0]
    for at in (0, 3, 6):
        batch = [*others[:at], target, *others[at:]]
        out = pol.step([b[0] for b in batch], [b[1] for b in batch],
                       seeded([b[2] for b in batch], **options))
        got = out[at][0]
        assert (got.text, got.completion_tokens, got.finish_reason, got.prompt_tokens) == (
            alone.text, alone.completion_tokens, alone.finish_reason, alone.prompt_tokens)
        assert pol.last_step_ids[at] == alone_ids
    if options.get("temperature", 1.0) > 0:
        texts = {c.text for (c,) in pol.step([LONG] * 6, [""] * 6,
                                              seeded(list(range(6)), **options))}
        assert len(texts) > 1


def check_child_prefix_ids(pol: Any, stop: str) -> None:
    """Children of steps that ended at ``stop`` on a token boundary are fed the parent's
    ids plus the step's ids (counted as reused prefixes)."""
    seeds = list(range(40))
    out = pol.step([LONG] * len(seeds), [""] * len(seeds),
                   seeded(seeds, max_tokens=12, stop=[stop]))
    parents = [(c, fed, ids) for (c,), fed, ids in zip(out, pol.last_fed, pol.last_step_ids,
                                                       strict=True)
               if c.finish_reason == "step" and pol._decode(ids) == c.text]
    assert parents, "no step ended at the delimiter on a token boundary"
    reused = pol.prefix_stats["reused"]
    children = pol.step([LONG] * len(parents), [c.text for c, _, _ in parents],
                        seeded(list(range(100, 100 + len(parents))), max_tokens=8,
                               stop=[stop]))
    assert pol.prefix_stats["reused"] == reused + len(parents)
    for (_, fed, ids), fed_child, (child,) in zip(parents, pol.last_fed, children,
                                                  strict=True):
        assert fed_child == fed + ids
        assert child.prompt_tokens == len(fed) + len(ids)
