"""``mcts``: Monte Carlo tree search over steps, one leaf expansion per problem a tick.

Selection descends by UCT, Q + c sqrt(ln N_parent / N_child), or PUCT,
Q + c P sqrt(N_parent) / (1 + N_child), among children not yet closed (a node closes
when it finished, was cut, or all its children closed), so every iteration reaches a
leaf to expand and the root's visit count grows with every iteration. Expansion samples
``width`` steps; identical sibling steps merge into one child whose prior P is its share
of the samples (the policy's own probability estimated from its samples, as no back-end
reports log-probs to ``step``). The leaf value (``leaf_value=prm``) is the PRM's guiding
aggregation of the new prefix; with ``leaf_value=rollout`` every new open child is first
rolled out, one sampled step a tick (at ``rollout_temperature`` when set, on the
request's own temperature, which ``sim`` ignores), for ``rollout_depth`` steps
(``none``: until it finishes or is cut), and its value is the PRM's guiding aggregation
of the rollout's end (the same quantity the prm leaf value reads, one rollout further
down; a rollout cut before its end is scored by its deepest scored node, one cut by an
empty step or ``max_steps`` with nothing scored below the child is worth 0, like a cut
child). With the oracle PRM a rollout that finishes is thus worth its exactness (1
right, 0 wrong). Rollout steps are real engine requests, counted in the budget and the
ledger and kept in the trace as the children's descendants; they are not MCTS nodes (no
statistics), and only the last step of a rollout asks for a PRM score (finished steps
are always scored). A finished rollout end joins the fallback candidates. A tick the
budget cuts short backs up what it has.
Backup is ``mean`` (Q = mean value) or ``max`` (Q = best value below).
The answer follows the most visited (``output=visits``) or best-valued
(``output=value``) child from the root to a finished node, else the best finished node
by the selection aggregation. It runs until the budget or ``iterations`` ends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from harness.errors import ConfigError
from harness.strategies.base import SearchStrategy, as_choice, as_float, as_int, optional_int
from harness.strategies.beam import optional_float, with_temperature
from harness.strategies.engine import (
    Node,
    ProblemSearch,
    Request,
    Tree,
    descend,
    has_cap,
    rank_by_value,
)
from harness.types import Budget


@dataclass
class _Stat:
    visits: int = 0
    total: float = 0.0
    best: float = 0.0
    prior: float = 1.0
    children: list[str] = field(default_factory=list)
    closed: bool = False


class Mcts(SearchStrategy):
    """Registered as strategy ``mcts``."""

    name = "mcts"

    def __init__(self, rule: str = "uct", c: float | str = 1.4, width: int | str = 4,
                 backup: str = "mean", output: str = "visits",
                 iterations: int | str | None = None, leaf_value: str = "prm",
                 rollout_depth: int | str | None = None,
                 rollout_temperature: float | str | None = None, **common: Any) -> None:
        super().__init__(**common)
        self.rule = as_choice("rule", rule, ("uct", "puct"))
        self.c = as_float("c", c, 0.0)
        self.width = as_int("width", width)
        self.backup = as_choice("backup", backup, ("mean", "max"))
        self.output = as_choice("output", output, ("visits", "value"))
        self.iterations = optional_int("iterations", iterations)
        self.leaf_value = as_choice("leaf_value", leaf_value, ("prm", "rollout"))
        self.rollout_depth = optional_int("rollout_depth", rollout_depth)
        self.rollout_temperature = optional_float("rollout_temperature",
                                                  rollout_temperature)
        if self.leaf_value != "rollout" and (self.rollout_depth is not None
                                             or self.rollout_temperature is not None):
            raise ConfigError("options rollout_depth and rollout_temperature need "
                              "leaf_value=rollout")

    def options(self) -> dict[str, Any]:
        return {"rule": self.rule, "c": self.c, "width": self.width, "backup": self.backup,
                "output": self.output, "iterations": self.iterations,
                "leaf_value": self.leaf_value, "rollout_depth": self.rollout_depth,
                "rollout_temperature": self.rollout_temperature}

    def start(self, tree: Tree, budget: Budget) -> _MctsSearch:
        if self.iterations is None and not has_cap(budget):
            raise ConfigError("mcts needs a budget cap or the option iterations")
        return _MctsSearch(tree, self)


class _MctsSearch(ProblemSearch):
    def __init__(self, tree: Tree, strategy: Mcts) -> None:
        super().__init__(tree)
        self.s = strategy
        self.stats: dict[str, _Stat] = {tree.root.id: _Stat()}
        self.done = 0
        self.path: list[str] = []
        self.merged: dict[str, str] = {}
        #: rollouts in progress (child id -> its tip, and its deepest scored node), the
        #: children awaiting backup in expansion order, and every finished rollout's value
        self.tips: dict[str, Node] = {}
        self.scored: dict[str, Node] = {}
        self.waiting: list[tuple[str, float | None]] = []
        self.asked: list[str] = []
        self.rolled = 0
        self.rollouts: dict[str, dict[str, Any]] = {}
        self.rollout_ends: list[Node] = []

    def _q(self, stat: _Stat) -> float:
        if self.s.backup == "max":
            return stat.best
        return stat.total / stat.visits if stat.visits else 0.0

    def _select(self) -> list[str]:
        node_id = self.tree.root.id
        path = [node_id]
        while self.stats[node_id].children:
            parent = self.stats[node_id]
            open_ = [c for c in parent.children if not self.stats[c].closed]
            if not open_:
                break

            def score(cid: str, parent: _Stat = parent) -> float:
                st = self.stats[cid]
                if self.s.rule == "uct":
                    return self._q(st) + self.s.c * math.sqrt(
                        math.log(max(parent.visits, 1)) / max(st.visits, 1))
                return self._q(st) + self.s.c * st.prior * math.sqrt(parent.visits) / (
                    1 + st.visits)

            node_id = max(open_, key=score)
            path.append(node_id)
        return path

    def propose(self) -> list[Request]:
        if self.tips:
            depth = self.s.rollout_depth
            last = depth is not None and self.rolled + 1 == depth
            self.asked = [cid for cid, tip in self.tips.items() if tip.open]
            wanted = [self.tree.request(self.tips[cid], score=last) for cid in self.asked]
            return with_temperature(wanted, self.s.rollout_temperature)
        if self.stats[self.tree.root.id].closed or (
                self.s.iterations is not None and self.done >= self.s.iterations):
            return []
        self.path = self._select()
        leaf = self.tree.nodes[self.path[-1]]
        return [self.tree.request(leaf) for _ in range(self.s.width)]

    def accept(self, children: list[Node]) -> None:
        if self.tips:
            self._accept_rollout(children)
            return
        if self.s.leaf_value == "rollout":
            self._expand_for_rollouts(children)
            return
        self.done += 1
        leaf_id = self.path[-1]
        leaf = self.stats[leaf_id]
        by_text: dict[str, str] = {}
        counts: dict[str, int] = {}
        for child in children:
            kept = by_text.setdefault(child.step, child.id)
            counts[kept] = counts.get(kept, 0) + 1
            if kept != child.id:
                self.merged[child.id] = kept
        for kept, count in counts.items():
            node = self.tree.nodes[kept]
            value = self.tree.value(node, self.s.aggregate) if node.status != "cut" else 0.0
            self.stats[kept] = _Stat(prior=count / len(children), closed=not node.open)
            leaf.children.append(kept)
            self._backup([*self.path, kept], value)
        if len(children) < self.s.width or not children:
            return
        self._close(self.path)

    def _expand_for_rollouts(self, children: list[Node]) -> None:
        """Add the leaf's children; open ones wait for their rollout, closed ones are
        worth their own value (a cut one 0) as with the PRM leaf value."""
        leaf = self.stats[self.path[-1]]
        by_text: dict[str, str] = {}
        counts: dict[str, int] = {}
        for child in children:
            kept = by_text.setdefault(child.step, child.id)
            counts[kept] = counts.get(kept, 0) + 1
            if kept != child.id:
                self.merged[child.id] = kept
        cut_short = len(children) < self.s.width or not children
        self.waiting = []
        for kept, count in counts.items():
            node = self.tree.nodes[kept]
            self.stats[kept] = _Stat(prior=count / len(children), closed=not node.open)
            leaf.children.append(kept)
            if node.open and not cut_short:
                self.tips[kept] = node
                self.scored[kept] = node
                self.waiting.append((kept, None))
            else:
                value = self.tree.value(node, self.s.aggregate) if node.status != "cut" \
                    else 0.0
                self.waiting.append((kept, value))
        self.rolled = 0
        if not cut_short:
            self._close(self.path)
        if not self.tips:
            self._finish_iteration()

    def _accept_rollout(self, children: list[Node]) -> None:
        """One rollout step of every rollout still open."""
        for cid, child in zip(self.asked, children, strict=False):
            self.tips[cid] = child
            if child.scores is not None:
                self.scored[cid] = child
            if child.finished:
                self.rollout_ends.append(child)
        self.rolled += 1
        depth = self.s.rollout_depth
        cut_short = len(children) < len(self.asked)
        if (not cut_short and (depth is None or self.rolled < depth)
                and any(tip.open for tip in self.tips.values())):
            return
        self._finish_iteration()

    def _rollout_value(self, cid: str) -> float:
        end = self.scored[cid]
        tip = self.tips[cid]
        if end.id == cid and tip.status == "cut" and tip.id != cid:
            return 0.0  # cut below the child before anything was scored
        return self.tree.value(end, self.s.aggregate)

    def _finish_iteration(self) -> None:
        """Back up every child of this expansion (in expansion order) and end it."""
        for kept, value in self.waiting:
            if value is None:
                value = self._rollout_value(kept)
                self.rollouts[kept] = {"end": self.tips[kept].id,
                                       "scored": self.scored[kept].id, "value": value}
            self._backup([*self.path, kept], value)
        self.waiting = []
        self.tips = {}
        self.scored = {}
        self.done += 1

    def _backup(self, path: list[str], value: float) -> None:
        for node_id in path:
            st = self.stats[node_id]
            st.visits += 1
            st.total += value
            st.best = max(st.best, value)

    def _close(self, path: list[str]) -> None:
        for node_id in reversed(path):
            st = self.stats[node_id]
            if st.children and all(self.stats[c].closed for c in st.children):
                st.closed = True
            else:
                break

    def final_record(self) -> dict[str, Any]:
        record = {"stats": {k: {"visits": v.visits, "value": self._q(v), "q": self._q(v),
                                "prior": v.prior, "children": v.children, "closed": v.closed}
                            for k, v in self.stats.items()},
                  "merged": self.merged, "iterations": self.done}
        if self.s.leaf_value == "rollout":
            record["rollouts"] = self.rollouts
        return record

    def _finished(self) -> list[Node]:
        return [*(self.tree.nodes[k] for k in self.stats if self.tree.nodes[k].finished),
                *self.rollout_ends]

    def selection(self) -> dict[str, Any]:
        return {"by": "tree", "key": "visits" if self.s.output == "visits" else "value",
                "aggregation": self.s.select, "candidates": [n.id for n in self._finished()]}

    def candidates(self) -> list[Node]:
        nodes = {k: {"status": n.status, "scores": n.scores}
                 for k, n in self.tree.nodes.items()}
        chosen = descend(nodes, self.final_record(), self.selection())
        ranked = rank_by_value(self.tree, self._finished(), self.s.select)
        if chosen is None:
            return ranked
        first = self.tree.nodes[chosen]
        return [first, *(n for n in ranked if n.id != chosen)]

    def tick_record(self) -> dict[str, Any]:
        record = {"selected": self.path, "root_visits": self.stats[self.tree.root.id].visits}
        if self.s.leaf_value == "rollout":
            record.update(phase="rollout" if self.rolled else "expand",
                          rollout_step=self.rolled,
                          tips={cid: tip.id for cid, tip in self.tips.items()})
        return record
