"""dbt docs on the demo warehouse: ``dbt docs generate --static`` (what ``make docs`` runs)
succeeds, the catalog has every public mart with its columns, and every public mart and
column is described in the manifest (a new undocumented mart fails here)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from orchestration.dbt_docs import generate_docs
from orchestration.defs.warehouse import DBT_DIR

PUBLIC_MARTS = Path(DBT_DIR) / "models" / "marts"
PUBLIC_SCHEMAS = ("core", "analytics")


def public_mart_names() -> set[str]:
    """Every model file under models/marts/core and models/marts/analytics."""
    return {p.stem for schema in PUBLIC_SCHEMAS for p in (PUBLIC_MARTS / schema).rglob("*.sql")}


@pytest.fixture(scope="module")
def docs(demo_warehouse, tmp_path_factory) -> Path:
    """What ``make docs`` runs (``orchestration.dbt_docs``) on a copy of the demo warehouse;
    the target folder."""
    root = tmp_path_factory.mktemp("dbt_docs")
    warehouse = root / "warehouse.duckdb"
    shutil.copy(demo_warehouse.warehouse_path, warehouse)
    mp = pytest.MonkeyPatch()
    mp.setenv("CHANNELHOUSE_WAREHOUSE", str(warehouse))
    mp.setenv("CHANNELHOUSE_HASH_SALT", "docs-test-salt-4b8e2d6f1a")
    target = root / "target"
    result = generate_docs(demo_warehouse, target)
    mp.undo()
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    return target


def _marts(manifest: dict) -> dict[str, dict]:
    return {
        node["name"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["schema"] in PUBLIC_SCHEMAS
    }


def test_docs_generate_one_browsable_html_file(docs):
    html = (docs / "static_index.html").read_text()
    assert html.lstrip().lower().startswith("<!doctype html")
    # the static page embeds the manifest and catalog: no server needed to browse it
    assert '"fct_orders"' in html or "model.channelhouse.fct_orders" in html
    assert len(html) > 500_000


def test_catalog_has_every_public_mart_with_its_columns(docs):
    manifest = json.loads((docs / "manifest.json").read_text())
    catalog = json.loads((docs / "catalog.json").read_text())
    marts = _marts(manifest)
    expected = public_mart_names()
    assert len(expected) >= 20
    assert set(marts) == expected
    for name, node in marts.items():
        entry = catalog["nodes"].get(node["unique_id"])
        assert entry is not None, f"{name} is not in the catalog (not built in the warehouse?)"
        assert entry["metadata"]["schema"] == node["schema"]
        columns = {c.lower() for c in entry["columns"]}
        assert columns == set(node["columns"]), f"{name}: catalog and yml columns differ"


def test_every_public_mart_and_column_is_described(docs):
    manifest = json.loads((docs / "manifest.json").read_text())
    undocumented = []
    for name, node in sorted(_marts(manifest).items()):
        if not node["description"].strip():
            undocumented.append(name)
        if not node["columns"]:
            undocumented.append(f"{name} (no columns documented)")
        undocumented += [
            f"{name}.{column}"
            for column, spec in node["columns"].items()
            if not (spec.get("description") or "").strip()
        ]
    assert not undocumented, f"document these in the marts' yml: {undocumented}"
