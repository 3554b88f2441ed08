"""The interfaces plug-ins implement. The core only ever talks to these.

A Task turns a benchmark into Problems and judges Samples; a Policy writes solutions; a
PRM scores their steps. Each exposes ``identity()``: the facts (ids, revisions, versions,
settings) that go into the run manifest and the cache keys.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from harness.types import Compute, Domain, Grade, Message, Problem, Sample, StepScores


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

    def identity(self) -> dict[str, Any]:
        return {}

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

    def identity(self) -> dict[str, Any]:
        return {"prm_id": self.prm_id}

    def compute(self) -> Compute:
        return Compute()

    def compute_calls(self) -> list[dict[str, Any]]:
        """One record per scoring call so far (tokens, params, FLOPs, wall s)."""
        return []
