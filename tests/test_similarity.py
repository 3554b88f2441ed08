"""The gradient pattern similarity (harness/diagnostics/similarity.py) on tiny real
Qwen2 models: streaming S against a brute-force pairwise computation, the sketch's error,
the invariances S must have, the module-name selection, and the CLI."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from harness.cli import main  # noqa: E402
from harness.diagnostics import similarity_stats as st  # noqa: E402
from harness.diagnostics.similarity import (  # noqa: E402
    MATRIX_ROLES,
    Reference,
    Sample,
    compute_similarity,
    resolve_layers,
    select_matrices,
    set_summaries,
    similarity_from_summaries,
)
from harness.models.tiny import (  # noqa: E402
    CHATML_TEMPLATE,
    QWEN_SPECIALS,
    tiny_config,
    train_tokenizer,
)

torch.set_num_threads(1)

TEXT = ("What is 12 + 30? First add the tens: 10 + 30 = 40. Then 2 more: 42. The answer "
        "is 42.\ndef add(a, b):\n    return a + b\nprint(add(2, 3))\n") * 12

SET_A = [Sample(f"What is {i} + {2 * i}?", f"Add them: {i} + {2 * i} = {3 * i}. "
                f"The answer is {3 * i}.") for i in range(1, 5)]
SET_B = [Sample(f"Write a function that adds {i} numbers.",
                "def add(a, b):\n    return a + b\n" * i) for i in range(1, 4)]


def _tokenizer(template: bool = True) -> Any:
    return train_tokenizer(TEXT, QWEN_SPECIALS, eos="<|im_end|>", vocab_size=400,
                           chat_template=CHATML_TEMPLATE if template else None)


def _model(tok: Any, dtype: Any = torch.float64, seed: int = 0, **sizes: Any) -> Any:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    values = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 6, **sizes}
    return Qwen2ForCausalLM(tiny_config(Qwen2Config, tok, **values)).to(dtype)


@pytest.fixture(scope="module")
def ref64() -> Reference:
    tok = _tokenizer()
    return Reference(_model(tok), tok)


# -- brute force: every sample's full vector, every pair's cosine ---------------------


def _brute_vectors(ref: Reference, sample: Sample, f: str, layers: list[int]
                   ) -> list[Any]:
    """Per layer the full A vector, computed independently of the module: all logits,
    .backward(), parameters picked by splitting their names."""
    model = ref.model
    ids, n_prompt = ref.encode(sample)
    model.zero_grad(set_to_none=True)
    logits = model(input_ids=torch.tensor([ids])).logits[0]
    if f == "wang2025":
        value = logits[-1].max()
    else:
        logp = torch.log_softmax(logits[:-1], dim=-1)
        targets = torch.tensor(ids[1:])
        value = logp[torch.arange(len(ids) - 1), targets][n_prompt - 1:].mean()
    value.backward()
    by_layer: dict[int, list[Any]] = {layer: [] for layer in layers}
    for name, p in model.named_parameters():
        parts = name.split(".")
        if "layers" in parts and parts[-1] == "weight" and parts[-2] in MATRIX_ROLES:
            layer = int(parts[parts.index("layers") + 1])
            if layer in by_layer:
                by_layer[layer].append((p.detach() * p.grad).abs().reshape(-1))
    for layer in layers:
        assert len(by_layer[layer]) == 7
    return [torch.cat(by_layer[layer]) for layer in layers]


def _cos(u: Any, v: Any) -> float:
    return float(torch.dot(u, v) / (u.norm() * v.norm()))


def _brute_all_pairs(ref: Reference, a: list[Sample], b: list[Sample], f: str,
                     layers: list[int]) -> float:
    va = [_brute_vectors(ref, s, f, layers) for s in a]
    vb = [_brute_vectors(ref, s, f, layers) for s in b]
    per_layer = [np.mean([[_cos(x[k], y[k]) for y in vb] for x in va])
                 for k in range(len(layers))]
    return 100.0 * float(np.mean(per_layer))


@pytest.mark.parametrize("f", ["resp_ll", "wang2025"])
@pytest.mark.parametrize("layers", ["deep", "all"])
def test_streaming_equals_brute_force(ref64: Reference, f: str, layers: str) -> None:
    result = compute_similarity(ref64, SET_A, SET_B, f=f, layers=layers, n_boot=50)
    chosen = resolve_layers(6, layers)
    assert result.layers == chosen
    brute = _brute_all_pairs(ref64, SET_A, SET_B, f, chosen)
    assert abs(result.S - brute) < 1e-9
    assert 0.0 < result.S < 100.0
    assert result.settings["prompt_rendering"] == "chat_template"


def test_aligned_equals_brute_force(ref64: Reference) -> None:
    b = [*SET_B, Sample("One more", "print(add(2, 3))")]
    result = compute_similarity(ref64, SET_A, b, pairs="aligned", layers="all", n_boot=50)
    chosen = list(range(6))
    cosines = []
    for sa, sb in zip(SET_A, b, strict=True):
        va = _brute_vectors(ref64, sa, "resp_ll", chosen)
        vb = _brute_vectors(ref64, sb, "resp_ll", chosen)
        cosines.append(np.mean([_cos(x, y) for x, y in zip(va, vb, strict=True)]))
    assert abs(result.S - 100.0 * float(np.mean(cosines))) < 1e-9
    assert result.per_pair is not None
    assert np.allclose(result.per_pair, cosines, atol=1e-12)
    assert result.ci[0] <= result.S <= result.ci[1]
    with pytest.raises(Exception, match="equal size"):
        compute_similarity(ref64, SET_A, SET_B, pairs="aligned")


def test_symmetric_order_invariant_and_scale_free(ref64: Reference) -> None:
    base = compute_similarity(ref64, SET_A, SET_B, n_boot=50).S
    assert abs(compute_similarity(ref64, SET_B, SET_A, n_boot=50).S - base) < 1e-9
    shuffled_a, shuffled_b = SET_A[:], SET_B[:]
    random.Random(3).shuffle(shuffled_a)
    shuffled_b.reverse()
    assert shuffled_a != SET_A
    assert abs(compute_similarity(ref64, shuffled_a, shuffled_b, n_boot=50).S - base) < 1e-9
    for scale in (1000.0, -0.01):
        scaled = compute_similarity(ref64, SET_A, SET_B, n_boot=50, f_scale=scale)
        assert abs(scaled.S - base) < 1e-9
        assert scaled.settings["f_scale"] == scale
    # a different F is a different quantity: the check above is not vacuous
    assert abs(compute_similarity(ref64, SET_A, SET_B, f="wang2025", n_boot=50).S - base) > 1e-3


def test_summaries_equal_compute_similarity(ref64: Reference) -> None:
    """Each sample's pattern once (``set_summaries``), then any pair of sets: the same S,
    per-layer values and CI as ``compute_similarity`` on that pair."""
    c = [Sample("Say hi", "hi there"), Sample("What is 2 + 2?", "2 + 2 = 4.")]
    calls: list[str] = []
    summaries = set_summaries(ref64, {"a": SET_A, "b": SET_B, "c": c}, seed=3,
                              progress=lambda name, i: calls.append(name))
    assert calls == ["a"] * len(SET_A) + ["b"] * len(SET_B) + ["c"] * len(c)
    for x, y, xs, ys in (("a", "b", SET_A, SET_B), ("c", "a", c, SET_A)):
        want = compute_similarity(ref64, xs, ys, seed=3, n_boot=200)
        got = similarity_from_summaries(summaries[x], summaries[y], n_boot=200)
        assert abs(got["S"] - want.S) < 1e-9
        assert np.allclose(got["per_layer"], want.per_layer, rtol=0, atol=1e-9)
        assert np.allclose(got["ci"], want.ci, rtol=0, atol=1e-9)
        assert (got["n_a"], got["n_b"]) == (want.n_a, want.n_b)
        assert abs(got["sketch"]["S_sketch"] - want.sketch["S_sketch"]) < 1e-9
    # not vacuous: the pairs differ from each other
    ab = similarity_from_summaries(summaries["a"], summaries["b"], n_boot=10)["S"]
    ac = similarity_from_summaries(summaries["a"], summaries["c"], n_boot=10)["S"]
    assert abs(ab - ac) > 1e-3


def test_sketch_error_within_half_a_point() -> None:
    """Layers larger than the sketch (69,632 weights each vs d = 65,536 buckets)."""
    tok = _tokenizer()
    ref = Reference(_model(tok, torch.float32, seed=1, hidden_size=64,
                           intermediate_size=320, num_hidden_layers=4), tok)
    assert sum(p.numel() for p in ref.matrices[0].values()) > st.DEFAULT_SKETCH_DIM
    result = compute_similarity(ref, SET_A, SET_B, layers="all", n_boot=200)
    error = abs(result.sketch["S_sketch"] - result.S)
    print(f"sketch abs error {error:.4f} (S = {result.S:.3f})")
    assert error <= 0.5
    assert result.sketch["abs_error"] == pytest.approx(error)
    assert result.ci[0] <= result.S <= result.ci[1]
    # a narrow sketch is visibly worse: the error really is measured
    narrow = compute_similarity(ref, SET_A, SET_B, layers="all", n_boot=10, sketch_dim=64)
    assert narrow.sketch["abs_error"] > error


def test_module_name_selection_keeps_mlp_at_27648() -> None:
    """Qwen2.5-7B's intermediate size: a max(shape) <= 15000 cut would drop the MLP."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tok = _tokenizer()
    config = tiny_config(Qwen2Config, tok, hidden_size=16, intermediate_size=27648,
                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config)
    found = select_matrices(model)
    assert set(found) == {0}
    assert set(found[0]) == set(MATRIX_ROLES)
    for role in ("gate_proj", "up_proj", "down_proj"):
        assert max(found[0][role].shape) == 27648 > 15000
    ref = Reference(model, tok)
    result = compute_similarity(ref, SET_A[:2], SET_B[:2], layers="all", n_boot=10)
    attention = sum(p.numel() for r, p in found[0].items() if r.endswith(("q_proj", "k_proj",
                                                                           "v_proj", "o_proj")))
    assert result.settings["params_per_sample"] == attention + 3 * 16 * 27648
    # a layer missing a role (as with a fused gate_up_proj) is refused, not measured
    del model.model.layers[0].mlp.up_proj
    with pytest.raises(Exception, match="layer 0 has no up_proj"):
        select_matrices(model)


def test_deep_half() -> None:
    assert resolve_layers(30, "deep") == list(range(15, 28))
    assert resolve_layers(6, "deep") == [3]
    with pytest.raises(Exception, match="empty"):
        resolve_layers(4, "deep")


def test_plain_rendering_without_chat_template() -> None:
    tok = _tokenizer(template=False)
    ref = Reference(_model(tok), tok)
    ids, n_prompt = ref.encode(SET_A[0])
    assert ids[:n_prompt] == tok(SET_A[0].prompt)["input_ids"]
    assert ref.rendering == "plain"
    result = compute_similarity(ref, SET_A[:2], SET_B[:2], n_boot=10)
    assert result.settings["prompt_rendering"] == "plain"


def test_chat_template_rendering(ref64: Reference) -> None:
    ids, n_prompt = ref64.encode(SET_A[0])
    text = ref64.tokenizer.decode(ids[:n_prompt])
    assert text.startswith("<|im_start|>system")
    assert text.endswith("<|im_start|>assistant\n")
    assert ref64.tokenizer.decode(ids[n_prompt:]) == SET_A[0].response


def test_permutation_test_and_length_control(ref64: Reference) -> None:
    result = compute_similarity(ref64, SET_A, SET_B, n_boot=50)
    assert result.sets is not None
    a, b = result.sets
    same = st.permutation_test((a, b), (a, b), n_perm=200, seed=0)
    assert same["diff"] == 0.0 and same["p_value"] == 1.0
    # A against copies of itself versus A against B: pooling A's copies with B and
    # re-splitting breaks the gap, so the observed one is extreme
    copies = st.SetSketches("a2", a.values.copy(), a.lengths.copy(), a.layers)
    test = st.permutation_test((a, copies), (a, b), n_perm=200, seed=0)
    assert test["diff"] > 0 and test["pooled"] == {"first_side": False, "second_side": True}
    assert 0.0 < test["p_value"] <= 0.05
    lm = result.length_matched
    assert lm is not None and lm["pairs"] == 12 and 0 < lm["matched_pairs"] <= 12
    assert lm["S_sketch_all_pairs"] == pytest.approx(result.sketch["S_sketch"])


# -- the CLI ---------------------------------------------------------------------------


def _write(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n"
                            for r in rows))
    return path


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("similarity")
    tok = _tokenizer()
    model = _model(tok, torch.float32)
    model.save_pretrained(root / "model")
    tok.save_pretrained(root / "model")
    rows_a = [{"prompt": s.prompt, "response": s.response} for s in SET_A]
    rows_b = [{"prompt": s.prompt, "response": s.response, "id": i}
              for i, s in enumerate(SET_B)]
    return {"model": root / "model", "a": _write(root / "a.jsonl", rows_a),
            "b": _write(root / "b.jsonl", rows_b), "root": root}


def test_cli_json(cli_files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["similarity", "--model", str(cli_files["model"]), "--set-a",
               str(cli_files["a"]), "--set-b", str(cli_files["b"]), "--dtype", "float64",
               "--boot", "100", "--vs-a", str(cli_files["a"]), "--vs-b",
               str(cli_files["a"]), "--perm", "50", "--json"])
    out = capsys.readouterr().out
    assert rc == 0
    doc = json.loads(out)
    assert isinstance(doc["S"], float) and 0.0 < doc["S"] < 100.0
    lo, hi = doc["ci"]
    assert lo <= doc["S"] <= hi
    assert doc["f"] == "resp_ll" and doc["layers"] == [3]
    assert (doc["n_a"], doc["n_b"]) == (4, 3)
    model = doc["model"]
    assert model["dtype"] == "float64" and model["architecture"] == "Qwen2ForCausalLM"
    assert model["path"] == str(cli_files["model"].resolve())
    assert len(model["config_sha256"]) == 64
    assert len(model["resolved_revision"]["folder_sha256"]) == 64
    assert "config.json" in model["files"]
    assert doc["settings"]["prompt_rendering"] == "chat_template"
    assert 0.0 < doc["comparison"]["p_value"] <= 1.0
    assert doc["comparison"]["pooled"] == {"first_side": False, "second_side": True}


@pytest.mark.parametrize("case", ["missing_file", "bad_json", "missing_field",
                                  "wrong_type"])
def test_cli_errors_are_one_line(cli_files: dict[str, Path], case: str,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    root = cli_files["root"]
    good = {"prompt": "p", "response": "r"}
    if case == "missing_file":
        bad, expect = root / "absent.jsonl", ["absent.jsonl", "file not found"]
    elif case == "bad_json":
        bad = _write(root / "bad_json.jsonl", [good, "{not json"])
        expect = ["bad_json.jsonl:2", "malformed JSON"]
    elif case == "missing_field":
        bad = _write(root / "missing.jsonl", [good, good, {"prompt": "p"}])
        expect = ["missing.jsonl:3", "field 'response'", "missing"]
    else:
        bad = _write(root / "wrong.jsonl", [{"prompt": 3, "response": "r"}])
        expect = ["wrong.jsonl:1", "field 'prompt'", "expected str"]
    rc = main(["similarity", "--model", str(cli_files["model"]), "--set-a",
               str(cli_files["a"]), "--set-b", str(bad), "--json"])
    captured = capsys.readouterr()
    assert rc == 2
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    for part in expect:
        assert part in lines[0]
