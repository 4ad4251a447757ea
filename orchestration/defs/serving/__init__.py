"""Serving: what BI tools read while the scheduler keeps building (thin assets over ``serving``).

``serving/warehouse_copy``: the read-only DuckDB copy of the public schemas
(``serving.copy_path``, default ``<data_dir>/serving/warehouse.duckdb``), swapped in atomically
after the marts are built. ``serving/postgres_publication`` (only with ``serving.postgres``):
the public marts published into PostgreSQL schemas ``<schema_prefix><schema>``, swapped in one
transaction, readable by the read-only role; it reads the serving copy when there is one (so
the warehouse file is free for the next build), else the warehouse. Both depend on every public mart, so a job that
selects them runs them after the build; a failure leaves the previous copy/publication as is.
"""

import dagster as dg

from orchestration.config import ChannelHouseConfig
from orchestration.lib.dbt import model_key, models_under
from orchestration.lib.keys import PYTHON_TABLE_KEYS
from orchestration.lib.resources import WarehouseResource, shared_resources
from orchestration.lib.schedules import SERVING_GROUP
from serving.copy import ServingCopyError, refresh_serving_copy
from serving.postgres import PublishError, publish, redacted_target
from serving.settings import ServingSettings

COPY_KEY = dg.AssetKey(["serving", "warehouse_copy"])
PUBLICATION_KEY = dg.AssetKey(["serving", "postgres_publication"])
POSTGRES_RESOURCE_KEY = "serving_postgres"


class PostgresPublishResource(dg.ConfigurableResource):
    """The publication's target: ``dsn`` (and the reader role's optional password) are
    ``dg.EnvVar``s named in ``serving.postgres``, resolved when a run starts."""

    dsn: str
    reader_password: str | None = None


def public_mart_keys(settings: ServingSettings) -> list[dg.AssetKey]:
    """The asset keys of the public marts: every dbt model under ``models/marts/<schema>/``
    (its key from the manifest) and the Python-written ml/alerts tables, of the public
    schemas."""
    keys = [
        model_key(model)
        for schema in settings.public_schemas
        for model in models_under(f"marts/{schema}")
    ]
    keys += [key for key in PYTHON_TABLE_KEYS if key.path[0] in settings.public_schemas]
    return keys


def _table_markdown(rows: dict[str, int]) -> str:
    lines = ["| table | rows |", "|---|---|"]
    lines += [f"| {name} | {count} |" for name, count in rows.items()]
    return "\n".join(lines)


def serving_resources(settings: ServingSettings) -> dict[str, dg.ConfigurableResource]:
    """The resource the publication needs (none without ``serving.postgres``)."""
    pg = settings.postgres
    if pg is None:
        return {}
    return {
        POSTGRES_RESOURCE_KEY: PostgresPublishResource(
            dsn=dg.EnvVar(pg.dsn_env),
            reader_password=dg.EnvVar(pg.reader_password_env) if pg.reader_password_env else None,
        )
    }


def serving_assets(config: ChannelHouseConfig) -> list[dg.AssetsDefinition]:
    settings = config.serving
    deps = public_mart_keys(settings)
    assets: list[dg.AssetsDefinition] = []

    if settings.copy_enabled:
        target = settings.copy_target(config.data_dir)

        @dg.asset(
            key=COPY_KEY,
            deps=deps,
            group_name=SERVING_GROUP,
            kinds={"duckdb"},
            description=f"Read-only DuckDB copy of the public schemas "
            f"({', '.join(settings.public_schemas)}) for BI tools, at {target}; replaced "
            "atomically after each build (sessions holding the old file keep reading it), "
            "with serving.manifest (row counts, build time, source).",
        )
        def _warehouse_copy(
            context: dg.AssetExecutionContext, warehouse: WarehouseResource
        ) -> dg.MaterializeResult:
            try:
                result = refresh_serving_copy(warehouse.path, target, settings.public_schemas)
            except ServingCopyError as exc:
                raise dg.Failure(description=str(exc)) from None
            return dg.MaterializeResult(
                metadata={
                    "path": dg.MetadataValue.path(str(result.path)),
                    "dagster/row_count": sum(result.rows.values()),
                    "tables": len(result.rows),
                    "rows_per_table": dg.MetadataValue.md(_table_markdown(result.rows)),
                    "seconds": round(result.seconds, 3),
                    "file_size_bytes": result.size_bytes,
                }
            )

        assets.append(_warehouse_copy)

    if settings.postgres is not None:
        pg = settings.postgres

        # from the serving copy when there is one: the warehouse stays free for the next build
        source = settings.copy_target(config.data_dir) if settings.copy_enabled else None

        @dg.asset(
            key=PUBLICATION_KEY,
            deps=[COPY_KEY] if source else deps,
            group_name=SERVING_GROUP,
            kinds={"postgres"},
            description="The public marts published into PostgreSQL schemas "
            f"{pg.schema_prefix}<schema> (bulk COPY into staging schemas, swapped in one "
            f"transaction), readable by the read-only role {pg.reader_role}.",
        )
        def _postgres_publication(
            context: dg.AssetExecutionContext,
            warehouse: WarehouseResource,
            serving_postgres: PostgresPublishResource,
        ) -> dg.MaterializeResult:
            try:
                result = publish(
                    str(source or warehouse.path),
                    serving_postgres.dsn,
                    settings.public_schemas,
                    pg,
                    reader_password=serving_postgres.reader_password or None,
                    log=context.log.warning,
                )
            except PublishError as exc:
                raise dg.Failure(description=str(exc)) from None
            return dg.MaterializeResult(
                metadata={
                    "target": redacted_target(serving_postgres.dsn),
                    "schemas": ", ".join(result.schemas.values()),
                    "dagster/row_count": sum(result.rows.values()),
                    "tables": len(result.rows),
                    "rows_per_table": dg.MetadataValue.md(_table_markdown(result.rows)),
                    "seconds": round(result.seconds, 3),
                    "load_seconds": round(result.load_seconds, 3),
                    "swap_seconds": round(result.swap_seconds, 3),
                    "swap_attempts": result.swap_attempts,
                }
            )

        assets.append(_postgres_publication)
    return assets


def defs(config: ChannelHouseConfig) -> dg.Definitions:
    """The serving assets (no job of their own: the jobs that change the public marts select
    the serving group) and the publication's resource."""
    return dg.Definitions(
        assets=serving_assets(config),
        resources={
            "warehouse": shared_resources(config)["warehouse"],
            **serving_resources(config.serving),
        },
    )
