"""PRM spec files: shipped specs validate, lookup is by id or path only, errors are clear."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from harness import registry
from harness.errors import ConfigError
from harness.models.prms.specs import (
    SPEC_PATH_ENV,
    load_spec,
    parse_spec,
    shipped_specs,
    spec_filename,
)

PROTOCOL_IDS = [  # every public PRM of PRM_PROTOCOLS.md whose family is implemented
    "Qwen/Qwen2.5-Math-PRM-7B", "Qwen/Qwen2.5-Math-PRM-72B", "Qwen/Qwen2.5-Math-7B-PRM800K",
    "Qwen/Qwen2.5-Math-RM-72B", "peiyi9979/math-shepherd-mistral-7b-prm",
    "RLHFlow/Llama3.1-8B-PRM-Mistral-Data", "RLHFlow/Llama3.1-8B-PRM-Deepseek-Data",
    "Skywork/Skywork-o1-Open-PRM-Qwen-2.5-1.5B", "Skywork/Skywork-o1-Open-PRM-Qwen-2.5-7B",
    "PRIME-RL/EurusPRM-Stage1", "PRIME-RL/EurusPRM-Stage2", "openreasoner/Math-psa",
    "HuggingFaceH4/Qwen2.5-Math-1.5B-Instruct-PRM-0.2",
    "HuggingFaceH4/Qwen2.5-Math-7B-Instruct-PRM-0.2", "jinachris/Qwen2.5-Math-7B-PRM800K",
    "GenPRM/GenPRM-1.5B", "GenPRM/GenPRM-7B", "GenPRM/GenPRM-32B",
]


def test_shipped_specs_cover_the_protocol_notes_and_every_family():
    specs = shipped_specs()
    assert sorted(specs) == sorted(PROTOCOL_IDS)
    assert {s.family for s in specs.values()} == set(registry.names("family"))


def test_shipped_specs_state_the_protocol_details():
    specs = shipped_specs()
    qwen = specs["Qwen/Qwen2.5-Math-PRM-7B"]
    assert (qwen.step_tag.text, qwen.step_tag.take, qwen.correct_index, qwen.to_unit) == \
        ("<extra_0>", "only", 1, "identity")
    assert qwen.system_prompt == ("Please reason step by step, and put your final answer "
                                  "within \\boxed{}.")
    shepherd = specs["peiyi9979/math-shepherd-mistral-7b-prm"]
    # the card's rules: encode("ки")[-1] and encode("+ -")[1:] (PRM_PROTOCOLS 3.3)
    assert (shepherd.step_tag.text, shepherd.step_tag.take) == ("ки", "last")
    assert (shepherd.label_tokens.joint, shepherd.correct_index) == ("+ -", 0)
    assert shepherd.step_suffix == " ки" and shepherd.step_joiner == "\n"
    # OpenR: encode(" \n\n\n\n\n")[-1] and encode(" + -") (PRM_PROTOCOLS 3.7)
    psa = specs["openreasoner/Math-psa"]
    assert (psa.step_tag.text, psa.step_tag.take) == (" \n\n\n\n\n", "last")
    assert (psa.step_suffix, psa.label_tokens.joint) == (" \n\n\n\n\n ", " + -")
    rlhflow = specs["RLHFlow/Llama3.1-8B-PRM-Deepseek-Data"]
    assert [(t.text, t.take) for t in rlhflow.label_tokens] == [("+", "last"), ("-", "last")]
    eurus = specs["PRIME-RL/EurusPRM-Stage1"]
    assert (eurus.beta, eurus.to_unit, eurus.value) == (0.001, "sigmoid", "cumulative")
    assert specs["Skywork/Skywork-o1-Open-PRM-Qwen-2.5-7B"].to_unit == "sigmoid"
    assert specs["Qwen/Qwen2.5-Math-RM-72B"].to_unit == "sigmoid"
    assert specs["RLHFlow/Llama3.1-8B-PRM-Mistral-Data"].recommended_aggregation == "mean"
    pure = specs["jinachris/Qwen2.5-Math-7B-PRM800K"]  # the card's "\n" after each step
    assert (pure.separator, pure.encoding, pure.readout, pure.to_unit) == \
        ("\n", "pieces", "p-correct-minus-p-wrong", "shift-half")
    for model_id, spec in specs.items():  # every spec declares its range and mapping
        assert spec.native_range and spec.protocol and spec.to_unit, model_id


def test_load_by_id_by_path_and_from_the_user_folder(tmp_path, monkeypatch):
    assert load_spec("Qwen/Qwen2.5-Math-PRM-7B").family == "qwen-prm"
    own = shipped_specs()["Qwen/Qwen2.5-Math-PRM-7B"].model_dump(mode="json")
    own["model_id"] = "me/my-prm"
    own["step_tag"] = "<step>"
    path = tmp_path / spec_filename("me/my-prm")
    path.write_text(yaml.safe_dump(own))
    assert path.name == "me__my-prm.yaml"
    assert load_spec(str(path)).step_tag.text == "<step>"
    with pytest.raises(ConfigError, match="no PRM spec for 'me/my-prm'"):
        load_spec("me/my-prm")
    monkeypatch.setenv(SPEC_PATH_ENV, str(tmp_path))
    assert load_spec("me/my-prm").step_tag.text == "<step>"


def test_every_shipped_spec_states_whether_its_card_strips_steps():
    """The default is never relied on: each file says what its card does (PRM_PROTOCOLS)."""
    from importlib import resources

    folder = resources.files("harness.models.specs")
    for entry in folder.iterdir():
        if entry.name.endswith(".yaml"):
            assert "strip_steps" in yaml.safe_load(entry.read_text()), entry.name
    specs = shipped_specs()
    assert not specs["Qwen/Qwen2.5-Math-PRM-7B"].strip_steps  # the card joins steps as given
    assert specs["openreasoner/Math-psa"].strip_steps  # OpenR strips every step


def test_revisions_are_real_commits_or_left_to_load_time():
    import re

    specs = shipped_specs()
    for model_id, spec in specs.items():  # null: resolved when loaded, and recorded
        assert spec.revision is None or re.fullmatch(r"[0-9a-f]{40}", spec.revision), model_id
    # PRM_PROTOCOLS 2.5: the RLHFlow tokenizer's chat template is pinned where known
    assert specs["RLHFlow/Llama3.1-8B-PRM-Deepseek-Data"].revision == \
        "23880e0a08ec8f22c3496e4660d7d1ea3edeeeb4"


def test_token_rules_dump_compactly_and_round_trip():
    specs = shipped_specs()
    qwen = specs["Qwen/Qwen2.5-Math-PRM-7B"].model_dump(mode="json")
    assert qwen["step_tag"] == "<extra_0>"  # the default rule dumps as the plain text
    shepherd = specs["peiyi9979/math-shepherd-mistral-7b-prm"].model_dump(mode="json")
    assert shepherd["step_tag"] == {"text": "ки", "take": "last"}
    assert shepherd["label_tokens"] == {"joint": "+ -"}
    for model_id, spec in specs.items():
        dumped = spec.model_dump(mode="json")
        assert parse_spec(dumped, model_id) == spec, model_id


def test_a_model_name_alone_is_never_enough():
    with pytest.raises(ConfigError, match="never guessed from a model name"):
        load_spec("Qwen/Qwen2.5-Math-PRM-1.5B")  # looks like a Qwen PRM, has no spec


@pytest.mark.parametrize(("body", "message"), [
    ("family: telepathy\nmodel_id: a/b\n", "field 'family': 'telepathy' is not a protocol"),
    ("- just\n- a list\n", "must be a YAML mapping"),
    ("family: qwen-prm\nmodel_id: a/b\nprotocol: p\nnative_range: r\nto_unit: identity\n"
     "step_tag: '<s>'\n", "field 'system_prompt': Field required"),
    ("family: qwen-prm\nmodel_id: a/b\nprotocol: p\nnative_range: r\nto_unit: identity\n"
     "step_tag: '<s>'\nsystem_prompt: s\nstep_tag_id: 5\n", "field 'step_tag_id': Extra inputs"),
    ("family: step-tag\nmodel_id: a/b\nprotocol: p\nnative_range: r\nto_unit: identity\n"
     "step_tag: t\nstep_suffix: ' t'\nlabel_tokens: ['+', '-']\nprompt_template: '{question}'\n",
     "field 'prompt_template'.*must contain {problem}"),
    ("family: qwen-prm\nmodel_id: a/b\nprotocol: p\nnative_range: r\nto_unit: tanh\n"
     "step_tag: '<s>'\nsystem_prompt: s\n", "field 'to_unit'"),
    ("family: qwen-prm\nmodel_id: a/b\nprotocol: p\nnative_range: r\nto_unit: identity\n"
     "step_tag: '<s>'\nsystem_prompt: s\nstep_template: 'Step {n}: {step}'\n",
     "unknown placeholder {n}"),
    ("family: step-tag\nmodel_id: a/b\nprotocol: p\nnative_range: r\nto_unit: identity\n"
     "step_tag: {text: t, take: first}\nstep_suffix: ' t'\nlabel_tokens: ['+', '-']\n",
     "field 'step_tag.take'"),
    ("family: [unclosed\n", "malformed YAML"),
])
def test_bad_spec_files_name_the_file_and_field(tmp_path, body, message):
    path = tmp_path / "bad.yaml"
    path.write_text(textwrap.dedent(body))
    with pytest.raises(ConfigError, match=message) as info:
        load_spec(str(path))
    assert str(path) in str(info.value)


def test_missing_spec_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="spec file not found"):
        load_spec(str(tmp_path / "absent.yaml"))
