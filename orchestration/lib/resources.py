"""Dagster resources wrapping the plain-Python extractors and the lake.

Secrets reach the extractors only through these resources: each connection gets a resource
whose secret fields are ``dg.EnvVar``s named in ``channelhouse.yml``, resolved by Dagster at
run time (never at import time, never shown in the UI or logs).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import dagster as dg

from extractors.registry import AnyConnection, build_extractor
from orchestration.config import ChannelHouseConfig

HASH_SALT_ENV = "CHANNELHOUSE_HASH_SALT"  # dbt_project/plugins reads the same variable


class LakeResource(dg.ConfigurableResource):
    """Where the raw Parquet lake (and its quarantine) lives."""

    data_dir: str

    @property
    def root(self) -> Path:
        return Path(self.data_dir)


class ConnectionResource(dg.ConfigurableResource):
    """One marketplace connection's credentials; builds the extractor for a run.

    ``secret_names`` lists the secret keys in the order of ``secret_values``, whose entries
    are ``dg.EnvVar``s, so Dagster resolves them from the environment when a run starts.
    """

    connection: str
    secret_names: list[str]
    secret_values: list[str]

    def extractor(self, conn: AnyConnection, sandbox_url: str):
        return build_extractor(
            conn,
            dict(zip(self.secret_names, self.secret_values, strict=True)),
            sandbox_url=sandbox_url,
        )


def connection_resource_key(connection: str) -> str:
    return f"{connection}_api"


@cache
def lake_resource(data_dir: str) -> LakeResource:
    """The lake resource of ``data_dir``: one object, so every domain's Definitions that
    needs it holds the same one (``dg.Definitions.merge`` compares resources by identity)."""
    return LakeResource(data_dir=data_dir)


def connection_resources(config: ChannelHouseConfig) -> dict[str, dg.ConfigurableResource]:
    """One ``<connection>_api`` resource per configured connection."""
    resources: dict[str, dg.ConfigurableResource] = {}
    for conn in config.connections:
        names = sorted(conn.secrets)
        resources[connection_resource_key(conn.name)] = ConnectionResource(
            connection=conn.name,
            secret_names=names,
            secret_values=[dg.EnvVar(conn.secrets[name]) for name in names],
        )
    return resources


def shared_resources(config: ChannelHouseConfig) -> dict[str, dg.ConfigurableResource]:
    """``lake`` and ``warehouse``, the resources several domains use (the same objects)."""
    return {
        "lake": lake_resource(str(config.data_dir)),
        "warehouse": warehouse_resource(str(config.warehouse_path), str(config.data_dir)),
    }


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse dbt builds (``path``) and the secret salt its customer hashes use.

    ``path`` comes from ``$CHANNELHOUSE_WAREHOUSE`` (default ``<data dir>/warehouse.duckdb``),
    the one variable dbt's profile reads too; ``hash_salt`` is a ``dg.EnvVar``.
    """

    path: str
    data_dir: str
    hash_salt: str

    def read_only(self):
        """A read-only DuckDB connection (only once no dbt process holds the file)."""
        import duckdb

        return duckdb.connect(self.path, read_only=True)

    def replace_tables(self, schema: str, tables: dict[str, object]) -> dict[str, int]:
        """Write Python-built tables (Arrow tables or polars/pandas frames) into ``schema``,
        each replacing its previous version, all in one transaction: a reader sees either the
        old set or the new one. Returns the row count per table."""
        import duckdb

        rows: dict[str, int] = {}
        with duckdb.connect(self.path) as con:
            con.sql(f'create schema if not exists "{schema}"')
            con.sql("begin transaction")
            try:
                for name, frame in tables.items():
                    con.register("_incoming", frame)
                    con.sql(f'create or replace table "{schema}"."{name}" as from _incoming')
                    con.unregister("_incoming")
                    ((rows[name],),) = con.sql(
                        f'select count(*) from "{schema}"."{name}"'
                    ).fetchall()
                con.sql("commit")
            except Exception:
                con.sql("rollback")
                raise
        return rows


@cache
def warehouse_resource(path: str, data_dir: str) -> WarehouseResource:
    """The warehouse resource (one object per warehouse, see :func:`lake_resource`)."""
    return WarehouseResource(path=path, data_dir=data_dir, hash_salt=dg.EnvVar(HASH_SALT_ENV))
