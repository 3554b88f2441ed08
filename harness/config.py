"""The run configuration (YAML), validated with pydantic; command-line overrides by path.

Example::

    task: {name: math500, problems: {slice: "0:20"}}
    policy: {name: hf, options: {model: ./tiny-policy}}
    sampling: {n: 8, temperature: 0.7, top_p: 0.8, max_tokens: 512, seed: 0}
    prms:
      - {name: transformers, options: {spec: Qwen/Qwen2.5-Math-PRM-7B, model: ./tiny-prm}}
    metrics: {ks: [1, 2, 4, 8], aggregations: [min, last]}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

from harness.aggregate import check_aggregation
from harness.errors import ConfigError
from harness.metrics import DEFAULT_BOOTSTRAP, DEFAULT_DRAWS, DEFAULT_SEED

#: a registered aggregation name (harness.registry.AGGREGATIONS)
Aggregation = Annotated[str, AfterValidator(check_aggregation)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProblemSelection(_Strict):
    """Which problems of the task to run: explicit ids, a slice, or a seeded random sample."""

    ids: list[str] | None = None
    slice: str | None = Field(default=None, pattern=r"^\d*:\d*$")
    sample: int | None = Field(default=None, ge=1)
    seed: int = 0

    @model_validator(mode="after")
    def _exactly_one(self) -> ProblemSelection:
        chosen = [self.ids is not None, self.slice is not None, self.sample is not None]
        if sum(chosen) != 1:
            raise ValueError("give exactly one of ids, slice, sample")
        return self


class TaskConfig(_Strict):
    name: str
    options: dict[str, Any] = Field(default_factory=dict)
    data_dir: str | None = None
    prompt_style: str = "default"
    problems: ProblemSelection | None = None
    #: grade the reference solutions of the run's problems first and record the result in
    #: the manifest; "require" also stops the run when they pass below the task's threshold
    reference_check: Literal["require", "record", "skip"] = "require"


class PluginConfig(_Strict):
    """A policy or PRM: a registered name and the options its constructor takes."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None  # how results name it; defaults to name (+ model)

    def display(self) -> str:
        if self.label:
            return self.label
        model = self.options.get("spec") or self.options.get("model")
        return f"{self.name}:{model}" if model else self.name


class SamplingConfig(_Strict):
    n: int = Field(default=8, ge=1)
    temperature: float = Field(default=1.0, ge=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    max_tokens: int = Field(default=1024, ge=1)
    seed: int = 0
    stop: list[str] = Field(default_factory=list)


class MetricsConfig(_Strict):
    ks: list[int] | None = None  # default: 1, 2, 4, ... up to the smallest pool
    #: every PRM is aggregated with each of these; None: each PRM with the aggregation its
    #: spec recommends (``last`` when it names none)
    aggregations: list[Aggregation] | None = Field(default=None, min_length=1)
    draws: int = Field(default=DEFAULT_DRAWS, ge=1)
    bootstrap: int = Field(default=DEFAULT_BOOTSTRAP, ge=1)
    seed: int = DEFAULT_SEED


class ReportConfig(_Strict):
    kinds: list[str] = Field(default_factory=lambda: ["best-of-n"])


class StrategyConfig(_Strict):
    """A step-level search instead of the sampling pipeline (docs/search.md): the run
    searches every problem with this strategy, the policy and one PRM, under a
    per-problem budget, into ``RUN/search`` (the format of ``prm-harness search --out``)."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)
    #: per-problem caps: policy_tokens, policy_calls, prm_tokens, flops, wall_s,
    #: prefill_tokens
    budget: dict[str, int | float] = Field(default_factory=dict)
    seed: int = Field(default=0, ge=0)
    #: the label of the PRM (in ``prms``) that guides the search; default: the only one
    prm: str | None = None


class ConfigSource:
    """The YAML text a config came from, to find the line a dotted field is on."""

    def __init__(self, path: Path, text: str, overrides: tuple[str, ...]) -> None:
        self.path = path
        self.text = text
        self.overridden = [o.split("=", 1)[0] for o in overrides]

    def where(self, field: str) -> str:
        """``path:line`` of the field's value (of its nearest written parent), or
        ``path (--set KEY)`` when an override set it."""
        for dotted in self.overridden:
            if field == dotted or field.startswith(dotted + ".") \
                    or dotted.startswith(field + "."):
                return f"{self.path} (--set {dotted})"
        line = _yaml_line(self.text, field.split("."))
        return f"{self.path}:{line}" if line is not None else str(self.path)


def _yaml_line(text: str, parts: list[str]) -> int | None:
    """The 1-based line of the field at ``parts``: its key's line in a mapping, its item's
    in a list; the deepest written parent's when the field is absent."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in parts:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if k.value == part), None)
            if pair is None:
                break
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() \
                and int(part) < len(node.value):
            node = node.value[int(part)]
            line = node.start_mark.line + 1
        else:
            break
    return line


class ExecutorConfig(_Strict):
    """Where the (stage, shard) units run; not part of a run's identity, since every
    executor writes the same bytes."""

    name: str = "local"
    options: dict[str, Any] = Field(default_factory=dict)


class RunConfig(_Strict):
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]+$")
    runs_dir: str | None = None
    task: TaskConfig
    policy: PluginConfig
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    prms: list[PluginConfig] = Field(default_factory=list)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    shard_size: int = Field(default=8, ge=1)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    strategy: StrategyConfig | None = None
    #: where the config was read from, for errors that name the file and line
    _source: ConfigSource | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _unique_prm_labels(self) -> RunConfig:
        labels = [p.display() for p in self.prms]
        duplicates = sorted({x for x in labels if labels.count(x) > 1})
        if duplicates:
            raise ValueError(f"PRM labels must be unique, repeated: {duplicates}")
        return self

    @model_serializer(mode="wrap")
    def _without_absent_strategy(self, handler: SerializerFunctionWrapHandler
                                 ) -> dict[str, Any]:
        """No ``strategy`` key when there is none: the configs (and identities, run names)
        of runs made before the section existed stay what they were."""
        data: dict[str, Any] = handler(self)
        if self.strategy is None:
            data.pop("strategy", None)
        return data

    def identity(self) -> dict[str, Any]:
        """What makes two runs the same run (where, under which name, on which executor and
        whether references are checked first are left out)."""
        return self.model_dump(mode="json", exclude={"name": True, "runs_dir": True,
                                                     "executor": True,
                                                     "task": {"reference_check"}})

    def error(self, field: str, message: str) -> ConfigError:
        """A ConfigError naming the config file, the field's line and the field."""
        source = self._source
        if source is None:
            return ConfigError(f"config: field '{field}': {message}")
        return ConfigError(f"{source.where(field)}: field '{field}': {message}")


def _set_path(tree: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for part in parts[:-1]:
        if re.fullmatch(r"\d+", part) and isinstance(node, list):
            node = node[int(part)]
            continue
        node = node.setdefault(part, {})
        if not isinstance(node, (dict, list)):
            raise ConfigError(f"--set {dotted}: {part!r} is not a section")
    last = parts[-1]
    if isinstance(node, list) and re.fullmatch(r"\d+", last):
        node[int(last)] = value
    else:
        node[last] = value


def read_yaml_config(path: str | Path) -> tuple[dict[str, Any], ConfigSource]:
    """The top-level mapping of a YAML config file, and its source (to name lines)."""
    source = Path(path)
    if not source.is_file():
        raise ConfigError(f"{source}: config file not found")
    text = source.read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    return raw, ConfigSource(source, text, ())


def field_error(exc: ValidationError, origin: ConfigSource,
                drop: frozenset[str] = frozenset()) -> ConfigError:
    """A pydantic error as one line naming file, line and field; ``drop``: path parts that
    are no field (a discriminated union's tags)."""
    first = exc.errors()[0]
    where = ".".join(str(x) for x in first["loc"] if str(x) not in drop)
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    at = origin.where(where) if where else str(origin.path)
    return ConfigError(f"{at}: field '{where}': {first['msg']}{more}")


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Read YAML, apply ``key.path=value`` overrides (values parsed as YAML), validate."""
    raw, read = read_yaml_config(path)
    origin = ConfigSource(read.path, read.text, tuple(overrides))
    for override in overrides:
        if "=" not in override:
            raise ConfigError(f"--set {override!r}: expected KEY.PATH=VALUE")
        dotted, text = override.split("=", 1)
        _set_path(raw, dotted, yaml.safe_load(text))
    try:
        config = RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise field_error(exc, origin) from None
    config._source = origin
    return config
