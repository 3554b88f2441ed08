"""The simulated policy as a Markov chain over solution prefixes, with exact values.

The full specification: docs/simulator.md, section ``harness.synthetic.chain``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np

from harness.synthetic.problems import ADD_VERBS, SUB_VERBS, ArithProblem, Op, hardness

SLIPS = tuple(d for d in range(-10, 11) if d != 0)
TRAP_SHARE = 0.6
STEP_END = "\n\n"
RETHINK_PREFIX = "Wait, let me check that again."


@dataclass(frozen=True)
class PolicyParams:
    """The simulated policy's behaviour: slip rate per operation (multiplied by the problem's
    hardness, and by ``mul_weight`` for multiplications; at most 0.95) and the chance of
    noticing a wrong amount at each step (divided by the hardness; at most 1)."""

    error_rate: float = 0.08
    recovery_rate: float = 0.3
    mul_weight: float = 2.0  # multiplications slip this much more often


@dataclass(frozen=True)
class State:
    t: int
    wrong: bool
    amount: int
    finished: bool = False
    final_right: bool = False


class Chain:
    """The chain for one problem and one set of policy parameters."""

    def __init__(self, problem: ArithProblem, statement: str, params: PolicyParams) -> None:
        self.problem = problem
        self.params = params
        self.truth = problem.values()
        scale = hardness(statement)
        self.rho = min(1.0, params.recovery_rate / scale)
        self.eps = [0.0] + [
            min(0.95, params.error_rate * scale * (params.mul_weight if op.kind == "mul" else 1))
            for op in problem.ops
        ]
        self.traps = [0] + [
            SLIPS[int(hashlib.sha256(f"{statement}|{t}".encode()).hexdigest(), 16) % len(SLIPS)]
            for t in range(1, len(problem.ops) + 1)
        ]
        self.right_value, self.wrong_value = self._values()

    def slip_distribution(self, t: int, exact: int) -> list[tuple[int, float]]:
        """Slips allowed at operation t from an amount whose exact result is ``exact``."""
        trap = self.traps[t]
        allowed = [d for d in SLIPS if exact + d != self.truth[t]]
        others = [d for d in allowed if d != trap]
        weights = {d: (1 - TRAP_SHARE) / (len(SLIPS) - 1) for d in others}
        if trap in allowed:
            weights[trap] = TRAP_SHARE
        total = sum(weights.values())
        return [(d, weights[d] / total) for d in allowed]

    @property
    def length(self) -> int:
        return len(self.problem.ops)

    def _values(self) -> tuple[list[float], list[float]]:
        n, rho = self.length, self.rho
        right, wrong = [0.0] * (n + 1), [0.0] * (n + 1)
        right[n], wrong[n] = 1.0, rho
        for t in range(n - 1, -1, -1):
            eps = self.eps[t + 1]
            right[t] = (1 - eps) * right[t + 1] + eps * wrong[t + 1]
            wrong[t] = rho * right[t] + (1 - rho) * wrong[t + 1]
        return right, wrong

    def start(self) -> State:
        return State(0, False, self.problem.start)

    def value(self, state: State) -> float:
        if state.finished:
            return 1.0 if state.final_right else 0.0
        return self.wrong_value[state.t] if state.wrong else self.right_value[state.t]

    # -- text -----------------------------------------------------------------------------

    def op_text(self, t: int, before: int, after: int) -> str:
        op = self.problem.ops[t - 1]
        p = self.problem
        if op.kind == "add":
            lead = f"{p.name} {ADD_VERBS[(t - 1) % len(ADD_VERBS)]} {op.operand} more {p.item}"
        elif op.kind == "sub":
            lead = f"{p.name} {SUB_VERBS[(t - 1) % len(SUB_VERBS)]} {op.operand} {p.item}"
        else:
            lead = f"The number of {p.item} is multiplied by {op.operand}"
        return f"{lead}: {before} {op.symbol} {op.operand} = {after}.{STEP_END}"

    def rethink_text(self, t: int) -> str:
        expression = str(self.problem.start)
        for op in self.problem.ops[:t]:
            if op.kind == "mul" and (" + " in expression or " - " in expression):
                expression = f"({expression})"
            expression = f"{expression} {op.symbol} {op.operand}"
        return (f"{RETHINK_PREFIX} Starting from {self.problem.start}: {expression} = "
                f"{self.truth[t]}. So {self.problem.name} has {self.truth[t]} "
                f"{self.problem.item}.{STEP_END}")

    @staticmethod
    def final_text(amount: int) -> str:
        return f"The answer is $\\boxed{{{amount}}}$."

    # -- transitions ----------------------------------------------------------------------

    def successors(self, state: State) -> list[tuple[float, str, State]]:
        """Every possible next step with its probability (empty once the answer is out)."""
        if state.finished:
            return []
        out: list[tuple[float, str, State]] = []
        carry = 1.0
        if state.wrong and state.t >= 1:
            rho = self.rho
            out.append((rho, self.rethink_text(state.t),
                        State(state.t, False, self.truth[state.t])))
            carry = 1.0 - rho
        if state.t == self.length:
            out.append((carry, self.final_text(state.amount),
                        State(state.t, state.wrong, state.amount, True, not state.wrong)))
            return out
        t = state.t + 1
        op: Op = self.problem.ops[t - 1]
        exact = op.apply(state.amount)
        eps = self.eps[t]
        out.append((carry * (1 - eps), self.op_text(t, state.amount, exact),
                    State(t, state.wrong, exact)))
        for d, share in self.slip_distribution(t, exact):
            out.append((carry * eps * share, self.op_text(t, state.amount, exact + d),
                        State(t, True, exact + d)))
        return [entry for entry in out if entry[0] > 0]

    def sample_step(self, state: State, rng: np.random.Generator) -> tuple[str, State]:
        options = self.successors(state)
        probabilities = np.array([p for p, _, _ in options])
        choice = rng.choice(len(options), p=probabilities / probabilities.sum())
        _, text, nxt = options[choice]
        return text, nxt

    def rollout(self, state: State, rng: np.random.Generator) -> tuple[list[str], State]:
        steps = []
        while not state.finished:
            text, state = self.sample_step(state, rng)
            steps.append(text)
        return steps, state

    # -- reading a prefix back --------------------------------------------------------------

    def trace(self, steps: list[str]) -> list[State]:
        """The state after each step of a solution written by this policy."""
        state = self.start()
        states = []
        for number, step in enumerate(steps, start=1):
            state = self._advance(state, step, number)
            states.append(state)
        return states

    def _advance(self, state: State, step: str, number: int) -> State:
        if state.finished:
            raise ValueError(f"step {number} follows the final answer")
        if step.startswith(RETHINK_PREFIX):
            if not state.wrong:
                raise ValueError(f"step {number} rethinks a right amount")
            return State(state.t, False, self.truth[state.t])
        boxed = re.search(r"\\boxed\{(-?\d+)\}", step)
        if boxed:
            if state.t != self.length:
                raise ValueError(f"step {number} answers after {state.t} of {self.length} "
                                 f"operations")
            amount = int(boxed.group(1))
            return State(state.t, state.wrong, amount, True, amount == self.truth[-1])
        written = re.search(r": (-?\d+) ([-+*]) (\d+) = (-?\d+)\.", step)
        if not written or state.t >= self.length:
            raise ValueError(f"step {number} is not a step of the simulated policy: {step!r}")
        op = self.problem.ops[state.t]
        before, symbol, operand, after = (int(written[1]), written[2], int(written[3]),
                                          int(written[4]))
        if before != state.amount or symbol != op.symbol or operand != op.operand:
            raise ValueError(f"step {number} does not continue the solution: {step!r}")
        t = state.t + 1
        return State(t, after != self.truth[t], after)
