"""Generated multi-step integer word problems, and a parser that reads them back.

A problem is a starting amount followed by T operations (add, subtract, multiply), each
written as one English sentence from a fixed set of templates, so that anyone holding only
the text (the simulated policy, for instance) can recover the operations exactly.
Difficulty widens the numbers and brings in multiplication.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass

import numpy as np

NAMES = ("Mia", "Noah", "Ava", "Liam", "Zoe", "Omar", "Lena", "Ravi", "Iris", "Theo", "Nora",
         "Kai", "Sofia", "Ezra", "Maya", "Jonas")
ITEMS = ("marbles", "apples", "stickers", "coins", "pencils", "stamps", "shells", "cards",
         "beads", "books", "tokens", "seeds")
ADD_VERBS = ("finds", "buys", "receives", "wins")
SUB_VERBS = ("gives away", "loses", "sells", "uses")
MULTIPLIER_WORDS = {2: "doubles", 3: "triples"}

#: per difficulty: (max start value, max add/sub amount, chance an op is a multiplication,
#: largest multiplier)
DIFFICULTY = {
    1: (20, 9, 0.0, 2),
    2: (50, 20, 0.15, 3),
    3: (100, 50, 0.25, 5),
    4: (300, 120, 0.3, 7),
    5: (1000, 400, 0.35, 9),
}


@dataclass(frozen=True)
class Op:
    """One operation: kind in {"add", "sub", "mul"} and its operand."""

    kind: str
    operand: int

    def apply(self, value: int) -> int:
        if self.kind == "add":
            return value + self.operand
        if self.kind == "sub":
            return value - self.operand
        return value * self.operand

    @property
    def symbol(self) -> str:
        return {"add": "+", "sub": "-", "mul": "*"}[self.kind]


@dataclass(frozen=True)
class ArithProblem:
    name: str
    item: str
    start: int
    ops: tuple[Op, ...]

    def values(self) -> list[int]:
        """The running amount after 0, 1, ..., T operations."""
        out = [self.start]
        for op in self.ops:
            out.append(op.apply(out[-1]))
        return out

    @property
    def answer(self) -> int:
        return self.values()[-1]


def generate(rng: np.random.Generator, length: int, difficulty: int) -> ArithProblem:
    """One problem with ``length`` operations; every running amount stays positive."""
    if difficulty not in DIFFICULTY:
        raise ValueError(f"difficulty must be one of {sorted(DIFFICULTY)}")
    max_start, max_amount, p_mul, max_mult = DIFFICULTY[difficulty]
    value = int(rng.integers(2, max_start + 1))
    start = value
    ops = []
    for _ in range(length):
        roll = rng.random()
        if roll < p_mul and value <= 10 * max_start:
            op = Op("mul", int(rng.integers(2, max_mult + 1)))
        elif roll < p_mul + (1 - p_mul) / 2 or value <= 1:
            op = Op("add", int(rng.integers(1, max_amount + 1)))
        else:
            op = Op("sub", int(rng.integers(1, min(max_amount, value - 1) + 1)))
        ops.append(op)
        value = op.apply(value)
    return ArithProblem(str(rng.choice(NAMES)), str(rng.choice(ITEMS)), start, tuple(ops))


def op_sentence(problem: ArithProblem, op: Op, verb_index: int) -> str:
    name, item = problem.name, problem.item
    if op.kind == "add":
        return f"Then {name} {ADD_VERBS[verb_index % len(ADD_VERBS)]} {op.operand} more {item}."
    if op.kind == "sub":
        return f"Then {name} {SUB_VERBS[verb_index % len(SUB_VERBS)]} {op.operand} {item}."
    if op.operand in MULTIPLIER_WORDS:
        return f"Then the number of {item} {MULTIPLIER_WORDS[op.operand]}."
    return f"Then the number of {item} becomes {op.operand} times as large."


def problem_text(problem: ArithProblem) -> str:
    sentences = [f"{problem.name} has {problem.start} {problem.item}."]
    sentences += [op_sentence(problem, op, i) for i, op in enumerate(problem.ops)]
    sentences.append(f"How many {problem.item} does {problem.name} have at the end?")
    return " ".join(sentences)


_START = re.compile(r"^(?P<name>[A-Z][a-z]+) has (?P<start>\d+) (?P<item>[a-z]+)\.")
_ADD_VERBS_RE = "|".join(ADD_VERBS)
_SUB_VERBS_RE = "|".join(SUB_VERBS)
_ADD = re.compile(
    rf"^Then (?P<name>[A-Z][a-z]+) (?:{_ADD_VERBS_RE}) (?P<n>\d+) more (?P<item>[a-z]+)\.$")
_SUB = re.compile(
    rf"^Then (?P<name>[A-Z][a-z]+) (?:{_SUB_VERBS_RE}) (?P<n>\d+) (?P<item>[a-z]+)\.$")
_MUL_WORD = re.compile(r"^Then the number of (?P<item>[a-z]+) (?P<word>doubles|triples)\.$")
_MUL_K = re.compile(
    r"^Then the number of (?P<item>[a-z]+) becomes (?P<k>\d+) times as large\.$")
_QUESTION = re.compile(r"^How many (?P<item>[a-z]+) does (?P<name>[A-Z][a-z]+) have at the end\?$")


def parse_problem_text(text: str) -> ArithProblem:
    """Recover the problem from its statement; ValueError if it is not one of ours."""
    sentences = re.findall(r"[^.?]+[.?]", text.strip())
    sentences = [s.strip() for s in sentences]
    if len(sentences) < 3:
        raise ValueError("not a synthetic-arith problem statement")
    head = _START.match(sentences[0])
    question = _QUESTION.match(sentences[-1])
    if not head or not question:
        raise ValueError("not a synthetic-arith problem statement")
    ops = []
    by_word = {v: k for k, v in MULTIPLIER_WORDS.items()}
    for sentence in sentences[1:-1]:
        if m := _ADD.match(sentence):
            ops.append(Op("add", int(m["n"])))
        elif m := _SUB.match(sentence):
            ops.append(Op("sub", int(m["n"])))
        elif m := _MUL_WORD.match(sentence):
            ops.append(Op("mul", by_word[m["word"]]))
        elif m := _MUL_K.match(sentence):
            ops.append(Op("mul", int(m["k"])))
        else:
            raise ValueError(f"unrecognised sentence: {sentence!r}")
    return ArithProblem(head["name"], head["item"], int(head["start"]), tuple(ops))


def hardness(text: str) -> float:
    """How much harder than average a problem is for the simulated policy: exp(4(u - 0.35))
    for u uniform in [0, 1), so between 0.25 and 13.5, log-uniformly.

    A fixed function of the statement, so the policy and the PRMs that model it agree.
    """
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return math.exp(4.0 * (int.from_bytes(digest[:8], "little") / 2**64 - 0.35))


_STATEMENT = re.compile(r"[A-Z][a-z]+ has \d+ [a-z]+\..*?have at the end\?", re.DOTALL)


def statement_from_messages(messages: list[dict[str, str]]) -> str:
    """The problem statement inside a chat prompt (whatever instructions surround it)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            found = _STATEMENT.search(message.get("content", ""))
            if found:
                return found.group(0)
    raise ValueError("no synthetic-arith problem statement in the prompt")
