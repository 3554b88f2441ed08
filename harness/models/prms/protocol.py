"""What a protocol family is: input construction, the model output it needs, the read-out.

A family turns (problem, steps) into token sequences (``Segment``: ids plus the positions
whose outputs are read), names the per-position output a backend must compute (``Head``),
and turns the rows read back into one native value per step. Backends (transformers,
vLLM, HTTP) only ever see segments and heads, so every family runs on every backend that
can compute its head. Family modules import no torch.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar, Literal

import numpy as np

from harness.errors import ScoreError


@dataclass(frozen=True)
class Segment:
    """One sequence to run: its token ids and the positions whose outputs are read."""

    ids: tuple[int, ...]
    read: tuple[int, ...]


@dataclass(frozen=True)
class Encoded:
    """A sample's segments plus what the family's read-out needs to know about them."""

    segments: list[Segment]
    extra: Any = None


@dataclass(frozen=True)
class Head:
    """The per-position output a backend computes at the read positions.

    loader: how the weights are built ("mlp-head": decoder + score.0/ReLU/score.2 from the
    checkpoint; "linear-head": decoder + one Linear from the checkpoint;
    "token-classification": the HF AutoModelForTokenClassification; "causal-lm": the HF
    AutoModelForCausalLM). output: "logits" (the head's own outputs), "columns" (LM logits
    of ``columns`` token ids) or "next-logprob" (log-probability of the actual next token).
    """

    loader: Literal["mlp-head", "linear-head", "token-classification", "causal-lm"]
    output: Literal["logits", "columns", "next-logprob"]
    width: int
    columns: tuple[int, ...] = ()
    weights_key: str | None = None
    #: vLLM's native STEP pooling returns only rows at this token (Qwen2ForProcessRewardModel)
    step_tag_id: int | None = None


@dataclass(frozen=True)
class ModelRef:
    """A model a family runs: the hub id and revision from the spec."""

    model_id: str
    revision: str | None


def softmax(rows: np.ndarray) -> np.ndarray:
    shifted = rows - rows.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def to_unit(values: Sequence[float], mapping: str) -> list[float]:
    """Apply a spec's declared mapping from the native range to [0, 1]."""
    if mapping == "identity":
        return [float(v) for v in values]
    if mapping == "sigmoid":
        return [float(0.5 * (1.0 + math.tanh(0.5 * v))) for v in values]
    if mapping == "shift-half":
        return [float((v + 1.0) / 2.0) for v in values]
    raise ScoreError(f"unknown score mapping {mapping!r}")


def sample_label(problem_id: str, index: int) -> str:
    """How errors name a sample."""
    return f"sample {problem_id!r} #{index}"


class Family(ABC):
    """One protocol family; constructed with a validated spec and the model's tokenizer.

    Registered by name in the ``family`` registry (harness.registry.FAMILIES).
    """

    name: ClassVar[str]
    #: one line on what the family is (for ``prm-harness prms list``)
    summary: ClassVar[str]

    def __init__(self, spec: Any, tokenizer: Any) -> None:
        self.spec = spec
        self.tokenizer = tokenizer
        #: the id each special-token field of the spec resolved to (for the manifest)
        self.token_ids: dict[str, Any] = {}

    def token_id(self, field: str) -> int:
        """The id of the spec's ``field`` (a TokenRef) under this model's tokenizer."""
        from harness.models.prms.tokens import resolve_token

        value = resolve_token(self.tokenizer, getattr(self.spec, field), field)
        self.token_ids[field] = value
        return value

    def models(self) -> dict[str, ModelRef]:
        """The models this family runs, by role; most need just the PRM."""
        return self.model_refs(self.spec)

    @classmethod
    def model_refs(cls, spec: Any) -> dict[str, ModelRef]:
        """``models()`` from the spec alone (no tokenizer), for shard keys."""
        return {"prm": ModelRef(spec.model_id, spec.revision)}

    @abstractmethod
    def head(self) -> Head:
        """What every model of this family computes at the read positions."""

    @abstractmethod
    def encode(self, problem: str, steps: Sequence[str], where: str) -> Encoded:
        """The sequences to run for one sample; errors name ``where``."""

    @abstractmethod
    def readout(self, rows: dict[str, list[np.ndarray]], encoded: Encoded,
                where: str) -> list[float]:
        """Native step values from the rows of each role (one array per segment)."""

    def clean_step(self, step: str) -> str:
        """A step's text as the card takes it: stripped when the card strips every piece,
        else as given less the line breaks that end it (see ``drop_trailing_breaks``)."""
        return step.strip() if self.spec.strip_steps else drop_trailing_breaks(step)

    def prepare_steps(self, steps: Sequence[str], where: str) -> list[str]:
        """Steps cleaned as the card takes them and written with the spec's template.

        A step that already opens with the template's prefix (a policy that writes
        "Step 2: ..." itself) is not prefixed twice, as PRMBench re-prefixes only when the
        prefix is missing. An empty (or blank) step is written as the card would write it:
        the PRM scores it, and the count check catches a separator that it lets the
        tokenizer merge."""
        template = self.spec.step_template
        carried = template_prefix(template)
        out = []
        for k, step in enumerate(steps, start=1):
            text = self.clean_step(step)
            if carried is not None and carried.match(text):
                out.append(text + template.split("{step}", 1)[1].format(k=k))
            else:
                out.append(template.format(step=text, k=k))
        if not out:
            raise ScoreError(f"{where}: the sample has no steps")
        return out

    @staticmethod
    def count_check(found: int, steps: int, what: str, where: str) -> None:
        if found != steps:
            raise ScoreError(
                f"{where}: found {found} {what} for {steps} steps; the tokenizer merged the "
                f"separator with neighbouring text, or a step or the problem contains it")


_TRAILING_BREAKS = re.compile(r"[\r\n]\s*\Z")


@cache
def template_prefix(template: str) -> re.Pattern[str] | None:
    """What a step template writes before the step ("Step {k}: " -> ``Step \\d+:``), as a
    pattern a step that already carries it matches; None when it writes nothing first.

    Any number matches: a step numbered by the policy keeps its own number. Whitespace
    before the prefix and at its end is optional, so "Step 1:x" carries it too."""
    head = template.split("{step}", 1)[0].rstrip()
    if not head:
        return None
    pieces = [re.escape(piece.replace("{{", "{").replace("}}", "}"))
              for piece in head.split("{k}")]
    return re.compile(r"\s*" + r"\d+".join(pieces))


def drop_trailing_breaks(step: str) -> str:
    """The step less the line breaks (and any whitespace after them) that end it.

    A task's step splitter keeps each step's separator at its end ("...\\n\\n") so that
    the steps join back to the text; a card that splits a response on its separator never
    sees it there, and writes its own separator instead. Spaces before the break and line
    breaks inside the step are kept."""
    match = _TRAILING_BREAKS.search(step)
    return step[:match.start()] if match else step


def probability_rows(rows: np.ndarray, index: int, where: str) -> np.ndarray:
    """softmax over a [n, 2] block, column ``index``; non-finite input is an error."""
    if rows.ndim != 2 or rows.shape[1] != 2:
        raise ScoreError(f"{where}: expected [n, 2] model outputs, got {list(rows.shape)}")
    if not np.isfinite(rows).all():
        raise ScoreError(f"{where}: the model returned non-finite values")
    return softmax(rows.astype(np.float64))[:, index]


class LabelTokenFamily(Family):
    """A causal LM read over two label tokens (``spec.label_tokens``) at chosen positions
    of one sequence; softmax over the pair, ``spec.correct_index`` = the good label."""

    def __init__(self, spec: Any, tokenizer: Any) -> None:
        from harness.models.prms.tokens import resolve_labels

        super().__init__(spec, tokenizer)
        self.label_ids = resolve_labels(tokenizer, spec.label_tokens, "label_tokens")
        self.token_ids["label_tokens"] = list(self.label_ids)

    def head(self) -> Head:
        return Head("causal-lm", "columns", 2, columns=self.label_ids)

    def readout(self, rows: dict[str, list[np.ndarray]], encoded: Encoded,
                where: str) -> list[float]:
        return probability_rows(rows["prm"][0], self.spec.correct_index, where).tolist()
