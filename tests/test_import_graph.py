"""The package-level import graph of harness/ (tasks/ as harness.tasks) has no cycles, and
the arrows DESIGN.md forbids are absent. Built from the source with ast, so a lazy import
inside a function counts as much as a top-level one."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (importer, imported): packages that must never depend on each other in this direction
FORBIDDEN = [
    ("harness.store", "harness.models"), ("harness.store", "harness.pipeline"),
    ("harness.metrics", "harness.store"), ("harness.metrics", "harness.models"),
    ("harness.tasks", "harness.models"), ("harness.grading", "harness.models"),
    ("harness.grading", "harness.tasks"),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] == "tasks":
        parts = ["harness", "tasks", *parts[1:]]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _package(module: str) -> str:
    """harness.X for harness.X.Y...: the unit whose cycles matter."""
    return ".".join(module.split(".")[:2])


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith("harness.")}


def package_graph() -> dict[tuple[str, str], set[str]]:
    """(package, package) -> the modules whose imports make that edge."""
    edges: dict[tuple[str, str], set[str]] = defaultdict(set)
    sources = [*ROOT.glob("harness/**/*.py"), *ROOT.glob("tasks/**/*.py")]
    for path in sources:
        if "child" in path.parts and path.name.startswith("_sbx"):
            continue  # sandbox child code runs as scripts, standard library only
        module = _module_name(path)
        for target in _imports(path):
            a, b = _package(module), _package(target)
            if a != b and b != "harness":
                edges[(a, b)].add(module)
    return edges


def strongly_connected(edges: dict[tuple[str, str], set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components of more than one package."""
    succ: dict[str, list[str]] = defaultdict(list)
    for a, b in edges:
        succ[a].append(b)
    nodes = sorted({n for edge in edges for n in edge})
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            children = succ[node]
            if i < len(children):
                work.append((node, i + 1))
                child = children[i]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            for child in children:
                if child in on_stack:
                    low[node] = min(low[node], low[child])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def test_no_package_level_import_cycle():
    edges = package_graph()
    assert len(edges) > 30, "the graph was not built from the source"
    cycles = strongly_connected(edges)
    detail = []
    for component in cycles:
        for (a, b), modules in sorted(edges.items()):
            if a in component and b in component:
                detail.append(f"{a} -> {b} via {', '.join(sorted(modules))}")
    assert not cycles, "package-level import cycles:\n" + "\n".join(detail)


def test_forbidden_arrows_are_absent():
    edges = package_graph()
    present = [f"{a} -> {b} via {', '.join(sorted(edges[(a, b)]))}"
               for a, b in FORBIDDEN if (a, b) in edges]
    assert not present, "\n".join(present)
    core_to_cli = [f"{a} -> harness.cli" for a, b in edges if b == "harness.cli"]
    assert not core_to_cli, core_to_cli


def test_the_cycle_finder_finds_a_planted_cycle():
    planted = {("harness.a", "harness.b"): {"harness.a.x"},
               ("harness.b", "harness.c"): {"harness.b.y"},
               ("harness.c", "harness.a"): {"harness.c.z"},
               ("harness.c", "harness.d"): {"harness.c.z"}}
    assert strongly_connected(planted) == [["harness.a", "harness.b", "harness.c"]]
