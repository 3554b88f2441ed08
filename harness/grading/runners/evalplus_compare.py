"""evalplus' per-input verdict, applied by the harness to values decoded from the child.

Equal to ``evalplus.eval.unsafe_execute`` (0.3.1) input by input: exact equality first, the
special oracles of a few HumanEval+/MBPP+ tasks, then a numeric comparison with
``atol`` (and evalplus' habit of switching ``atol`` to 1e-6 for the rest of the inputs
once it meets a float-valued expected output). One deliberate difference: for
HumanEval/32 (``find_zero``) evalplus 0.3.1 skips recording the passing inputs and so
fails every program; here the oracle's verdict counts.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from harness.grading.sandbox.child._sbx_values import output_digest

MBPP_NOT_NONE = frozenset({"check_str", "text_match_three", "text_starta_endb"})
MBPP_SET_EQUAL = frozenset({"similar_elements", "find_char_long", "common_in_nested_lists",
                            "extract_singly", "larg_nnum", "intersection_array",
                            "find_dissimilar", "Diff"})


def _poly_value(xs: list[Any], x: float) -> float:
    """The polynomial with coefficients ``xs`` at ``x`` (HumanEval/32's oracle)."""
    return sum(c * math.pow(x, i) for i, c in enumerate(xs))


def _pyramid_surface(base_edge: float, height: float) -> int:
    """Mbpp/581's oracle: square pyramid area with ``height`` the apex height."""
    slant = math.sqrt((base_edge / 2) ** 2 + height ** 2)
    return round(base_edge ** 2 + 2 * base_edge * slant)


def _digit_distance(a: int, b: int) -> int:
    """Mbpp/558's oracle: digit-wise distance after zero-padding to equal length."""
    sa, sb = str(a), str(b)
    width = max(len(sa), len(sb))
    return sum(abs(int(x) - int(y)) for x, y in zip(sa.zfill(width), sb.zfill(width),
                                                    strict=True))


def _is_floats(x: Any) -> bool:
    if isinstance(x, float):
        return True
    if isinstance(x, (list, tuple)) and x:
        return all(isinstance(i, float) for i in x)
    if isinstance(x, np.ndarray):
        return bool(x.dtype in (np.float64, np.float32))
    return False


class PhaseChecker:
    """Checks one phase's outputs in order, carrying evalplus' mutable ``atol``."""

    def __init__(self, dataset: str, entry_point: str, atol: float) -> None:
        self.dataset = dataset
        self.entry_point = entry_point
        self.atol = atol

    def matches(self, args: Any, out: Any, exp: Any) -> bool:
        try:
            return self._matches(args, out, exp)
        except Exception:
            return False

    def _exact(self, args: Any, out: Any, exp: Any) -> Any:
        exact = out == exp
        name = self.entry_point
        if self.dataset == "mbpp":
            if name == "are_equivalent":
                exact = True
            elif name == "sum_div":
                exact = exact or out == 0
            elif name == "surface_Area":
                exact = exact or abs(out - _pyramid_surface(*args)) <= self.atol
            elif name == "digit_distance_nums":
                exact = exact or out == _digit_distance(*args)
            elif name in MBPP_SET_EQUAL:
                exact = set(out) == set(exp)
            elif name in MBPP_NOT_NONE:
                exact = out == exp if isinstance(out, bool) else exp == (out is not None)
        return exact

    def _matches(self, args: Any, out: Any, exp: Any) -> bool:
        exact = self._exact(args, out, exp)
        if self.dataset == "humaneval" and self.entry_point == "find_zero":
            xs, = args  # find_zero(xs)
            return bool(abs(_poly_value(xs, out)) <= self.atol)
        if self.atol == 0 and _is_floats(exp):
            self.atol = 1e-6
        if not exact and self.atol != 0:
            if type(out) is not type(exp):
                return False
            if isinstance(exp, (list, tuple)) and len(out) != len(exp):
                return False
            return bool(np.allclose(out, exp, rtol=1e-07, atol=self.atol))
        return bool(exact)


# Expected outputs at least this long are compared by digest (see digest_inputs).
DIGEST_MIN_ITEMS = 2048
_DIGEST_OFF = MBPP_NOT_NONE | MBPP_SET_EQUAL | {"are_equivalent", "sum_div", "surface_Area",
                                               "digit_distance_nums", "find_zero"}


def _long(value: Any) -> bool:
    if isinstance(value, (str, list)):
        return len(value) >= DIGEST_MIN_ITEMS
    return isinstance(value, int) and value.bit_length() >= 4 * DIGEST_MIN_ITEMS


def digest_inputs(entry_point: str, atol: float, expected: list[Any]) -> dict[int, str]:
    """Inputs of one phase whose output may travel as a digest: those with a long
    expected output that PhaseChecker compares by ``==`` alone (no special oracle, and no
    ``atol`` in force at that input, evalplus' switch to 1e-6 included); index -> the
    expected output's digest. Equal digests mean equal values (output_digest), so the
    verdict is the one a full comparison gives."""
    if entry_point in _DIGEST_OFF:
        return {}
    found: dict[int, str] = {}
    for index, exp in enumerate(expected):
        if atol == 0 and _is_floats(exp):
            atol = 1e-6
        if atol != 0:
            break  # from here on every mismatch gets a numeric second look
        if _long(exp):
            digest = output_digest(exp)
            if digest is not None:
                found[index] = digest
    return found
