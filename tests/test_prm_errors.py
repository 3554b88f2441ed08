"""Inputs a PRM cannot score faithfully are clear errors naming the sample, never a
padded, truncated or guessed score list."""

from __future__ import annotations

import pytest
import yaml
from prm_tiny import FAMILY_CASES, as_problems_samples, build, make_prm
from prm_tiny import samples_from_processbench as draw

from harness.errors import ConfigError, ScoreError
from harness.models.prms.adapter import TransformersPRM
from harness.models.prms.specs import shipped_specs
from harness.types import Problem, Sample


@pytest.fixture(scope="module")
def item(shared_data):
    return draw(shared_data, 1, seed=5)[0]


def _one(item, steps=None, problem=None):
    problems, samples = as_problems_samples([item])
    if problem is not None:
        problems = [Problem(item["id"], "t", "math", [], None, {"statement": problem})]
    if steps is not None:
        samples = [Sample(item["id"], 0, "", steps=steps)]
    return problems, samples


def _user_spec(tmp_path, base_id, **changes):
    data = shipped_specs()[base_id].model_dump(mode="json")
    data.update(changes)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_a_step_tag_merged_by_the_tokenizer_is_an_error(root, shared_data, item):
    # this tokenizer learned "ки" and also " ки": written after a space, the tag becomes
    # another token, so no tag is found where the card expects one per step
    tiny = build("shepherd-merging", root, shared_data)
    tok = tiny.tokenizer
    assert len(tok.encode("ки", add_special_tokens=False)) == 1
    assert tok.encode(" ки", add_special_tokens=False) != tok.encode("ки",
                                                                       add_special_tokens=False)
    prm = TransformersPRM("peiyi9979/math-shepherd-mistral-7b-prm", str(tiny.path),
                          dtype="float32")
    with pytest.raises(ScoreError, match=rf"sample '{item['id']}' #0: found 0 step-tag 'ки' "
                                         rf"tokens for {len(item['steps'])} steps; the "
                                         "tokenizer merged the separator"):
        prm.score(*_one(item))


def test_a_separator_merged_with_the_next_step_is_an_error(root, shared_data, item, tmp_path):
    # a TRL-style separator " " merges with the next step's first word under BPE
    tiny = build("token-classification", root, shared_data)
    spec = _user_spec(tmp_path, "HuggingFaceH4/Qwen2.5-Math-7B-Instruct-PRM-0.2", separator=" ")
    prm = TransformersPRM(spec, str(tiny.path), dtype="float32")
    with pytest.raises(ScoreError, match=r"#0: step 1: the tokens of the text up to this "
                                         r"step's separator ' ' are not a prefix"):
        prm.score(*_one(item, steps=["First we add", "then we subtract"]))


@pytest.mark.parametrize("case", sorted(FAMILY_CASES))
def test_an_input_over_the_length_limit_is_refused_not_truncated(case, root, shared_data,
                                                                 item):
    default = make_prm(case, root, shared_data)
    assert default.max_length == 4096  # the tiny config's max_position_embeddings
    prm = make_prm(case, root, shared_data, max_length=64)
    with pytest.raises(ScoreError, match=rf"sample '{item['id']}' #0: the input is \d+ "
                                         r"tokens, over the limit of 64; truncating it would "
                                         r"leave \d+ of \d+ read positions"):
        prm.score(*_one(item))


def test_step_containing_the_tag_and_problem_containing_the_tag(root, shared_data, item):
    qwen = make_prm("qwen-prm", root, shared_data)
    with pytest.raises(ScoreError, match="step 2 contains the step tag '<extra_0>'"):
        qwen.score(*_one(item, steps=["a", "b <extra_0> c"]))
    shepherd = make_prm("step-tag/math-shepherd", root, shared_data)
    with pytest.raises(ScoreError, match="found 3 step-tag 'ки' tokens for 2 steps"):
        shepherd.score(*_one(item, steps=["x", "y"], problem="What is ки?"))


def test_empty_steps_are_scored_and_no_steps_is_an_error(root, shared_data, item):
    """A blank step (and an empty response, which tasks split into one empty step) is
    written as the card writes it and scored; a step list with nothing in it is refused."""
    from harness.steps import split_blank_lines

    prm = make_prm("qwen-prm", root, shared_data)
    (scored,) = prm.score(*_one(item, steps=["a", "  \n"]))
    assert len(scored.scores) == 2 and all(0.0 <= s <= 1.0 for s in scored.scores)
    assert split_blank_lines("") == [""]
    (empty,) = prm.score(*_one(item, steps=split_blank_lines("")))
    assert len(empty.scores) == 1 and 0.0 <= empty.scores[0] <= 1.0
    with pytest.raises(ScoreError, match="the sample has no steps"):
        prm.score(*_one(item, steps=[]))


def test_special_tokens_must_be_single_tokens_of_the_models_tokenizer(root, shared_data,
                                                                      tmp_path):
    tiny = build("math-shepherd", root, shared_data)
    spec = _user_spec(tmp_path, "peiyi9979/math-shepherd-mistral-7b-prm",
                      label_tokens=["+ good", "-"])
    with pytest.raises(ConfigError, match=r"spec field 'label_tokens': '\+ good' is \d+ tokens"):
        TransformersPRM(spec, str(tiny.path), dtype="float32")
    # the card's encode(text)[-1] rule skips a boundary piece, never part of the text
    spec = _user_spec(tmp_path, "peiyi9979/math-shepherd-mistral-7b-prm",
                      step_suffix=" Step ки", step_tag={"text": "Step ки", "take": "last"})
    with pytest.raises(ConfigError, match=r"spec field 'step_tag': 'Step ки' is \d+ tokens.*"
                                          r"may only skip whitespace pieces"):
        TransformersPRM(spec, str(tiny.path), dtype="float32")
    spec = _user_spec(tmp_path, "peiyi9979/math-shepherd-mistral-7b-prm",
                      label_tokens={"joint": "+ - +"})
    with pytest.raises(ConfigError, match=r"joint '\+ - \+' is 3 tokens.*exactly two"):
        TransformersPRM(spec, str(tiny.path), dtype="float32")
    # Qwen's tag does not exist in Math-Shepherd's tokenizer: refused, not looked up by id
    qwen_spec = "Qwen/Qwen2.5-Math-PRM-7B"
    with pytest.raises(ConfigError, match=r"spec field 'step_tag': '<extra_0>' is \d+ tokens"):
        TransformersPRM(qwen_spec, str(tiny.path), dtype="float32")


def test_model_and_spec_mismatches_are_config_errors(root, shared_data):
    shepherd = build("math-shepherd", root, shared_data)
    with pytest.raises(ConfigError, match="runs no reference model"):
        TransformersPRM("Qwen/Qwen2.5-Math-PRM-7B", str(build("qwen-prm", root, shared_data).path),
                        reference_model=str(shepherd.path))
    with pytest.raises(ConfigError, match="different vocabulary from the PRM"):
        TransformersPRM("PRIME-RL/EurusPRM-Stage1", str(build("eurus", root, shared_data).path),
                        reference_model=str(shepherd.path), dtype="float32")
    # an outcome spec (MLP head) on a token-classification checkpoint (one Linear head)
    with pytest.raises(ConfigError, match=r"the checkpoint has no tensor 'score\.0\.weight'"):
        TransformersPRM("Qwen/Qwen2.5-Math-RM-72B",
                        str(build("token-classification", root, shared_data).path),
                        dtype="float32")


def test_without_a_local_copy_the_hub_error_says_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match=r"(?s)cannot load the tokenizer of "
                                          r"Qwen/Qwen2.5-Math-PRM-7B.*pass --model"):
        TransformersPRM("Qwen/Qwen2.5-Math-PRM-7B")
