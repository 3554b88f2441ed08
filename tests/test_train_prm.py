"""``train-prm`` (issue 13 item 3) on a tiny real Qwen2 backbone built here and real
ProcessBench labels: SIGKILL mid-run then resume ends bitwise equal to an uninterrupted run;
the head learns; the exported PRM scores through the harness's own PRM exactly as the
trainer reads it; bad configs are one line naming file, line and field."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from harness.cli import main
from harness.errors import ConfigError
from harness.labels.build import build as build_labels
from harness.labels.config import load_labels_config
from harness.models.tiny import save_causal_lm
from harness.training import checkpoint
from harness.training.backbone import build_model, position_limit
from harness.training.config import load_train_config
from harness.training.examples import family_for, load_examples
from harness.training.trainer import Scorer, evaluate, train


@pytest.fixture(scope="module")
def world(shared_data, tmp_path_factory):
    """ProcessBench gsm8k labels and a tiny Qwen2 whose tokenizer learned their text."""
    root = tmp_path_factory.mktemp("train")
    (root / "labels.yaml").write_text(yaml.safe_dump({
        "out": "labels.jsonl", "data_dir": str(shared_data), "dev": {"fraction": 0.2, "seed": 0},
        "sources": [{"kind": "processbench", "splits": ["gsm8k"]}]}))
    labels = Path(build_labels(load_labels_config(root / "labels.yaml"))["out"])
    text = "\n\n".join(json.loads(line)["problem"] + "\n\n" + "\n\n".join(
        json.loads(line)["steps"]) for line in labels.open())
    backbone = save_causal_lm(text, root / "backbone", seed=1, num_hidden_layers=3)
    return {"root": root, "labels": labels, "backbone": backbone}


def _config(world, name: str, **over) -> Path:
    doc = {"name": f"test/{name}", "out": str(world["root"] / "out" / name),
           "backbone": {"path": str(world["backbone"]), "trainable_layers": 1},
           "data": {"files": [str(world["labels"])], "max_records": 48,
                    "max_dev_records": 24},
           "optim": {"lr": 0.003, "batch_size": 4, "max_steps": 20, "warmup_steps": 3},
           "eval_every": 5, "save_every": 5, "seed": 3, "threads": 1}
    for key, value in over.items():
        section, _, field = key.partition("__")
        if field:
            doc[section][field] = value
        else:
            doc[section] = value
    path = world["root"] / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


KILL_AT_13 = """
import os, signal, sys
from harness.training.config import load_train_config
from harness.training.trainer import train
def hook(step):
    if step == 13:
        os.kill(os.getpid(), signal.SIGKILL)
train(load_train_config(sys.argv[1]), on_step=hook)
"""


def test_sigkill_then_resume_is_bitwise_the_uninterrupted_run(world):
    whole = load_train_config(_config(world, "whole"))
    summary = train(whole)
    assert summary["resumed_from"] is None and summary["steps"] == 20
    killed_path = _config(world, "killed")
    proc = subprocess.run([sys.executable, "-c", KILL_AT_13, str(killed_path)],
                          capture_output=True, text=True, env=os.environ)
    assert proc.returncode == -9, proc.stderr[-2000:]
    killed = load_train_config(killed_path)
    out = killed.resolve(killed.out)
    assert checkpoint.latest(out).name == "step-000010"  # the kill came between checkpoints
    resumed = train(killed)
    assert resumed["resumed_from"] == 10
    a = (whole.resolve(whole.out) / "checkpoints/step-000020/trainable.safetensors").read_bytes()
    b = (out / "checkpoints/step-000020/trainable.safetensors").read_bytes()
    assert a == b
    assert resumed["tokens"] == summary["tokens"]
    assert resumed["flops_6PT"] == summary["flops_6PT"]
    log_a = (whole.resolve(whole.out) / "train_log.jsonl").read_text()
    assert log_a == (out / "train_log.jsonl").read_text()
    assert [json.loads(x)["step"] for x in log_a.splitlines()] == [5, 10, 15, 20]


def test_a_head_on_frozen_features_learns_and_scores_as_the_harness_reads_it(
        world, tmp_path, capsys):
    path = _config(world, "head", backbone={"path": str(world["backbone"]), "layers": 2,
                                            "trainable_layers": 0},
                   optim={"lr": 0.01, "batch_size": 8, "max_steps": 40, "warmup_steps": 2})
    cfg = load_train_config(path)
    fresh = build_model(Path(cfg.backbone.path), cfg.backbone, cfg.seed)
    fresh.eval()
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(cfg.backbone.path)
    family = family_for(cfg, tok, position_limit(fresh))
    train_ex, _, info = load_examples(cfg, family, position_limit(fresh))
    assert info["train_records"] == 48 and info["left_out"]["too_long"] == 0
    before = evaluate(Scorer(fresh, True), train_ex, 1.0)["dev_loss"]
    assert main(["train-prm", str(path)]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["trainable_params"] == 2 * 64 + 2  # the 2-label head on 64 features
    trained = build_model(Path(cfg.backbone.path), cfg.backbone, cfg.seed)
    trained.eval()
    checkpoint.load_weights(checkpoint.find(cfg.resolve(cfg.out), 40), trained)
    scorer = Scorer(trained, True)
    after = evaluate(scorer, train_ex, 1.0)["dev_loss"]
    assert after < 0.8 * before, (before, after)
    # the exported folder + spec, scored by `prm-harness score` with the transformers PRM
    items = tmp_path / "items.jsonl"
    assert main(["labels", "items", str(world["labels"]), str(items)]) == 0
    rows = [json.loads(x) for x in items.read_text().splitlines()]
    wanted = {e.id for e in train_ex[:6]}
    items.write_text("".join(json.dumps(r) + "\n" for r in rows if r["problem_id"] in wanted))
    prm = Path(line["prm"])
    assert main(["score", str(items), "--prm", line["spec"], "--model", str(prm),
                 "--out", str(tmp_path / "scores.jsonl")]) == 0
    scored = {json.loads(x)["problem_id"]: json.loads(x)["step_scores"]
              for x in (tmp_path / "scores.jsonl").read_text().splitlines()}
    import torch

    for ex in train_ex[:6]:
        with torch.no_grad():
            mine = torch.sigmoid(scorer.margins(ex)).numpy()
        np.testing.assert_allclose(scored[ex.id], mine, atol=1e-5)
    prov = json.loads((prm / "trained_prm.json").read_text())
    assert prov["step"] == 40 and prov["config"]["name"] == "test/head"
    # the folder's hash is the PRM's identity: no wall time may live in it
    assert "train_s" not in prov["counters"] and "train_s" not in prov["summary"]
    assert prov["counters"]["tokens"] == line["tokens"]
    assert yaml.safe_load(Path(line["spec"]).read_text())["encoding"] == "pieces"


def test_an_intermediate_step_exports_and_a_missing_one_names_the_steps(world, capsys):
    path = _config(world, "whole")  # trained by the first test, or now
    cfg = load_train_config(path)
    if checkpoint.latest(cfg.resolve(cfg.out)) is None:
        train(cfg)
    assert main(["train-prm", str(path), "--export-step", "10"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert Path(out["prm"], "trained_prm.json").is_file()
    assert main(["train-prm", str(path), "--export-step", "7"]) == 2
    err = capsys.readouterr().err
    assert "no checkpoint at step 7" in err and "step-000010" in err


@pytest.mark.parametrize(("change", "field"), [
    ({"optim__lr": -1}, "optim.lr"),
    ({"backbone": {"path": "x", "layers": 1, "trainable_layers": 2}}, "backbone"),
    ({"data__targets": "fuzzy"}, "data.targets"),
    ({"seeed": 1}, "seeed"),
])
def test_bad_configs_are_one_line_with_file_line_field(world, change, field):
    path = _config(world, "bad", **change)
    with pytest.raises(ConfigError) as err:
        load_train_config(path)
    message = str(err.value)
    assert message.startswith(f"{path}:") and f"field '{field}'" in message, message
    assert "\n" not in message


def test_another_config_in_the_same_out_is_refused(world):
    first = load_train_config(_config(world, "clash", optim__max_steps=2))
    train(first)
    second = load_train_config(_config(world, "clash", optim__max_steps=2, seed=4))
    with pytest.raises(ConfigError, match="different training config"):
        train(second)


def test_a_gemma3_backbone_trains_and_scores_through_the_registered_token_classifier(
        world, tmp_path, capsys):
    """transformers ships no Gemma 3 token classifier: harness/models/token_classifiers.py
    registers the generic one, so a Gemma 3 backbone (the zoo's gemma3-270m, here a tiny
    one with the real architecture class) trains, exports and scores like any decoder."""
    import torch
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        Gemma3ForCausalLM,
        Gemma3TextConfig,
    )

    from harness.models.tiny import QWEN_SPECIALS, tiny_config, train_tokenizer
    from harness.models.token_classifiers import register_token_classifiers

    text = "\n\n".join(json.loads(line)["problem"] + "\n\n" + "\n\n".join(
        json.loads(line)["steps"]) for line in world["labels"].open())
    tok = train_tokenizer(text, QWEN_SPECIALS, eos="<|im_end|>")
    torch.manual_seed(5)
    config = tiny_config(Gemma3TextConfig, tok, num_hidden_layers=3, head_dim=32,
                         sliding_window=64, layer_types=["sliding_attention",
                                                         "sliding_attention",
                                                         "full_attention"])
    backbone = tmp_path / "gemma3"
    Gemma3ForCausalLM(config).save_pretrained(backbone)
    tok.save_pretrained(backbone)
    (backbone / "GEMMA_TERMS.html").write_text("the terms travel with the weights")
    register_token_classifiers()
    register_token_classifiers()  # idempotent
    built = AutoModelForTokenClassification.from_config(Gemma3TextConfig(**config.to_dict()))
    assert type(built).__name__ == "Gemma3TextForTokenClassification"

    path = _config(world, "gemma3", backbone={"path": str(backbone), "layers": 2,
                                              "trainable_layers": 0},
                   optim={"lr": 0.01, "batch_size": 8, "max_steps": 10, "warmup_steps": 2})
    assert main(["train-prm", str(path)]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["trainable_params"] == 2 * 64 + 2
    assert (Path(line["prm"]) / "GEMMA_TERMS.html").read_text() == (
        "the terms travel with the weights")
    cfg = load_train_config(path)
    model = build_model(Path(cfg.backbone.path), cfg.backbone, cfg.seed)
    assert len(model.model.layers) == 2 and model.config.layer_types == [
        "sliding_attention", "sliding_attention"]
    checkpoint.load_weights(checkpoint.find(cfg.resolve(cfg.out), 10), model)
    model.eval()
    items = tmp_path / "items.jsonl"
    assert main(["labels", "items", str(world["labels"]), str(items)]) == 0
    rows = [json.loads(x) for x in items.read_text().splitlines()][:4]
    items.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["score", str(items), "--prm", line["spec"], "--model", line["prm"],
                 "--out", str(tmp_path / "scores.jsonl")]) == 0
    scored = [json.loads(x) for x in (tmp_path / "scores.jsonl").read_text().splitlines()]
    assert [s["problem_id"] for s in scored] == [r["problem_id"] for r in rows]
    family = family_for(cfg, AutoTokenizer.from_pretrained(backbone), position_limit(model))
    examples, _, _ = load_examples(cfg, family, position_limit(model))
    by_id = {e.id: e for e in examples}
    scorer = Scorer(model, True)
    checked = 0
    for s in scored:
        if s["problem_id"] in by_id:
            with torch.no_grad():
                mine = torch.sigmoid(scorer.margins(by_id[s["problem_id"]])).numpy()
            np.testing.assert_allclose(s["step_scores"], mine, atol=1e-5)
            checked += 1
    assert all(len(s["step_scores"]) == len(r["steps"]) for s, r in zip(scored, rows, strict=True))
    assert checked >= 1
