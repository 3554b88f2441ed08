"""Math answers: correctness against the gold answer, and voting classes, with math-verify.

``MathGrader.grade(gold, answers)`` judges a whole pool of one problem at once, because the
voting classes need the pool:

- Distinct answer strings are ordered (integer literals first, then integer fractions, then
  shorter, then lexicographic); that order makes every result a function of the *set* of
  answers.
- Correct means math-verify's ``verify(gold, answer)`` is true (gold first: the comparison
  is not symmetric). Fast paths skip the worker: the same string as the gold answer; two
  exact rational literals (integers and integer fractions, see ``exact_values``: ``"025"``
  equals ``"25"``, ``"10{,}000"`` equals ``"10000"``, ``"\\frac{4}{2}"`` equals ``"2"``),
  compared exactly (math-verify rounds to 6 decimals, so it would call 1/1000000 and
  1/1000001 equal); and times of day when either side says a.m./p.m. (``time_answers``:
  ``\\text{4:30 p.m.}`` equals ``4:30 \\text{ p.m.}``), compared as minutes of the day.
- Voting classes: every correct answer joins the gold's class; a wrong answer joins the
  first wrong class whose representative (first member) math-verify finds equivalent, else
  starts a new one. Two different rational literals (or a.m./p.m. times) are never
  equivalent, and an a.m./p.m. time is never compared with math-verify. So ``\\frac12``,
  ``0.5`` and ``1/2`` vote together. ``vote_key`` is the class's first member, so it is one
  of the pool's own answers, never the gold string.
- Integer mode (AIME): the gold must be an integer; an integer-literal answer is compared as
  an integer (here parentheses around it are an answer-choice wrapper: ``\\textbf{(25)}``
  is 25), anything else goes to math-verify against the gold.
- A comparison that times out (soft, in the worker) or is killed (hard deadline, see
  ``verify_pool``) counts as "not equal" and is reported in the verdict's status/reason.
  An answer whose gold comparison timed out is not compared again: it gets a class of its
  own, so one pathological answer costs one timeout, not one per class.

Each problem's result is cached under the sha256 of (rules version, math-verify version,
mode, gold, answer set); results that involved a timeout, kill or error are not cached.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from importlib.metadata import version
from pathlib import Path
from typing import Any

from harness.grading.exact_values import integer_value, rational_value
from harness.grading.result_cache import ResultCache
from harness.grading.time_answers import ClockTime, clock_time, same_time, time_rule_applies
from harness.grading.verify_pool import VerifierPool, shared_pool
from harness.store.keys import key_of

GRADER_NAME = "math-verify"
#: bump whenever a rule in this module changes (invalidates cached results)
RULES_VERSION = 3
_UNSTABLE = {"timeout", "killed", "error"}


@dataclass(frozen=True)
class Verdict:
    """The judgement of one answer: correctness, voting class, and how it was reached."""

    correct: bool
    vote_key: str | None
    status: str  # exact|rational|time|ok|unparsed|timeout|killed|error|no-answer
    reason: str | None = None


class MathGrader:
    """Grades pools of answers against gold answers; thread-safe; one per task is enough."""

    def __init__(self, integer_answers: bool = False, timeout_s: float = 5.0,
                 workers: int | None = None, cache: ResultCache | str | Path | None = None,
                 pool: VerifierPool | None = None) -> None:
        self.integer_answers = integer_answers
        self.timeout_s = float(timeout_s)
        self.pool = pool or shared_pool(self.timeout_s, workers)
        self.cache = cache if isinstance(cache, ResultCache) else ResultCache(cache)
        self.math_verify_version = version("math-verify")

    def _value(self, answer: str) -> Fraction | None:
        return rational_value(answer, choice_wrapper=self.integer_answers)

    def _exact_key(self, answer: str) -> tuple[str, Any] | None:
        """The value an answer is compared by without math-verify: a rational literal, or
        an a.m./p.m. time; None for everything else."""
        value = self._value(answer)
        if value is not None:
            return ("rational", value)
        clock = clock_time(answer)
        if clock is not None and clock.meridiem:
            return ("time", clock.minute)
        return None

    def _order_key(self, answer: str) -> tuple[bool, bool, int, str]:
        return (integer_value(answer, self.integer_answers) is None, self._value(answer) is None,
                len(answer), answer)

    def identity(self) -> dict[str, Any]:
        return {"grader": GRADER_NAME, "grader_version": self.math_verify_version,
                "rules_version": RULES_VERSION, "integer_answers": self.integer_answers,
                "timeout_s": self.timeout_s}

    # ------------------------------------------------------------------ public API

    def grade(self, gold: str, answers: Sequence[str | None]) -> list[Verdict]:
        """One verdict per answer (None means the completion had no answer)."""
        gold = gold.strip()
        if self.integer_answers and integer_value(gold, choice_wrapper=True) is None:
            raise ValueError(f"integer mode needs an integer gold answer, got {gold!r}")
        distinct = sorted({a.strip() for a in answers if a is not None and a.strip()},
                          key=self._order_key)
        by_answer = self._classify(gold, distinct) if distinct else {}
        out = []
        for answer in answers:
            if answer is None or not answer.strip():
                out.append(Verdict(False, None, "no-answer", "no final answer found"))
            else:
                out.append(by_answer[answer.strip()])
        return out

    def grade_many(self, jobs: Sequence[tuple[str, Sequence[str | None]]]) -> list[list[Verdict]]:
        """``grade`` for many problems, spread over the worker processes."""
        if len(jobs) <= 1:
            return [self.grade(gold, answers) for gold, answers in jobs]
        with ThreadPoolExecutor(self.pool.n_workers) as executor:
            return list(executor.map(lambda job: self.grade(*job), jobs))

    def equivalent(self, gold: str, answer: str) -> bool:
        """Whether ``answer`` grades as correct against ``gold``."""
        return self.grade(gold, [answer])[0].correct

    # ------------------------------------------------------------------ internals

    def _cache_key(self, gold: str, distinct: list[str]) -> str:
        return key_of({"rules": RULES_VERSION, "math_verify": self.math_verify_version,
                       "integer": self.integer_answers, "gold": gold, "answers": distinct})

    def _classify(self, gold: str, distinct: list[str]) -> dict[str, Verdict]:
        key = self._cache_key(gold, distinct)
        cached = self.cache.get(key)
        if cached is None:
            rows = self._compute(gold, distinct)
            if not any(row[2] in _UNSTABLE for row in rows):
                self.cache.put_many([(key, rows)])
        else:
            rows = cached
        first_member: dict[int, str] = {}
        for answer, (cls, _, _, _) in zip(distinct, rows, strict=True):
            first_member.setdefault(cls, answer)
        return {answer: Verdict(bool(correct), first_member[cls], status, reason)
                for answer, (cls, correct, status, reason) in zip(distinct, rows, strict=True)}

    def _compute(self, gold: str, distinct: list[str]) -> list[list[Any]]:
        """Rows [class index, correct, status, reason], one per distinct answer, in order."""
        gold_value = self._value(gold)
        gold_clock = clock_time(gold)
        verdicts: dict[str, tuple[bool, str, str | None]] = {}
        to_verify = []
        for answer in distinct:
            value = self._value(answer)
            clock = clock_time(answer)
            if answer == gold:
                verdicts[answer] = (True, "exact", None)
            elif time_rule_applies(gold_clock, clock):
                verdicts[answer] = _time_verdict(gold_clock, clock)
            elif value is not None and gold_value is not None:
                verdicts[answer] = (value == gold_value, "rational", None)
            else:
                to_verify.append(answer)
        with self.pool.worker() as worker:
            replies = worker.run([{"op": "eq", "gold": gold, "pred": a} for a in to_verify])
            for answer, reply in zip(to_verify, replies, strict=True):
                verdicts[answer] = _eq_verdict(reply)
            return self._cluster(distinct, verdicts, worker)

    def _candidates(self, key: tuple[str, Any] | None, reps: list[str],
                    gold_class: int | None,
                    verdicts: dict[str, tuple[bool, str, str | None]]) -> list[int]:
        """The classes whose representative math-verify should compare with an answer of
        exact key ``key``: never two keyed answers, never an a.m./p.m. time."""
        if key is not None and key[0] == "time":
            return []
        out = []
        for i, rep in enumerate(reps):
            rep_key = self._exact_key(rep)
            if i == gold_class or verdicts[rep][1] in _UNSTABLE:
                continue
            if rep_key is not None and (key is not None or rep_key[0] == "time"):
                continue
            out.append(i)
        return out

    def _cluster(self, distinct: list[str], verdicts: dict[str, tuple[bool, str, str | None]],
                 worker: Any) -> list[list[Any]]:
        class_of: dict[str, int] = {}
        reps: list[str] = []  # first member of each class
        gold_class: int | None = None
        by_key: dict[tuple[str, Any], int] = {}
        notes: dict[str, str] = {}
        for answer in distinct:
            key = self._exact_key(answer)
            if verdicts[answer][0]:
                if gold_class is None:
                    gold_class = len(reps)
                    reps.append(answer)
                class_of[answer] = gold_class
                continue
            if key is not None and key in by_key:
                class_of[answer] = by_key[key]
                continue
            slow = verdicts[answer][1] in _UNSTABLE
            candidates = [] if slow else self._candidates(key, reps, gold_class, verdicts)
            found = -1
            if candidates:
                reply = worker.run([{"op": "first", "pred": answer,
                                     "reps": [reps[i] for i in candidates]}])[0]
                if "index" in reply:
                    found = candidates[reply["index"]] if reply["index"] >= 0 else -1
                    bad = [s for s in reply["statuses"] if s in _UNSTABLE]
                    if bad:
                        notes[answer] = f"class search: {len(bad)} comparison(s) {bad[0]}"
                else:
                    notes[answer] = "class search: " + str(reply.get("killed")
                                                           or reply.get("error"))
            if found < 0:
                found = len(reps)
                reps.append(answer)
            class_of[answer] = found
            if key is not None:
                by_key.setdefault(key, found)
        rows = []
        for answer in distinct:
            correct, status, reason = verdicts[answer]
            if answer in notes and status not in _UNSTABLE:
                note = notes[answer]
                status = ("killed" if "killed" in note or "died" in note
                          else "timeout" if "timeout" in note else "error")
                reason = note
            rows.append([class_of[answer], correct, status, reason])
        return rows


def _time_verdict(gold: ClockTime | None, answer: ClockTime | None
                  ) -> tuple[bool, str, str | None]:
    if same_time(gold, answer):
        return True, "time", None
    if gold is None or answer is None:
        return False, "time", "only one of gold and answer is a time of day"
    if gold.minute is None or answer.minute is None:
        return False, "time", "a time without a.m./p.m. against one with it"
    return False, "time", "a different time of day"


def _eq_verdict(reply: dict[str, Any]) -> tuple[bool, str, str | None]:
    if "killed" in reply:
        return False, "killed", str(reply["killed"])
    if "error" in reply:
        return False, "error", str(reply["error"])
    return bool(reply["eq"]), str(reply["status"]), reply.get("reason")
