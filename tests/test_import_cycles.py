"""No two modules of ours import each other, not even through ``if TYPE_CHECKING:`` or an
import inside a function (issue 15: four such circles were hidden that way).

The import-linter contracts in ``pyproject.toml`` keep the floors in order; this scan keeps
the modules of one floor from leaning on each other in a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hitmachine", "hitmachine_adapter", "hitmachine_keyservice", "tools")


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                    + ([base] if base else []))
                # `from package import module` names a module as well as an attribute
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            for target in targets:
                if target in modules and target != name:
                    graph[name].add(target)
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _without_package_faces(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """A package's ``__init__`` that re-exports its modules is their face, not a circle:
    ``services/audit/__init__`` imports ``services.audit.verify``, which may import a sibling
    through the package. Edges from a package into its own modules are left out."""
    return {name: {t for t in targets if not t.startswith(name + ".")}
            for name, targets in graph.items()}


def test_no_module_circles() -> None:
    assert _circles(_without_package_faces(_graph())) == []


def test_the_scan_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(graph) == [["a", "b", "c"]]


def test_the_scan_reads_type_checking_imports() -> None:
    graph = _graph()
    # core.errors imports pydantic only under TYPE_CHECKING; settings -> core.errors is a
    # plain import, and services.signals -> services.household a plain one too.
    assert "hitmachine.core.errors" in graph["hitmachine.settings"]
    assert "hitmachine.services.household" in graph["hitmachine.services.signals"]
