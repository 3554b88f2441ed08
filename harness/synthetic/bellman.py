"""Bellman error of any PRM on synthetic-arith, with the simulator's exact transitions.

For each visited prefix s_t (after a step that is not the final answer) the error is
|V(s_t) - E[V(s_t+1)]|, where V is the PRM's score of a prefix (the score of its last
step) and the expectation runs over every next step the simulated policy can write, with
its exact probability. The PRM is called through its ordinary ``score`` interface on the
successor prefixes, so any PRM can be diagnosed. The exact values have error 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.errors import ScoreError
from harness.interfaces import PRM
from harness.synthetic.chain import Chain, PolicyParams
from harness.synthetic.problems import parse_problem_text, statement_from_messages
from harness.types import Problem, Sample


@dataclass
class BellmanReport:
    mean: float
    max: float
    n_prefixes: int
    n_samples: int

    def as_dict(self) -> dict[str, float | int]:
        return {"bellman_error": self.mean, "max": self.max, "n_prefixes": self.n_prefixes,
                "n_samples": self.n_samples}


def bellman_error(prm: PRM, problems: dict[str, Problem], samples: Sequence[Sample],
                  policy: PolicyParams, max_samples: int | None = None,
                  seed: int = 0) -> BellmanReport:
    """Mean |V(s_t) - E V(s_t+1)| over the prefixes visited by ``samples``.

    With ``max_samples`` a seeded uniform subset of the samples is used (never the first
    ones), to bound the cost for expensive PRMs.
    """
    chosen = list(samples)
    if max_samples is not None and len(chosen) > max_samples:
        rng = np.random.default_rng(seed)
        picked = sorted(rng.choice(len(chosen), size=max_samples, replace=False))
        chosen = [chosen[i] for i in picked]
    chains: dict[str, Chain] = {}
    own_problems, own_samples = [], []
    successor_problems: list[Problem] = []
    successor_samples: list[Sample] = []
    weights: list[float] = []
    owners: list[tuple[int, int]] = []
    for sample in chosen:
        problem = problems[sample.problem_id]
        statement = statement_from_messages(problem.prompt)
        chain = chains.setdefault(statement, Chain(parse_problem_text(statement), statement,
                                                   policy))
        try:
            states = chain.trace(sample.steps)
        except ValueError as exc:
            raise ScoreError(f"problem {problem.id!r} sample {sample.index}: {exc}") from None
        own_problems.append(problem)
        own_samples.append(sample)
        for t, state in enumerate(states):
            if state.finished:
                continue
            prefix = sample.steps[:t + 1]
            for probability, text, _ in chain.successors(state):
                steps = [*prefix, text]
                successor_problems.append(problem)
                successor_samples.append(Sample(sample.problem_id, len(successor_samples),
                                                "".join(steps), steps=steps))
                weights.append(probability)
                owners.append((len(own_samples) - 1, t))
    own_scores = prm.score(own_problems, own_samples)
    next_scores = prm.score(successor_problems, successor_samples)
    expected: dict[tuple[int, int], float] = {}
    for weight, owner, scored in zip(weights, owners, next_scores, strict=True):
        expected[owner] = expected.get(owner, 0.0) + weight * scored.scores[-1]
    errors = np.array([abs(own_scores[i].scores[t] - value)
                       for (i, t), value in expected.items()])
    if errors.size == 0:
        raise ScoreError("no non-final prefixes to measure a Bellman error on")
    return BellmanReport(float(errors.mean()), float(errors.max()), int(errors.size),
                         len(chosen))
