"""Math answers: correctness against the gold answer, and voting classes, with math-verify.

The full specification: docs/math-grading.md, section ``harness.grading.math.grader``.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from importlib.metadata import version
from pathlib import Path
from typing import Any

from harness.grading.math.exact_values import integer_value, rational_value
from harness.grading.math.result_cache import ResultCache
from harness.grading.math.rules import Facts, facts, rule_verdict
from harness.grading.math.verify_workers import VerifierWorkers, shared_workers
from harness.store.keys import key_of

GRADER_NAME = "math-verify"
#: bump whenever a rule in this module changes (invalidates cached results)
RULES_VERSION = 4
_UNSTABLE = {"timeout", "killed", "error"}


@dataclass(frozen=True)
class Verdict:
    """The judgement of one answer: correctness, voting class, and how it was reached."""

    correct: bool
    vote_key: str | None
    status: str  # exact|rational|decimal|time|base|ok|unparsed|timeout|killed|error|no-answer
    reason: str | None = None


class MathGrader:
    """Grades pools of answers against gold answers; thread-safe; one per task is enough."""

    def __init__(self, integer_answers: bool = False, timeout_s: float = 5.0,
                 workers: int | None = None, cache: ResultCache | str | Path | None = None,
                 verifiers: VerifierWorkers | None = None) -> None:
        self.integer_answers = integer_answers
        self.timeout_s = float(timeout_s)
        self.verifiers = verifiers or shared_workers(self.timeout_s, workers)
        self.cache = cache if isinstance(cache, ResultCache) else ResultCache(cache)
        self.math_verify_version = version("math-verify")

    def _value(self, answer: str) -> Fraction | None:
        return rational_value(answer, choice_wrapper=self.integer_answers)

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
        with ThreadPoolExecutor(self.verifiers.n_workers) as executor:
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
        known = {a: facts(a, self.integer_answers) for a in [gold, *distinct]}
        verdicts: dict[str, tuple[bool, str, str | None]] = {}
        to_verify = []
        for answer in distinct:
            ruled = rule_verdict(known[gold], known[answer])
            if ruled is None:
                to_verify.append(answer)
            else:
                verdicts[answer] = ruled
        with self.verifiers.worker() as worker:
            replies = worker.run([{"op": "eq", "gold": gold, "pred": a} for a in to_verify])
            for answer, reply in zip(to_verify, replies, strict=True):
                verdicts[answer] = _eq_verdict(reply)
            return self._cluster(distinct, verdicts, known, worker)

    def _search(self, answer: Facts, reps: list[str], gold_class: int | None,
                verdicts: dict[str, tuple[bool, str, str | None]],
                known: dict[str, Facts]) -> tuple[int, list[int]]:
        """(the first class the rules put ``answer`` in, or -1; the earlier classes that
        math-verify must be asked about)."""
        ask = []
        for i, rep in enumerate(reps):
            if i == gold_class or verdicts[rep][1] in _UNSTABLE:
                continue
            ruled = rule_verdict(known[rep], answer)
            if ruled is None:
                ask.append(i)
            elif ruled[0]:
                return i, ask
        return -1, ask

    def _cluster(self, distinct: list[str], verdicts: dict[str, tuple[bool, str, str | None]],
                 known: dict[str, Facts], worker: Any) -> list[list[Any]]:
        class_of: dict[str, int] = {}
        reps: list[str] = []  # first member of each class
        gold_class: int | None = None
        notes: dict[str, str] = {}
        for answer in distinct:
            if verdicts[answer][0]:
                if gold_class is None:
                    gold_class = len(reps)
                    reps.append(answer)
                class_of[answer] = gold_class
                continue
            found, candidates = -1, list[int]()
            if verdicts[answer][1] not in _UNSTABLE:
                found, candidates = self._search(known[answer], reps, gold_class, verdicts,
                                                 known)
            if candidates:
                reply = worker.run([{"op": "first", "pred": answer,
                                     "reps": [reps[i] for i in candidates]}])[0]
                if "index" in reply:
                    if reply["index"] >= 0:
                        found = candidates[reply["index"]]
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


def _eq_verdict(reply: dict[str, Any]) -> tuple[bool, str, str | None]:
    if "killed" in reply:
        return False, "killed", str(reply["killed"])
    if "error" in reply:
        return False, "error", str(reply["error"])
    return bool(reply["eq"]), str(reply["status"]), reply.get("reason")
