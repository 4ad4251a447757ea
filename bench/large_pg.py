"""The large bench's PostgreSQL part: the same lake loaded into the machine's PostgreSQL 15
and the same dbt project's core and analytics marts built there with dbt-postgres.

A scratch database (``channelhouse_large``, dropped after) gets one schema per dbt source
(``amazon``, ``shopify``, ``walmart``, ``reference``, ``files``) holding each raw entity as a
table with the lake's columns (the entity's, the stamp columns and the hive partition
columns ``channel``, ``connection``, ``entity``, ``date``): exactly the relation the DuckDB
sources read through their ``external_location``, so ``source()`` needs no second
definition. DuckDB reads the Parquet and writes CSV, psycopg streams it with ``COPY FROM
STDIN``. dbt then runs with ``--target postgres`` (``dbt_project/profiles.yml``).
"""

from __future__ import annotations

import tempfile
import time
from datetime import timedelta
from pathlib import Path

import duckdb
import psycopg

from bench.large_dbt import Build, dbt_settings, run_dbt
from bench.large_lake import Shape

ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
DATABASE = "channelhouse_large"
# the marts, as the two Dagster steps select them, and everything they are built from
SELECTION = "+path:models/marts/core +path:models/marts/analytics"
PG_TYPES = {
    "VARCHAR": "text",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "DOUBLE": "double precision",
    "VARCHAR[]": "text[]",
}


def _pg_type(duck: str) -> str:
    if duck.startswith("DECIMAL"):
        return duck.replace("DECIMAL", "numeric")
    return PG_TYPES[duck]


def _entities(lake: Path) -> list[tuple[str, str, str]]:
    """(source, entity, glob) of every raw entity the lake holds."""
    found = set()
    for folder in lake.glob("channel=*/connection=*/entity=*"):
        channel = folder.parent.parent.name.split("=", 1)[1]
        found.add((channel, folder.name.split("=", 1)[1]))
    return [
        (c, e, f"{lake}/channel={c}/connection=*/entity={e}/date=*/*.parquet")
        for c, e in sorted(found)
    ]


def load_lake(data_dir: Path, dsn: str) -> dict:
    """Every raw entity of the lake into its source schema; rows loaded and seconds."""
    lake = (data_dir / "raw").resolve()
    duck = duckdb.connect()
    duck.execute("set TimeZone = 'UTC'; set enable_progress_bar = false")
    rows, started = 0, time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as pg, tempfile.TemporaryDirectory() as tmp:
        for source in ("amazon", "shopify", "walmart", "reference", "files"):
            pg.execute(f"create schema if not exists {source}")
        for source, entity, glob in _entities(lake):
            relation = duck.sql(f"select * from read_parquet('{glob}', hive_partitioning = true)")
            columns = list(zip(relation.columns, map(str, relation.types), strict=True))
            ddl = ", ".join(f'"{name}" {_pg_type(t)}' for name, t in columns)
            pg.execute(f'drop table if exists {source}."{entity}"')
            pg.execute(f'create table {source}."{entity}" ({ddl})')
            # PostgreSQL's array literal for list columns; everything else as CSV text
            select = ", ".join(
                f"case when \"{n}\" is not null then '{{' || array_to_string(\"{n}\", ',') || '}}' end"
                if t.endswith("[]")
                else f'"{n}"'
                for n, t in columns
            )
            csv = Path(tmp) / f"{source}_{entity}.csv"
            duck.execute(
                f"copy (select {select} from ({relation.sql_query()})) to '{csv}' (header false)"
            )
            statement = f'copy {source}."{entity}" from stdin (format csv)'
            with pg.cursor().copy(statement) as copy, csv.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    copy.write(chunk)
            csv.unlink()
            (count,) = pg.execute(f'select count(*) from {source}."{entity}"').fetchone()
            rows += count
            pg.execute(f'analyze {source}."{entity}"')
    duck.close()
    return {"rows": rows, "seconds": round(time.perf_counter() - started, 1)}


def postgres_build(data_dir: Path, shape: Shape) -> dict:
    """Load the lake into a scratch database, build the marts there, drop it."""
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f"drop database if exists {DATABASE} with (force)")
        admin.execute(f"create database {DATABASE}")
    try:
        loaded = load_lake(data_dir, f"host=127.0.0.1 port=5432 user=postgres dbname={DATABASE}")
        print(f"  postgres: loaded {loaded['rows']:,} rows in {loaded['seconds']}s", flush=True)
        build: Build = run_dbt(
            data_dir,
            data_dir / "unused.duckdb",
            dbt_settings(data_dir, shape.end + timedelta(days=2), True),
            True,
            target="postgres",
            select=SELECTION,
            extra_env={"CHANNELHOUSE_PG_DATABASE": DATABASE},
        )
        print(f"  postgres build {build.seconds}s ok={build.ok}", flush=True)
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f"drop database if exists {DATABASE} with (force)")
    statuses: dict[str, int] = {}
    for status in build.statuses.values():
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "load": loaded,
        "build": {
            "seconds": build.seconds,
            "ok": build.ok,
            "statuses": statuses,
            "failures": build.failures,
            "top_nodes": build.top(),
        },
    }
