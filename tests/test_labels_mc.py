"""Monte Carlo step labels with real policies and graders (the simulated policy on
synthetic-arith; replayed solutions on HumanEval+ run in the sandbox) and ASLAF filtering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness.errors import InputError
from harness.labels import read_labels
from harness.labels.build import build
from harness.labels.common import first_error
from harness.labels.config import load_labels_config
from harness.synthetic.policy import SimPolicy


def _build(folder: Path, doc: dict) -> tuple[Path, dict]:
    """Build ``doc`` (every build reads MATH-500 for the overlap record: the mirror)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "labels.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    out = Path(build(load_labels_config(path))["out"])
    return out, json.loads(Path(f"{out}.provenance.json").read_text())


def _mc(out: str, policy_options: dict, k: int, kind: str, seed: int = 0,
        cache: str | None = None, problems: int = 12) -> dict:
    source = {"kind": "monte-carlo",
              "task": {"name": "synthetic-arith",
                       "options": {"n_problems": problems, "seed": 0}},
              "solutions": {"policy": {"name": "sim", "options": {"error_rate": 0.2}},
                            "n": 3, "seed": 0},
              "rollout": {"policy": {"name": "sim", "options": policy_options}, "k": k,
                          "seed": seed},
              "label_kind": kind}
    if cache:
        source["cache"] = cache
    return {"out": out, "dev": {"fraction": 0.0}, "sources": [source]}


def _states(record):
    policy = SimPolicy(error_rate=0.2)
    messages = [{"role": "user", "content": record.problem}]
    _, chain = policy.chain_for(messages)
    return chain, chain.trace(list(record.steps))


def test_a_prefix_with_a_wrong_step_gets_hard_label_zero(shared_data, tmp_path):
    """Without recovery, no completion of a wrong prefix can reach the right answer."""
    options = {"error_rate": 0.2, "recovery_rate": 0.0}
    out, prov = _build(tmp_path, _mc("hard.jsonl", options, k=4, kind="hard"))
    records = read_labels(out)
    assert len(records) == 36
    wrong_steps = right_steps = 0
    for rec in records:
        assert rec.label_kind == "hard" and rec.source == "monte-carlo"
        _, states = _states(rec)
        for state, label in zip(states, rec.labels, strict=True):
            if state.finished:
                assert label == (1.0 if state.final_right else 0.0)
            elif state.wrong:
                wrong_steps += 1
                assert label == 0.0
            else:
                right_steps += label == 1.0
    assert wrong_steps > 10 and right_steps > 50
    source = prov["sources"][0]
    assert source["rollouts"] == 4 * sum(len(r.steps) - 1 for r in records)
    assert source["rollout"]["identity"]["recovery_rate"] == 0.0
    assert source["rollouts_truncated"] == 0


def test_soft_labels_estimate_the_exact_step_values_and_resume_from_cache(shared_data, tmp_path):
    """The simulated chain knows each prefix's exact success probability: the soft labels
    (k = 16) are unbiased estimates of it. A rebuild reuses every cached rollout."""
    doc = _mc("soft.jsonl", {"error_rate": 0.2}, k=16, kind="soft", cache="cache",
              problems=6)
    out, prov = _build(tmp_path, doc)
    records = read_labels(out)
    errors = []
    for rec in records:
        chain, states = _states(rec)
        for state, label in zip(states[:-1], rec.labels[:-1], strict=True):
            errors.append(label - chain.value(state))
    assert len(errors) > 80
    assert abs(sum(errors) / len(errors)) < 0.03
    assert max(abs(e) for e in errors) < 0.6
    cache = prov["sources"][0]["cache"]
    # repeated solutions share prefixes, whose rollouts are the same (same seed): cached
    assert cache["misses"] + cache["hits"] == prov["sources"][0]["rollouts"]
    assert cache["misses"] > 0
    first = out.read_bytes()
    out2, prov2 = _build(tmp_path, doc)
    assert out2.read_bytes() == first
    assert prov2["sources"][0]["cache"]["hits"] == prov["sources"][0]["rollouts"]
    assert prov2["sources"][0]["cache"]["misses"] == 0
    # another seed draws other rollouts
    other, _ = _build(tmp_path / "seed1", {**doc, "sources": [
        {**doc["sources"][0], "rollout": {**doc["sources"][0]["rollout"], "seed": 1}}]})
    assert other.read_bytes() != first


PROSE = "I compare every pair of different positions.\n\n"
RIGHT = "Two numbers are close when their distance is below the threshold.\n\n"
WRONG = "Two numbers are close when their distance is above the threshold.\n\n"
CODE = ("```python\nfrom typing import List\n\n\n"
        "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
        "    for i, a in enumerate(numbers):\n"
        "        for j, b in enumerate(numbers):\n"
        "            if i != j and abs(a - b) {op} threshold:\n"
        "                return True\n"
        "    return False\n```\n")


def test_code_monte_carlo_labels_run_completions_in_the_sandbox(shared_data, tmp_path,
                                                                code_cache):
    """Replayed rollouts on HumanEval/0: from the shared first step the replay continues
    with the right solution (passes base and plus tests in the sandbox); from the wrong
    second step only the wrong one continues (fails). So the wrong solution's labels are
    [1, 0, 0] and the right one's [1, 1, 1]."""
    pool = tmp_path / "pool.jsonl"
    right = PROSE + RIGHT + CODE.format(op="<")
    wrong = PROSE + WRONG + CODE.format(op=">")
    pool.write_text("".join(json.dumps({"problem_id": "HumanEval/0", "completion": text})
                            + "\n" for text in (right, wrong)))
    out, prov = _build(tmp_path, {"out": "code.jsonl", "dev": {"fraction": 0}, "sources": [{
        "kind": "monte-carlo",
        "task": {"name": "humanevalplus", "problems": {"ids": ["HumanEval/0"]}},
        "solutions": {"file": "pool.jsonl"},
        "rollout": {"policy": {"name": "replay", "options": {
            "pool": str(pool), "task": "humanevalplus"}}, "k": 1},
        "label_kind": "hard"}]})
    records = {r.meta["solution_index"]: r for r in read_labels(out)}
    assert records[0].domain == "code" and records[0].problem_id == "HumanEval/0"
    assert records[0].steps == (PROSE, RIGHT, CODE.format(op="<"))
    assert records[0].labels == (1.0, 1.0, 1.0)
    assert records[1].labels == (1.0, 0.0, 0.0)
    assert records[1].meta["solution_correct"] is False
    assert prov["sources"][0]["task"]["task"] == "humanevalplus"


def _record(pid: str, steps: list[str], labels: list, key: str = "s000",
            kind: str = "soft") -> dict:
    return {"id": f"monte-carlo/{pid}/{key}", "source": "monte-carlo", "domain": "math",
            "problem_id": pid, "problem": f"Problem {pid}?", "steps": steps,
            "labels": labels, "label_kind": kind, "split": "train", "meta": {}}


def _write(path: Path, records: list[dict]) -> Path:
    records = sorted(records, key=lambda r: r["id"])
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_aslaf_keeps_agreeing_solutions_and_drops_the_others(shared_data, tmp_path):
    steps = ["a\n\n", "b\n\n", "c"]
    a = _write(tmp_path / "a.jsonl", [
        _record("p1", steps, [0.9, 0.2, 0.0]),  # error at 1 in both: kept
        _record("p2", steps, [1.0, 0.75, 1.0]),  # no error in both: kept
        _record("p3", steps, [0.8, 0.1, 0.0]),  # 1 here, 2 there: dropped
        _record("p4", steps, [1.0, 1.0, 1.0]),  # only here: unmatched
    ])
    b = _write(tmp_path / "b.jsonl", [
        _record("p1", steps, [0.6, 0.4, 0.5], key="other"),
        _record("p2", steps, [0.5, 0.5, 1.0]),
        _record("p3", steps, [0.7, 0.6, 0.0]),
    ])
    doc = {"out": "aslaf.jsonl", "sources": [{"kind": "aslaf", "inputs": [str(a), str(b)],
                                              "threshold": 0.5}]}
    out, prov = _build(tmp_path, doc)
    kept = {r.problem_id: r for r in read_labels(out)}
    assert set(kept) == {"p1", "p2"}
    assert kept["p1"].labels == (1.0, 0.0, None) and kept["p1"].label_kind == "hard"
    assert kept["p2"].labels == (1.0, 1.0, 1.0)
    assert kept["p1"].meta["from"] == ["monte-carlo/p1/s000", "monte-carlo/p1/other"]
    info = prov["sources"][0]
    assert info["kept"] == 2
    assert info["dropped"] == {"unmatched": 1, "unknown": 0, "disagree": 1}
    # mean labels up to the agreed error, and a PRM's scores as the second labeller
    scores = tmp_path / "scores.jsonl"
    scores.write_text("".join(json.dumps({"problem_id": rid, "step_scores": s}) + "\n"
                              for rid, s in [("monte-carlo/p1/s000", [0.7, 0.3, 0.9]),
                                             ("monte-carlo/p2/s000", [0.9, 0.2, 0.9]),
                                             ("monte-carlo/p3/s000", [0.9, 0.3, 0.9])]))
    out2, prov2 = _build(tmp_path / "scored", {"out": "aslaf.jsonl", "sources": [{
        "kind": "aslaf", "inputs": [str(a)], "labels": "mean",
        "scored": [{"labels": str(a), "scores": str(scores), "threshold": 0.5}]}]})
    kept2 = {r.problem_id: r for r in read_labels(out2)}
    assert set(kept2) == {"p1", "p3"}  # p2: the PRM sees an error the labels do not
    assert kept2["p1"].labels == (pytest.approx(0.8), pytest.approx(0.25), None)
    assert prov2["sources"][0]["dropped"] == {"unmatched": 1, "unknown": 0, "disagree": 1}


def test_aslaf_on_two_monte_carlo_labellers(shared_data, tmp_path):
    """Two rollout policies label the same sampled solutions; ASLAF keeps exactly those
    whose first errors (soft label < 0.5) agree, recomputed here from both files."""
    a, _ = _build(tmp_path / "a", _mc("a.jsonl", {"error_rate": 0.2}, k=8, kind="soft",
                                      problems=8))
    b, _ = _build(tmp_path / "b", _mc("b.jsonl", {"error_rate": 0.35}, k=8, kind="soft",
                                      seed=1, problems=8))
    out, prov = _build(tmp_path, {"out": "aslaf.jsonl", "sources": [
        {"kind": "aslaf", "inputs": [str(a), str(b)]}]})
    first_a = {(r.problem, r.steps): first_error(r.labels, 0.5) for r in read_labels(a)}
    first_b = {(r.problem, r.steps): first_error(r.labels, 0.5) for r in read_labels(b)}
    agree = {key for key in first_a if first_a[key] == first_b[key]}
    kept = read_labels(out)
    assert {(r.problem, r.steps) for r in kept} == agree
    assert prov["sources"][0]["dropped"]["disagree"] == len(first_a) - len(agree) > 0
    for rec in kept:
        error = first_a[(rec.problem, rec.steps)]
        assert rec.meta["first_error"] == error
        if error >= 0:
            assert rec.labels[error] == 0.0 and set(rec.labels[:error]) <= {1.0}
            assert all(v is None for v in rec.labels[error + 1:])


def test_aslaf_of_a_missing_file_names_it(shared_data, tmp_path):
    with pytest.raises(InputError, match=r"missing\.jsonl: file not found"):
        _build(tmp_path, {"out": "x.jsonl", "sources": [
            {"kind": "aslaf", "inputs": ["missing.jsonl", "missing.jsonl"]}]})
    assert not (tmp_path / "x.jsonl").exists()


def test_batched_rollouts_give_the_labels_of_one_rollout_a_call(shared_data, tmp_path,
                                                                monkeypatch):
    """A policy that takes per-request seeds gets all of a solution's rollouts in one call
    a step; the seeds are the one-at-a-time ones, so the labels are the same, and the
    engine calls are far fewer."""
    from harness.labels import montecarlo

    doc = _mc("b.jsonl", {"error_rate": 0.2}, k=4, kind="soft", problems=4)
    doc["sources"][0]["rollout"]["max_steps"] = 16
    batched, prov_b = _build(tmp_path / "batched", doc)
    real_init = montecarlo.MonteCarloLabeler.__init__

    def one_at_a_time(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        self.batched = False

    monkeypatch.setattr(montecarlo.MonteCarloLabeler, "__init__", one_at_a_time)
    single, prov_s = _build(tmp_path / "single", doc)
    assert batched.read_bytes() == single.read_bytes()
    b, s = prov_b["sources"][0], prov_s["sources"][0]
    assert b["policy_step_calls"] == s["policy_step_calls"] > 0
    assert b["rollouts"] == s["rollouts"]
    assert b["policy_engine_calls"] < s["policy_engine_calls"] / 4


def test_code_statement_steps_need_a_code_task(shared_data, tmp_path):
    from harness.errors import ConfigError

    doc = _mc("x.jsonl", {"error_rate": 0.2}, k=2, kind="soft", problems=2)
    doc["sources"][0]["steps"] = "code-statements"
    with pytest.raises(ConfigError, match="code-statements needs a code task"):
        _build(tmp_path, doc)
