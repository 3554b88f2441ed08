"""PRM specs: which protocol family a model uses and every setting of its protocol.

A spec is a YAML file, one per model id, validated here. The harness never infers a
protocol from a model's name: a model is scored only through a spec, shipped in
``harness/models/specs/`` for the public PRMs (see PRM_PROTOCOLS.md) or written by the
user (a file path, or a folder listed in ``PRM_HARNESS_SPEC_PATH``). Special tokens are
named by their strings and resolved to ids from the model's own tokenizer at load time,
so one spec serves the hub model and a local copy alike.

This module imports no torch: listing and validating specs is cheap.
"""

from __future__ import annotations

import os
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from harness import registry
from harness.aggregate import check_aggregation
from harness.errors import ConfigError

SPEC_PATH_ENV = "PRM_HARNESS_SPEC_PATH"

Dtype = Literal["float32", "bfloat16", "float16"]
#: a registered aggregation name (harness.registry.AGGREGATIONS)
Aggregation = Annotated[str, AfterValidator(check_aggregation)]
#: how a family's native value becomes a step score in [0, 1]
ToUnit = Literal["identity", "sigmoid", "shift-half"]


def _needs_fields(template: str, required: tuple[str, ...], allowed: tuple[str, ...]) -> str:
    """Check a str.format template names exactly the placeholders it may use."""
    import string

    names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    missing = [n for n in required if n not in names]
    unknown = sorted(names - set(allowed))
    if missing:
        raise ValueError(f"template {template!r} must contain {{{missing[0]}}}")
    if unknown:
        raise ValueError(f"template {template!r} uses unknown placeholder {{{unknown[0]}}}; "
                         f"allowed: {', '.join(allowed)}")
    return template


class TokenRef(BaseModel):
    """A special token named by its text, and the rule that finds its id.

    ``take: only`` (the default; written as a plain string in YAML): the text must encode
    to exactly one token. ``take: last``: the id is the last token of the text's encoding,
    as a card writes ``tokenizer.encode(text)[-1]``; sentencepiece (Metaspace) tokenizers
    put a word-boundary piece "▁" before a word, so Math-Shepherd's "ки" is two pieces
    there. The pieces before the last must then decode to whitespace only, or the spec is
    refused: the rule may skip a boundary marker, never part of the token's text.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(min_length=1)
    take: Literal["only", "last"] = "only"

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        return {"text": value} if isinstance(value, str) else value

    @model_serializer(mode="wrap")
    def _compact(self, handler: SerializerFunctionWrapHandler) -> Any:
        """A plain string when ``take`` is the default, so simple specs dump as written."""
        return self.text if self.take == "only" else handler(self)


class JointLabels(BaseModel):
    """Both label tokens from one encoding, as a card writes it: Math-Shepherd's
    ``encode("+ -")[1:]`` (BOS dropped), Math-psa's ``encode(" + -")``. The text must
    encode (without special tokens) to exactly two tokens, taken in order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    joint: str = Field(min_length=1)


#: the two label tokens of a causal-LM read-out: each on its own, or from one encoding
LabelTokens = tuple[TokenRef, TokenRef] | JointLabels


class SpecBase(BaseModel):
    """Fields every family shares."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_id: str = Field(min_length=1)
    #: pinned hub revision; None = the hub's current one, resolved at load time and
    #: recorded (commit, or the local folder's content hash) in the PRM's identity
    revision: str | None = None
    protocol: str = Field(min_length=1)  # where the protocol is documented (source)
    native_range: str = Field(min_length=1)  # what the model's raw step value is
    to_unit: ToUnit  # the declared mapping of the native value to [0, 1]
    recommended_aggregation: Aggregation | None = None  # what the authors report using
    dtype: Dtype = "bfloat16"
    max_length: int | None = Field(default=None, ge=1)  # None: the model config's limit
    #: true: strip whitespace around each step (the card strips every piece); false: the
    #: step as given, less the line breaks that end it (a task's step splitter leaves its
    #: separator there; the card's own separator takes its place)
    strip_steps: bool = True
    step_template: str = "{step}"  # how one step is written; {k} is its 1-based number
    notes: str = ""

    @field_validator("step_template")
    @classmethod
    def _step_template(cls, value: str) -> str:
        return _needs_fields(value, ("step",), ("step", "k"))


class QwenPrmSpec(SpecBase):
    """Qwen2.5-Math-PRM: chat template, a step tag after every step, 2-label MLP head."""

    family: Literal["qwen-prm"]
    system_prompt: str
    step_tag: TokenRef
    correct_index: Literal[0, 1] = 1
    head_prefix: str = "score"  # checkpoint keys {prefix}.0.* and {prefix}.2.*


class TokenClassificationSpec(SpecBase):
    """TRL-style token-classification PRM: plain text, a separator after every step."""

    family: Literal["token-classification"]
    separator: str = Field(min_length=1)
    correct_index: Literal[0, 1] = 1
    add_special_tokens: bool = True
    #: "joined": the text problem + sep + step_1 + sep ... encoded whole (HF's ProcessBench
    #: script); "pieces": the problem's ids, then each step's ids and the separator's ids,
    #: encoded separately (TRL's PRMTrainer, PURE's card)
    encoding: Literal["joined", "pieces"] = "joined"
    readout: Literal["p-correct", "p-correct-minus-p-wrong"] = "p-correct"


class StepTagSpec(SpecBase):
    """Math-Shepherd style: a causal LM read at a step-tag token over two label tokens."""

    family: Literal["step-tag"]
    prompt_template: str = "{problem} "
    step_suffix: str  # written after every step (contains the tag)
    step_joiner: str = ""  # written between steps
    step_tag: TokenRef  # the tag token's text (and how its id is found)
    label_tokens: LabelTokens  # (good, bad) or (bad, good) as the model was trained
    correct_index: Literal[0, 1] = 0
    add_special_tokens: bool = True

    @field_validator("prompt_template")
    @classmethod
    def _prompt_template(cls, value: str) -> str:
        return _needs_fields(value, ("problem",), ("problem",))


class ChatTurnSpec(SpecBase):
    """RLHFlow: one user turn per step, teacher-forced assistant label after each."""

    family: Literal["chat-turn"]
    system_prompt: str | None = None
    first_user_template: str = "{problem} {step}"
    assistant_label: TokenRef  # written as every assistant turn; its token is predicted
    label_tokens: LabelTokens
    correct_index: Literal[0, 1] = 0

    @field_validator("first_user_template")
    @classmethod
    def _first_user(cls, value: str) -> str:
        return _needs_fields(value, ("problem", "step"), ("problem", "step"))


class ValueHeadSpec(SpecBase):
    """Skywork: raw token ids, a newline token after every line, scalar value head."""

    family: Literal["value-head"]
    step_token: TokenRef = TokenRef(text="\n")
    prepend_bos: bool = True
    head_key: str = "v_head.summary"  # checkpoint keys {head_key}.weight / .bias
    #: a step of several lines: keep them (each flagged as the card does, the step read
    #: at its last newline), write them as spaces (compute-optimal-tts), or refuse
    inner_newlines: Literal["keep", "space", "error"] = "keep"


class ImplicitSpec(SpecBase):
    """EurusPRM: beta * log-ratio of the PRM against a reference model, summed per step."""

    family: Literal["implicit"]
    reference_model: str = Field(min_length=1)
    reference_revision: str | None = None
    beta: float = Field(gt=0)
    step_joiner: str = "\n\n"
    value: Literal["cumulative", "step"] = "cumulative"


class OutcomeSpec(SpecBase):
    """Qwen2.5-Math-RM: scalar MLP head read at the last token of a whole response.

    Step k's score is the outcome score of the response made of steps 1..k, so the
    ``last`` aggregation is the card's outcome score.
    """

    family: Literal["outcome"]
    system_prompt: str
    step_joiner: str = "\n\n"
    head_prefix: str = "score"


class GenerativeSpec(SpecBase):
    """A generative verifier: P(yes) / (P(yes) + P(no)) for the verdict token of each step."""

    family: Literal["generative"]
    system_prompt: str | None = None
    first_user_template: str = "{problem}\n{step}"
    prior_assistant: str  # teacher-forced verdict turn for the steps before the judged one
    verdict_prefix: str  # written after the judged step; the next token is the verdict
    strip_eos: bool = True  # drop the template's closing eos (+ newline) before the prefix
    add_special_tokens: bool = False  # when the prompt text is encoded
    yes_token: TokenRef
    no_token: TokenRef

    @field_validator("first_user_template")
    @classmethod
    def _first_user(cls, value: str) -> str:
        return _needs_fields(value, ("problem", "step"), ("problem", "step"))


PRMSpec = Annotated[
    QwenPrmSpec | TokenClassificationSpec | StepTagSpec | ChatTurnSpec | ValueHeadSpec
    | ImplicitSpec | OutcomeSpec | GenerativeSpec,
    Field(discriminator="family"),
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(PRMSpec)


def parse_spec(data: Any, source: str) -> Any:
    """Validate one spec document; ``source`` names the file in errors."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a PRM spec must be a YAML mapping")
    family = data.get("family")
    families = registry.FAMILIES.names()
    if family not in families:
        raise ConfigError(f"{source}: field 'family': {family!r} is not a protocol family; "
                          f"known: {', '.join(families)}")
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "(spec)"
        raise ConfigError(f"{source}: field '{where}': {first['msg']}") from None


def read_spec_file(path: str | Path) -> Any:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read spec ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: malformed YAML: {exc}") from None
    return parse_spec(data, str(p))


def _shipped_files() -> list[tuple[str, str]]:
    folder = resources.files("harness.models.specs")
    return sorted((entry.name, entry.read_text(encoding="utf-8"))
                  for entry in folder.iterdir() if entry.name.endswith(".yaml"))


@cache
def shipped_specs() -> dict[str, Any]:
    """Every spec shipped with the harness, by model id."""
    out: dict[str, Any] = {}
    for name, text in _shipped_files():
        spec = parse_spec(yaml.safe_load(text), f"shipped spec {name}")
        if spec.model_id in out:
            raise ConfigError(f"shipped spec {name}: duplicate model_id {spec.model_id!r}")
        out[spec.model_id] = spec
    return out


def _user_specs() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for folder in filter(None, os.environ.get(SPEC_PATH_ENV, "").split(os.pathsep)):
        for path in sorted(Path(folder).glob("*.y*ml")):
            spec = read_spec_file(path)
            out.setdefault(spec.model_id, spec)
    return out


def load_spec(model_id_or_path: str | Path) -> Any:
    """A spec from a YAML file path, else by model id from the user's spec folders
    (``PRM_HARNESS_SPEC_PATH``) and then the shipped specs."""
    text = str(model_id_or_path)
    path = Path(text).expanduser()
    if text.endswith((".yaml", ".yml")) or path.is_file():
        if not path.is_file():
            raise ConfigError(f"{path}: spec file not found")
        return read_spec_file(path)
    user = _user_specs()
    if text in user:
        return user[text]
    shipped = shipped_specs()
    if text in shipped:
        return shipped[text]
    raise ConfigError(f"no PRM spec for {text!r}: give a spec file, or one of the shipped "
                      f"model ids ({', '.join(sorted(shipped))}); the protocol is never "
                      f"guessed from a model name")


def spec_filename(model_id: str) -> str:
    """The shipped file name for a model id (``/`` becomes ``__``)."""
    return model_id.replace("/", "__") + ".yaml"
