"""A PRM driven by a spec: the family builds inputs and reads scores, a backend runs models.

Registered as the PRM plug-ins ``transformers``, ``vllm`` and ``http`` (one per backend);
each takes ``spec`` (a shipped model id or a spec file) and ``model`` (a local folder to
load instead of the hub id). Every score call goes through the same checks: inputs over
the model's length limit are refused (never truncated), the number of scores must equal
the number of steps, and every score must be finite and inside [0, 1] after the spec's
declared mapping; any failure is a ScoreError naming the sample.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from harness import registry
from harness.errors import ConfigError, ScoreError
from harness.interfaces import PRM
from harness.models.compute import FLOPS_METHOD, ComputeLedger, Metered
from harness.models.model_files import resolved_revision
from harness.models.prms.protocol import Encoded, Family, sample_label, to_unit
from harness.models.prms.specs import load_spec
from harness.store.keys import key_of
from harness.types import Problem, Sample, StepScores


def problem_statement(problem: Problem) -> str:
    """The problem text a PRM sees: ``metadata['statement']`` when the task sets it, else
    the last user message of the prompt."""
    statement = problem.metadata.get("statement")
    if isinstance(statement, str):
        return statement
    for message in reversed(problem.prompt):
        if message.get("role") == "user":
            return message.get("content", "")
    raise ScoreError(f"problem {problem.id!r}: no statement in metadata and no user message")


def _encoding_key(problem: Problem, sample: Sample) -> tuple[Any, ...]:
    """What an encoding depends on: the problem statement, the steps, the sample's label."""
    return (problem_statement(problem), tuple(sample.steps), sample.problem_id, sample.index)


class SpecPRM(Metered, PRM):
    """Base of the backend-specific PRMs; subclasses build one runner per model role."""

    backend: ClassVar[str]

    def __init__(self, spec: str | Any, model: str | None = None, *,
                 reference_model: str | None = None, max_length: int | None = None,
                 dtype: str | None = None, label: str | None = None) -> None:
        self.spec = load_spec(spec) if isinstance(spec, str) else spec
        self.sources = {"prm": model, "reference": reference_model}
        self.dtype = dtype or self.spec.dtype
        self.prm_id = label or self.spec.model_id
        self.tokenizer = self._load_tokenizer(model or self.spec.model_id,
                                              None if model else self.spec.revision)
        family_cls = registry.FAMILIES.get(self.spec.family)
        self.family: Family = family_cls(self.spec, self.tokenizer)
        refs = self.family.models()
        unused = [role for role, path in self.sources.items() if path and role not in refs]
        if unused:
            raise ConfigError(f"spec {self.spec.model_id} ({self.spec.family}) runs no "
                              f"{unused[0]} model")
        self.head = self.family.head()
        self.runners = {}
        self.resolved: dict[str, dict[str, Any]] = {}
        for role, ref in refs.items():
            local = self.sources.get(role)
            source, revision = (local, None) if local else (ref.model_id, ref.revision)
            if role != "prm":
                self._check_same_vocabulary(role, source, revision)
            self.runners[role] = self._make_runner(role, source, revision)
            self.resolved[role] = resolved_revision(source, revision)
        limits = [r.max_length for r in self.runners.values() if r.max_length]
        self.max_length = max_length or self.spec.max_length or (min(limits) if limits else None)
        params = [r.params for r in self.runners.values()]
        total = None if any(p is None for p in params) else sum(params)
        self.ledger = ComputeLedger(params=total, device=self.runners["prm"].device)

    @classmethod
    def resolved_identity(cls, **options: Any) -> dict[str, Any]:
        """The spec's content hash and, per model role, the weights' folder sha256 (a
        local folder) or hub commit, read without loading any model."""
        spec_option = options.get("spec")
        if spec_option is None:
            raise ConfigError(f"prm {cls.backend}: option 'spec' is required")
        spec = load_spec(spec_option) if isinstance(spec_option, str) else spec_option
        refs = registry.FAMILIES.get(spec.family).model_refs(spec)
        local = {"prm": options.get("model"), "reference": options.get("reference_model")}
        return {"adapter_version": cls.version, "backend": cls.backend,
                "spec_sha256": key_of(spec.model_dump(mode="json")),
                "models": {role: resolved_revision(*((local[role], None) if local.get(role)
                                                     else (ref.model_id, ref.revision)))
                           for role, ref in refs.items()}}

    @classmethod
    def default_aggregation(cls, options: dict[str, Any]) -> str | None:
        """The spec's ``recommended_aggregation`` (the spec is read, no model loaded)."""
        spec = options.get("spec")
        if spec is None:
            return None
        return (load_spec(spec) if isinstance(spec, str) else spec).recommended_aggregation

    # -- backend hooks -------------------------------------------------------------------
    def _load_tokenizer(self, source: str, revision: str | None) -> Any:
        from harness.models.prms.hf_loading import load_tokenizer

        return load_tokenizer(source, revision)

    def _make_runner(self, role: str, source: str, revision: str | None) -> Any:
        raise NotImplementedError

    def _check_same_vocabulary(self, role: str, source: str, revision: str | None) -> None:
        other = self._load_tokenizer(source, revision)
        if other.get_vocab() != self.tokenizer.get_vocab():
            raise ConfigError(f"the {role} model {source} has a different vocabulary from "
                              f"the PRM; both must read the same token ids")

    # -- scoring ---------------------------------------------------------------------------
    def encode(self, problem: Problem, sample: Sample) -> Encoded:
        """The sample's segments; the last ``score`` call's encodings are kept, so a caller
        counting its tokens (the search engine) does not tokenise every prefix twice."""
        key = _encoding_key(problem, sample)
        kept = getattr(self, "_last_encoded", {}).get(key)
        if kept is not None:
            return kept
        where = sample_label(sample.problem_id, sample.index)
        encoded = self.family.encode(problem_statement(problem), sample.steps, where)
        if self.max_length is not None:
            for seg in encoded.segments:
                if len(seg.ids) > self.max_length:
                    kept = sum(1 for t in seg.read if t < self.max_length)
                    raise ScoreError(
                        f"{where}: the input is {len(seg.ids)} tokens, over the limit of "
                        f"{self.max_length}; truncating it would leave {kept} of "
                        f"{len(seg.read)} read positions, so it is not scored")
        return encoded

    def score(self, problems: Sequence[Problem], samples: Sequence[Sample]) -> list[StepScores]:
        if len(problems) != len(samples):
            raise ScoreError(f"{len(problems)} problems for {len(samples)} samples")
        start = time.perf_counter()
        self._last_encoded: dict[tuple[Any, ...], Encoded] = {}
        encoded = [self.encode(p, s) for p, s in zip(problems, samples, strict=True)]
        self._last_encoded = {_encoding_key(p, s): e
                              for p, s, e in zip(problems, samples, encoded, strict=True)}
        flat = [seg for e in encoded for seg in e.segments]
        keys, parents = self._prefix_keys(problems, samples, encoded)
        rows = {role: (runner.rows(flat, keys, parents) if keys is not None
                       and getattr(runner, "reuses_prefixes", False) else runner.rows(flat))
                for role, runner in self.runners.items()}
        out, cursor = [], 0
        for sample, enc in zip(samples, encoded, strict=True):
            n = len(enc.segments)
            mine = {role: blocks[cursor:cursor + n] for role, blocks in rows.items()}
            cursor += n
            out.append(self._step_scores(sample, enc, mine))
        # every model reads the same sequences: tokens count once, and the ledger's
        # parameter count is the sum over the models (FLOPs = 2 x sum(P) x T); with prefix
        # reuse T is the tokens fed to the models (the most any model fed, per segment)
        full = [len(seg.ids) for seg in flat]
        fed = [max(per) for per in zip(*(
            runner.last_computed if keys is not None and getattr(
                runner, "reuses_prefixes", False) else full
            for runner in self.runners.values()), strict=True)] if flat else []
        self.last_computed_tokens: list[int] = []
        cursor = 0
        for enc in encoded:
            n = len(enc.segments)
            self.last_computed_tokens.append(sum(fed[cursor:cursor + n]))
            cursor += n
        self.ledger.record(sum(fed), 0, time.perf_counter() - start, "score")
        return out

    # -- prefix reuse ------------------------------------------------------------------------
    def prefix_reuse(self, on: bool) -> None:
        """Keep every scored prefix for its children (on) or stop (off); either way the
        kept prefixes are dropped. The search engine turns it on for one run."""
        self._reuse_on = bool(on)
        for runner in self.runners.values():
            reset = getattr(runner, "reset_prefixes", None)
            if reset is not None:
                reset()

    def prefix_stats(self) -> dict[str, Any]:
        """Per model role: whether it reuses prefixes (or why not), the reuse counts and
        the kept prefixes' memory."""
        out: dict[str, Any] = {}
        for role, runner in self.runners.items():
            cache = getattr(runner, "prefix_cache", None)
            if cache is None:
                out[role] = {"reuses_prefixes": False, "why_not": f"{self.backend} backend"}
                continue
            out[role] = {"reuses_prefixes": runner.reuses_prefixes,
                         "why_not": runner.reuse_refusal, **runner.reuse_stats,
                         "kept": len(cache), "kept_bytes": cache.bytes,
                         "peak_bytes": cache.peak_bytes, "evicted": cache.evicted,
                         "max_bytes": cache.max_bytes}
        return out

    def _prefix_keys(self, problems: Sequence[Problem], samples: Sequence[Sample],
                     encoded: Sequence[Encoded]
                     ) -> tuple[list[Any] | None, list[list[Any]] | None]:
        """With reuse on: each segment's cache key (problem statement, steps, segment
        index) and its ancestors' keys, nearest first (the sample less its last steps);
        the runner checks the ids, so a key only says where to look."""
        if not getattr(self, "_reuse_on", False):
            return None, None
        keys: list[Any] = []
        parents: list[list[Any]] = []
        for problem, sample, enc in zip(problems, samples, encoded, strict=True):
            statement, steps = problem_statement(problem), tuple(sample.steps)
            for j in range(len(enc.segments)):
                keys.append((statement, steps, j))
                parents.append([(statement, steps[:m], j)
                                for m in range(len(steps) - 1, 0, -1)])
        return keys, parents

    def _step_scores(self, sample: Sample, enc: Encoded,
                     rows: dict[str, list[np.ndarray]]) -> StepScores:
        where = sample_label(sample.problem_id, sample.index)
        native = self.family.readout(rows, enc, where)
        if len(native) != len(sample.steps):
            raise ScoreError(f"{where}: {len(native)} scores for {len(sample.steps)} steps")
        scores = to_unit(native, self.spec.to_unit)
        bad = [k for k, v in enumerate(scores, 1) if not (np.isfinite(v) and 0.0 <= v <= 1.0)]
        if bad:
            raise ScoreError(f"{where}: step {bad[0]} scored {scores[bad[0] - 1]!r}, outside "
                             f"[0, 1] after the spec's '{self.spec.to_unit}' mapping")
        details = {} if self.spec.to_unit == "identity" else {"native": native}
        return StepScores(sample.problem_id, sample.index, self.prm_id, scores, details)

    # -- provenance ------------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        spec = self.spec.model_dump(mode="json")
        return {"prm_id": self.prm_id, "family": self.spec.family, "spec": spec,
                "spec_key": key_of(spec), "backend": self.backend,
                "adapter_version": self.version, "dtype": self.dtype,
                "max_length": self.max_length,
                "models": {role: self.sources.get(role) or ref.model_id
                           for role, ref in self.family.models().items()},
                "revisions": {role: (None if self.sources.get(role) else ref.revision)
                              for role, ref in self.family.models().items()},
                "resolved_revisions": self.resolved,
                "token_ids": dict(self.family.token_ids),
                "runners": {role: r.identity() for role, r in self.runners.items()},
                "flops_method": FLOPS_METHOD}


class TransformersPRM(SpecPRM):
    """PRM plug-in ``transformers``: CPU or GPU through Hugging Face transformers."""

    backend = "transformers"

    def __init__(self, spec: str | Any, model: str | None = None, *, device: str = "cpu",
                 padding_side: str = "right", batch_tokens: int = 16384,
                 batch_size: int | None = None, prefix_cache_mb: float = 1024.0,
                 **options: Any) -> None:
        self._runner_options: dict[str, Any] = {
            "device": device, "padding_side": padding_side, "batch_tokens": batch_tokens,
            "batch_size": batch_size, "prefix_cache_mb": prefix_cache_mb}
        super().__init__(spec, model, **options)

    def _make_runner(self, role: str, source: str, revision: str | None) -> Any:
        from harness.models.prms.hf_backend import TransformersRunner

        return TransformersRunner(source, revision, self.head, self.dtype,
                                  **self._runner_options)


class VllmPRM(SpecPRM):
    """PRM plug-in ``vllm``: vLLM's pooling runner (token_classify); raw logits come back
    and the family's read-out is the same as with transformers."""

    backend = "vllm"

    def __init__(self, spec: str | Any, model: str | None = None, *,
                 engine_options: dict[str, Any] | None = None, **options: Any) -> None:
        self._engine_options = dict(engine_options or {})
        super().__init__(spec, model, **options)

    def _make_runner(self, role: str, source: str, revision: str | None) -> Any:
        from harness.models.prms.vllm_backend import VllmRunner

        return VllmRunner(source, revision, self.head, self.dtype, self.tokenizer,
                          self._engine_options)


class HttpPRM(SpecPRM):
    """PRM plug-in ``http``: a vLLM-compatible ``/pooling`` server at ``url``; the ids are
    built here with the model's tokenizer (``model``: a local folder, else the hub id)."""

    backend = "http"

    def __init__(self, spec: str | Any, model: str | None = None, *, url: str,
                 served_model: str | None = None, timeout_s: float = 60.0, retries: int = 4,
                 backoff_s: float = 0.5, batch_tokens: int = 16384, concurrency: int = 4,
                 **options: Any) -> None:
        from harness.models.http_client import RetryPolicy

        self._http: dict[str, Any] = {
            "url": url, "served_model": served_model, "batch_tokens": batch_tokens,
            "concurrency": concurrency,
            "policy": RetryPolicy(retries=retries, backoff_s=backoff_s, timeout_s=timeout_s)}
        super().__init__(spec, model, **options)

    def _make_runner(self, role: str, source: str, revision: str | None) -> Any:
        from harness.models.prms.hf_loading import checkpoint_params, config_max_length
        from harness.models.prms.http_backend import HttpRunner

        return HttpRunner(head=self.head, max_length=config_max_length(source, revision),
                          params=checkpoint_params(source), **self._http)
