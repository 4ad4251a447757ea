"""Publish the public marts of the DuckDB warehouse into PostgreSQL.

For each public DuckDB schema ``s`` the publication is the PostgreSQL schema
``<prefix>s`` (default ``channelhouse_s``). A publish:

1. takes a session advisory lock (one publish at a time per prefix), drops any
   ``<prefix>s__staging`` / ``<prefix>s__old`` left by a crashed publish;
2. creates ``<prefix>s__staging``, one table per DuckDB table with mapped types, and streams
   the rows (Arrow record batches of ``batch_rows`` rows, so memory stays bounded, rendered
   as CSV by Arrow) into ``COPY ... FROM STDIN``; checks the row counts; grants USAGE/SELECT
   to the read-only role; comments each table with its source and build time; ANALYZE;
   commits;
3. swaps in ONE transaction: every live schema is renamed to ``__old``, every staging schema
   to the live name, the old ones are dropped. A reader sees, statement by statement, either
   the previous version or the new one of every table, never an empty or partial table.

The swap needs an ACCESS EXCLUSIVE lock on the previous tables (the DROP), so it waits for BI
queries that are reading them. It waits at most ``lock_timeout_seconds`` per attempt (while it
waits, new queries on those tables queue behind it, so the wait is kept short), then rolls
back, pauses and retries, ``swap_attempts`` times; after that the publish fails and the
previous publication stays as it was.

Errors never show the DSN or the password: only host, port and database.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from serving.copy import public_tables
from serving.settings import PostgresPublishSettings

STAGING_SUFFIX = "__staging"
OLD_SUFFIX = "__old"

# DuckDB type -> PostgreSQL type; anything not here is sent as text (see _column_plan)
_SIMPLE_TYPES = {
    "BOOLEAN": "boolean",
    "TINYINT": "smallint",
    "SMALLINT": "smallint",
    "INTEGER": "integer",
    "BIGINT": "bigint",
    "HUGEINT": "numeric(39,0)",
    "UTINYINT": "smallint",
    "USMALLINT": "integer",
    "UINTEGER": "bigint",
    "UBIGINT": "numeric(20,0)",
    "UHUGEINT": "numeric(39,0)",
    "FLOAT": "real",
    "DOUBLE": "double precision",
    "VARCHAR": "text",
    "DATE": "date",
    "TIME": "time",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP_S": "timestamp",
    "TIMESTAMP_MS": "timestamp",
    "TIMESTAMP_NS": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "TIME WITH TIME ZONE": "timetz",
    "INTERVAL": "interval",
    "UUID": "uuid",
    "BLOB": "bytea",
    "JSON": "jsonb",
}
# types Arrow's CSV writer renders the way PostgreSQL reads them: selected as they are
_NATIVE = {
    "BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT",
    "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "VARCHAR", "DATE", "TIMESTAMP", "TIMESTAMP_S",
    "TIMESTAMP_MS", "TIMESTAMP WITH TIME ZONE",
}  # fmt: skip
_DECIMAL = re.compile(r"^DECIMAL\((\d+),(\d+)\)$")


class PublishError(RuntimeError):
    """The publication failed; the previous publication is unchanged."""


@dataclass
class PublishResult:
    schemas: dict[str, str] = field(default_factory=dict)  # duckdb schema -> postgres schema
    rows: dict[str, int] = field(default_factory=dict)  # "pgschema.table" -> rows
    seconds: float = 0.0
    load_seconds: float = 0.0
    swap_seconds: float = 0.0
    swap_attempts: int = 0
    built_at: datetime | None = None


def pg_type(duckdb_type: str) -> str:
    """The PostgreSQL column type for a DuckDB type (nested types become jsonb)."""
    if duckdb_type in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[duckdb_type]
    if m := _DECIMAL.match(duckdb_type):
        return f"numeric({m[1]},{m[2]})"
    if _is_nested(duckdb_type):
        return "jsonb"
    return "text"  # ENUM, BIT, "NULL" (all-null columns), VARINT, unions...


def _is_nested(duckdb_type: str) -> bool:
    return duckdb_type.endswith("]") or duckdb_type.startswith(("STRUCT(", "MAP(", "UNION("))


def _select_expr(column: str, duckdb_type: str) -> str:
    """The DuckDB expression whose Arrow CSV rendering PostgreSQL reads back exactly."""
    col = '"' + column.replace('"', '""') + '"'
    if duckdb_type in _NATIVE or _DECIMAL.match(duckdb_type):
        return col
    if duckdb_type == "TIMESTAMP_NS":  # microseconds as DuckDB truncates them (PG would round)
        return f"{col}::timestamp"
    if duckdb_type == "BLOB":
        return f"'\\x' || hex({col})"  # bytea hex format
    if _is_nested(duckdb_type) or duckdb_type == "JSON":
        return f"to_json({col})::varchar"
    return f"{col}::varchar"  # uuid, interval, time, hugeint, enum, "NULL"...


def redacted_target(dsn: str) -> str:
    """``host:port/dbname`` of a DSN (never the password or any other parameter)."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparseable DSN>"
    host = params.get("host") or params.get("hostaddr") or "localhost"
    port = params.get("port") or "5432"
    dbname = params.get("dbname") or params.get("user") or "postgres"
    return f"{host}:{port}/{dbname}"


def _scrub(message: str, dsn: str) -> str:
    """A driver message on one line, without the password or the DSN (libpq does not put
    them in its messages; this makes sure)."""
    try:
        password = conninfo_to_dict(dsn).get("password")
    except psycopg.ProgrammingError:
        password = None
    for secret in (dsn, password):
        if secret:
            message = re.sub(
                rf"(?<![A-Za-z0-9]){re.escape(str(secret))}(?![A-Za-z0-9])", "***", message
            )
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return " ".join(
        line if i == len(lines) - 1 or line[-1] in ".:;?!" else line + "."
        for i, line in enumerate(lines)
    )


def _connect(dsn: str, settings: PostgresPublishSettings) -> psycopg.Connection:
    target = redacted_target(dsn)
    if target == "<unparseable DSN>":
        raise PublishError(
            f"the PostgreSQL DSN in ${settings.dsn_env} is not a valid libpq connection "
            "string or URI; the previous publication is unchanged"
        )
    try:
        conn = psycopg.connect(
            dsn,
            connect_timeout=settings.connect_timeout_seconds,
            application_name="channelhouse-publish",
        )
    except psycopg.Error as exc:
        raise PublishError(
            f"PostgreSQL at {target} is unreachable: {_scrub(str(exc), dsn)}; check the "
            f"server and ${settings.dsn_env}; the previous publication is unchanged"
        ) from None
    conn.execute(
        sql.SQL("set statement_timeout = {}").format(
            sql.Literal(int(settings.statement_timeout_seconds * 1000))
        )
    )
    conn.commit()
    return conn


def _ident(*names: str) -> sql.Identifier:
    return sql.Identifier(*names)


def _batches(con, schema: str, table: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
    columns = con.execute(
        "select column_name, data_type from duckdb_columns() "
        "where schema_name = ? and table_name = ? order by column_index",
        [schema, table],
    ).fetchall()
    exprs = ", ".join(f'{_select_expr(c, t)} as "{c}"' for c, t in columns)
    reader = con.sql(f'select {exprs} from "{schema}"."{table}"').to_arrow_reader(batch_rows)
    yield from reader


def _csv_bytes(batch: pa.RecordBatch) -> bytes:
    sink = pa.BufferOutputStream()
    pacsv.write_csv(batch, sink, write_options=pacsv.WriteOptions(include_header=False))
    return sink.getvalue().to_pybytes()


def _ensure_role(cur, settings: PostgresPublishSettings, reader_password: str | None) -> None:
    role = _ident(settings.reader_role)
    cur.execute("select 1 from pg_roles where rolname = %s", [settings.reader_role])
    if not cur.fetchall():
        cur.execute(sql.SQL("create role {} nologin").format(role))
    if reader_password:
        # hashed here (SCRAM, as psql's \password does): the password itself never travels in
        # a statement a server with log_statement=all would log
        verifier = cur.connection.pgconn.encrypt_password(
            reader_password.encode(), settings.reader_role.encode(), b"scram-sha-256"
        )
        cur.execute(
            sql.SQL("alter role {} login password {}").format(role, sql.Literal(verifier.decode()))
        )


def publish(
    warehouse: Path | str,
    dsn: str,
    schemas: list[str],
    settings: PostgresPublishSettings,
    reader_password: str | None = None,
    log=None,
) -> PublishResult:
    """Publish the tables of ``schemas`` from the DuckDB ``warehouse`` (opened read-only)."""
    started = time.perf_counter()
    built_at = datetime.now(UTC)
    result = PublishResult(built_at=built_at)
    live = {s: settings.schema_prefix + s for s in schemas}
    result.schemas = dict(live)
    target = redacted_target(dsn)
    warehouse = Path(warehouse)
    try:
        duck = duckdb.connect(str(warehouse), read_only=True)
        duck.execute("set enable_progress_bar = false")
    except duckdb.Error as exc:
        raise PublishError(
            f"cannot open the warehouse {warehouse} read-only ({exc}); "
            "the previous publication is unchanged"
        ) from exc
    with duck, _connect(dsn, settings) as conn:
        _acquire_publish_lock(conn, settings)  # from here on, the staging schemas are ours
        try:
            _load_staging(conn, duck, live, settings, reader_password, warehouse, built_at, result)
            result.load_seconds = time.perf_counter() - started
            swap_started = time.perf_counter()
            _swap(conn, live, settings, result, log)
            result.swap_seconds = time.perf_counter() - swap_started
        except PublishError:
            _drop_staging(conn, live)
            raise
        except psycopg.OperationalError as exc:
            _drop_staging(conn, live)
            raise PublishError(
                f"publishing to PostgreSQL at {target} failed: {_scrub(str(exc), dsn)}; "
                "the previous publication is unchanged"
            ) from None
        except Exception as exc:
            _drop_staging(conn, live)
            raise PublishError(
                f"publishing to PostgreSQL at {target} failed ({type(exc).__name__}: "
                f"{_scrub(str(exc), dsn)}); the previous publication is unchanged"
            ) from exc
    result.seconds = time.perf_counter() - started
    return result


def _acquire_publish_lock(conn, settings: PostgresPublishSettings) -> None:
    key = f"channelhouse-publish:{settings.schema_prefix}"
    ((ok,),) = conn.execute("select pg_try_advisory_lock(hashtext(%s))", [key]).fetchall()
    conn.commit()
    if not ok:
        raise PublishError(
            "another publish into the same PostgreSQL schemas is running; "
            "the previous publication is unchanged"
        )


def _drop_staging(conn, live: dict[str, str]) -> None:
    """Best effort: remove this publish's staging schemas after a failure."""
    try:
        if conn.closed:
            return
        conn.rollback()
        with conn.transaction():
            for name in live.values():
                conn.execute(
                    sql.SQL("drop schema if exists {} cascade").format(
                        _ident(name + STAGING_SUFFIX)
                    )
                )
    except psycopg.Error:
        pass  # the next publish cleans it up


def _load_staging(conn, duck, live, settings, reader_password, warehouse, built_at, result):
    role = _ident(settings.reader_role)
    tables = public_tables(duck, list(live))
    with conn.transaction(), conn.cursor() as cur:
        # leftovers of a crashed publish
        for name in live.values():
            for suffix in (STAGING_SUFFIX, OLD_SUFFIX):
                cur.execute(
                    sql.SQL("drop schema if exists {} cascade").format(_ident(name + suffix))
                )
        _ensure_role(cur, settings, reader_password)
        for schema, pg_schema in live.items():
            staging = _ident(pg_schema + STAGING_SUFFIX)
            cur.execute(sql.SQL("create schema {}").format(staging))
            cur.execute(
                sql.SQL("comment on schema {} is {}").format(
                    staging,
                    sql.Literal(
                        f"ChannelHouse publication of DuckDB schema {schema} "
                        f"(built {built_at.isoformat(timespec='seconds')})"
                    ),
                )
            )
            cur.execute(sql.SQL("grant usage on schema {} to {}").format(staging, role))
        for schema, table in tables:
            staging_name = live[schema] + STAGING_SUFFIX
            columns = duck.execute(
                "select column_name, data_type from duckdb_columns() "
                "where schema_name = ? and table_name = ? order by column_index",
                [schema, table],
            ).fetchall()
            qualified = _ident(staging_name, table)
            cur.execute(
                sql.SQL("create table {} ({})").format(
                    qualified,
                    sql.SQL(", ").join(
                        sql.SQL("{} {}").format(_ident(c), sql.SQL(pg_type(t))) for c, t in columns
                    ),
                )
            )
            copy_sql = sql.SQL("copy {} ({}) from stdin (format csv)").format(
                qualified, sql.SQL(", ").join(_ident(c) for c, _ in columns)
            )
            sent = 0
            with cur.copy(copy_sql) as copy:
                for batch in _batches(duck, schema, table, settings.batch_rows):
                    if batch.num_rows:
                        copy.write(_csv_bytes(batch))
                        sent += batch.num_rows
            ((expected,),) = duck.execute(f'select count(*) from "{schema}"."{table}"').fetchall()
            cur.execute(sql.SQL("select count(*) from {}").format(qualified))
            ((loaded,),) = cur.fetchall()
            if not (loaded == sent == expected):
                raise PublishError(
                    f"{schema}.{table}: {expected} rows in DuckDB, {sent} sent, {loaded} "
                    "loaded into PostgreSQL; the previous publication is unchanged"
                )
            cur.execute(
                sql.SQL("comment on table {} is {}").format(
                    qualified,
                    sql.Literal(
                        f"ChannelHouse: {schema}.{table} from {warehouse.name}, "
                        f"built {built_at.isoformat(timespec='seconds')}, {loaded} rows"
                    ),
                )
            )
            cur.execute(sql.SQL("grant select on {} to {}").format(qualified, role))
            cur.execute(sql.SQL("analyze {}").format(qualified))
            result.rows[f"{live[schema]}.{table}"] = loaded


def _swap(conn, live: dict[str, str], settings: PostgresPublishSettings, result, log) -> None:
    pause = 0.5
    for attempt in range(1, settings.swap_attempts + 1):
        result.swap_attempts = attempt
        try:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(
                    sql.SQL("set local lock_timeout = {}").format(
                        sql.Literal(int(settings.lock_timeout_seconds * 1000))
                    )
                )
                cur.execute(
                    "select nspname from pg_namespace where nspname = any(%s)",
                    [list(live.values())],
                )
                existing = {name for (name,) in cur.fetchall()}
                for name in live.values():
                    if name in existing:
                        cur.execute(
                            sql.SQL("alter schema {} rename to {}").format(
                                _ident(name), _ident(name + OLD_SUFFIX)
                            )
                        )
                    cur.execute(
                        sql.SQL("alter schema {} rename to {}").format(
                            _ident(name + STAGING_SUFFIX), _ident(name)
                        )
                    )
                for name in live.values():
                    if name in existing:
                        cur.execute(
                            sql.SQL("drop schema {} cascade").format(_ident(name + OLD_SUFFIX))
                        )
            return
        except psycopg.errors.LockNotAvailable:
            if log is not None:
                log(
                    f"swap attempt {attempt}/{settings.swap_attempts}: BI queries held the "
                    f"previous tables for more than {settings.lock_timeout_seconds}s"
                )
            if attempt == settings.swap_attempts:
                raise PublishError(
                    f"the swap waited {settings.swap_attempts} times "
                    f"{settings.lock_timeout_seconds}s for queries reading the previous "
                    "publication (long BI queries?) and gave up; the previous publication "
                    "is unchanged: retry the asset, or raise serving.postgres.lock_timeout_seconds"
                ) from None
            time.sleep(pause)
            pause *= 2
