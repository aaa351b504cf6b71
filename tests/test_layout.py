"""The code's shape, checked: one concept per module (no file in pipeline/ over 500 lines) and
no import cycle in pipeline/, deferred imports and importlib's module strings included; no test
module importing another."""
from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

MAX_LINES = 500


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: str = "pipeline") -> dict[str, set[str]]:
    """{module: the pipeline modules it imports anywhere in its body}. ``from a import b``
    points at ``a.b`` when that is a module, else at ``a``; a string equal to a module's name
    (what importlib.import_module is given) counts as an import of it."""
    files = {module_name(path): path for path in (REPO / package).rglob("*.py")}
    graph = {name: set() for name in files}
    for name, path in files.items():
        package_parts = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package_parts[: len(package_parts) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base for alias in node.names]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in files:
                targets = [node.value]
            graph[name] |= {target for target in targets if target in files and target != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_deferred_and_string_imports():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_pipeline():
    graph = import_graph()
    assert "pipeline.datasets.utd_mhad" in graph["pipeline.datasets"]  # importlib's strings count
    assert "pipeline.losses.registry" in graph["pipeline.losses.sakdn"]
    assert cycles(graph) == []


def test_no_module_in_pipeline_is_over_500_lines():
    long = {str(path.relative_to(REPO)): n for path in (REPO / "pipeline").rglob("*.py")
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_no_test_module_imports_another():
    """Shared test code lives in helper modules (conftest, fake_datasets, helpers), so a test
    file can move or go without breaking another."""
    offenders = []
    for path in (REPO / "tests").rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tests."):
                if node.module.split(".")[-1].startswith("test_"):
                    offenders.append(f"{path.relative_to(REPO)} imports {node.module}")
    assert offenders == []
