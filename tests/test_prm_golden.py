"""Golden tests: each family's adapter against a plain computation of the model card's
procedure, written here independently, on a tiny model of the family's architecture.

The reference side uses the in-memory modules and the in-memory tokenizer that built the
tiny model (not what the harness loads from disk) and follows the card's code path
(per-prefix forwards where the card does that), so a wrong position, template, label
index or loader shows up as a mismatch. References get the steps exactly as the data
gives them and strip them only where the card does.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from prm_tiny import (
    FAMILY_CASES,
    TRAILING_SPACES,
    as_problems_samples,
    build,
    make_prm,
    processbench_item,
)
from prm_tiny import samples_from_processbench as draw

from harness.types import Sample

QWEN_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
TOL = 1e-5


@pytest.fixture(scope="module")
def items(shared_data):
    # varied real items: gsm8k and MATH ProcessBench solutions, one whose steps end in
    # spaces (a card that strips and one that does not see different inputs)
    return (draw(shared_data, 4, seed=11) + draw(shared_data, 2, seed=12, split="math")
            + [processbench_item(shared_data, TRAILING_SPACES)])


def _ids(tok, text, special=True):
    return torch.tensor([tok.encode(text, add_special_tokens=special)])


# --- the cards' procedures ----------------------------------------------------------------
def card_qwen_prm(tiny, problem, steps):
    tok = tiny.tokenizer
    messages = [{"role": "system", "content": QWEN_SYSTEM},
                {"role": "user", "content": problem},
                {"role": "assistant", "content": "<extra_0>".join(steps) + "<extra_0>"}]
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    ids = _ids(tok, text)
    logits = tiny.modules["head"](tiny.modules["decoder"](ids).last_hidden_state)
    probs = torch.softmax(logits, dim=-1)
    mask = ids == tok.convert_tokens_to_ids("<extra_0>")
    return probs[mask][:, 1].tolist()


def card_outcome(tiny, problem, steps):
    tok, out = tiny.tokenizer, []
    for k in range(1, len(steps) + 1):
        chat = [{"role": "system", "content": QWEN_SYSTEM}, {"role": "user", "content": problem},
                {"role": "assistant", "content": "\n\n".join(steps[:k])}]
        text = tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=False)
        ids = _ids(tok, text, special=False)
        value = tiny.modules["head"](tiny.modules["decoder"](ids).last_hidden_state)[0, -1, 0]
        out.append(float(value))
    return out


def card_math_shepherd(tiny, problem, steps):
    # the card's code: candidates from one encoding (BOS dropped), the tag as the last
    # piece of its encoding, the whole text encoded with the tokenizer's specials
    tok, model = tiny.tokenizer, tiny.modules["model"]
    candidate_tokens = tok.encode("+ -")[1:]
    step_tag_id = tok.encode("ки")[-1]
    # the card's format leaves no whitespace around a step's text
    output = "\n".join(f"Step {k}: {s.strip()} ки" for k, s in enumerate(steps, start=1))
    input_id = _ids(tok, f"{problem} {output}")
    assert input_id[0, 0].item() == tok.bos_token_id  # the card's encode adds BOS
    scores = model(input_id).logits[:, :, candidate_tokens].softmax(dim=-1)[:, :, 0]
    return scores[input_id == step_tag_id].tolist()


def card_math_psa(tiny, problem, steps):
    # OpenR: split steps stripped, each followed by " " + the PRM tag "\n\n\n\n\n "; the
    # candidates " + -" and the tag " \n\n\n\n\n" found by encoding, as in its infer_fns
    tok, model = tiny.tokenizer, tiny.modules["model"]
    candidate_tokens = tok.encode(" + -")
    step_tag_id = tok.encode(" \n\n\n\n\n")[-1]
    prm_step_tag = "\n\n\n\n\n "
    answer = "".join(f"{s.strip()} {prm_step_tag}" for s in steps)
    input_id = _ids(tok, f"{problem} {answer}")
    scores = model(input_id).logits[:, :, candidate_tokens].softmax(dim=-1)[:, :, 0]
    return scores[input_id == step_tag_id].tolist()


def card_rlhflow(tiny, problem, steps):
    tok, model = tiny.tokenizer, tiny.modules["model"]
    plus, minus = tok.encode("+", add_special_tokens=False)[-1], tok.encode(
        "-", add_special_tokens=False)[-1]
    conversation, out = [], []
    for k, step in enumerate(s.strip() for s in steps):  # prm_evaluate.py strips each step
        text = problem + " " + step if k == 0 else step
        conversation += [{"role": "user", "content": text}, {"role": "assistant", "content": "+"}]
        ids = tok.apply_chat_template(conversation, tokenize=True, return_dict=True,
                                      return_tensors="pt")["input_ids"]
        logits = model(ids).logits[:, -3, [plus, minus]]
        out.append(float(logits.softmax(dim=-1)[0, 0]))
    return out


def card_trl(tiny, problem, steps):
    tok, model, sep = tiny.tokenizer, tiny.modules["model"], "\n\n"
    out = []
    for i in range(1, len(steps) + 1):
        enc = tok(sep.join([problem, *steps[:i]]) + sep, return_tensors="pt")
        logits = model(**enc).logits[0, -1]
        out.append(float(logits.softmax(dim=-1)[1]))
    return out


def card_pure(tiny, problem, steps):
    # PURE's card: question ids, then each step's ids and the "\n" separator's ids; the
    # reward at each separator is p(1) - p(0)
    tok, model = tiny.tokenizer, tiny.modules["model"]
    separator_ids = tok.encode("\n", add_special_tokens=False)
    input_ids = tok.encode(problem, add_special_tokens=False)
    score_ids = []
    for step in steps:
        input_ids = input_ids + tok.encode(step, add_special_tokens=False) + separator_ids
        score_ids.append(len(input_ids) - 1)
    probs = model(torch.tensor([input_ids])).logits[0, score_ids].softmax(dim=-1)
    return (probs[:, 1] - probs[:, 0]).tolist()


def card_skywork_response(tiny, problem, response):
    """The card's prepare_input on a response text, then the value head at every flagged
    newline: one value per line of the response."""
    tok, model, v_head = tiny.tokenizer, tiny.modules["model"], tiny.modules["v_head"]
    input_ids = tok.encode(tok.bos_token + problem + "\n")
    flags = [0] * len(input_ids)
    step_token_id = tok.encode("\n")[-1]
    for piece in response.split("\n"):
        piece_ids = (tok.encode(piece) if piece != "" else []) + [step_token_id]
        input_ids += piece_ids
        flags += [0] * (len(piece_ids) - 1) + [1]
    ids = torch.tensor([input_ids])
    hidden = model(input_ids=ids, output_hidden_states=True).hidden_states[-1]
    values = v_head(hidden).squeeze(-1)[0]
    return [float(values[i]) for i, f in enumerate(flags) if f == 1]


def card_skywork(tiny, problem, steps):
    # the card scores lines: the response is the steps one after another on their own
    # lines; a step's score is the value at the newline after its last line
    lines = card_skywork_response(tiny, problem, "\n".join(steps))
    ends = list(itertools.accumulate(s.count("\n") + 1 for s in steps))
    assert ends[-1] == len(lines)
    return [lines[end - 1] for end in ends]


def card_eurus(prm_tiny, ref_tiny, problem, steps, coef=0.001):
    tok = prm_tiny.tokenizer
    answer = [f"Step {i + 1}: " + s for i, s in enumerate(steps)]
    input_ids = tok.apply_chat_template(
        [{"role": "user", "content": problem},
         {"role": "assistant", "content": "\n\n".join(answer)}],
        tokenize=True, add_generation_prompt=False, return_dict=True,
        return_tensors="pt")["input_ids"][0]
    step_last = []
    for n in range(len(answer) + 1):
        conv = tok.apply_chat_template(
            [{"role": "user", "content": problem},
             {"role": "assistant", "content": "\n\n".join(answer[:n])}],
            tokenize=False, add_generation_prompt=False).strip()
        if n != 0 and n != len(answer):
            conv += "\n\n"
        step_last.append(len(tok.encode(conv, add_special_tokens=False)) - 2)
    ids = input_ids.unsqueeze(0)

    def logps(model):
        logits = model(input_ids=ids).logits[:, :-1, :]
        labels = ids[:, 1:]
        return torch.gather(logits.log_softmax(-1), 2, labels.unsqueeze(2)).squeeze(2)

    raw = logps(prm_tiny.modules["model"]) - logps(ref_tiny.modules["model"])
    mask = torch.zeros(ids.shape[1] - 1)
    mask[step_last[0]:] = 1.0
    csum = (coef * raw[0] * mask).cumsum(-1)
    index = torch.clamp(torch.tensor(step_last[1:]), 0, ids.shape[1] - 2)
    return csum.gather(-1, index).tolist()


GENPRM_SYSTEM = ("You are a math teacher. Your task is to review and critique the paragraphs "
                 "in solution directly. Output your judgement in the format of `\\boxed{Yes}` "
                 "if the paragraph is correct, or `\\boxed{No}` if the paragraph is incorrect.")


def card_genprm(tiny, problem, steps):
    tok, model = tiny.tokenizer, tiny.modules["model"]
    data_input = list(steps)
    data_input[0] = problem + "\n" + data_input[0]
    conversation = [{"role": "system", "content": GENPRM_SYSTEM}]
    yes, no = tok.encode("Yes")[-1], tok.encode("No")[-1]
    out = []
    for paragraph in data_input:
        conversation.append({"role": "user", "content": paragraph})
        prompt = tok.apply_chat_template(conversation, tokenize=False,
                                         add_generation_prompt=False)
        if prompt.endswith(f"{tok.eos_token}\n"):
            prompt = prompt[:-len(f"{tok.eos_token}\n")]
        elif prompt.endswith(tok.eos_token):
            prompt = prompt[:-len(tok.eos_token)]
        prompt += "<output>\n**Judgement**: $\\boxed{"
        logprobs = model(_ids(tok, prompt)).logits[0, -1].log_softmax(-1)
        p_yes, p_no = math.exp(logprobs[yes]), math.exp(logprobs[no])
        out.append(p_yes / (p_yes + p_no))
        conversation.append({"role": "assistant",
                             "content": "<output>\n**Judgement**: $\\boxed{Yes}$\n</output>\n"})
    return out


def _sigmoid(values):
    return [1.0 / (1.0 + math.exp(-v)) for v in values]


def _shift_half(values):
    return [(v + 1.0) / 2.0 for v in values]


#: case -> (tiny model kind, the card's procedure, its native values -> [0, 1] or None)
CARDS = {
    "qwen-prm": ("qwen-prm", card_qwen_prm, None),
    "token-classification": ("token-classification", card_trl, None),
    "token-classification/pure": ("pure", card_pure, _shift_half),
    "step-tag/math-shepherd": ("math-shepherd", card_math_shepherd, None),
    "step-tag/math-psa": ("math-psa", card_math_psa, None),
    "chat-turn": ("rlhflow", card_rlhflow, None),
    "value-head": ("skywork", card_skywork, _sigmoid),
    "outcome": ("outcome", card_outcome, _sigmoid),
    "generative": ("genprm", card_genprm, None),
}


@pytest.mark.parametrize("case", sorted(CARDS))
def test_family_matches_card_procedure(case, root, shared_data, items):
    kind, card, mapping = CARDS[case]
    tiny = build(kind, root, shared_data)
    prm = make_prm(case, root, shared_data)
    problems, samples = as_problems_samples(items)
    results = prm.score(problems, samples)
    every = []
    with torch.inference_mode():
        for item, result in zip(items, results, strict=True):
            native = card(tiny, item["problem"], item["steps"])
            expected = mapping(native) if mapping else native
            assert len(result.scores) == len(item["steps"])
            assert result.scores == pytest.approx(expected, abs=TOL), item["id"]
            if mapping:
                assert result.details["native"] == pytest.approx(native, abs=TOL)
            every.extend(result.scores)
    # the tiny model must discriminate, or agreement would prove little
    assert max(every) - min(every) > 0.05


def test_implicit_matches_reference_procedure(root, shared_data, items):
    prm_tiny, ref_tiny = build("eurus", root, shared_data), build("eurus-ref", root, shared_data)
    prm = make_prm("implicit", root, shared_data)
    problems, samples = as_problems_samples(items)
    ratios = []
    with torch.inference_mode():
        for item, result in zip(items, prm.score(problems, samples), strict=True):
            native = card_eurus(prm_tiny, ref_tiny, item["problem"], item["steps"])
            # compare the log-ratio sums themselves (native / beta), not just beta-scaled
            got = [v / 0.001 for v in result.details["native"]]
            assert got == pytest.approx([v / 0.001 for v in native], abs=1e-3), item["id"]
            assert result.scores == pytest.approx(_sigmoid(native), abs=TOL)
            ratios.extend(got)
    assert max(ratios) - min(ratios) > 1.0


def test_every_family_has_a_golden_case():
    from harness import registry

    covered = {case.split("/")[0] for case in [*CARDS, "implicit"]}
    assert covered == set(registry.names("family"))
    assert set(FAMILY_CASES) == {*CARDS, "implicit"}


def test_card_token_rules_on_sentencepiece_and_learned_merges(root, shared_data):
    """The specs resolve ids with the cards' own rules, on tokenizers shaped like the real
    ones: Mistral's Metaspace pieces ("ки" after a "▁" piece; "+ -" as "▁+", "▁-") and
    Qwen's learned space-prefixed tag " \\n\\n\\n\\n\\n"."""
    shepherd = build("math-shepherd", root, shared_data).tokenizer
    pieces = shepherd.convert_ids_to_tokens(shepherd.encode("ки", add_special_tokens=False))
    assert pieces == ["▁", "ки"]  # two pieces: only the card's encode(...)[-1] finds it
    assert shepherd.convert_ids_to_tokens(shepherd.encode("+ -")[1:]) == ["▁+", "▁-"]
    prm = make_prm("step-tag/math-shepherd", root, shared_data)
    assert prm.identity()["token_ids"] == {
        "step_tag": shepherd.convert_tokens_to_ids("ки"),
        "label_tokens": shepherd.convert_tokens_to_ids(["▁+", "▁-"])}
    psa = build("math-psa", root, shared_data).tokenizer
    assert psa.convert_ids_to_tokens(psa.encode(" \n\n\n\n\n")) == ["ĠĊĊĊĊĊ"]
    assert len(psa.encode("\n\n\n\n\n")) > 1  # the tag without its space is not the token
    assert "\n\n\n\n\n" not in psa.get_added_vocab()
    tag = make_prm("step-tag/math-psa", root, shared_data).identity()["token_ids"]["step_tag"]
    assert tag == psa.convert_tokens_to_ids("ĠĊĊĊĊĊ")


def test_pool_steps_lose_only_their_separator(root, shared_data):
    """A pool's steps carry their blank-line separator (they join back to the text); a card
    that does not strip splits the text on "\\n\\n" instead. Both give the same scores, and
    the trailing spaces the card keeps do change them (stripping would be visible)."""
    from harness.steps import split_blank_lines

    item = processbench_item(shared_data, TRAILING_SPACES)
    text = "\n\n".join(item["steps"])
    pool_steps = split_blank_lines(text)
    assert len(pool_steps) == len(item["steps"]) and pool_steps[0].endswith(" \n\n")
    tiny = build("qwen-prm", root, shared_data)
    prm = make_prm("qwen-prm", root, shared_data)
    problems, _ = as_problems_samples([item])
    sample = Sample(item["id"], 0, text, steps=pool_steps)
    (got,) = prm.score(problems, [sample])
    with torch.inference_mode():
        want = card_qwen_prm(tiny, item["problem"], text.split("\n\n"))
        stripped = card_qwen_prm(tiny, item["problem"], [s.strip() for s in item["steps"]])
    assert got.scores == pytest.approx(want, abs=TOL)
    assert max(abs(a - b) for a, b in zip(want, stripped, strict=True)) > 1e-4


def test_skywork_reads_multi_line_and_pool_steps_at_their_last_newline(root, shared_data):
    """Steps of several lines and pool steps that end in a blank line are tokenised as the
    card tokenises the whole response; each step is read at the newline that ends it."""
    from harness.steps import split_blank_lines

    tiny = build("skywork", root, shared_data)
    prm = make_prm("value-head", root, shared_data)
    item = next(i for i in draw(shared_data, 40, seed=13) if any("\n" in s for s in i["steps"]))
    text = "\n\n".join(item["steps"])
    steps = split_blank_lines(text)
    ends = list(itertools.accumulate(s.count("\n") for s in steps))
    ends[-1] += 1  # the card's newline after the response's last line
    problems, _ = as_problems_samples([item])
    (got,) = prm.score(problems, [Sample(item["id"], 0, text, steps=steps)])
    with torch.inference_mode():
        lines = card_skywork_response(tiny, item["problem"], text)
    assert len(lines) == ends[-1] > len(steps)
    assert got.details["native"] == pytest.approx([lines[e - 1] for e in ends], abs=TOL)
