"""The compute ledger: every model call records its tokens, size, FLOPs and wall time.

FLOPs are estimated with the usual dense-transformer rule of 2 x parameters per token
processed (prompt and completion tokens alike); attention's quadratic term is left out and
the estimate is labelled as such in the manifest. A PRM that runs several models over the
same tokens (an implicit PRM: the PRM and its reference) records the tokens once and the
sum of the models' parameters, so its estimate is 2 x (P_prm + P_ref) x tokens.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

from harness.types import Compute

FLOPS_METHOD = "2 * params * (tokens_in + tokens_out); attention term omitted"


def estimate_flops(params: int | None, tokens_in: int, tokens_out: int) -> float:
    """Dense forward-pass FLOPs estimate; 0 when the parameter count is unknown."""
    if not params:
        return 0.0
    return 2.0 * params * (tokens_in + tokens_out)


class ComputeLedger:
    """Thread-safe running total of Compute for one model, plus a per-call log (each call:
    kind, tokens in/out, parameters, FLOPs estimate, wall seconds, device), which runs
    persist in their compute ledger file."""

    def __init__(self, params: int | None = None, device: str = "cpu") -> None:
        self.params = params
        self.device = device
        self._total = Compute(params=params, device=device)
        self._calls: list[dict] = []
        self._lock = threading.Lock()

    def record(self, tokens_in: int, tokens_out: int, wall_s: float, kind: str = "call") -> None:
        flops = estimate_flops(self.params, tokens_in, tokens_out)
        with self._lock:
            t = self._total
            t.tokens_in += tokens_in
            t.tokens_out += tokens_out
            t.flops += flops
            t.wall_s += wall_s
            t.calls += 1
            self._calls.append({"kind": kind, "tokens_in": tokens_in, "tokens_out": tokens_out,
                                "params": self.params, "flops": flops, "wall_s": wall_s,
                                "device": self.device})

    @contextmanager
    def timed(self) -> Iterator[list[float]]:
        """Measure wall time of a block: ``with ledger.timed() as t: ...; t[0]`` is seconds."""
        holder = [0.0]
        start = time.perf_counter()
        try:
            yield holder
        finally:
            holder[0] = time.perf_counter() - start

    def total(self) -> Compute:
        with self._lock:
            return Compute(**asdict(self._total))

    def calls(self) -> list[dict]:
        with self._lock:
            return list(self._calls)


class Metered:
    """Mixin: a plug-in's ``compute()`` and ``compute_calls()`` read ``self.ledger``.

    Put it before the interface (``class X(Metered, PRM)``) so these win over the
    interface's zero defaults.
    """

    ledger: ComputeLedger

    def compute(self) -> Compute:
        return self.ledger.total()

    def compute_calls(self) -> list[dict[str, Any]]:
        return self.ledger.calls()
