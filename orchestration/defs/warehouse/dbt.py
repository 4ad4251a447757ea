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
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pydantic
from dagster_dbt import DbtCliResource, dbt_assets

from extractors import fx, usage
from extractors.registry import streams_for
from orchestration.config import ChannelHouseConfig
from orchestration.lib.dbt import (
    WarehouseTranslator,
    build_target,
    dbt_project,
    ensure_manifest,
)
from orchestration.lib.keys import FILE_KEYS, FX_RATES_KEY, files_source_keys, raw_asset_key
from orchestration.lib.resources import WarehouseResource

CORE_SELECTION = "path:seeds path:models/staging path:models/intermediate path:models/marts/core"
ANALYTICS_SELECTION = "path:models/marts/analytics"
# tests of the analytics marts also read core marts: dbt would run them in the core step
ANALYTICS_TESTS = "path:tests/analytics"
DBT_STEPS = ("warehouse_core", "warehouse_analytics")  # the ops of the two dbt multi-assets


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


USAGE_SOURCE = dg.AssetKey(["source", usage.CHANNEL, usage.ENTITY])


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
                # every stream run appends its usage record (extractors/usage.py)
                keys.setdefault(USAGE_SOURCE, []).append(raw_asset_key(conn.name, spec.name))
    return keys


def dbt_vars(config: ChannelHouseConfig) -> dict[str, Any]:
    """The deployment's dbt variables: the same on every run (a change of ``--vars`` makes dbt
    re-parse the whole project; what changes per run is in :func:`run_environment`)."""
    return {
        "base_currency": config.base_currency,
        "reporting_timezone": config.reporting_timezone,
        "lookback_days": config.warehouse.lookback_days,
        "fx_max_staleness_days": config.warehouse.fx_max_staleness_days,
        "connection_limits": {
            c.name: c.limits.model_dump(exclude_none=True) for c in config.connections if c.limits
        },
        **config.analytics.dbt_vars(),
    }


def run_environment(config: ChannelHouseConfig, run: WarehouseBuildConfig) -> dict[str, str]:
    """The run's own values for the dbt macros (``macros/run_settings.sql``), every one set
    (empty = none) so that nothing is inherited from the calling process: the clock's UTC
    day, the rebuild date, and the reconciliation window of incremental builds (full builds
    reconcile everything)."""
    return {
        "CHANNELHOUSE_TODAY": datetime.now(UTC).date().isoformat(),
        "CHANNELHOUSE_REBUILD_SINCE": run.rebuild_since or "",
        "CHANNELHOUSE_RECONCILE_DAYS": ""
        if run.full_refresh
        else str(config.warehouse.reconcile_days),
    }


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
    # no node failed: dbt's own error lines (e.g. the warehouse file could not be opened)
    errors = [m.strip()[:300] for m in getattr(invocation, "_error_messages", []) if m.strip()]
    return "\n".join(failed or errors) or "dbt exited with an error; see the step's logs"


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
    env = {
        **dbt_environment(warehouse),
        **run_environment(settings, run),
        "DBT_INDIRECT_SELECTION": indirect_selection,
    }
    # unit tests check the SQL against fixed inputs, not the data: the test suite runs them
    # (dbt's advice: in development and CI, not in every production build)
    # a seller whose first sync landed nothing has no data dir yet: the warehouse file starts it
    Path(warehouse.path).parent.mkdir(parents=True, exist_ok=True)
    args = ["build", "--exclude-resource-type", "unit_test"]
    args += ["--vars", json.dumps(dbt_vars(settings))]
    if run.full_refresh:
        args.append("--full-refresh")
    with _environment(env):  # the dbt process inherits it; this process gets its own back
        # one target directory for every build (dagster-dbt's default is a new one per
        # invocation): dbt keeps its parse state there, so each build re-parses only the
        # files that changed since the last (the warehouse has one writer at a time)
        invocation = dbt.cli(
            args, context=context, raise_on_error=False, target_path=build_target()
        )
        events = list(invocation.stream())
    tables = _table_metadata(warehouse)
    for event in events:
        if isinstance(event, dg.Output | dg.AssetMaterialization):
            key = _event_key(context, event)
            extra = _with_descriptions(
                dict(tables.get(key, {})), context.assets_def.specs_by_key[key].metadata
            )
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


def _with_descriptions(built: dict[str, Any], documented: Mapping[str, Any]) -> dict[str, Any]:
    """The schema as built (names and DuckDB types), each column with the description the
    dbt yml gives it (the asset's definition keeps the documented schema itself)."""
    schema = built.get("dagster/column_schema")
    docs = documented.get("dagster/column_schema")
    if schema is None or docs is None:
        return built
    described = {c.name: c.description for c in docs.columns}
    columns = [
        dg.TableColumn(c.name, c.type, description=described.get(c.name)) for c in schema.columns
    ]
    return {**built, "dagster/column_schema": dg.TableSchema(columns=columns)}


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


def warehouse_dbt_assets(settings: ChannelHouseConfig) -> list[dg.AssetsDefinition]:
    """The two dbt steps: ``warehouse_core`` and ``warehouse_analytics``."""
    project = dbt_project()
    manifest = ensure_manifest(project)
    translator = WarehouseTranslator(source_asset_keys(settings))

    @dbt_assets(
        manifest=manifest,
        project=project,
        select=CORE_SELECTION,
        exclude=ANALYTICS_TESTS,
        dagster_dbt_translator=translator,
        name=DBT_STEPS[0],
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
        name=DBT_STEPS[1],
    )
    def warehouse_analytics(
        context: dg.AssetExecutionContext,
        dbt: DbtCliResource,
        warehouse: WarehouseResource,
        config: WarehouseBuildConfig,
    ):
        yield from run_dbt_build(context, dbt, warehouse, settings, config)

    return [warehouse_core, warehouse_analytics]
