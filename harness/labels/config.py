"""The ``labels build`` configuration (YAML), validated with pydantic.

One config makes one labels file from one or more sources; the full description with an
example of every source kind is docs/labels.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from harness.config import ConfigSource, PluginConfig, TaskConfig, field_error, read_yaml_config
from harness.errors import ConfigError

#: a discriminated union adds the source kind to an error's path: not a field name
_SOURCE_KINDS = frozenset({"prm800k", "processbench", "monte-carlo", "outcome", "aslaf"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DevSplit(_Strict):
    """A seeded share of each source's training problems held out as ``dev`` (by problem,
    so no problem is in both)."""

    fraction: float = Field(default=0.1, ge=0, lt=1)
    seed: int = 0


class Prm800kSource(_Strict):
    kind: Literal["prm800k"]
    #: how a neutral (0) rating is labelled: positive (1.0, the default), negative (0.0) or
    #: exclude (null: not trained on)
    neutral: Literal["positive", "negative", "exclude"] = "positive"
    #: once: a step shared by several leaves' paths is labelled in the first leaf only
    #: (training sees each rating once); every: each leaf's path carries all its ratings
    #: (whole solutions, as a labeller that judges a first error needs them)
    labels: Literal["once", "every"] = "once"
    #: a seeded draw of this many leaves (never the first N); None: every leaf
    sample_leaves: int | None = Field(default=None, ge=1)
    sample_seed: int = 0
    dev: DevSplit | None = None


PbSplit = Literal["gsm8k", "math", "olympiadbench", "omnimath"]
PB_SPLITS: tuple[PbSplit, ...] = ("gsm8k", "math", "olympiadbench", "omnimath")


class ProcessBenchSource(_Strict):
    kind: Literal["processbench"]
    splits: list[PbSplit] = Field(
        default_factory=lambda: list(PB_SPLITS), min_length=1)
    #: ProcessBench splits whose records get split "test" (held out for evaluation)
    holdout: list[PbSplit] = Field(
        default_factory=list)
    dev: DevSplit | None = None

    @model_validator(mode="after")
    def _holdout_in_splits(self) -> ProcessBenchSource:
        stray = [s for s in self.holdout if s not in self.splits]
        if stray:
            raise ValueError(f"holdout split(s) {stray} are not in splits {self.splits}")
        return self


class SolutionsConfig(_Strict):
    """The solutions to label: sampled by a policy, or read from a samples file
    (``problem_id`` and ``completion`` a line, as ``generate`` writes)."""

    policy: PluginConfig | None = None
    file: str | None = None
    n: int = Field(default=4, ge=1)
    temperature: float = Field(default=1.0, ge=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    max_tokens: int = Field(default=1024, ge=1)
    seed: int = 0
    #: stop strings of the sampled solutions (e.g. a code block's closing fence)
    stop: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_origin(self) -> SolutionsConfig:
        if (self.policy is None) == (self.file is None):
            raise ValueError("give exactly one of policy, file")
        return self


class RolloutConfig(_Strict):
    """The k completions from every prefix: each continues step by step (``Policy.step``
    with the ``stop`` delimiters) until the policy stops or ``max_steps`` steps."""

    policy: PluginConfig
    k: int = Field(default=8, ge=1)
    temperature: float = Field(default=1.0, ge=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    max_tokens: int = Field(default=256, ge=1)
    stop: list[str] = Field(default_factory=lambda: ["\n\n"], min_length=1)
    max_steps: int = Field(default=64, ge=1)
    seed: int = 0


class MonteCarloSource(_Strict):
    kind: Literal["monte-carlo"]
    task: TaskConfig
    solutions: SolutionsConfig
    rollout: RolloutConfig
    label_kind: Literal["soft", "hard"] = "soft"
    #: how a solution splits into steps: the task's own split (code: a fenced block is one
    #: step), or code-statements (a code block cut at its top-level and body statements,
    #: so a single-block program has prefixes to complete)
    steps: Literal["task", "code-statements"] = "task"
    #: folder of the rollout cache (content-addressed; a rerun reuses finished rollouts)
    cache: str | None = None
    #: a name for this labeller, recorded in each record's meta (default: the policy's)
    labeler: str | None = None
    dev: DevSplit | None = None


class OutcomeSource(_Strict):
    """Solutions from a samples file, graded by the task's own grader (code: in the
    sandbox); the grade labels the steps as a Monte Carlo estimate with the solution itself
    as the one rollout: a correct solution labels every step 1.0, a wrong one its last step
    0.0 and the others null (unknown)."""

    kind: Literal["outcome"]
    task: TaskConfig
    #: samples file(s): ``problem_id``/``task_id`` and ``completion`` (or evalplus'
    #: ``solution``) a line, as ``generate`` or evalplus write them
    files: list[str] = Field(min_length=1)
    #: the files are paths inside the data mirror (``data_dir`` / $PRM_HARNESS_DATA), not
    #: relative to the config file
    in_mirror: bool = False
    #: lines whose problem the task does not have (another dataset version): dropped and
    #: counted (``error``: refuse the file)
    unknown_problems: Literal["drop", "error"] = "drop"
    #: a name for this labeller, in each record's id and meta (one per file: default f0, f1 ...)
    labelers: list[str] | None = None
    dev: DevSplit | None = None

    @model_validator(mode="after")
    def _one_name_per_file(self) -> OutcomeSource:
        if self.labelers is not None and len(self.labelers) != len(self.files):
            raise ValueError(f"{len(self.labelers)} labelers for {len(self.files)} files")
        if self.labelers is not None and len(set(self.labelers)) != len(self.labelers):
            raise ValueError("labelers must be distinct")
        return self


class ScoredInput(_Strict):
    """A PRM as a labeller: the labels file it scored (via ``labels items``) and the
    ``score`` output; a step is judged wrong when its score is below ``threshold``."""

    labels: str
    scores: str
    threshold: float = Field(default=0.5, ge=0, le=1)


class AslafSource(_Strict):
    kind: Literal["aslaf"]
    #: labels files, each one labeller (at least one, plus ``scored`` to make two)
    inputs: list[str] = Field(min_length=1)
    scored: list[ScoredInput] = Field(default_factory=list)
    #: a label below this marks a wrong step (soft labels: fraction of correct rollouts)
    threshold: float = Field(default=0.5, gt=0, le=1)
    #: the kept record's labels: first-error (1.0 before, 0.0 at the agreed error, null
    #: after; hard) or mean (the labellers' mean label up to the error, null after; soft)
    labels: Literal["first-error", "mean"] = "first-error"

    @model_validator(mode="after")
    def _two_labellers(self) -> AslafSource:
        if len(self.inputs) + len(self.scored) < 2:
            raise ValueError("ASLAF needs at least two labellers (inputs + scored)")
        return self


Source = Annotated[Prm800kSource | ProcessBenchSource | MonteCarloSource | OutcomeSource
                   | AslafSource,
                   Field(discriminator="kind")]


class LabelsConfig(_Strict):
    out: str
    data_dir: str | None = None
    dev: DevSplit = Field(default_factory=DevSplit)
    sources: list[Source] = Field(min_length=1)
    _source: ConfigSource | None = PrivateAttr(default=None)
    _path: Path | None = PrivateAttr(default=None)

    def error(self, field: str, message: str) -> ConfigError:
        """A ConfigError naming the config file, the field's line and the field."""
        if self._source is None:
            return ConfigError(f"config: field '{field}': {message}")
        return ConfigError(f"{self._source.where(field)}: field '{field}': {message}")

    def resolve(self, value: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        path = Path(value)
        if path.is_absolute() or self._path is None:
            return path
        return self._path.parent / path

    def raw(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def load_labels_config(path: str | Path) -> LabelsConfig:
    """Read and validate; a bad field is one line naming the file, line and field."""
    raw, origin = read_yaml_config(path)
    try:
        config = LabelsConfig.model_validate(raw)
    except ValidationError as exc:
        raise field_error(exc, origin, _SOURCE_KINDS) from None
    config._source = origin
    config._path = origin.path
    return config
