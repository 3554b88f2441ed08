"""The interfaces plug-ins implement. The core only ever talks to these.

A Task turns a benchmark into Problems and judges Samples; a Policy writes solutions; a
PRM scores their steps; a Strategy searches with a policy and a PRM; a Report renders
stored runs; an Executor runs the pipeline's units. Tasks, policies and PRMs expose
``identity()``: the facts (ids, revisions, versions, settings) that go into the run
manifest and the cache keys.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from harness.errors import ConfigError
from harness.types import (
    Budget,
    Compute,
    Domain,
    Grade,
    Message,
    Problem,
    Sample,
    StepScores,
    Trajectory,
)


class Task(ABC):
    """A benchmark adapter (tasks/*.py).

    Constructed as ``cls(data_dir=..., **options)``: ``data_dir`` is the local mirror
    folder, or None to read from the hub at the task's pinned revision.
    """

    name: ClassVar[str]
    domain: ClassVar[Domain]

    @abstractmethod
    def load(self) -> list[Problem]:
        """All problems, in the benchmark's own order."""

    @abstractmethod
    def prompt(self, problem: Problem, style: str = "default") -> list[Message]:
        """Chat messages for the policy; the chat template is the policy's business."""

    @abstractmethod
    def split_steps(self, text: str) -> list[str]:
        """Reasoning steps of a solution; joining them gives back ``text`` exactly."""

    @abstractmethod
    def extract(self, text: str) -> str | None:
        """The final answer (math) or program (code) in a completion; None when absent."""

    @abstractmethod
    def grade(self, problem: Problem, samples: Sequence[Sample]) -> list[Grade]:
        """Verdicts and voting keys for all samples of one problem (keys need the pool).

        ``Grade.vote_key`` is equal for samples that vote together and None for a sample
        that abstains (no answer / no program).
        """

    @abstractmethod
    def reference_completions(self, problem: Problem) -> list[str]:
        """Completions built from the benchmark's own reference solution(s), for
        ``prm-harness tasks check``: each must grade as correct."""

    def reference_is_synthesised(self, problem: Problem) -> bool:
        """True when ``reference_completions`` had to build the completion from the gold
        answer itself (grading it proves nothing, so ``tasks check`` lists it apart)."""
        return False

    def grader_self_test(self) -> dict[str, Any] | None:
        """Known cases through the task's grader, for ``tasks check`` (None: none)."""
        return None

    #: the pass rate of the reference solutions below which ``tasks check`` fails
    check_threshold: ClassVar[float] = 1.0

    def prepare(self, problem: Problem, index: int, text: str,
                sample_id: str | None = None) -> Sample:
        """A Sample with steps and the extracted answer/program filled in."""
        extracted = self.extract(text)
        return Sample(
            problem_id=problem.id,
            index=index,
            text=text,
            steps=self.split_steps(text),
            answer=extracted if self.domain == "math" else None,
            program=extracted if self.domain == "code" else None,
            sample_id=sample_id,
        )

    def prepare_record(self, problem: Problem, index: int, record: dict[str, Any],
                       sample_id: str | None = None) -> Sample:
        """The Sample for one line of a samples file (KeyError names a missing field)."""
        return self.prepare(problem, index, self.completion_text(problem, record), sample_id)

    def completion_text(self, problem: Problem, record: dict[str, Any]) -> str:
        """The model's text in one line of a samples file (``completion`` by default).

        Code tasks also read evalplus-style ``solution`` / ``completion`` lines here.
        """
        text = record.get("completion")
        if not isinstance(text, str):
            raise KeyError("completion")
        return text

    def grade_batch(
        self, batch: Sequence[tuple[Problem, Sequence[Sample]]]
    ) -> list[list[Grade]]:
        """Grade many problems at once; code tasks override this to fill a worker pool."""
        return [self.grade(problem, samples) for problem, samples in batch]

    def identity(self) -> dict[str, Any]:
        """Dataset id, revision and file hashes, for the manifest."""
        return {"task": self.name}

    def grading_provenance(self) -> dict[str, Any]:
        """Facts about how this machine grades (interpreter path and libraries, workers)
        for the grades' record; they stay out of keys unless they decide a verdict."""
        return {}

    #: Fields of ``identity()`` that only say how samples are graded.
    grading_fields: ClassVar[tuple[str, ...]] = ("grading", "grader", "sandbox")

    def generation_identity(self) -> dict[str, Any]:
        """What decides the samples a policy writes (problems, prompts, step splitting).

        Pools and run names are keyed on this, so a grader fix regrades a stored pool
        instead of sampling (and paying for) a new one.
        """
        return {k: v for k, v in self.identity().items() if k not in self.grading_fields}


@dataclass
class SamplingParams:
    """Decoding settings shared by every policy back-end."""

    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 1024
    seed: int = 0
    stop: list[str] = field(default_factory=list)


@dataclass
class Completion:
    """One generated continuation and its measured token counts."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None = None
    #: prompt tokens served from the back-end's prefix cache (not prefilled); 0 where it
    #: keeps none
    cached_prompt_tokens: int = 0


class Policy(ABC):
    """A model that writes solutions (vLLM, HTTP, transformers, replay, sim)."""

    @abstractmethod
    def sample(
        self, prompts: Sequence[list[Message]], params: SamplingParams
    ) -> list[list[Completion]]:
        """``params.n`` completions for each prompt."""

    @abstractmethod
    def step(
        self, prompts: Sequence[list[Message]], prefixes: Sequence[str], params: SamplingParams
    ) -> list[list[Completion]]:
        """``params.n`` next steps for each (prompt, partial solution) pair, for search."""

    #: Bump when this back-end's samples change for the same options (a fixed bug, a
    #: new prompt rendering): generate-shard keys hold it, so stored pools are redone.
    version: ClassVar[int] = 1

    def identity(self) -> dict[str, Any]:
        return {}

    @classmethod
    def resolved_identity(cls, **options: Any) -> dict[str, Any]:
        """What decides the samples beyond ``options``, resolved *without* building the
        back-end: the weights' hub commit or folder sha256, template files' hashes, the
        back-end's version. Generate-shard keys hold it, so a new checkpoint at the same
        path is never mistaken for the old one. Back-ends reading files override this."""
        return {"backend_version": cls.version}

    def compute(self) -> Compute:
        """Cost of every call so far."""
        return Compute()

    def compute_calls(self) -> list[dict[str, Any]]:
        """One record per call so far (tokens, params, FLOPs, wall s), oldest first."""
        return []


class PRM(ABC):
    """A process reward model: per-step scores for each sample."""

    prm_id: str

    @abstractmethod
    def score(self, problems: Sequence[Problem], samples: Sequence[Sample]) -> list[StepScores]:
        """One StepScores per sample (``problems[i]`` belongs to ``samples[i]``).

        The number of scores must equal ``len(sample.steps)``; anything else is a
        ScoreError naming the sample, never a padded or truncated list.
        """

    #: Bump when this adapter's scores change for the same inputs (a fixed read-out):
    #: score-shard keys hold it, so stored scores are recomputed.
    version: ClassVar[int] = 1

    def identity(self) -> dict[str, Any]:
        return {"prm_id": self.prm_id}

    @classmethod
    def resolved_identity(cls, **options: Any) -> dict[str, Any]:
        """What decides the scores beyond ``options``, resolved *without* loading the
        model: the weights' hub commit or folder sha256, the spec's hash, the adapter's
        version. Score-shard keys hold it, so a new checkpoint at the same path is never
        mistaken for the old one. Adapters reading files override this."""
        return {"adapter_version": cls.version}

    @classmethod
    def default_aggregation(cls, options: dict[str, Any]) -> str | None:
        """The aggregation the PRM built from ``options`` is meant to be read with (its
        spec's recommendation), found without loading it; None when it names none."""
        return None

    def compute(self) -> Compute:
        return Compute()

    def compute_calls(self) -> list[dict[str, Any]]:
        """One record per scoring call so far (tokens, params, FLOPs, wall s)."""
        return []


class Strategy(ABC):
    """A search strategy (harness/strategies): builds solutions step by step with a policy's
    ``step`` and a PRM's scores, within a budget that is a hard cap.

    Constructed as ``cls(**options)`` (beam width, particles, ...). Every strategy returns
    trajectories with the compute they used, so strategies compare at equal budget.
    """

    name: ClassVar[str]

    @abstractmethod
    def search(self, problems: Sequence[Problem], policy: Policy, prm: PRM,
               budget: Budget) -> list[list[Trajectory]]:
        """The finished trajectories of each problem (``problems[i]`` gets list i), best
        first; stopping at the budget is not an error, exceeding it is."""

    def identity(self) -> dict[str, Any]:
        return {"strategy": self.name}


class Report(ABC):
    """A report kind (harness/reports): a pure function from stored runs to files.

    A report reads a *set* of runs (a cross-domain table reads one run per task): run
    folders by label, opened by the report itself (this layer imports no store). It is
    constructed as ``cls(**options)`` from a ``reports/*.yaml`` spec's ``options`` and
    reads only stored files, so rendering never runs a model.
    """

    name: ClassVar[str]
    #: how many runs one rendering reads: (least, most), most None for any number
    runs_allowed: ClassVar[tuple[int, int | None]] = (1, None)

    @abstractmethod
    def render(self, runs: Mapping[str, Path], out_dir: Path,
               title: str | None = None) -> list[Path]:
        """Write the report's files (tables, figures) under ``out_dir``; their paths."""

    def only_run(self, runs: Mapping[str, Path]) -> tuple[str, Path]:
        """(label, folder) of the one run a single-run report reads."""
        if len(runs) != 1:
            raise ConfigError(f"report {self.name!r} reads one run, not {len(runs)}")
        ((label, path),) = runs.items()
        return label, path


UnitT = TypeVar("UnitT")
ResultT = TypeVar("ResultT")


class Executor(ABC):
    """Runs independent units of work (one stage over one shard) for the pipeline.

    ``fn`` is a top-level function and every unit a picklable spec, so an executor may run
    them in other processes or on other machines; the function itself writes the unit's
    shard into the run store and returns a small result. The local executor runs them in
    order in this process; others (Ray) may finish them in any order.
    """

    @abstractmethod
    def map(self, fn: Callable[[UnitT], ResultT], units: Sequence[UnitT]
            ) -> Iterator[ResultT]:
        """``fn(unit)`` for every unit, each result yielded as its unit finishes."""

    def map_generation(self, fn: Callable[[UnitT], ResultT], units: Sequence[UnitT]
                       ) -> Iterator[ResultT]:
        """The pool units (``fn`` generates and writes one shard). An executor may produce
        the same shards its own way (the Ray executor's ``generation: ray_data``)."""
        return self.map(fn, units)

    def close(self) -> None:
        """Release workers (nothing to release for executors that hold none)."""
        return None
