"""Long expected outputs compared by digest: HumanEval/15 and /130 expect outputs of
megabytes per input (150 MB of JSON per program in all), which the sandbox once encoded,
shipped and the harness decoded and compared item by item for every program. Digests
must give exactly the verdicts (and voting classes) a full comparison gives."""

from __future__ import annotations

import itertools

import pytest

from harness import registry
from harness.grading.runners import evalplus_compare
from harness.grading.runners.evalplus_compare import digest_inputs
from harness.grading.sandbox.child._sbx_values import output_digest

VALUES = ["", "a", "ab", "1", "\ud800", 0, 1, -1, 2, 2 ** 53, 2 ** 53 + 1, 10 ** 5000,
          [], [1], [1.0], [True], [1, 2], [1.0, 2.0], [1, 2.5], [2.5, 1], [0.0], [-0.0],
          [False], [0], [None], ["1"], [1, "1"], [float(2 ** 53)], [2 ** 53 + 1],
          [0.1], [0.1 + 1e-17], [0.30000000000000004], [10 ** 400], ["a, 'b'"], ["a", "b"]]


def test_equal_digests_exactly_when_python_says_equal():
    for a, b in itertools.product(VALUES, repeat=2):
        da, db = output_digest(a), output_digest(b)
        assert da is not None and db is not None, (a, b)
        if type(a) is type(b) or {type(a), type(b)} <= {int}:
            assert (da == db) == (a == b), (a, b)
        else:  # a str never equals an int or a list, nor does their digest
            assert da != db and a != b, (a, b)


def test_values_outside_the_cover_travel_as_themselves():
    for value in ([float("nan")], [float("inf")], (1, 2), [[1]], {"a": 1}, 1.5, True, None,
                  [object()]):
        assert output_digest(value) is None, value


def test_digest_inputs_leave_out_tolerance_and_oracles():
    long_ints = list(range(3000))
    assert set(digest_inputs("f", 0, [long_ints, 3, "x" * 5000])) == {0, 2}
    assert digest_inputs("f", 1e-6, [long_ints]) == {}  # atol in force: numeric look
    # evalplus turns atol on at the first float-valued expected output, for the rest
    assert set(digest_inputs("f", 0, [long_ints, 0.5, long_ints])) == {0}
    assert digest_inputs("find_zero", 0, [long_ints]) == {}
    assert digest_inputs("similar_elements", 0, [long_ints]) == {}


PROGRAMS = {
    "HumanEval/15": {
        "canonical": 'def string_sequence(n):\n    return " ".join(map(str, range(n + 1)))\n',
        "same, built another way": "def string_sequence(n):\n"
                                   "    return ' '.join(str(i) for i in range(n + 1))\n",
        "last item wrong": "def string_sequence(n):\n"
                           "    return ' '.join(map(str, range(n + 1))) + ('' if n < 2000 "
                           "else ' ')\n",
        "a list, not a str": "def string_sequence(n):\n    return list(map(str, range(n + 1)))\n",
    },
    "HumanEval/130": {
        "canonical": "def tri(n):\n    if n == 0: return [1]\n    if n == 1: return [1, 3]\n"
                     "    ans = [1, 3]\n    for i in range(2, n + 1):\n"
                     "        if i % 2 == 0: ans.append(1 + i / 2)\n"
                     "        else: ans.append(ans[-1] + ans[-2] + 1 + (i + 1) / 2)\n"
                     "    return ans\n",
        "ints where it wrote floats": "def tri(n):\n    if n == 0: return [1]\n"
                                      "    if n == 1: return [1, 3]\n    ans = [1, 3]\n"
                                      "    for i in range(2, n + 1):\n"
                                      "        if i % 2 == 0: ans.append(1 + i // 2)\n"
                                      "        else: ans.append(ans[-1] + ans[-2] + 1 + "
                                      "(i + 1) // 2)\n    return ans\n",
        "a tuple": "def tri(n):\n    if n == 0: return (1,)\n    ans = [1, 3]\n"
                   "    for i in range(2, n + 1):\n"
                   "        ans.append(1 + i / 2 if i % 2 == 0 else "
                   "ans[-1] + ans[-2] + 1 + (i + 1) / 2)\n    return tuple(ans[:n + 1])\n",
        "off by one at the end": "def tri(n):\n    if n == 0: return [1]\n    ans = [1, 3]\n"
                                 "    for i in range(2, n + 1):\n"
                                 "        ans.append(1 + i / 2 if i % 2 == 0 else "
                                 "ans[-1] + ans[-2] + 1 + (i + 1) / 2)\n"
                                 "    if n > 3000: ans[-1] += 1\n    return ans[:n + 1]\n",
    },
}
PASSES = {"canonical", "same, built another way", "ints where it wrote floats"}


def _grade(shared_data, min_items: int) -> dict[tuple[str, str], object]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(evalplus_compare, "DIGEST_MIN_ITEMS", min_items)
        # exact voting, and time limits far above these programs' needs: this compares
        # digests with full comparisons, not the machine's load (a loaded CI machine once
        # pushed a passing program past the default limits on the full path only)
        task = registry.TASKS.build("humanevalplus",
                                    {"workers": 2, "vote_budget_s": None,
                                     "min_time_limit": 30.0, "gt_time_limit_factor": 50.0,
                                     "timeout_per_task": 600.0},
                                    data_dir=shared_data)
        try:
            problems = {p.id: task.evalplus_problem(p) for p in task.load()
                        if p.id in PROGRAMS}
            items = [(problems[tid], list(progs.values())) for tid, progs in PROGRAMS.items()]
            digests = {tid: task.grader.expected([problems[tid]])[tid].digests
                       for tid in PROGRAMS}
            verdicts = task.grader.grade(items)
        finally:
            task.close()
    out: dict[tuple[str, str], object] = {"digests": digests}
    for (tid, progs), row in zip(PROGRAMS.items(), verdicts, strict=True):
        for name, verdict in zip(progs, row, strict=True):
            out[(tid, name)] = verdict
    return out


def test_long_outputs_by_digest_give_the_full_comparisons_verdicts(shared_data, code_cache):
    fast = _grade(shared_data, evalplus_compare.DIGEST_MIN_ITEMS)
    full = _grade(shared_data, 10 ** 12)  # never by digest
    assert all(fast["digests"][t]["plus"] for t in PROGRAMS)  # the digest path is taken
    assert not any(full["digests"][t]["plus"] for t in PROGRAMS)
    for tid, progs in PROGRAMS.items():
        for name in progs:
            a, b = fast[(tid, name)], full[(tid, name)]
            assert a.correct == (name in PASSES), (tid, name, a.details)
            assert (a.correct, a.details["status"]) == (b.correct, b.details["status"]), \
                (tid, name, a.details, b.details)
            # an input past its time limit abstains from voting: a matter of the
            # machine's load at that moment, not of digests
            if "abstains" not in a.details and "abstains" not in b.details:
                assert (a.vote_key is None) == (b.vote_key is None), (a.details, b.details)
        keys = {name: fast[(tid, name)].vote_key for name in progs}
        assert keys["canonical"] == (keys.get("same, built another way") or keys["canonical"])
        passing = {keys[n] for n in progs if n in PASSES}
        assert not passing & {keys[n] for n in progs if n not in PASSES}
