"""Tiny randomly initialised PRMs with each family's real architecture, built locally.

Tokenizers are trained on real ProcessBench text with Qwen2's exact pre-tokenizer
pipeline (ENVIRONMENT_NOTES Q2), so AutoTokenizer gives the same ids whichever class it
picks. Models are built once per test session (memoised by folder) and kept in memory,
so the golden tests compute their reference values with the original modules rather
than with anything the harness loads.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch
from safetensors.torch import load_file, save_file

from harness.models.tiny import CHATML_TEMPLATE as CHATML
from harness.models.tiny import QWEN_SPECIALS, tiny_config
from harness.models.tiny import train_tokenizer as _train

# Llama-3.1 style: a system header with knowledge/today dates even without a system turn
LLAMA3 = ("{{ '<|begin_of_text|>' }}{% if messages[0]['role'] == 'system' %}"
          "{% set sys = messages[0]['content'] %}{% set rest = messages[1:] %}"
          "{% else %}{% set sys = '' %}{% set rest = messages %}{% endif %}"
          "{{ '<|start_header_id|>system<|end_header_id|>\\n\\nCutting Knowledge Date: "
          "December 2023\\nToday Date: 26 Jul 2024\\n\\n' + sys + '<|eot_id|>' }}"
          "{% for m in rest %}{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n'"
          " + m['content'] + '<|eot_id|>' }}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>"
          "\\n\\n' }}{% endif %}")


def load_processbench(shared_data: Path, split: str = "gsm8k") -> list[dict[str, Any]]:
    with open(shared_data / "processbench" / f"{split}.json", encoding="utf-8") as handle:
        return json.load(handle)


def corpus(shared_data: Path) -> str:
    """Real ProcessBench text plus the protocol strings the tiny tokenizers must learn."""
    items = load_processbench(shared_data)[:150]
    parts = [item["problem"] + "\n\n" + "\n\n".join(item["steps"]) for item in items]
    filler = ("Step 1: a + b - c = 2 ки\nStep 2: x - y + z ки\n"
              "\\boxed{Yes} \\boxed{No} Yes No <output>\n**Judgement**: $\\boxed{Yes}$\n"
              "</output>\n")
    return "\n".join(parts) + filler * 200


@dataclass
class Tiny:
    """A built model folder plus the in-memory modules that made it."""

    path: Path
    tokenizer: Any
    modules: dict[str, Any] = field(default_factory=dict)


_BUILT: dict[str, Tiny] = {}


def train_tokenizer(text: str, specials: list[str], added: list[str], *,
                    bos: str | None = None, eos: str, template: str | None,
                    learned_only: bool = False) -> Any:
    """harness.models.tiny's tokenizer; ``learned_only`` skips adding ``added``."""
    return _train(text, specials, eos=eos, added=() if learned_only else tuple(added), bos=bos,
                  chat_template=template)


def train_metaspace_tokenizer(text: str, specials: list[str], *, bos: str, eos: str) -> Any:
    """A Llama/Mistral-style (sentencepiece) tokenizer: BPE over words that carry a "▁"
    boundary marker (Metaspace), byte fallback for unseen characters, BOS added by
    encode(). Line breaks stay single tokens, as Mistral's "<0x0A>"."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split("\n", behavior="isolated"),
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True)])
    tok.decoder = decoders.Sequence([
        decoders.Metaspace(replacement="▁", prepend_scheme="first", split=True),
        decoders.ByteFallback(), decoders.Fuse()])
    byte_pieces = [f"<0x{i:02X}>" for i in range(256)]
    tok.train_from_iterator([text], trainers.BpeTrainer(
        vocab_size=1200, special_tokens=["<unk>", *specials, "<pad>", *byte_pieces]))
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A $B", special_tokens=[(bos, tok.token_to_id(bos))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos,
                                   pad_token="<pad>", unk_token="<unk>")


def _config(cls: Any, tok: Any, **extra: Any) -> Any:
    return tiny_config(cls, tok, **extra)


def _qwen_tokenizer(shared_data: Path, added: list[str], bos: str | None = None) -> Any:
    tok = train_tokenizer(corpus(shared_data), QWEN_SPECIALS, added, eos="<|im_end|>",
                          template=CHATML)
    if bos is not None:  # Qwen style: a BOS string exists, but encode() does not add it
        tok.bos_token = bos
    return tok


def _seeded(seed: int) -> None:
    torch.manual_seed(seed)
    random.seed(seed)


def _save_with_extra(model: Any, tok: Any, path: Path, extra: dict[str, torch.Tensor],
                     architectures: list[str]) -> None:
    model.save_pretrained(path)
    tok.save_pretrained(path)
    weights = load_file(str(path / "model.safetensors"))
    weights.update({k: v.detach().clone().contiguous() for k, v in extra.items()})
    save_file(weights, str(path / "model.safetensors"), metadata={"format": "pt"})
    config = json.loads((path / "config.json").read_text())
    config["architectures"] = architectures
    (path / "config.json").write_text(json.dumps(config, indent=2))


def _mlp_head_model(shared_data: Path, path: Path, labels: int, arch: str, seed: int) -> Tiny:
    from transformers import Qwen2Config, Qwen2Model

    tok = _qwen_tokenizer(shared_data, ["<extra_0>"])
    _seeded(seed)
    config = _config(Qwen2Config, tok, num_labels=labels)
    decoder = Qwen2Model(config).eval()
    head = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(),
                               torch.nn.Linear(64, labels)).eval()
    with torch.no_grad():  # a head with some spread, so the read-out is discriminative
        for layer in (head[0], head[2]):
            layer.weight.normal_(0, 0.15)
            layer.bias.normal_(0, 0.15)
    path.mkdir(parents=True)
    weights = {f"model.{k}": v.detach().clone().contiguous()
               for k, v in decoder.state_dict().items()}
    weights.update({f"score.{k}": v.detach().clone().contiguous()
                    for k, v in head.state_dict().items()})
    save_file(weights, str(path / "model.safetensors"), metadata={"format": "pt"})
    config.architectures = [arch]
    config.save_pretrained(path)
    tok.save_pretrained(path)
    return Tiny(path, tok, {"decoder": decoder, "head": head})


def _causal(shared_data: Path, path: Path, arch: str, seed: int, tok: Any) -> Tiny:
    import transformers

    cfg_cls = getattr(transformers, f"{arch}Config")
    model_cls = getattr(transformers, f"{arch}ForCausalLM")
    _seeded(seed)
    extra = {"sliding_window": None} if arch == "Mistral" else {}
    model = model_cls(_config(cfg_cls, tok, **extra)).eval()
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return Tiny(path, tok, {"model": model})


def build(kind: str, base: Path, shared_data: Path) -> Tiny:
    """The tiny model ``kind`` under ``base`` (built on first use in this process)."""
    key = f"{base}/{kind}"
    if key in _BUILT:
        return _BUILT[key]
    path = base / kind
    if kind == "qwen-prm":
        tiny = _mlp_head_model(shared_data, path, 2, "Qwen2ForProcessRewardModel", 1)
    elif kind == "outcome":
        tiny = _mlp_head_model(shared_data, path, 1, "Qwen2ForRewardModel", 2)
    elif kind in ("token-classification", "pure"):
        from transformers import Qwen2Config, Qwen2ForTokenClassification

        tok = _qwen_tokenizer(shared_data, [])
        _seeded(3 if kind == "token-classification" else 12)
        model = Qwen2ForTokenClassification(_config(Qwen2Config, tok, num_labels=2)).eval()
        model.save_pretrained(path)
        tok.save_pretrained(path)
        tiny = Tiny(path, tok, {"model": model})
    elif kind == "math-shepherd":
        # as in Mistral's vocabulary, "ки" is a token but "▁ки" is not: the corpus writes
        # the tag glued to its left neighbour, so " ки" encodes as "▁" + "ки"
        text = corpus(shared_data).replace(" ки", "ки")
        tok = train_metaspace_tokenizer(text, ["<s>", "</s>"], bos="<s>", eos="</s>")
        tiny = _causal(shared_data, path, "Mistral", 4, tok)
    elif kind == "shepherd-merging":
        # "ки" is a learned BPE token and so is " ки": the tag merges with its space
        tok = train_tokenizer(corpus(shared_data) + " ки ки\nки" * 400, ["<s>", "</s>"], [],
                              bos="<s>", eos="</s>", template=None, learned_only=True)
        tiny = _causal(shared_data, path, "Mistral", 4, tok)
    elif kind == "math-psa":
        # BPE learns the space-prefixed tag " \n\n\n\n\n" as one token ("ĠĊĊĊĊĊ", 76325 in
        # Qwen's vocabulary) from text written the way OpenR writes it; nothing is added
        text = corpus(shared_data) + "a + b \n\n\n\n\n c - d \n\n\n\n\n " * 300
        tok = train_tokenizer(text, QWEN_SPECIALS, [], eos="<|im_end|>", template=CHATML,
                              learned_only=True)
        tiny = _causal(shared_data, path, "Qwen2", 5, tok)
    elif kind == "rlhflow":
        tok = train_tokenizer(corpus(shared_data), ["<|begin_of_text|>", "<|start_header_id|>",
                                                    "<|end_header_id|>", "<|eot_id|>"], [],
                              eos="<|eot_id|>", template=LLAMA3)
        tiny = _causal(shared_data, path, "Llama", 6, tok)
    elif kind == "skywork":
        from transformers import Qwen2Config, Qwen2ForCausalLM

        tok = _qwen_tokenizer(shared_data, [], bos="<|endoftext|>")
        _seeded(7)
        model = Qwen2ForCausalLM(_config(Qwen2Config, tok)).eval()
        v_head = torch.nn.Linear(64, 1).eval()
        with torch.no_grad():
            v_head.weight.normal_(0, 0.5)
        path.mkdir(parents=True)
        _save_with_extra(model, tok, path, {"v_head.summary.weight": v_head.weight,
                                            "v_head.summary.bias": v_head.bias},
                         ["Qwen2ForPrmModel"])
        tiny = Tiny(path, tok, {"model": model, "v_head": v_head})
    elif kind in ("eurus", "eurus-ref"):
        tiny = _causal(shared_data, path, "Qwen2", 8 if kind == "eurus" else 9,
                       _qwen_tokenizer(shared_data, []))
    elif kind == "genprm":
        tiny = _causal(shared_data, path, "Qwen2", 10, _qwen_tokenizer(shared_data, []))
    else:
        raise KeyError(kind)
    _BUILT[key] = tiny
    return tiny


def samples_from_processbench(shared_data: Path, count: int, seed: int = 0,
                              split: str = "gsm8k") -> list[dict[str, Any]]:
    """``count`` ProcessBench items drawn with a fixed seed (varied lengths)."""
    items = load_processbench(shared_data, split)
    chosen = random.Random(seed).sample(range(len(items)), count)
    return [items[i] for i in chosen]


def processbench_item(shared_data: Path, item_id: str) -> dict[str, Any]:
    """One ProcessBench item by id (its split is the id's prefix)."""
    split = item_id.rsplit("-", 1)[0]
    (item,) = [x for x in load_processbench(shared_data, split) if x["id"] == item_id]
    return item


#: a ProcessBench item whose steps end in spaces: stripping them or not changes the input
TRAILING_SPACES = "gsm8k-144"


def tiny_root(tmp_path_factory: Any) -> Path:
    """One folder per test session for all tiny models (shared across test modules)."""
    return Path(tmp_path_factory.getbasetemp()) / "prm-tiny"


def as_problems_samples(items: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
    """ProcessBench items as harness Problems and Samples (one sample per item)."""
    from harness.types import Problem, Sample

    problems = [Problem(item["id"], "processbench", "math",
                        [{"role": "user", "content": item["problem"]}], None,
                        {"statement": item["problem"]}) for item in items]
    samples = [Sample(item["id"], 0, "\n\n".join(item["steps"]), steps=list(item["steps"]))
               for item in items]
    return problems, samples


#: family case -> (shipped spec, tiny model kind)
FAMILY_CASES: dict[str, tuple[str, str]] = {
    "qwen-prm": ("Qwen/Qwen2.5-Math-PRM-7B", "qwen-prm"),
    "token-classification": ("HuggingFaceH4/Qwen2.5-Math-7B-Instruct-PRM-0.2",
                             "token-classification"),
    "token-classification/pure": ("jinachris/Qwen2.5-Math-7B-PRM800K", "pure"),
    "step-tag/math-shepherd": ("peiyi9979/math-shepherd-mistral-7b-prm", "math-shepherd"),
    "step-tag/math-psa": ("openreasoner/Math-psa", "math-psa"),
    "chat-turn": ("RLHFlow/Llama3.1-8B-PRM-Deepseek-Data", "rlhflow"),
    "value-head": ("Skywork/Skywork-o1-Open-PRM-Qwen-2.5-7B", "skywork"),
    "implicit": ("PRIME-RL/EurusPRM-Stage1", "eurus"),
    "outcome": ("Qwen/Qwen2.5-Math-RM-72B", "outcome"),
    "generative": ("GenPRM/GenPRM-7B", "genprm"),
}


def make_prm(case: str, root: Path, shared_data: Path, **options: Any) -> Any:
    """The transformers-backend PRM for a family case, on its tiny model, float32 CPU."""
    from harness.models.prms.adapter import TransformersPRM

    spec, kind = FAMILY_CASES[case]
    tiny = build(kind, root, shared_data)
    if case == "implicit":
        options.setdefault("reference_model", str(build("eurus-ref", root, shared_data).path))
    return TransformersPRM(spec, str(tiny.path), dtype="float32", **options)


def max_abs_diff(got: list[list[float]], want: list[list[float]]) -> float:
    """The largest difference between two per-sample score lists of equal shape."""
    return max(abs(a - b) for g, w in zip(got, want, strict=True)
               for a, b in zip(g, w, strict=True))
