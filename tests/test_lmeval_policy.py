"""Policy ``lm-eval``: models built by lm-evaluation-harness' registry (its ``dummy`` model
and its ``hf`` model on a tiny local checkpoint), end to end through ``prm-harness run``,
and the ``step`` contract (the delimiter is kept, so steps join into the solution)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import run_cli
from lmeval_helpers import need_lm_eval

from harness.errors import ConfigError
from harness.interfaces import SamplingParams
from harness.store.jsonl import read_jsonl

TASK = {"name": "synthetic-arith", "options": {"n_problems": 4, "length": 2, "seed": 1}}


def _run(tmp_path: Path, capsys: Any, policy: dict[str, Any], n: int) -> Path:
    config = {"name": "lmeval-policy", "task": TASK, "policy": policy,
              "sampling": {"n": n, "seed": 0, "max_tokens": 12, "stop": ["\n\n\n"]},
              "prms": [{"name": "length"}], "metrics": {"ks": [1, n], "draws": 20,
                                                        "bootstrap": 20},
              "report": {"kinds": []}}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    status, _, err = run_cli(["run", path, "--runs-dir", tmp_path / "runs"], capsys)
    assert status == 0, err
    return tmp_path / "runs" / "lmeval-policy"


def _pool(run: Path) -> list[dict[str, Any]]:
    return [row for shard in sorted((run / "pool").glob("*.jsonl"))
            for _, row in read_jsonl(shard)]


def _policy_identity(run: Path) -> dict[str, Any]:
    manifest = json.loads((run / "manifest.json").read_text())
    identity: dict[str, Any] = manifest["stages"]["pool"]["policy_identity"]
    return identity


def test_dummy_model_end_to_end_through_run(tmp_path, capsys):
    need_lm_eval()
    run = _run(tmp_path, capsys, {"name": "lm-eval", "options": {"model": "dummy"}}, n=3)
    rows = _pool(run)
    assert len(rows) == 4 * 3
    assert {r["text"] for r in rows} == {"lol"}  # what lm-eval's dummy model answers
    assert {r["finish_reason"] for r in rows} == {"stop"}
    identity = _policy_identity(run)
    assert identity["backend"] == "lm-eval"
    assert identity["lm_class"] == "lm_eval.models.dummy.DummyLM"
    assert "request seed" in identity["seed_rule"]
    assert (run / "metrics.json").is_file() and (run / "lmeval_results.json").is_file()
    assert len(list(run.glob("samples_synthetic-arith_*.jsonl"))) == 1


def test_hf_model_on_a_tiny_checkpoint_end_to_end_through_run(tmp_path, capsys,
                                                              tiny_policy_dir):
    need_lm_eval()
    policy = {"name": "lm-eval", "options": {
        "model": "hf", "model_args": f"pretrained={tiny_policy_dir},dtype=float32",
        "batch_size": 4, "device": "cpu", "apply_chat_template": True}}
    run = _run(tmp_path, capsys, policy, n=2)
    rows = _pool(run)
    assert len(rows) == 4 * 2
    assert all(r["prompt_tokens"] > 20 and r["completion_tokens"] > 0 for r in rows)
    assert len({r["text"] for r in rows}) > 1  # sampled, not copies
    identity = _policy_identity(run)
    assert identity["lm_class"] == "lm_eval.models.huggingface.HFLM"
    assert identity["params"] > 10_000
    assert identity["model_args"].startswith("pretrained=")
    from harness.models.policies.lm_eval_policy import LmEvalPolicy

    # what the generate keys hold beyond the options: the checkpoint folder's hash
    resolved = LmEvalPolicy.resolved_identity(**policy["options"])
    assert resolved["pretrained"]["folder_sha256"] and resolved["lm_eval"]


@pytest.fixture(scope="module")
def hf_policy(tiny_policy_dir: str) -> Any:
    need_lm_eval()
    from harness.models.policies.lm_eval_policy import LmEvalPolicy

    return LmEvalPolicy("hf", {"pretrained": tiny_policy_dir, "dtype": "float32"},
                        batch_size=2, device="cpu", apply_chat_template=True)


PROMPT = [[{"role": "user", "content": "Mia has 3 apples. How many apples does Mia have?"}]]


def test_seeded_sampling_repeats_and_seeds_differ(hf_policy):
    params = SamplingParams(n=3, temperature=1.0, max_tokens=10, seed=5)
    first = [c.text for c in hf_policy.sample(PROMPT, params)[0]]
    again = [c.text for c in hf_policy.sample(PROMPT, params)[0]]
    other = [c.text for c in hf_policy.sample(PROMPT, SamplingParams(
        n=3, temperature=1.0, max_tokens=10, seed=6))[0]]
    assert first == again and first != other
    assert len(set(first)) > 1


def test_greedy_is_one_request_copied(hf_policy):
    out = hf_policy.sample(PROMPT, SamplingParams(n=3, temperature=0.0, max_tokens=8))[0]
    assert len({c.text for c in out}) == 1 and len(out) == 3
    calls = hf_policy.compute_calls()
    assert calls[-1]["tokens_out"] == out[0].completion_tokens  # one request, not three


def test_steps_keep_the_delimiter_or_end_at_the_budget(hf_policy):
    from harness.models.policies.lm_eval_policy import LmEvalPolicy

    params = SamplingParams(n=2, temperature=1.0, max_tokens=6, seed=1, stop=["."])
    steps = hf_policy.step(PROMPT, ["Mia has"], params)[0]
    for c in steps:
        assert c.finish_reason in ("step", "length")
        if c.finish_reason == "step":
            assert c.text.endswith(".") and c.text.count(".") == 1
    dummy = LmEvalPolicy("dummy")
    (done,) = dummy.step(PROMPT, ["First."], SamplingParams(n=1, stop=["\n\n"]))
    assert [(c.text, c.finish_reason) for c in done] == [("lol\n\n", "step")]
    with pytest.raises(ConfigError, match="step delimiter"):
        dummy.step(PROMPT, [""], SamplingParams(n=1))


def test_unknown_lm_eval_model_is_a_config_error():
    need_lm_eval()
    from harness.models.policies.lm_eval_policy import LmEvalPolicy, gen_kwargs

    with pytest.raises(ConfigError, match="lm-eval cannot build model 'no-such-model'"):
        LmEvalPolicy("no-such-model")
    assert gen_kwargs(SamplingParams(temperature=0.0, max_tokens=7, stop=["\n\n"])) == {
        "until": ["\n\n"], "max_gen_toks": 7, "do_sample": False, "temperature": 0.0}
    assert gen_kwargs(SamplingParams(temperature=0.7, top_p=0.9))["do_sample"] is True
