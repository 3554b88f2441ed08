"""The math-verify worker process: parses and compares answers, one JSON request a line.

It runs as ``python -m harness.grading.verify_worker`` under ``verify_pool``, never in the
harness process, because a comparison can hang inside sympy (or eat memory) where no signal
reaches it. Inside the worker each operation runs under an interval timer (a *soft*
timeout: works whenever Python code runs); the parent enforces a *hard* deadline on top and
kills the worker if even that passes. The address space is capped, so a huge expression
fails with MemoryError instead of swapping the machine.

Requests (one JSON object a line on stdin) and replies (one a line on stdout):

- ``{"op": "hello"}`` -> ``{"math_verify": VERSION}``
- ``{"op": "eq", "gold": G, "pred": P}`` -> ``{"eq": bool, "status": S, "reason": R}``
  (``verify(gold, pred)``: math-verify's comparison is not symmetric; gold goes first)
- ``{"op": "first", "pred": P, "reps": [R1, ...]}`` -> ``{"index": i, "statuses": [...]}``:
  the first representative equivalent to ``P`` (-1 for none); one soft timeout per pair.

Status is ``ok``, ``unparsed`` (math-verify could not parse one side and compared the raw
strings), ``timeout`` or ``error``.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import signal
import sys
from collections import OrderedDict
from typing import Any


class SoftTimeout(BaseException):
    """Raised by the interval timer; a BaseException so math-verify's handlers let it pass."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise SoftTimeout()


class Verifier:
    """math-verify with a bounded parse cache and a soft timeout per operation."""

    def __init__(self, timeout_s: float, cache_size: int = 50_000) -> None:
        logging.getLogger("math_verify").setLevel(logging.CRITICAL)
        from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

        self._parse = parse
        self._verify = verify
        self._configs = [LatexExtractionConfig(), ExprExtractionConfig()]
        self.timeout_s = timeout_s
        self._cache: OrderedDict[str, list[Any]] = OrderedDict()
        self._cache_size = cache_size
        signal.signal(signal.SIGALRM, _on_alarm)

    def parsed(self, answer: str) -> list[Any]:
        hit = self._cache.get(answer)
        if hit is not None:
            self._cache.move_to_end(answer)
            return hit
        value = self._parse("\\boxed{" + answer + "}", extraction_config=self._configs,
                            parsing_timeout=None)
        self._cache[answer] = value
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return value

    def _is_parsed(self, value: list[Any]) -> bool:
        return any(not isinstance(item, str) for item in value)

    def compare(self, gold: str, pred: str) -> tuple[bool, str, str | None]:
        """(equal, status, reason) for one ordered pair, under the soft timeout."""
        signal.setitimer(signal.ITIMER_REAL, self.timeout_s)
        try:
            g = self.parsed(gold)
            p = self.parsed(pred)
            equal = bool(self._verify(g, p, timeout_seconds=None))
        except SoftTimeout:
            return False, "timeout", f"comparison exceeded {self.timeout_s:g} s"
        except MemoryError:
            return False, "error", "out of memory"
        except RecursionError:
            return False, "error", "recursion limit"
        except Exception as exc:  # math-verify swallows most errors itself; belt and braces
            return False, "error", f"{type(exc).__name__}"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if not (self._is_parsed(g) and self._is_parsed(p)):
            side = "gold" if not self._is_parsed(g) else "prediction"
            return equal, "unparsed", f"math-verify could not parse the {side}"
        return equal, "ok", None


def handle(verifier: Verifier, request: dict[str, Any]) -> dict[str, Any]:
    op = request.get("op")
    if op == "eq":
        equal, status, reason = verifier.compare(request["gold"], request["pred"])
        return {"eq": equal, "status": status, "reason": reason}
    if op == "first":
        statuses = []
        for i, rep in enumerate(request["reps"]):
            equal, status, _ = verifier.compare(rep, request["pred"])
            statuses.append(status)
            if equal:
                return {"index": i, "statuses": statuses}
        return {"index": -1, "statuses": statuses}
    if op == "hello":
        from importlib.metadata import version

        return {"math_verify": version("math-verify")}
    return {"error": f"unknown op {op!r}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("--memory-mb", type=int, default=0)
    args = parser.parse_args(argv)
    if args.memory_mb > 0:
        limit = args.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.setrecursionlimit(10_000)
    verifier = Verifier(args.timeout)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    for raw in stdin:
        try:
            reply = handle(verifier, json.loads(raw))
        except MemoryError:
            reply = {"error": "out of memory"}
        stdout.write(json.dumps(reply).encode("utf-8") + b"\n")
        stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
