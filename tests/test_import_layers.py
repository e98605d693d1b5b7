"""Each folder depends downward only: no two modules of the harness import each other, directly or around a
circle, and nothing below the reports imports them. Read from the source (every import, at the top or inside a
function), so a circle hidden in a function-level import counts too."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("benchmark", "methods", "dataset", "reports", "pocket")

# The command line is the one harness module above the reports: `bench report` and `bench compare` call them.
ABOVE_THE_REPORTS = {"benchmark.cli"}


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the harness modules it imports (`from package import module` names the module, not the package)."""
    known = modules()
    graph = {}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
            else:
                continue
            edges.update(target for target in targets if target in known and target != name)
        graph[name] = edges
    return graph


def circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm, iterative)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        found.append(group)
    return found


def test_the_walker_finds_a_circle_and_a_function_level_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [{"a", "b", "c"}]
    # the graph of the harness holds imports made inside functions (backbones loads LPIPS lazily)
    assert "benchmark.metrics.perceptual" in import_graph()["benchmark.metrics.backbones"]


def test_no_import_circle_remains():
    assert circles(import_graph()) == []


def test_nothing_below_the_reports_imports_them():
    """The runner, scoring and methods run where the reports' dependencies (pandas, plotting) need not be."""
    graph = import_graph()
    # the walker sees the command line's function-level imports of the reports, so the exception is a real one
    assert "reports.html" in graph["benchmark.cli"]
    upward = sorted(
        f"{name} imports {target}"
        for name, targets in graph.items()
        if name.startswith(("benchmark", "methods", "dataset")) and name not in ABOVE_THE_REPORTS
        for target in targets
        if target.split(".")[0] == "reports"
    )
    assert upward == []
