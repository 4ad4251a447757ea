"""The read-only DuckDB serving copy of the warehouse.

BI tools open ``<data_dir>/serving/warehouse.duckdb`` (read-only) instead of the warehouse
that dbt writes: they never hold the build's lock and never see a half-built table. After
each successful build, :func:`refresh_serving_copy` writes a NEW file next to the copy with
only the public schemas' tables (plus ``serving.manifest``), checkpoints and closes it, then
``os.replace``-s it over the old copy: atomic on POSIX, and a BI session that still has the
old file open keeps reading the old inode until it reconnects.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

MANIFEST_SCHEMA = "serving"
MANIFEST_TABLE = "manifest"


class ServingCopyError(RuntimeError):
    """The serving copy could not be refreshed (the previous copy is unchanged)."""


@dataclass
class CopyResult:
    path: Path
    rows: dict[str, int] = field(default_factory=dict)  # "schema.table" -> row count
    seconds: float = 0.0
    size_bytes: int = 0
    built_at: datetime | None = None


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def public_tables(con, schemas: list[str], catalog: str | None = None) -> list[tuple[str, str]]:
    """(schema, table) of the base tables in ``schemas`` (in that order, tables sorted)."""
    query = (
        "select schema_name, table_name from duckdb_tables() "
        "where schema_name in (select unnest(?)) and not temporary"
    )
    params: list = [schemas]
    if catalog is not None:
        query += " and database_name = ?"
        params.append(catalog)
    found = con.execute(query, params).fetchall()
    order = {name: i for i, name in enumerate(schemas)}
    return sorted(found, key=lambda st: (order[st[0]], st[1]))


def _remove(path: Path) -> None:
    for candidate in (path, path.with_name(path.name + ".wal")):
        candidate.unlink(missing_ok=True)


def refresh_serving_copy(source: Path | str, target: Path | str, schemas: list[str]) -> CopyResult:
    """Rebuild the serving copy ``target`` from the warehouse ``source`` (opened read-only).

    Returns the row count per ``schema.table``. Any failure leaves the previous copy intact
    and removes the temporary file.
    """
    source, target = Path(source), Path(target)
    if not source.is_file():
        raise ServingCopyError(
            f"the warehouse {source} does not exist: build it (dbt) before the serving copy; "
            "the previous serving copy is unchanged"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    started = time.perf_counter()
    built_at = datetime.now(UTC)
    rows: dict[str, int] = {}
    try:
        with duckdb.connect(str(tmp)) as con:
            try:
                con.execute(f"attach {_sql_str(str(source))} as src (read_only)")
            except duckdb.Error as exc:
                raise ServingCopyError(
                    f"cannot open the warehouse {source} read-only ({exc}); is a build still "
                    "writing it? The previous serving copy is unchanged"
                ) from exc
            tables = public_tables(con, schemas, catalog="src")
            # names fully qualified: the file's catalog may share a name with a schema
            ((catalog,),) = con.execute("select current_database()").fetchall()
            db = _q(catalog)
            con.execute("begin transaction")
            for schema in dict.fromkeys(s for s, _ in tables):
                con.execute(f"create schema {db}.{_q(schema)}")
            for schema, table in tables:
                name = f"{_q(schema)}.{_q(table)}"
                con.execute(f"create table {db}.{name} as from src.{name}")
                ((rows[f"{schema}.{table}"],),) = con.execute(
                    f"select count(*) from {db}.{name}"
                ).fetchall()
            manifest = f"{db}.{MANIFEST_SCHEMA}.{MANIFEST_TABLE}"
            con.execute(f"create schema {db}.{MANIFEST_SCHEMA}")
            con.execute(
                f"create table {manifest} (schema_name varchar, table_name varchar, "
                "row_count bigint, built_at timestamptz, source_path varchar)"
            )
            con.executemany(
                f"insert into {manifest} values (?, ?, ?, ?, ?)",
                [
                    (*key.split(".", 1), count, built_at, str(source.resolve()))
                    for key, count in rows.items()
                ],
            )
            con.execute("commit")
            con.execute("detach src")
            con.execute("checkpoint")
        os.replace(tmp, target)
    except BaseException as exc:
        _remove(tmp)
        if isinstance(exc, ServingCopyError | KeyboardInterrupt | SystemExit):
            raise
        raise ServingCopyError(
            f"refreshing the serving copy {target} failed ({type(exc).__name__}: {exc}); "
            "the previous serving copy is unchanged"
        ) from exc
    finally:
        _remove(tmp.with_name(tmp.name + ".wal"))
    return CopyResult(
        path=target,
        rows=rows,
        seconds=time.perf_counter() - started,
        size_bytes=target.stat().st_size,
        built_at=built_at,
    )


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
