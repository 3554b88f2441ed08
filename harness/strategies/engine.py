"""The batched search engine every strategy runs on (docs/search.md).

Each tick it asks every active problem's search for the expansions it wants, admits as
many as the problem's budget allows, sends all of them to ONE ``policy.step`` call and
all new steps that need a score to ONE ``prm.score`` call, and hands the children back.
Strategies are per-problem state machines (``ProblemSearch``); batching, budgets, seeds,
the ledger and the trace are written here once.

Seeds: each request (one new step under one node) has its own seed, a hash of (seed,
problem id, node id, sample index), passed to the policy in ``SeededParams.seeds``; a
problem's search never sees another problem's requests, so batch composition and
problem order never change a result (only the measured wall seconds).

Budgets are per problem and hard caps: requests are admitted in the order the strategy
asks for them while the predicted cost fits (a call costs exactly one request; tokens,
PRM tokens and FLOPs are predicted from the largest per-step cost the problem has seen so
far, so a step longer than all before it can overshoot by at most that one tick).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from harness.aggregate import aggregate
from harness.errors import ConfigError, ScoreError
from harness.interfaces import PRM, Policy, SamplingParams
from harness.models.compute import estimate_flops
from harness.strategies.vote import tally
from harness.types import Budget, Compute, Problem, Sample, Trajectory

SEED_RULE = ("request seed = first 31 bits of sha256(json([seed, problem id, node id, "
             "sample index]))")
ROOT = "0"
Status = Literal["open", "finished", "cut"]


def request_seed(seed: int, problem_id: str, node_id: str, index: int) -> int:
    """The seed of one request: sample ``index`` under node ``node_id`` of one problem."""
    text = json.dumps([int(seed), problem_id, node_id, int(index)])
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) & 0x7FFFFFFF


def keyed_rng_seed(seed: int, *parts: Any) -> list[int]:
    """A numpy seed sequence from (seed, parts...), for a strategy's own draws."""
    digest = hashlib.sha256(json.dumps([int(seed), *parts]).encode()).digest()
    return [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]


@dataclass
class SeededParams(SamplingParams):
    """SamplingParams with one seed per prompt (``seeds[i]`` for prompt i). A policy
    honours them when it sets ``takes_request_seeds = True``. ``temperatures`` (one per
    prompt) is filled only when a strategy sets a per-request temperature; empty means
    ``temperature`` for every prompt."""

    seeds: list[int] = field(default_factory=list)
    temperatures: list[float] = field(default_factory=list)


@dataclass
class Spent:
    """What one problem's search used; every field is a sum over its nodes."""

    policy_tokens: int = 0  # generated tokens
    prompt_tokens: int = 0  # prompt + prefix tokens the policy read (cache not subtracted)
    policy_calls: int = 0  # step requests (one per new node), not batched engine calls
    #: PRM input tokens of the scored prefixes: what a PRM without prefix reuse computes
    prm_tokens: int = 0
    #: PRM tokens beyond those of each prefix's nearest scored ancestor: the least a PRM
    #: reusing the scored parent's prefix must compute
    prm_unique_tokens: int = 0
    prm_calls: int = 0  # prefixes scored
    flops: float = 0.0
    wall_s: float = 0.0
    #: PRM tokens actually fed to the model (a reused prefix is not fed again)
    prm_computed_tokens: int = 0
    #: policy prompt tokens prefilled: prompt_tokens less those served from its cache
    prefill_tokens: int = 0

    def add(self, node: Node) -> None:
        self.policy_tokens += node.tokens
        self.prompt_tokens += node.prompt_tokens
        self.policy_calls += 1
        self.prm_tokens += node.prm_tokens
        self.prm_unique_tokens += node.prm_unique_tokens
        self.prm_calls += node.scores is not None
        self.flops += node.flops
        self.wall_s += node.wall_s
        self.prm_computed_tokens += node.prm_computed_tokens
        self.prefill_tokens += node.prefill_tokens

    def as_dict(self) -> dict[str, Any]:
        return _compact(asdict(self))


#: fields a trace writes only where they differ from their no-cache value (prefill =
#: prompt tokens, PRM tokens fed = PRM input tokens): traces of runs that no cache served
#: keep their bytes, and a trace written before the fields existed reads correctly
CACHE_FIELDS = {"prefill_tokens": "prompt_tokens", "prm_computed_tokens": "prm_tokens"}


def _compact(doc: dict[str, Any]) -> dict[str, Any]:
    for name, plain in CACHE_FIELDS.items():
        if doc.get(name) == doc.get(plain):
            doc.pop(name, None)
    return doc


def _expand(doc: dict[str, Any]) -> dict[str, Any]:
    """A trace's node or spend with the fields ``_compact`` left out put back."""
    return {**{name: doc[plain] for name, plain in CACHE_FIELDS.items() if plain in doc},
            **doc}


#: budget caps added after runs were stored: left out of a budget's dict while unset, so
#: the settings of a stored run (compared exactly on resume) stay what they were
LATER_BUDGET_KEYS = ("prefill_tokens",)


def budget_dict(budget: Budget) -> dict[str, Any]:
    return {k: v for k, v in asdict(budget).items()
            if v is not None or k not in LATER_BUDGET_KEYS}


def has_cap(budget: Budget) -> bool:
    return any(v is not None for v in asdict(budget).values())


def check_budget(budget: Budget) -> None:
    for name, value in asdict(budget).items():
        if value is not None and (not isinstance(value, int | float) or value <= 0):
            raise ConfigError(f"budget {name} must be a positive number, got {value!r}")


@dataclass
class Node:
    """One step of one problem's search tree (the root is the empty prefix)."""

    id: str
    parent: str | None
    depth: int
    step: str
    status: Status
    finish_reason: str | None = None
    tokens: int = 0
    prompt_tokens: int = 0
    prm_tokens: int = 0
    flops: float = 0.0
    wall_s: float = 0.0
    tick: int = -1
    #: prm_tokens less those of the nearest scored ancestor (see Spent)
    prm_unique_tokens: int = 0
    #: the PRM's score of each step of this prefix (None: not scored)
    scores: list[float] | None = None
    #: PRM tokens fed to the model for this prefix (see Spent)
    prm_computed_tokens: int = 0
    #: prompt tokens the policy prefilled for this step (not served from its cache)
    prefill_tokens: int = 0

    @property
    def open(self) -> bool:
        return self.status == "open"

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    @property
    def score(self) -> float:
        """The PRM's score of this prefix (its last step)."""
        if not self.scores:
            raise ScoreError(f"node {self.id}: not scored")
        return self.scores[-1]

    def as_dict(self) -> dict[str, Any]:
        return _compact(asdict(self))

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Node:
        """A node from its trace dict (``as_dict``)."""
        return cls(**_expand(doc))


@dataclass
class Request:
    """One new step under ``parent``; ``score`` asks for a PRM score even if the step does
    not finish the solution (finished steps are always scored); ``temperature``, when
    set, replaces the strategy's sampling temperature for this request alone."""

    parent: Node
    index: int
    score: bool = True
    temperature: float | None = None


class Tree:
    """One problem's nodes, in creation order."""

    def __init__(self, problem: Problem, max_steps: int) -> None:
        self.problem = problem
        self.max_steps = max_steps
        self.root = Node(ROOT, None, 0, "", "open")
        self.nodes: dict[str, Node] = {ROOT: self.root}
        self._next_index: dict[str, int] = {}

    def request(self, parent: Node, score: bool = True) -> Request:
        """A request for the next unused sample index under ``parent``."""
        if not parent.open:
            raise ValueError(f"node {parent.id} is {parent.status}; it cannot be expanded")
        index = self._next_index.get(parent.id, 0)
        self._next_index[parent.id] = index + 1
        return Request(parent, index, score)

    def path(self, node: Node) -> list[Node]:
        """The nodes from the first step to ``node`` (the root left out)."""
        out = []
        while node.parent is not None:
            out.append(node)
            node = self.nodes[node.parent]
        return out[::-1]

    def steps(self, node: Node) -> list[str]:
        return [n.step for n in self.path(node)]

    def text(self, node: Node) -> str:
        return "".join(self.steps(node))

    def value(self, node: Node, method: str) -> float:
        """``method`` aggregation of the node's step scores."""
        if node.scores is None:
            raise ScoreError(f"{self.problem.id}: node {node.id} was not scored")
        return aggregate(node.scores, method, f"{self.problem.id} node {node.id}")

    def add(self, node: Node) -> None:
        self.nodes[node.id] = node

    def trajectory(self, node: Node) -> Trajectory:
        path = self.path(node)
        spent = Spent()
        for n in path:
            spent.add(n)
        return Trajectory(
            problem_id=self.problem.id, id=node.id, steps=[n.step for n in path],
            scores=list(node.scores or []),
            parent_ids=[None, *(n.id for n in path[:-1])],
            compute=Compute(tokens_in=spent.prompt_tokens + spent.prm_tokens,
                            tokens_out=spent.policy_tokens, flops=spent.flops,
                            wall_s=spent.wall_s, calls=spent.policy_calls))


def rank_by_value(tree: Tree, nodes: Sequence[Node], method: str) -> list[Node]:
    """Nodes best first by ``method``; ties keep their given order (stable sort)."""
    return sorted(nodes, key=lambda n: -tree.value(n, method))


class ProblemSearch(ABC):
    """One problem's search: what to expand next, what to do with the children."""

    def __init__(self, tree: Tree) -> None:
        self.tree = tree

    @abstractmethod
    def propose(self) -> list[Request]:
        """This tick's expansions, most wanted first; empty when the search is over."""

    @abstractmethod
    def accept(self, children: list[Node]) -> None:
        """The children of the first ``len(children)`` requests (the budget may cut the
        rest; the search goes on while the budget admits requests)."""

    @abstractmethod
    def candidates(self) -> list[Node]:
        """Finished nodes, the answer first."""

    def tick_record(self) -> dict[str, Any]:
        """Strategy state after a tick, for the trace (weights, ESS, beams...)."""
        return {}

    def final_record(self) -> dict[str, Any]:
        """Strategy state at the end, for the trace (MCTS visit counts...)."""
        return {}

    @abstractmethod
    def selection(self) -> dict[str, Any]:
        """How the answer is chosen, for rebuilding it from the trace: ``{"by": "value",
        "aggregation": ..., "candidates": [ids]}`` (the first best) or ``{"by": "tree",
        ...}`` (MCTS)."""


class _Admission:
    """Per-problem budget check: how many of a tick's requests fit."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget

    @staticmethod
    def _rates(tree: Tree) -> dict[str, float]:
        """Largest per-step cost seen: tokens per step; PRM tokens, FLOPs and wall per
        depth (they grow with the prefix)."""
        rates = {"tokens": 0.0, "prm": 0.0, "flops": 0.0, "wall": 0.0, "prefill": 0.0}
        for n in tree.nodes.values():
            if n.parent is None:
                continue
            rates["tokens"] = max(rates["tokens"], n.tokens)
            rates["prefill"] = max(rates["prefill"], n.prefill_tokens / n.depth)
            rates["prm"] = max(rates["prm"], n.prm_tokens / n.depth)
            rates["flops"] = max(rates["flops"], n.flops / n.depth)
            rates["wall"] = max(rates["wall"], n.wall_s)
        return rates

    def admit(self, tree: Tree, spent: Spent, requests: Sequence[Request]) -> int:
        b = self.budget
        rates = self._rates(tree)
        calls = spent.policy_calls
        tokens, prm = float(spent.policy_tokens), float(spent.prm_tokens)
        flops, wall = spent.flops, spent.wall_s
        prefill = float(spent.prefill_tokens)
        admitted = 0
        for r in requests:
            depth = r.parent.depth + 1
            calls += 1
            tokens += rates["tokens"]
            prefill += rates["prefill"] * depth
            prm += rates["prm"] * depth if r.score else 0.0
            flops += rates["flops"] * depth
            wall += rates["wall"]
            if ((b.policy_calls is not None and calls > b.policy_calls)
                    or (b.policy_tokens is not None and tokens > b.policy_tokens)
                    or (b.prm_tokens is not None and prm > b.prm_tokens)
                    or (b.flops is not None and flops > b.flops)
                    or (b.wall_s is not None and wall > b.wall_s)
                    or (b.prefill_tokens is not None and prefill > b.prefill_tokens)):
                break
            admitted += 1
        return admitted


@dataclass
class ProblemRun:
    """The outcome of one problem's search."""

    problem: Problem
    tree: Tree
    search: ProblemSearch
    spent: Spent = field(default_factory=Spent)
    ticks: list[dict[str, Any]] = field(default_factory=list)
    stopped: str = ""  # "done" (the search ended) or "budget"

    @property
    def trajectories(self) -> list[Trajectory]:
        return [self.tree.trajectory(n) for n in self.search.candidates()]

    @property
    def answer(self) -> Node | None:
        found = self.search.candidates()
        return found[0] if found else None

    def trace(self, identity: dict[str, Any], budget: Budget) -> dict[str, Any]:
        """Everything needed to rebuild the answer and the spend (JSON-serialisable)."""
        answer = self.answer
        return {
            "problem_id": self.problem.id, "strategy": identity,
            "budget": budget_dict(budget), "stopped": self.stopped,
            "nodes": [n.as_dict() for n in self.tree.nodes.values()],
            "ticks": self.ticks, "final": self.search.final_record(),
            "selection": self.search.selection(),
            "candidates": [n.id for n in self.search.candidates()],
            "answer": None if answer is None else answer.id,
            "answer_text": None if answer is None else self.tree.text(answer),
            "spent": self.spent.as_dict(),
        }


class Engine:
    """Runs many problems' searches in lockstep with one policy and one PRM call a tick."""

    def __init__(self, policy: Policy, prm: PRM, budget: Budget, params: SamplingParams,
                 seed: int) -> None:
        if not getattr(policy, "takes_request_seeds", False):
            raise ConfigError(f"policy {type(policy).__name__} does not take per-request "
                              f"seeds (SeededParams.seeds); search needs them so that batch "
                              f"composition cannot change a result")
        check_budget(budget)
        self.policy, self.prm, self.budget = policy, prm, budget
        self.params, self.seed = params, seed
        self.admission = _Admission(budget)
        self.engine_calls = {"policy": 0, "prm": 0}

    def run(self, runs: list[ProblemRun]) -> list[ProblemRun]:
        """Search every run to its end; a PRM that can keep scored prefixes for their
        children (``prefix_reuse``) does so for this run, and drops them after it."""
        reuse = getattr(self.prm, "prefix_reuse", None)
        if reuse is not None:
            reuse(True)
        try:
            self._run(runs)
        finally:
            if reuse is not None:
                reuse(False)
        return runs

    def _run(self, runs: list[ProblemRun]) -> None:
        active = list(runs)
        while active:
            batch: list[tuple[ProblemRun, list[Request]]] = []
            for run in active:
                wanted = run.search.propose()
                if not wanted:
                    run.stopped = "done"
                    continue
                k = self.admission.admit(run.tree, run.spent, wanted)
                if k == 0:
                    run.stopped = "budget"
                    continue
                batch.append((run, wanted[:k]))
            if not batch:
                break
            self._tick(batch)
            active = [run for run, _ in batch if not run.stopped]

    def _tick(self, batch: list[tuple[ProblemRun, list[Request]]]) -> None:
        flat = [(run, r) for run, requests in batch for r in requests]
        prompts = [run.problem.prompt for run, _ in flat]
        prefixes = [run.tree.text(r.parent) for run, r in flat]
        seeds = [request_seed(self.seed, run.problem.id, r.parent.id, r.index)
                 for run, r in flat]
        p = self.params
        temperatures = ([p.temperature if r.temperature is None else r.temperature
                         for _, r in flat]
                        if any(r.temperature is not None for _, r in flat) else [])
        params = SeededParams(n=1, temperature=p.temperature, top_p=p.top_p,
                              max_tokens=p.max_tokens, seed=p.seed, stop=list(p.stop),
                              seeds=seeds, temperatures=temperatures)
        before = self.policy.compute()
        start = time.perf_counter()
        out = self.policy.step(prompts, prefixes, params)
        policy_wall = time.perf_counter() - start
        self.engine_calls["policy"] += 1
        if len(out) != len(flat) or any(len(c) != 1 for c in out):
            raise ConfigError(f"policy returned {len(out)} completion lists for {len(flat)} "
                              f"requests of n=1")
        policy_params = self.policy.compute().params or before.params
        children: list[tuple[ProblemRun, Node]] = []
        for (run, r), (completion,) in zip(flat, out, strict=True):
            child_depth = r.parent.depth + 1
            reason = completion.finish_reason
            if reason == "step" and completion.text:
                status: Status = "open" if child_depth < run.tree.max_steps else "cut"
            elif reason == "length" or not completion.text:
                status = "cut"
            else:
                status = "finished"
            prefill = completion.prompt_tokens - completion.cached_prompt_tokens
            node = Node(f"{r.parent.id}.{r.index}", r.parent.id, child_depth,
                        completion.text, status, reason, completion.completion_tokens,
                        completion.prompt_tokens,
                        flops=estimate_flops(policy_params, prefill,
                                             completion.completion_tokens),
                        tick=len(run.ticks), prefill_tokens=prefill)
            children.append((run, node))
        to_score = [(i, run, node) for i, ((run, node), (_, r)) in
                    enumerate(zip(children, flat, strict=True))
                    if r.score or node.finished]
        prm_wall = self._score(to_score)
        share = (policy_wall + prm_wall) / len(flat)
        by_run: dict[int, list[Node]] = {}
        for run, node in children:
            node.wall_s = share
            run.tree.add(node)
            run.spent.add(node)
            by_run.setdefault(id(run), []).append(node)
        for run, _ in batch:
            mine = by_run[id(run)]
            run.search.accept(mine)
            run.ticks.append({"tick": len(run.ticks), "requests": len(mine),
                              "new": [n.id for n in mine], "spent": run.spent.as_dict(),
                              **run.search.tick_record()})

    def _score(self, to_score: list[tuple[int, ProblemRun, Node]]) -> float:
        """Score the new prefixes in one PRM call. The call's measured tokens (those the
        PRM fed its model) and FLOPs are shared by the PRM's exact per-prefix counts of
        fed tokens where it gives them (``last_computed_tokens``), else by its input
        tokens (``encode``), else in proportion to prefix length; ``prm_tokens`` is the
        input tokens (what a PRM without prefix reuse feeds)."""
        if not to_score:
            return 0.0
        problems, samples = [], []
        for i, run, node in to_score:
            steps = [*run.tree.steps(run.tree.nodes[node.parent or ROOT]), node.step]
            problems.append(run.problem)
            samples.append(Sample(problem_id=run.problem.id, index=i, text="".join(steps),
                                  steps=steps))
        before = self.prm.compute()
        start = time.perf_counter()
        scored = self.prm.score(problems, samples)
        wall = time.perf_counter() - start
        self.engine_calls["prm"] += 1
        after = self.prm.compute()
        if len(scored) != len(samples):
            raise ScoreError(f"{type(self.prm).__name__}: {len(scored)} scores for "
                             f"{len(samples)} prefixes")
        tokens = (after.tokens_in + after.tokens_out) - (before.tokens_in + before.tokens_out)
        flops = after.flops - before.flops
        exact = [self._sample_tokens(p, s) for p, s in zip(problems, samples, strict=True)]
        fed = getattr(self.prm, "last_computed_tokens", None)
        if isinstance(fed, list) and len(fed) == len(samples) and sum(fed) == tokens:
            computed = [int(f) for f in fed]
        elif all(e is not None for e in exact) and sum(e or 0 for e in exact) == tokens:
            computed = [int(e or 0) for e in exact]
        else:
            computed = _apportion(tokens, [len(s.text) + 1 for s in samples])
        read = ([int(e or 0) for e in exact] if all(e is not None for e in exact)
                else computed)
        total = max(sum(computed), 1)
        for (_, run, node), sample, result, count, fed_count in zip(
                to_score, samples, scored, read, computed, strict=True):
            values = [float(v) for v in result.scores]
            if len(values) != len(sample.steps) or not all(math.isfinite(v) for v in values):
                raise ScoreError(f"{run.problem.id} node {node.id}: the PRM gave "
                                 f"{len(values)} scores for {len(sample.steps)} steps")
            node.scores = values
            node.prm_tokens = count
            node.prm_unique_tokens = max(0, count - _scored_ancestor_tokens(run.tree, node))
            node.prm_computed_tokens = fed_count
            node.flops += flops * fed_count / total
        return wall

    def _sample_tokens(self, problem: Problem, sample: Sample) -> int | None:
        """Exact PRM input tokens of one prefix, for PRMs that expose their encoder."""
        encode = getattr(self.prm, "encode", None)
        if encode is None:
            return None
        return sum(len(seg.ids) for seg in encode(problem, sample).segments)


def _scored_ancestor_tokens(tree: Tree, node: Node) -> int:
    """PRM tokens of the nearest ancestor of ``node`` that was scored (0: none)."""
    parent = node.parent
    while parent is not None:
        above = tree.nodes[parent]
        if above.scores is not None:
            return above.prm_tokens
        parent = above.parent
    return 0


def _apportion(total: int, weights: Sequence[int]) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainders, ties by order)."""
    if total <= 0:
        return [0] * len(weights)
    scale = sum(weights)
    raw = [total * w / scale for w in weights]
    out = [math.floor(x) for x in raw]
    left = total - sum(out)
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - out[i]), i))
    for i in order[:left]:
        out[i] += 1
    return out


def replay_answer(trace: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """(answer text, spent totals) rebuilt from a trace alone: the answer from its
    selection rule over the recorded nodes, the spend as sums over them."""
    nodes = {n["id"]: n for n in trace["nodes"]}
    spent = Spent()
    for n in trace["nodes"]:
        if n["parent"] is not None:
            spent.add(Node.from_dict(n))
    rule = trace["selection"]
    answer: str | None
    if rule.get("by") == "value":
        best, best_value = None, -math.inf
        for node_id in rule["candidates"]:
            value = aggregate(nodes[node_id]["scores"], rule["aggregation"])
            if value > best_value:
                best, best_value = node_id, value
        answer = best
    elif rule.get("by") == "tree":
        answer = descend(nodes, trace["final"], rule)
    elif rule.get("by") == "vote":
        answer = vote_winner(nodes, rule)
    else:
        raise ValueError(f"unknown selection rule {rule!r}")
    if answer is None:
        return None, spent.as_dict()
    steps = []
    node = nodes[answer]
    while node["parent"] is not None:
        steps.append(node["step"])
        node = nodes[node["parent"]]
    return "".join(reversed(steps)), spent.as_dict()


def vote_winner(nodes: dict[str, dict[str, Any]], rule: dict[str, Any]) -> str | None:
    """Majority output rebuilt from the recorded vote keys (strategies/majority.py)."""
    ids, keys = rule["candidates"], rule["keys"]
    values = [aggregate(nodes[i]["scores"], rule["aggregation"]) for i in ids]
    classes = tally(keys, values, rule["weighted"])
    pool = [i for i, k in zip(ids, keys, strict=True) if classes and k == classes[0][0]]
    best, best_value = None, -math.inf
    for node_id in pool or ids:  # no vote cast: the best abstainer
        value = aggregate(nodes[node_id]["scores"], rule["aggregation"])
        if value > best_value:
            best, best_value = node_id, value
    return best


def descend(nodes: dict[str, dict[str, Any]], final: dict[str, Any],
             rule: dict[str, Any]) -> str | None:
    """MCTS output: from the root, the child with most visits (or best value) until a
    finished node; else the best finished node by the selection aggregation."""
    stats = final["stats"]
    key = rule["key"]
    node_id = ROOT
    while True:
        kids = stats[node_id]["children"]
        if not kids:
            break
        node_id = max(kids, key=lambda c: (stats[c][key], stats[c]["q"]))
        if nodes[node_id]["status"] == "finished":
            return node_id
    best, best_value = None, -math.inf
    for cid in rule["candidates"]:
        value = aggregate(nodes[cid]["scores"], rule["aggregation"])
        if value > best_value:
            best, best_value = cid, value
    return best
