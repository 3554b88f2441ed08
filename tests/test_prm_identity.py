"""A checkpoint is known by its content: keys hold what was resolved, and weights that do
not fit the model class are an error, never random initialisation."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
import yaml
from prm_tiny import build
from safetensors.torch import load_file, save_file

from harness.config import load_config
from harness.errors import ConfigError
from harness.models.prms.adapter import TransformersPRM
from harness.pipeline.runner import Runner
from harness.store.run_reader import read_run

SPEC = "HuggingFaceH4/Qwen2.5-Math-7B-Instruct-PRM-0.2"  # token-classification family


def _copy(root, shared_data, kind, target):
    shutil.copytree(build(kind, root, shared_data).path, target)
    return target


def _scores(run):
    records = read_run(run)
    (per_problem,) = records.scores.values()
    return {(s.problem_id, s.sample_index): s.scores
            for rows in per_problem.values() for s in rows}


def test_new_weights_at_the_same_path_are_scored_again(root, shared_data, tmp_path):
    folder = _copy(root, shared_data, "token-classification", tmp_path / "ckpt")
    config = {"name": "ci", "task": {"name": "synthetic-arith",
                                     "options": {"n_problems": 6, "length": 3, "seed": 1}},
              "policy": {"name": "sim"}, "sampling": {"n": 2, "seed": 0},
              "prms": [{"name": "transformers", "label": "candidate",
                        "options": {"spec": SPEC, "model": str(folder), "dtype": "float32"}}],
              "metrics": {"ks": [1, 2], "draws": 20, "bootstrap": 20},
              "report": {"kinds": []}, "shard_size": 3}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    first = Runner(load_config(path), tmp_path / "runs").execute()
    before = _scores(first)
    stage = next(s for s in first.manifest()["stages"] if s.startswith("scores/"))

    weights = load_file(str(folder / "model.safetensors"))  # a new checkpoint, same path
    torch.manual_seed(5)
    weights = {k: v + 0.5 * torch.randn_like(v) for k, v in weights.items()}
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})

    second = Runner(load_config(path), tmp_path / "runs").execute()
    assert second.path == first.path
    entry = second.manifest()["stages"][stage]
    assert entry["shards_reused"] == 0, "the old checkpoint's scores were reused"
    after = _scores(second)
    assert after.keys() == before.keys()
    assert any(after[k] != before[k] for k in before)
    assert second.manifest()["stages"]["pool"]["shards_reused"] == 2  # the pool is kept
    resolved = entry["prm_identity"]["resolved_revisions"]["prm"]["folder_sha256"]
    planned = TransformersPRM.resolved_identity(spec=SPEC, model=str(folder))
    assert planned["models"]["prm"]["folder_sha256"] == resolved
    assert planned["adapter_version"] == TransformersPRM.version


def test_a_causal_lm_folder_is_not_a_token_classification_prm(root, shared_data, tmp_path):
    folder = _copy(root, shared_data, "genprm", tmp_path / "causal")  # Qwen2ForCausalLM
    with pytest.raises(ConfigError) as caught:
        TransformersPRM(SPEC, str(folder), dtype="float32")
    message = str(caught.value)
    assert "Qwen2ForTokenClassification" in message
    assert message.endswith("missing (2): score.bias, score.weight")


def test_a_renamed_tensor_is_an_error_naming_both_names(root, shared_data, tmp_path):
    folder = _copy(root, shared_data, "token-classification", tmp_path / "renamed")
    weights = load_file(str(folder / "model.safetensors"))
    weights["model.final_norm.weight"] = weights.pop("model.norm.weight")
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ConfigError, match=r"missing \(1\): model\.norm\.weight; "
                                          r"unexpected \(1\): model\.final_norm\.weight"):
        TransformersPRM(SPEC, str(folder), dtype="float32")


def test_a_head_checkpoint_loads_without_complaint(root, shared_data):
    """The decoder class leaves the separately read head unused: that is not an error."""
    prm = TransformersPRM("Qwen/Qwen2.5-Math-PRM-7B",
                          str(build("qwen-prm", root, shared_data).path), dtype="float32")
    assert json.dumps(prm.identity()["resolved_revisions"])
