"""What every policy back-end shares: the compute ledger, seed derivation, parameter checks
and the rule that a step keeps the delimiter it stopped at.

Finish reasons: ``"length"`` (hit ``max_tokens``), ``"stop"`` (the model ended, or in
``sample`` a stop string ended the text) and, from ``step`` only, ``"step"`` (the text ends
with the step delimiter, so more steps may follow). Joining the texts of successive steps
gives back the solution exactly, because the delimiter stays in the text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.errors import ConfigError
from harness.interfaces import Policy, SamplingParams
from harness.models.compute import FLOPS_METHOD, ComputeLedger, Metered
from harness.store.keys import key_of
from harness.types import Message

SEED_RULE = ("request seed = first 31 bits of sha256(['policy-seed', seed]); sample j of a "
             "request uses request seed + j (vLLM's rule for n > 1)")


def request_seed(seed: int) -> int:
    """The engine seed for one request from the user's seed.

    Engines give sample j of a request the seed ``s + j``, so pools at user seeds 0 and 1
    would share n-1 samples if the user's seed went in as is; hashing keeps them apart.
    """
    return int(key_of(["policy-seed", int(seed)])[:8], 16) & 0x7FFFFFFF


def check_params(params: SamplingParams) -> None:
    """Refuse settings no back-end can honour, before any model work starts."""
    if params.n < 1:
        raise ConfigError(f"sampling n must be at least 1, got {params.n}")
    if params.max_tokens < 1:
        raise ConfigError(f"sampling max_tokens must be at least 1, got {params.max_tokens}")
    if params.temperature < 0:
        raise ConfigError(f"sampling temperature must be >= 0, got {params.temperature}")
    if not 0 < params.top_p <= 1:
        raise ConfigError(f"sampling top_p must be in (0, 1], got {params.top_p}")
    if any(not isinstance(s, str) or not s for s in params.stop):
        raise ConfigError(f"sampling stop strings must be non-empty strings, got {params.stop}")


def check_step_args(prompts: Sequence[list[Message]], prefixes: Sequence[str],
                    params: SamplingParams) -> None:
    """``step`` needs one prefix per prompt and a delimiter to stop at."""
    if len(prompts) != len(prefixes):
        raise ConfigError(f"step: {len(prompts)} prompts but {len(prefixes)} prefixes")
    if not params.stop:
        raise ConfigError("step: params.stop must name the step delimiter (e.g. ['\\n\\n'])")


def check_seeded_step(prompts: Sequence[list[Message]], prefixes: Sequence[str],
                      params: SamplingParams, seeds: Sequence[int]) -> None:
    """A seeded ``step`` (the search engine's call): the usual checks, one seed per
    prompt, and one step per seed (n=1)."""
    check_params(params)
    check_step_args(prompts, prefixes, params)
    if len(seeds) != len(prompts):
        raise ConfigError(f"step: {len(seeds)} seeds for {len(prompts)} prompts")
    if params.n != 1:
        raise ConfigError(f"step with per-request seeds writes one step a seed (n=1), "
                          f"not n={params.n}")


def first_stop(text: str, stops: Sequence[str]) -> int | None:
    """End offset of the earliest stop string in ``text`` (None when there is none)."""
    best: int | None = None
    for stop in stops:
        at = text.find(stop)
        if at >= 0 and (best is None or at + len(stop) < best):
            best = at + len(stop)
    return best


def step_finish(text: str, finish_reason: str | None, stops: Sequence[str]) -> str | None:
    """The finish reason of a step: ``"step"`` when it ended at a delimiter."""
    if finish_reason != "length" and any(text.endswith(s) for s in stops):
        return "step"
    return finish_reason


class LedgerPolicy(Metered, Policy):
    """A Policy whose ``compute()`` is a ComputeLedger; ``compute_calls()`` lists calls."""

    backend: str = ""
    seed_rule: str = SEED_RULE

    def __init__(self, params: int | None = None, device: str = "cpu") -> None:
        self.ledger = ComputeLedger(params=params, device=device)

    def ledger_identity(self) -> dict[str, Any]:
        return {"params": self.ledger.params, "device": self.ledger.device,
                "flops_method": FLOPS_METHOD, "seed_rule": self.seed_rule}
