"""The serving assets depend on exactly the public tables the asset graph holds (dbt marts
from the manifest, plus every table a Python asset writes). Import circles anywhere in the
house: tests/test_architecture.py."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from orchestration.config import parse_config
from orchestration.definitions import build_definitions
from orchestration.defs.serving import COPY_KEY, public_mart_keys
from orchestration.lib.dbt import dbt_project, ensure_manifest
from orchestration.lib.keys import PYTHON_TABLE_KEYS
from tests.conftest import sandbox_config_dict

ROOT = Path(__file__).resolve().parents[2]


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
        if key.path[0] in ("ml", "alerts", "analytics") and "dbt" not in graph.get(key).kinds
    }
    assert python_tables == set(PYTHON_TABLE_KEYS)
    assert set(graph.get(COPY_KEY).parent_keys) == dbt_marts | python_tables
    assert set(public_mart_keys(config.serving)) == dbt_marts | python_tables
    assert dg.AssetKey(["ml", "forecast_history"]) in python_tables
