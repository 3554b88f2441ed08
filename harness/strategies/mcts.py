"""``mcts``: Monte Carlo tree search over steps, one leaf expansion per problem a tick.

Selection descends by UCT, Q + c sqrt(ln N_parent / N_child), or PUCT,
Q + c P sqrt(N_parent) / (1 + N_child), among children not yet closed (a node closes
when it finished, was cut, or all its children closed), so every iteration reaches a
leaf to expand and the root's visit count grows with every iteration. Expansion samples
``width`` steps; identical sibling steps merge into one child whose prior P is its share
of the samples (the policy's own probability estimated from its samples, as no back-end
reports log-probs to ``step``). The leaf value is the PRM's (guiding aggregation of the
new prefix); backup is ``mean`` (Q = mean value) or ``max`` (Q = best value below).
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
                 iterations: int | str | None = None, **common: Any) -> None:
        super().__init__(**common)
        self.rule = as_choice("rule", rule, ("uct", "puct"))
        self.c = as_float("c", c, 0.0)
        self.width = as_int("width", width)
        self.backup = as_choice("backup", backup, ("mean", "max"))
        self.output = as_choice("output", output, ("visits", "value"))
        self.iterations = optional_int("iterations", iterations)

    def options(self) -> dict[str, Any]:
        return {"rule": self.rule, "c": self.c, "width": self.width, "backup": self.backup,
                "output": self.output, "iterations": self.iterations, "leaf_value": "prm"}

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
        if self.stats[self.tree.root.id].closed or (
                self.s.iterations is not None and self.done >= self.s.iterations):
            return []
        self.path = self._select()
        leaf = self.tree.nodes[self.path[-1]]
        return [self.tree.request(leaf) for _ in range(self.s.width)]

    def accept(self, children: list[Node]) -> None:
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
        return {"stats": {k: {"visits": v.visits, "value": self._q(v), "q": self._q(v),
                              "prior": v.prior, "children": v.children, "closed": v.closed}
                          for k, v in self.stats.items()},
                "merged": self.merged, "iterations": self.done}

    def _finished(self) -> list[Node]:
        return [self.tree.nodes[k] for k in self.stats if self.tree.nodes[k].finished]

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
        return {"selected": self.path, "root_visits": self.stats[self.tree.root.id].visits}
