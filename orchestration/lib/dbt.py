"""The dbt project as Dagster sees it: where it is, its manifest (re-parsed when stale), the
``dbt`` resource, and the translator that keys every node ``<schema>/<name>``.

Other domains take the asset key of a dbt model from the manifest with :func:`model_key`
(``dagster_dbt.get_asset_key_for_model``), never by spelling the key themselves.
"""

import json
import os
import sys
import tempfile
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
    get_asset_key_for_model,
)

DBT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
# the target directory of every Dagster build: its partial_parse.msgpack serves the next build
BUILD_TARGET = DBT_DIR / "target" / "build"
# a tenant's own target directory (orchestration/tenants.py): dbt's partial parse hashes the
# profile, warehouse path included, so tenants sharing BUILD_TARGET would re-parse every build
DBT_TARGET_ENV = "CHANNELHOUSE_DBT_TARGET"
_PROJECT_INPUTS = ("models", "macros", "seeds", "tests", "dbt_project.yml", "profiles.yml")


def build_target() -> Path:
    """Where warehouse builds write: ``$CHANNELHOUSE_DBT_TARGET``, else :data:`BUILD_TARGET`
    (read when a build runs)."""
    override = os.environ.get(DBT_TARGET_ENV)
    return Path(override) if override else BUILD_TARGET


def dbt_project() -> DbtProject:
    return DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR)


class WarehouseDbtCli(DbtCliResource):
    """dagster-dbt's resource without its in-process dbt adapter.

    dagster-dbt opens a dbt adapter in this process before every invocation (loading the
    profile and parsing every macro: about 2 s the first time, 0.6 s after, on this machine);
    it serves only ``fetch_row_counts``/``fetch_column_metadata``, which we do not use (the
    warehouse build reads both after dbt exits, see ``run_dbt_build``). Without an adapter
    the invocation takes dagster-dbt's own path for "no adapter" (``adapter=None``).
    """

    def _initialize_dbt_core_adapter(self, args):
        return None


@cache
def dbt_resource() -> DbtCliResource:
    """dbt from this interpreter's environment, whether or not its bin/ is on PATH (one
    object, so every Definitions holding it holds the same)."""
    beside = Path(sys.executable).with_name("dbt")
    return WarehouseDbtCli(
        project_dir=dbt_project(), dbt_executable=str(beside) if beside.exists() else "dbt"
    )


def _newest_input(project_dir: Path) -> float:
    newest = 0.0
    for name in _PROJECT_INPUTS:
        path = project_dir / name
        files = path.rglob("*") if path.is_dir() else [path]
        newest = max([newest, *(f.stat().st_mtime for f in files if f.is_file())])
    return newest


def ensure_manifest(project: DbtProject) -> Path:
    """The project's manifest, re-parsed when a model, macro, seed or test changed.

    Parsing writes into a temporary target directory and the manifest is moved into place
    with ``os.replace``, so step processes loading the definitions at the same time never
    read half a file.
    """
    manifest = project.manifest_path
    if manifest.exists() and manifest.stat().st_mtime >= _newest_input(project.project_dir):
        return manifest
    with tempfile.TemporaryDirectory(dir=project.project_dir) as tmp:
        dbt_resource().cli(["parse", "--quiet"], target_path=Path(tmp)).wait()
        manifest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(Path(tmp) / "manifest.json", manifest)
    return manifest


class WarehouseTranslator(DagsterDbtTranslator):
    """dbt nodes keyed by schema and name; sources replaced by the raw assets they read."""

    def __init__(self, raw_keys: Mapping[dg.AssetKey, list[dg.AssetKey]]):
        super().__init__(
            settings=DagsterDbtTranslatorSettings(
                enable_asset_checks=True, enable_code_references=False
            )
        )
        self._raw_keys = raw_keys

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        props = dbt_resource_props
        if props["resource_type"] == "source":
            return dg.AssetKey(["source", props["source_name"], props["name"]])
        return dg.AssetKey([props["schema"], props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        schema = dbt_resource_props.get("schema")
        return "analytics" if schema == "analytics" else f"warehouse_{schema}"

    def get_asset_spec(self, manifest, unique_id, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        if unique_id.startswith("source."):
            return spec
        deps: list[dg.AssetDep] = []
        for dep in spec.deps:
            raw = self._raw_keys.get(dep.asset_key)
            deps += [dg.AssetDep(key) for key in raw] if raw is not None else [dep]
        return spec.replace_attributes(deps=deps)


@cache
def _project_assets() -> dg.AssetsDefinition:
    """Every node of the project as one dbt multi-asset, only to look keys up (the warehouse
    domain builds the assets that run)."""
    project = dbt_project()

    @dbt_assets(
        manifest=ensure_manifest(project),
        project=project,
        dagster_dbt_translator=WarehouseTranslator({}),
        name="warehouse_keys",
    )
    def _keys(): ...

    return _keys


def model_key(model: str) -> dg.AssetKey:
    """The asset key of the dbt model (or seed) ``model``, from the manifest."""
    return get_asset_key_for_model([_project_assets()], model)


def warehouse_groups() -> list[str]:
    """The asset groups of the dbt nodes (``warehouse_<schema>``, ``analytics``)."""
    return sorted({spec.group_name for spec in _project_assets().specs})


@cache
def _manifest(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def models_under(folder: str) -> list[str]:
    """The names of the dbt models whose SQL is under ``models/<folder>/``, sorted by path."""
    manifest = _manifest(ensure_manifest(dbt_project()))
    prefix = f"models/{folder.strip('/')}/"
    nodes = [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["original_file_path"].startswith(prefix)
    ]
    return [node["name"] for node in sorted(nodes, key=lambda n: n["original_file_path"])]
