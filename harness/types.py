"""Core records that flow between tasks, policies, PRMs, the store and the metrics.

Plain dataclasses with no behaviour, so every stage can be re-run from stored files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Domain = Literal["math", "code"]
Message = dict[str, str]  # {"role": ..., "content": ...}


@dataclass
class Problem:
    """One benchmark item: what the policy is asked and what its answer is checked against."""

    id: str
    task: str
    domain: Domain
    prompt: list[Message]
    reference: Any  # gold answer (math) or a test specification (code)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Sample:
    """One solution written by a policy (or imported) for one problem."""

    problem_id: str
    index: int  # position in the problem's pool, 0..n-1
    text: str
    steps: list[str] = field(default_factory=list)
    answer: str | None = None  # extracted final answer (math)
    program: str | None = None  # extracted program (code)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    sample_id: str | None = None  # identity in an imported file, when it had one


@dataclass
class Grade:
    """The verdict on one sample, plus the key it votes with (None abstains)."""

    problem_id: str
    sample_index: int
    correct: bool
    vote_key: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepScores:
    """One PRM's per-step scores for one sample; aggregation happens at selection time."""

    problem_id: str
    sample_index: int
    prm_id: str
    scores: list[float]
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Compute:
    """Measured cost of one model call (or a sum of calls)."""

    tokens_in: int = 0
    tokens_out: int = 0
    params: int | None = None
    flops: float = 0.0
    wall_s: float = 0.0
    device: str = "cpu"
    calls: int = 0


@dataclass
class Budget:
    """Hard caps on one search (None: no cap); a strategy stops before crossing any."""

    policy_tokens: int | None = None
    policy_calls: int | None = None
    prm_tokens: int | None = None
    flops: float | None = None
    wall_s: float | None = None
    #: policy prompt tokens prefilled (not served from a prefix cache)
    prefill_tokens: int | None = None


@dataclass
class Trajectory:
    """One solution a search strategy built step by step, and the compute it took.

    ``parent_ids[i]`` is the node that step i extended (None for the first step), so a
    problem's tree or particle genealogy can be rebuilt from its trajectories.
    """

    problem_id: str
    id: str
    steps: list[str]
    scores: list[float]  # the PRM's score of each prefix
    parent_ids: list[str | None]
    compute: Compute = field(default_factory=Compute)
