"""Step splitting and step prefixes on real policy output (Qwen2.5-Math responses).

The blank-line split leaves the next step's indentation at the start of that step, as
the card's ``split("\\n\\n")`` does; a step that already carries a template's "Step k:"
prefix is not prefixed again (PRM_PROTOCOLS.md 3.3, PRMBench's rule)."""

from __future__ import annotations

import json
import re

import pytest

from harness.models.prms.protocol import drop_trailing_breaks, template_prefix
from harness.steps import split_blank_lines

QWEN = "samples/qwen2.5-math_math_cot_100/math_cot_100.jsonl"
SHEPHERD = "peiyi9979/math-shepherd-mistral-7b-prm"


def _response(shared_data, idx, j):
    for line in (shared_data / QWEN).read_text().splitlines():
        row = json.loads(line)
        if row["idx"] == idx:
            return row["question"], row["code"][j]
    raise AssertionError(f"no problem {idx}")


def test_blank_line_split_keeps_the_next_steps_indentation(shared_data):
    _, text = _response(shared_data, 7, 3)  # a list whose items' display math is indented
    assert "\n\n   \\[" in text and "\n\n\n" not in text
    pieces = split_blank_lines(text)
    assert "".join(pieces) == text
    # what a card that splits on "\n\n" sees, step by step
    assert [drop_trailing_breaks(p) for p in pieces] == text.split("\n\n")
    assert any(p.startswith("   \\[") for p in pieces)


def test_blank_line_split_edge_cases():
    assert split_blank_lines("") == [""]
    assert split_blank_lines("a\n\n  b") == ["a\n\n", "  b"]
    assert split_blank_lines("a\n \n\t\n  b") == ["a\n \n\t\n", "  b"]
    assert split_blank_lines("\n\na\n\nb") == ["\n\na\n\n", "b"]  # leading blank lines
    assert split_blank_lines("a\n\n  \n") == ["a\n\n  \n"]  # trailing blank text


def test_template_prefix_pattern():
    carried = template_prefix("Step {k}: {step}")
    assert carried is not None
    assert carried.match("Step 12: x") and carried.match("Step 3:x")
    assert not carried.match("Steps 1: x") and not carried.match("So, Step 1:")
    assert template_prefix("{step}") is None
    assert template_prefix("{{Step}} {k}. {step}").match("{Step} 4. y")


def test_math_shepherd_does_not_double_a_carried_prefix(shared_data, tmp_path_factory):
    """A real response whose middle steps say "Step 1:", "Step 2:" themselves: the PRM's
    input is the card's format with PRMBench's rule (prefix only where missing)."""
    pytest.importorskip("transformers")
    from prm_tiny import build, tiny_root

    from harness import registry
    from harness.models.prms.specs import load_spec

    problem, text = _response(shared_data, 24, 0)
    steps = split_blank_lines(text)
    assert [bool(re.match(r"Step \d+:", s)) for s in steps] == [False, True, True, False]
    tokenizer = build("math-shepherd", tiny_root(tmp_path_factory), shared_data).tokenizer
    spec = load_spec(SHEPHERD)
    family = registry.FAMILIES.get(spec.family)(spec, tokenizer)
    encoded = family.encode(problem, steps, "sample 24 #0")
    written = [s.strip() if re.match(r"Step \d+:", s.strip()) else f"Step {k}: {s.strip()}"
               for k, s in enumerate(steps, start=1)]
    expected = f"{problem} " + "\n".join(f"{s} ки" for s in written)
    assert "Step 2: Step 1:" not in expected
    assert list(encoded.segments[0].ids) == tokenizer.encode(expected, add_special_tokens=True)
    assert len(encoded.segments[0].read) == len(steps)
