"""The floor plan, checked: rooms import one way, no import circles, only orchestration speaks
Dagster or reads the deployment file, and no file or function grows past the house limits.

The import graph is built from the source with ``ast`` (function-local imports included), so a
circle cannot hide behind a lazy import.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROOMS = (
    "extractors",
    "models_ml",
    "alerting",
    "reports",
    "serving",
    "sandbox",
    "orchestration",
    "bench",
    "tests",
)
LIBRARIES = ("extractors", "models_ml", "alerting", "reports", "serving")
# room -> the rooms it may import (besides itself): data flows one way, libraries stand alone
ALLOWED = {
    "extractors": set(),
    "models_ml": set(),
    "alerting": set(),
    "serving": set(),
    "reports": {"extractors", "alerting"},
    "sandbox": {"extractors"},
    "orchestration": {*LIBRARIES, "sandbox"},
    "bench": {*LIBRARIES, "sandbox", "orchestration"},
    "tests": {*LIBRARIES, "sandbox", "orchestration", "bench"},
}
MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 150


def _python_files() -> list[Path]:
    return sorted(p for room in ROOMS for p in (ROOT / room).rglob("*.py"))


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str) -> set[str]:
    """Every module ``path`` imports (absolute names), wherever the import statement sits."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    """Module -> the repo modules it imports. A package does not depend on its own children
    through its ``__init__`` re-exports (a parent → child edge), which is how packages work."""
    files = {_module(p): p for p in _python_files()}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        targets = {t for t in _imports(path, module) if t in files and t != module}
        graph[module] = {t for t in targets if not t.startswith(module + ".")}
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the groups of nodes that reach each other (circles), largest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups, key=len, reverse=True)


def _folder_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Package -> packages its modules import (a folder depends on another folder's files)."""
    folders: dict[str, set[str]] = {}
    for module, targets in graph.items():
        here = module.rpartition(".")[0] or module
        for target in targets:
            there = target.rpartition(".")[0] or target
            if (
                here != there
                and not there.startswith(here + ".")
                and not here.startswith(there + ".")
            ):
                folders.setdefault(here, set()).add(there)
    return folders


def test_the_cycle_finder_finds_circles_and_only_circles():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []
    assert strongly_connected({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}) == [
        ["a", "b"],
        ["c", "d"],
    ]


def test_no_import_circle_between_files():
    assert strongly_connected(_graph()) == []


def test_no_import_circle_between_folders():
    assert strongly_connected(_folder_graph(_graph())) == []


def test_rooms_import_one_way():
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in _graph().items()
        for target in targets
        if (src := module.split(".")[0]) != (dst := target.split(".")[0])
        and dst not in ALLOWED[src]
    )
    assert wrong == []


def test_only_orchestration_speaks_dagster_or_reads_the_deployment_file():
    wrong = []
    for path in _python_files():
        room = path.relative_to(ROOT).parts[0]
        if room in ("orchestration", "tests", "bench"):
            continue
        module = _module(path)
        names = _imports(path, module)
        if any(n == "dagster" or n.startswith(("dagster.", "dagster_")) for n in names):
            wrong.append(f"{module} imports dagster")
        if any(n.startswith("orchestration") for n in names):
            wrong.append(f"{module} imports orchestration")
        if _names_the_deployment_file(path):
            wrong.append(f"{module} opens channelhouse.yml")
    assert wrong == []


def _names_the_deployment_file(path: Path) -> bool:
    """A path literal naming the deployment file (prose in docstrings and messages may)."""
    return any(
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and re.fullmatch(r"[\w./-]*channelhouse\.ya?ml", node.value)
        for node in ast.walk(ast.parse(path.read_text()))
    )


def _explained_in_decisions(relative: str) -> bool:
    return f"`{relative}`" in (ROOT / "DECISIONS.md").read_text()


def test_no_file_over_the_limit_without_a_reason_in_decisions():
    long = [
        rel
        for path in _python_files()
        if len(path.read_text().splitlines()) > MAX_FILE_LINES
        and not _explained_in_decisions(rel := str(path.relative_to(ROOT)))
    ]
    assert long == []


def test_no_function_over_the_limit():
    long = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                size = node.end_lineno - node.lineno + 1
                if size > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} {size}")
    assert long == []


@pytest.mark.parametrize("room", ROOMS)
def test_the_architecture_page_names_every_room(room):
    page = (ROOT / "docs" / "architecture.md").read_text()
    assert re.search(rf"`{room}/`", page), f"docs/architecture.md does not describe {room}/"
