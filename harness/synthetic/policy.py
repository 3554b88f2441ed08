"""``sim``: the simulated policy for synthetic-arith (see harness.synthetic.chain).

It reads the problem from the prompt text alone, writes one step at a time, slips with a
per-problem, per-operation rate and sometimes notices a wrong amount and recomputes it.
Token counts are tokenizer-free: the number of words and punctuation marks in the text
(regex ``\\w+|[^\\w\\s]``), documented as such in ``identity()``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.interfaces import Completion, Policy, SamplingParams
from harness.models.compute import ComputeLedger, Metered
from harness.steps import split_blank_lines
from harness.store.keys import key_of
from harness.synthetic.chain import Chain, PolicyParams
from harness.synthetic.problems import parse_problem_text, statement_from_messages
from harness.types import Message

_TOKEN = re.compile(r"\w+|[^\w\s]")
TOKEN_COUNT_METHOD = "tokenizer-free: count of regex \\w+|[^\\w\\s] matches"


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def _stable_int(*parts: Any) -> int:
    return int(key_of(list(parts))[:16], 16)


class SimPolicy(Metered, Policy):
    """Registered as policy ``sim``."""

    #: ``step`` honours one seed per prompt (``params.seeds``, harness.strategies.engine)
    takes_request_seeds = True

    def __init__(self, error_rate: float = 0.08, recovery_rate: float = 0.3,
                 mul_weight: float = 2.0) -> None:
        self.params = PolicyParams(error_rate, recovery_rate, mul_weight)
        self._chains: dict[str, Chain] = {}
        self.ledger = ComputeLedger(params=None, device="cpu")

    def chain_for(self, messages: list[Message]) -> tuple[str, Chain]:
        statement = statement_from_messages(messages)
        if statement not in self._chains:
            self._chains[statement] = Chain(parse_problem_text(statement), statement,
                                            self.params)
        return statement, self._chains[statement]

    def _prompt_tokens(self, messages: list[Message]) -> int:
        return sum(count_tokens(m.get("content", "")) for m in messages)

    def sample(self, prompts: Sequence[list[Message]], params: SamplingParams
               ) -> list[list[Completion]]:
        start = time.perf_counter()
        out, tokens_in, tokens_out = [], 0, 0
        for messages in prompts:
            statement, chain = self.chain_for(messages)
            prompt_tokens = self._prompt_tokens(messages)
            completions = []
            for j in range(params.n):
                rng = np.random.default_rng([params.seed, _stable_int(statement), j])
                steps, _ = chain.rollout(chain.start(), rng)
                text = "".join(steps)
                completions.append(Completion(text, prompt_tokens, count_tokens(text), "stop"))
                tokens_in += prompt_tokens
                tokens_out += completions[-1].completion_tokens
            out.append(completions)
        self.ledger.record(tokens_in, tokens_out, time.perf_counter() - start, "sample")
        return out

    def step(self, prompts: Sequence[list[Message]], prefixes: Sequence[str],
             params: SamplingParams) -> list[list[Completion]]:
        start = time.perf_counter()
        out, tokens_in, tokens_out = [], 0, 0
        seeds = getattr(params, "seeds", None) or [params.seed] * len(prompts)
        for messages, prefix, seed in zip(prompts, prefixes, seeds, strict=True):
            statement, chain = self.chain_for(messages)
            states = chain.trace(split_blank_lines(prefix)) if prefix else []
            state = states[-1] if states else chain.start()
            prompt_tokens = self._prompt_tokens(messages) + count_tokens(prefix)
            completions = []
            for j in range(params.n):
                rng = np.random.default_rng(
                    [seed, _stable_int(statement), _stable_int(prefix), j])
                if state.finished:
                    completions.append(Completion("", prompt_tokens, 0, "stop"))
                    continue
                text, nxt = chain.sample_step(state, rng)
                completions.append(Completion(text, prompt_tokens, count_tokens(text),
                                              "stop" if nxt.finished else "step"))
                tokens_in += prompt_tokens
                tokens_out += completions[-1].completion_tokens
            out.append(completions)
        self.ledger.record(tokens_in, tokens_out, time.perf_counter() - start, "step")
        return out

    def identity(self) -> dict[str, Any]:
        return {"policy": "sim", "error_rate": self.params.error_rate,
                "recovery_rate": self.params.recovery_rate,
                "mul_weight": self.params.mul_weight, "token_count": TOKEN_COUNT_METHOD}
