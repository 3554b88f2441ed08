"""The math-verify worker process: parses and compares answers, one JSON request a line.

The full specification: docs/math-grading.md, section ``harness.grading.math.verify_worker``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import resource
import signal
import sys
from collections import OrderedDict
from typing import Any

#: integers as plain digits: ``parse`` returns [Integer(n), the text] for them (checked
#: against math-verify by the tests), so the slow LaTeX parser is skipped
_PLAIN_INTEGER = re.compile(r"-?\d{1,30}")


class SoftTimeout(BaseException):
    """Raised by the interval timer; a BaseException so math-verify's handlers let it pass."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise SoftTimeout()


class Verifier:
    """math-verify with a bounded parse cache and a soft timeout per operation."""

    def __init__(self, timeout_s: float, cache_size: int = 50_000) -> None:
        logging.getLogger("math_verify").setLevel(logging.CRITICAL)
        from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify
        from sympy import Integer

        self._integer = Integer

        self._parse = parse
        self._verify = verify
        self._configs = [LatexExtractionConfig(), ExprExtractionConfig()]
        self.timeout_s = timeout_s
        #: answer -> [its parse, its fingerprints once asked for], least recent first
        self._cache: OrderedDict[str, list[Any]] = OrderedDict()
        self._cache_size = cache_size
        signal.signal(signal.SIGALRM, _on_alarm)

    def _entry(self, answer: str) -> list[Any]:
        entry = self._cache.get(answer)
        if entry is not None:
            self._cache.move_to_end(answer)
            return entry
        if _PLAIN_INTEGER.fullmatch(answer):  # what parse returns for it, without the parser
            value: list[Any] = [self._integer(int(answer)), answer]
        else:
            value = self._parse("\\boxed{" + answer + "}", extraction_config=self._configs,
                                parsing_timeout=None)
        entry = self._cache[answer] = [value, None]
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return entry

    def parsed(self, answer: str) -> list[Any]:
        return self._entry(answer)[0]

    def fingerprints(self, answer: str) -> list[Print]:
        """One fingerprint per parsed candidate (see the module docstring); cached with
        the parse."""
        entry = self._entry(answer)
        if entry[1] is None:
            entry[1] = [_fingerprint(item) for item in entry[0]]
        return entry[1]

    def surely_different(self, gold: str, pred: str) -> bool:
        """True when ``verify`` could only answer "different" (see the module docstring)."""
        return all(_pair_different(a, b) for a in self.fingerprints(gold)
                   for b in self.fingerprints(pred))

    def _is_parsed(self, value: list[Any]) -> bool:
        return any(not isinstance(item, str) for item in value)

    def compare(self, gold: str, pred: str) -> tuple[bool, str, str | None]:
        """(equal, status, reason) for one ordered pair, under the soft timeout."""
        signal.setitimer(signal.ITIMER_REAL, self.timeout_s)
        try:
            g = self.parsed(gold)
            p = self.parsed(pred)
            equal = (not self.surely_different(gold, pred)
                     and bool(self._verify(g, p, timeout_seconds=None)))
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


#: a fingerprint (kind, data); kinds and data: "str" text, "val" (value, has symbols),
#: "eq" (rhs value, rhs has symbols, is an assignment), "coll" (is a tuple, length,
#: element values or None), "interval" (left open, right open, end values or None),
#: "union" (of intervals), "matrix" (shape, element values or None), "symbol" name,
#: "other" None
Print = tuple[str, Any]


def _point_value(expr: Any) -> complex | None:
    """The value of ``expr`` with each free symbol set from a hash of its name."""
    import hashlib

    from sympy import Expr, Float, Symbol, UnevaluatedExpr

    if not isinstance(expr, Expr) or isinstance(expr, Symbol) or expr.has(UnevaluatedExpr):
        return None
    subs = {}
    for symbol in expr.free_symbols:
        digest = hashlib.sha256(str(symbol).encode()).digest()
        subs[symbol] = Float(1.1 + int.from_bytes(digest[:6], "big") / 2**48 * 1.8, 30)
    value = expr.evalf(30, subs=subs) if subs else expr.evalf(30)
    if not value.is_number:
        return None
    number = complex(value)
    return number if math.isfinite(number.real) and math.isfinite(number.imag) else None


def _values(items: Any) -> tuple[complex, ...] | None:
    values = [_point_value(item) for item in items]
    known = [v for v in values if v is not None]
    return tuple(known) if len(known) == len(values) else None


def _fingerprint(item: Any) -> Print:
    if isinstance(item, str):
        return ("str", item.strip())
    from math_verify.grader import is_assignment_relation
    from sympy import Eq, FiniteSet, Interval, Symbol, Tuple, Union
    from sympy.matrices import MatrixBase

    try:
        if isinstance(item, Eq):
            value = _point_value(item.rhs)
            if value is not None:
                return ("eq", (value, bool(item.rhs.free_symbols),
                               bool(is_assignment_relation(item))))
        elif isinstance(item, (Tuple, FiniteSet)):
            ordered = isinstance(item, Tuple)
            return ("coll", (ordered, len(item.args), _values(item.args) if ordered else None))
        elif isinstance(item, Interval):
            return ("interval", (bool(item.left_open), bool(item.right_open),
                                 _point_value(item.start), _point_value(item.end)))
        elif isinstance(item, Union) and all(isinstance(a, Interval) for a in item.args):
            return ("union", None)
        elif isinstance(item, MatrixBase):
            return ("matrix", (tuple(item.shape), _values(list(item))))
        elif isinstance(item, Symbol):
            return ("symbol", item.name.lower() if len(item.name) > 1 else item.name)
        else:
            value = _point_value(item)
            if value is not None:
                return ("val", (value, bool(item.free_symbols)))
    except Exception:  # not evaluable: verify decides, as without this test
        pass
    return ("other", None)


def _far(a: complex | None, b: complex | None) -> bool:
    return a is not None and b is not None and abs(a - b) > 2e-6 * max(1.0, abs(a), abs(b))


def _unwrapped(gold: Print, pred: Print) -> tuple[Print, Print] | None:
    """The pair as ``verify`` compares it after unwrapping equations; None when an equation
    stays an equation (a comparison of relations, not handled here)."""
    if gold[0] == "eq":
        if not gold[1][2] or pred[0] == "eq":
            return None
        gold = ("val", gold[1][:2])
    if pred[0] == "eq":
        pred = ("val", pred[1][:2])
    return gold, pred


def _size(fingerprint: Print) -> int | None:
    kind, data = fingerprint
    return 1 if kind == "val" else data[1] if kind == "coll" else None


def _plain_number(fingerprint: Print) -> bool:
    """A value without free symbols that is not e (``verify`` equates e and the symbol e)."""
    kind, data = fingerprint
    return kind == "val" and not data[1] and abs(data[0] - math.e) > 1e-6


def _pair_different(gold: Print, pred: Print) -> bool:
    """Whether ``verify`` can only call this (gold, prediction) candidate pair different."""
    if gold[0] == "str" or pred[0] == "str":
        return gold[0] != pred[0] or not (gold[1] and gold[1] == pred[1])
    pair = _unwrapped(gold, pred)
    if pair is None:
        return False
    (gk, gd), (pk, pd) = pair
    kinds = {gk, pk}
    if "other" in kinds:
        return False
    if kinds == {"val"}:
        return _far(gd[0], pd[0])
    if kinds == {"interval"}:
        return gd[:2] != pd[:2] or _far(gd[2], pd[2]) or _far(gd[3], pd[3])
    if kinds == {"matrix"}:
        return gd[0] != pd[0] or (gd[1] is not None and pd[1] is not None
                                  and any(_far(a, b) for a, b in zip(gd[1], pd[1],
                                                                     strict=True)))
    if kinds == {"symbol"}:
        return gd != pd
    other = pair[1] if gk in ("matrix", "symbol", "union") else pair[0]
    if "matrix" in kinds or "symbol" in kinds:
        return _plain_number(other)
    if "union" in kinds:
        return _plain_number(other) or other[0] == "coll"
    if "interval" in kinds:
        size = _size(pair[1] if gk == "interval" else pair[0])
        return size is not None and size != 2
    if _size(pair[0]) != _size(pair[1]):
        return True
    if kinds == {"coll"} and gd[0] and pd[0] and gd[2] is not None and pd[2] is not None:
        return any(_far(a, b) for a, b in zip(gd[2], pd[2], strict=True))
    return False


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
