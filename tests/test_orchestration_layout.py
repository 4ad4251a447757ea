"""The orchestration package's shape: no import circle between its files (function-local
imports included), and the serving assets depend on exactly the public tables the asset
graph holds (dbt marts from the manifest, plus every table a Python asset writes)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import dagster as dg

from orchestration.config import parse_config
from orchestration.definitions import build_definitions
from orchestration.defs.serving import COPY_KEY, public_mart_keys
from orchestration.lib.dbt import dbt_project, ensure_manifest
from orchestration.lib.keys import PYTHON_TABLE_KEYS
from tests.conftest import sandbox_config_dict

ROOT = Path(__file__).resolve().parents[1]


def _module_graph() -> dict[str, set[str]]:
    files = {}
    for path in (ROOT / "orchestration").rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        package = parts[-1] == "__init__"
        files[".".join(parts[:-1] if package else parts)] = (path, package)
    graph: dict[str, set[str]] = {}
    for name, (path, package) in files.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    here = name.split(".") if package else name.split(".")[:-1]
                    here = here[: len(here) - node.level + 1]
                    base = ".".join([*here, *([base] if base else [])])
                targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            for target in targets:  # importing a.b.c runs a/__init__ and a/b/__init__ too
                pieces = target.split(".")
                for i in range(1, len(pieces) + 1):
                    module = ".".join(pieces[:i])
                    if module in files and module != name:
                        deps.add(module)
        graph[name] = deps
    return graph


def test_no_import_circle_in_orchestration():
    graph = _module_graph()
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            raise AssertionError(" -> ".join([*path[path.index(module) :], module]))
        if module in done:
            return
        for dep in sorted(graph[module]):
            visit(dep, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


def test_serving_depends_on_every_public_table_of_the_asset_graph(tmp_path):
    config = parse_config(sandbox_config_dict(str(tmp_path / "data")), "test-config")
    defs = build_definitions(config, retry_policy=None)
    graph = defs.resolve_asset_graph()
    public = config.serving.public_schemas
    nodes = json.loads(ensure_manifest(dbt_project()).read_text())["nodes"]

    def dbt_path(key: dg.AssetKey) -> str:
        return nodes[graph.get(key).metadata["dagster_dbt/unique_id"]]["original_file_path"]

    dbt_marts = {
        key
        for key in graph.get_all_asset_keys()
        if "dbt" in graph.get(key).kinds
        and key.path[0] in public
        and dbt_path(key).startswith("models/marts/")
    }
    python_tables = {
        key
        for key in graph.get_all_asset_keys()
        if key.path[0] in ("ml", "alerts") and "dbt" not in graph.get(key).kinds
    }
    assert python_tables == set(PYTHON_TABLE_KEYS)
    assert set(graph.get(COPY_KEY).parent_keys) == dbt_marts | python_tables
    assert set(public_mart_keys(config.serving)) == dbt_marts | python_tables
    assert dg.AssetKey(["ml", "forecast_history"]) in python_tables
