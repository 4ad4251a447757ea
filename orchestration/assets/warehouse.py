"""The warehouse: the dbt project (``dbt_project/``) as Dagster assets downstream of the raw lake.

Every dbt model and seed is an asset keyed ``<schema>/<model>`` (``core/fct_orders``,
``analytics/daily_sales``…) and every dbt test an asset check. A dbt source reads one raw
entity of every connection of its channel, so its models depend on each connection's raw
asset (``raw/amazon_na/orders`` and ``raw/amazon_eu/orders`` for ``source('amazon', 'orders')``).

Two steps: ``warehouse_core`` (staging, intermediate, core marts) and ``warehouse_analytics``.
Between them run the Great Expectations suites of the core marts as blocking checks, so a
failing suite stops the analytics marts in the same run. The dbt assets are unpartitioned:
the incremental models find what changed themselves (source update time within
``warehouse.lookback_days``), and a run can ask for more with ``rebuild_since`` or
``full_refresh`` in its config.
"""

import json
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pydantic
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from extractors import fx
from extractors.config import ChannelHouseConfig
from extractors.registry import streams_for
from orchestration.assets.inbox import FILE_KEYS, files_source_keys
from orchestration.assets.ingest import raw_asset_key
from orchestration.assets.reference import FX_RATES_KEY
from orchestration.assets.warehouse_checks import core_mart_checks
from orchestration.resources import WarehouseResource

DBT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
CORE_SELECTION = "path:seeds path:models/staging path:models/intermediate path:models/marts/core"
ANALYTICS_SELECTION = "path:models/marts/analytics"
# tests of the analytics marts also read core marts: dbt would run them in the core step
ANALYTICS_TESTS = "path:tests/analytics"
_PROJECT_INPUTS = ("models", "macros", "seeds", "tests", "dbt_project.yml", "profiles.yml")


class WarehouseBuildConfig(dg.Config):
    """Run options for the dbt steps (the default is the incremental daily build)."""

    full_refresh: bool = False  # rebuild every table from the whole lake (and reconcile it all)
    rebuild_since: str | None = None  # YYYY-MM-DD: re-merge every record changed since then

    @pydantic.field_validator("rebuild_since")
    @classmethod
    def _iso_date(cls, value: str | None) -> str | None:
        if value is not None:
            date.fromisoformat(value)  # a clear error for anything but YYYY-MM-DD
        return value


def dbt_project() -> DbtProject:
    return DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR)


def dbt_resource() -> DbtCliResource:
    """dbt from this interpreter's environment, whether or not its bin/ is on PATH."""
    beside = Path(sys.executable).with_name("dbt")
    return DbtCliResource(
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


def source_asset_keys(config: ChannelHouseConfig) -> dict[dg.AssetKey, list[dg.AssetKey]]:
    """dbt source (as keyed by the translator) -> the raw assets it reads."""
    keys: dict[dg.AssetKey, list[dg.AssetKey]] = {
        dg.AssetKey(["source", fx.CHANNEL, fx.ENTITY]): [FX_RATES_KEY, FILE_KEYS["fx_rates"]],
        **files_source_keys(),
    }
    for conn in config.connections:
        for stream in streams_for(conn.channel).values():
            for spec in stream.entities:
                source = dg.AssetKey(["source", conn.channel, spec.name])
                keys.setdefault(source, []).append(raw_asset_key(conn.name, spec.name))
    return keys


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


def dbt_vars(config: ChannelHouseConfig, run: WarehouseBuildConfig) -> dict[str, Any]:
    values: dict[str, Any] = {
        "base_currency": config.base_currency,
        "reporting_timezone": config.reporting_timezone,
        "today": datetime.now(UTC).date().isoformat(),
        "lookback_days": config.warehouse.lookback_days,
        "fx_max_staleness_days": config.warehouse.fx_max_staleness_days,
        **config.analytics.dbt_vars(),
    }
    if run.rebuild_since:
        values["rebuild_since"] = run.rebuild_since
    if not run.full_refresh:
        values["reconcile_days"] = config.warehouse.reconcile_days
    return values


def dbt_environment(warehouse: WarehouseResource) -> dict[str, str]:
    """What the dbt process needs: absolute paths (dbt runs in dbt_project/) and the salt."""
    return {
        "CHANNELHOUSE_DATA_DIR": str(Path(warehouse.data_dir).resolve()),
        "CHANNELHOUSE_WAREHOUSE": str(Path(warehouse.path).resolve()),
        "CHANNELHOUSE_HASH_SALT": warehouse.hash_salt,
    }


def _failed_nodes(invocation) -> str:
    try:
        results = invocation.get_artifact("run_results.json")["results"]
    except Exception:  # no artifact: dbt failed before running anything
        return "dbt failed before running any model; see the step's logs"
    failed = [
        f"{r['unique_id']}: {r['status']} — {(r.get('message') or '').strip()[:300]}"
        for r in results
        if r["status"] in ("error", "fail", "runtime error")
    ]
    return "\n".join(failed) or "dbt exited with an error; see the step's logs"


def run_dbt_build(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    settings: ChannelHouseConfig,
    run: WarehouseBuildConfig,
    indirect_selection: str = "eager",
) -> Iterator[Any]:
    """``dbt build`` of the step's selection; each model's materialization gets its row count
    and, where the dbt docs do not give one, its column schema as built.

    DuckDB lets one process write a file at a time, so both are read after dbt exits
    (dagster-dbt's ``fetch_row_counts``/``fetch_column_metadata`` query while dbt holds it).
    """
    # the core step runs only tests whose every parent it builds: a relationships test from an
    # analytics mart to dim_products belongs to the analytics step (dbt's default would run it
    # in the core step, before its mart exists on a fresh warehouse)
    env = {**dbt_environment(warehouse), "DBT_INDIRECT_SELECTION": indirect_selection}
    # unit tests check the SQL against fixed inputs, not the data: the test suite runs them
    # (dbt's advice: in development and CI, not in every production build)
    args = ["build", "--exclude-resource-type", "unit_test"]
    args += ["--vars", json.dumps(dbt_vars(settings, run))]
    if run.full_refresh:
        args.append("--full-refresh")
    with _environment(env):  # the dbt process inherits it; this process gets its own back
        invocation = dbt.cli(args, context=context, raise_on_error=False)
        events = list(invocation.stream())
    tables = _table_metadata(warehouse)
    for event in events:
        if isinstance(event, dg.Output | dg.AssetMaterialization):
            key = _event_key(context, event)
            extra = dict(tables.get(key, {}))
            if "dagster/column_schema" in context.assets_def.specs_by_key[key].metadata:
                extra.pop("dagster/column_schema", None)  # the documented schema (dbt yml) stays
            event = event.with_metadata({**event.metadata, **extra})
        yield event
    if not invocation.is_successful():
        raise dg.Failure(
            description=f"dbt build failed:\n{_failed_nodes(invocation)}",
            allow_retries=False,
        )


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` with ``values`` for the block, restored after (an in-process run, such
    as the demo's or a test's, must not leak one warehouse's paths into the next)."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _event_key(context: dg.AssetExecutionContext, event) -> dg.AssetKey:
    if isinstance(event, dg.Output):
        return context.asset_key_for_output(event.output_name)
    return event.asset_key


def _table_metadata(warehouse: WarehouseResource) -> dict[dg.AssetKey, dict[str, Any]]:
    """Row count and column schema (names and DuckDB types) of every warehouse table."""
    out: dict[dg.AssetKey, dict[str, Any]] = {}
    if not Path(warehouse.path).exists():
        return out
    with warehouse.read_only() as con:
        columns: dict[tuple[str, str], list[dg.TableColumn]] = {}
        for schema, table, column, data_type in con.execute(
            "select schema_name, table_name, column_name, data_type from duckdb_columns() "
            "where database_name = current_database() order by schema_name, table_name, "
            "column_index"
        ).fetchall():
            columns.setdefault((schema, table), []).append(dg.TableColumn(column, data_type))
        for schema, table in con.execute(
            "select schema_name, table_name from duckdb_tables() "
            "where database_name = current_database()"
        ).fetchall():
            (rows,) = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()
            out[dg.AssetKey([schema, table])] = {
                "dagster/row_count": int(rows),
                "dagster/column_schema": dg.TableSchema(columns=columns[(schema, table)]),
            }
    return out


def warehouse_definitions(
    settings: ChannelHouseConfig,
) -> tuple[list[dg.AssetsDefinition], list[dg.AssetChecksDefinition]]:
    project = dbt_project()
    manifest = ensure_manifest(project)
    translator = WarehouseTranslator(source_asset_keys(settings))

    @dbt_assets(
        manifest=manifest,
        project=project,
        select=CORE_SELECTION,
        exclude=ANALYTICS_TESTS,
        dagster_dbt_translator=translator,
        name="warehouse_core",
    )
    def warehouse_core(
        context: dg.AssetExecutionContext,
        dbt: DbtCliResource,
        warehouse: WarehouseResource,
        config: WarehouseBuildConfig,
    ):
        yield from run_dbt_build(context, dbt, warehouse, settings, config, "cautious")

    @dbt_assets(
        manifest=manifest,
        project=project,
        select=ANALYTICS_SELECTION,
        dagster_dbt_translator=translator,
        name="warehouse_analytics",
    )
    def warehouse_analytics(
        context: dg.AssetExecutionContext,
        dbt: DbtCliResource,
        warehouse: WarehouseResource,
        config: WarehouseBuildConfig,
    ):
        yield from run_dbt_build(context, dbt, warehouse, settings, config)

    core_marts = {key.path[-1]: key for key in warehouse_core.keys if key.path[0] == "core"}
    return [warehouse_core, warehouse_analytics], [core_mart_checks(core_marts)]
