"""Serving: the read-only DuckDB serving copy and the PostgreSQL publication, against real
DuckDB files and the real PostgreSQL on 127.0.0.1:5432 (own database, dropped at the end)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import psycopg
import pytest

from orchestration.defs.serving import (
    COPY_KEY,
    POSTGRES_RESOURCE_KEY,
    PUBLICATION_KEY,
    public_mart_keys,
    serving_assets,
    serving_resources,
)
from orchestration.lib.resources import WarehouseResource
from serving.copy import ServingCopyError, refresh_serving_copy
from serving.postgres import PublishError, publish
from serving.settings import PostgresPublishSettings, ServingSettings

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
PUBLIC = ["core", "analytics", "ml", "alerts"]


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg() -> Iterator[dict[str, str]]:
    """A fresh database and a unique reader role, both dropped afterwards."""
    suffix = uuid.uuid4().hex[:10]
    db, role = f"ch_serving_test_{suffix}", f"ch_reader_test_{suffix}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'create database "{db}"')
    yield {"db": db, "role": role, "dsn": f"host=127.0.0.1 port=5432 user=postgres dbname={db}"}
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{db}" with (force)')
        conn.execute(f'drop role if exists "{role}"')


def pg_settings(pg, prefix: str, **kw) -> PostgresPublishSettings:
    return PostgresPublishSettings(schema_prefix=prefix, reader_role=pg["role"], **kw)


def q(dsn: str, query: str, *params) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(query, params or None)
        return cur.fetchall() if cur.description else []


def make_warehouse(path: Path, rows: int = 1000, version: int = 1) -> Path:
    """A small warehouse: public marts in core/analytics/ml/alerts, internal staging and
    intermediate tables; ``version`` changes the content (and the row count)."""
    with duckdb.connect(str(path)) as con:
        for schema in ("core", "analytics", "ml", "alerts", "staging", "intermediate"):
            con.execute(f"create schema if not exists {schema}")
            con.execute(f"create or replace table {schema}.dummy as select 1 as x")
        n = rows + version  # versions differ in row count and in content
        con.execute(
            f"create or replace table core.fct_orders as select i as order_id, "
            f"{version} as version, i * {version} as amount from range({n}) t(i)"
        )
        con.execute(
            f"create or replace table analytics.daily_sales as select i as day, "
            f"{version} * 10 as units from range({n}) t(i)"
        )
        con.execute(f"create or replace table ml.demand_forecast as select {version} as v")
        con.execute("create or replace table alerts.alerts as select 'open' as status")
        con.execute("create or replace table staging.stg_secret as select 'raw pii' as email")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the serving copy -------------------------------------------------------------------------


def test_serving_copy_holds_only_the_public_schemas_and_a_manifest(tmp_path):
    source = make_warehouse(tmp_path / "warehouse.duckdb", rows=500)
    target = tmp_path / "serving" / "warehouse.duckdb"
    result = refresh_serving_copy(source, target, PUBLIC)
    assert result.rows["core.fct_orders"] == 501
    assert result.rows["analytics.daily_sales"] == 501
    assert result.size_bytes == target.stat().st_size > 0
    with duckdb.connect(str(target), read_only=True) as con:
        schemas = {s for (s,) in con.sql("select distinct schema_name from duckdb_tables()")
                   .fetchall()}  # fmt: skip
        assert schemas == {"core", "analytics", "ml", "alerts", "serving"}
        manifest = con.sql(
            "select schema_name || '.' || table_name, row_count, source_path, built_at "
            "from serving.manifest"
        ).fetchall()
        assert {name: rows for name, rows, _, _ in manifest} == result.rows
        assert {src for _, _, src, _ in manifest} == {str(source.resolve())}
        assert {b for *_, b in manifest} == {result.built_at}
        assert con.sql("select sum(amount) from core.fct_orders").fetchall() == [(sum(range(501)),)]
    assert [p.name for p in target.parent.iterdir()] == ["warehouse.duckdb"]  # no temp file


def test_a_reader_holding_the_old_copy_keeps_reading_and_sees_new_data_on_reconnect(tmp_path):
    source = make_warehouse(tmp_path / "warehouse.duckdb", rows=100, version=1)
    target = tmp_path / "serving.duckdb"
    refresh_serving_copy(source, target, PUBLIC)
    count = "select count(*), max(version) from core.fct_orders"
    # a BI session in another process holds the copy open while the copy is replaced
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys\n"
            f"con = duckdb.connect({str(target)!r}, read_only=True)\n"
            f"print(con.sql({count!r}).fetchall(), flush=True)\n"
            "sys.stdin.readline()\n"
            f"print(con.sql({count!r}).fetchall(), flush=True)\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "[(101, 1)]"
        make_warehouse(source, rows=100, version=2)
        result = refresh_serving_copy(source, target, PUBLIC)  # does not wait for the reader
        assert result.rows["core.fct_orders"] == 102
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == "[(101, 1)]"  # the old inode, still whole
    finally:
        reader.communicate(timeout=30)
    assert reader.returncode == 0
    with duckdb.connect(str(target), read_only=True) as con:  # reconnect: the new version
        assert con.sql(count).fetchall() == [(102, 2)]


def test_a_failed_refresh_leaves_the_previous_copy_and_no_temp_file(tmp_path):
    source = make_warehouse(tmp_path / "warehouse.duckdb", rows=100, version=1)
    target = tmp_path / "serving" / "warehouse.duckdb"
    refresh_serving_copy(source, target, PUBLIC)
    before = target.read_bytes()
    # a build still writing the warehouse (another process holds its write lock)
    make_warehouse(source, rows=100, version=2)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys\ncon = duckdb.connect({str(source)!r})\n"
            "print('locked', flush=True)\nsys.stdin.readline()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ServingCopyError) as err:
            refresh_serving_copy(source, target, PUBLIC)
    finally:
        holder.communicate("\n", timeout=30)
    assert "cannot open the warehouse" in str(err.value)
    assert "previous serving copy is unchanged" in str(err.value)
    assert target.read_bytes() == before
    assert [p.name for p in target.parent.iterdir()] == ["warehouse.duckdb"]
    # a source that is not a DuckDB file at all
    broken = tmp_path / "broken.duckdb"
    broken.write_bytes(b"not a database" * 1000)
    with pytest.raises(ServingCopyError, match="previous serving copy is unchanged"):
        refresh_serving_copy(broken, target, PUBLIC)
    assert target.read_bytes() == before
    assert [p.name for p in target.parent.iterdir()] == ["warehouse.duckdb"]
    with duckdb.connect(str(target), read_only=True) as con:
        assert con.sql("select max(version) from core.fct_orders").fetchall() == [(1,)]


# -- PostgreSQL -------------------------------------------------------------------------------

TYPES_SQL = """
create type mood as enum ('sad', 'happy');
create table core.types as select * from (values
  (true, 1::tinyint, 2::smallint, 3::integer, 9223372036854775807::bigint,
   170141183460469231731687303715884105727::hugeint, 18446744073709551615::ubigint,
   0.1::double, 1.5::float, 1234.5678::decimal(18,4), 1.234::decimal(4,3),
   12345678.0123456789::decimal(18,10), 'plain', date '2024-02-29',
   timestamp '2024-03-01 12:34:56.789012', '2024-03-01 12:34:56.123456789'::timestamp_ns,
   timestamptz '2024-03-01 12:34:56.5+02:00', time '23:59:59.999999', interval '1 day 2 hours',
   uuid '2d1c6a4e-6c39-4b1a-9b5e-0b1a2c3d4e5f', '\\x00\\xFFab'::blob, ['a', 'b,"c"'],
   {'k': 1, 's': 'x'}, 'happy'::mood, null),
  (false, (-128)::tinyint, (-32768)::smallint, (-2147483648)::integer, (-9223372036854775808)::bigint,
   (-1)::hugeint, 0::ubigint, 1.0/3, (-0.0)::float, (-0.0001)::decimal(18,4), (-9.999)::decimal(4,3),
   0::decimal(18,10), 'quote " comma , newline
 tab	 backslash \\ unicode é 😀', date '1970-01-01', timestamp '1999-12-31 23:59:59',
   '1900-01-01 00:00:00'::timestamp_ns, timestamptz '1970-01-01 00:00:00+00', time '00:00:00',
   interval '-3 months', null, ''::blob, [], {'k': null, 's': ''}, 'sad'::mood, null),
  (null, null, null, null, null, null, null, 1e-300, null, null, null, null, '', null, null,
   null, null, null, null, null, null, null, null, null, null),
  (null, null, null, null, null, null, null, 'inf'::double, null, null, null, null, null, null,
   null, null, null, null, null, null, null, [null], null, null, null),
  (null, null, null, null, null, null, null, '-inf'::double, null, null, null, null, null, null,
   null, null, null, null, null, null, null, null, null, null, null),
  (null, null, null, null, null, null, null, 'nan'::double, null, null, null, null, null, null,
   null, null, null, null, null, null, null, null, null, null, null),
  (null, null, null, null, null, null, null, 1.7976931348623157e308, null, null, null, null,
   null, null, null, null, null, null, null, null, null, null, null, null, null)
) t(b, ti, si, i, bi, hi, ubi, d, f, dec, dec_small, dec_wide, s, dt, ts, ts_ns, tstz, tm,
    iv, id, bl, lst, st, en, nul)
"""

EXPECTED_PG_TYPES = {
    "b": "boolean",
    "ti": "smallint",
    "si": "smallint",
    "i": "integer",
    "bi": "bigint",
    "hi": "numeric(39,0)",
    "ubi": "numeric(20,0)",
    "d": "double precision",
    "f": "real",
    "dec": "numeric(18,4)",
    "dec_small": "numeric(4,3)",
    "dec_wide": "numeric(18,10)",
    "s": "text",
    "dt": "date",
    "ts": "timestamp without time zone",
    "ts_ns": "timestamp without time zone",
    "tstz": "timestamp with time zone",
    "tm": "time without time zone",
    "iv": "interval",
    "id": "uuid",
    "bl": "bytea",
    "lst": "jsonb",
    "st": "jsonb",
    "en": "text",
    "nul": "text",
}


def _same(duck_value, pg_value, column: str) -> bool:
    if duck_value is None or pg_value is None:
        return duck_value is None and pg_value is None
    if column == "d" and duck_value != duck_value:  # NaN
        return pg_value != pg_value
    if column == "hi" or column == "ubi":
        return Decimal(duck_value) == pg_value
    if column == "bl":
        return bytes(duck_value) == bytes(pg_value)
    return duck_value == pg_value


def test_types_round_trip_exactly(pg, tmp_path):
    path = tmp_path / "types.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema core")
        for statement in TYPES_SQL.split(";"):
            con.execute(statement)
        # PostgreSQL keeps microseconds: nanoseconds round as DuckDB's own cast rounds them
        duck_rows = con.sql(
            "select * replace (ts_ns::timestamp as ts_ns) from core.types order by d nulls first"
        ).fetchall()
        columns = [c for (c,) in con.sql("select column_name from (describe core.types)")
                   .fetchall()]  # fmt: skip
    settings = pg_settings(pg, "types_")
    result = publish(path, pg["dsn"], ["core"], settings)
    assert result.rows == {"types_core.types": len(duck_rows)}
    types = dict(
        q(
            pg["dsn"],
            "select attname, format_type(atttypid, atttypmod) from pg_attribute "
            "where attrelid = 'types_core.types'::regclass and attnum > 0 order by attnum",
        )
    )
    assert types == EXPECTED_PG_TYPES
    pg_rows = q(
        pg["dsn"], f"select {', '.join(columns)} from types_core.types order by d nulls first"
    )
    assert len(pg_rows) == len(duck_rows)
    for duck_row, pg_row in zip(duck_rows, pg_rows, strict=True):
        for column, a, b in zip(columns, duck_row, pg_row, strict=True):
            if column == "iv":
                continue  # compared as text below
            assert _same(a, b, column), f"{column}: duckdb {a!r} != postgres {b!r}"
    # intervals (months are not days), texts with special characters, empty string vs NULL
    assert q(
        pg["dsn"], "select iv::text from types_core.types where iv is not null order by 1"
    ) == [
        ("-3 mons",),
        ("1 day 02:00:00",),
    ]
    assert q(pg["dsn"], "select count(*) from types_core.types where s = ''") == [(1,)]
    assert q(pg["dsn"], "select count(*) from types_core.types where s is null") == [(4,)]
    assert q(
        pg["dsn"], "select lst::text from types_core.types where lst is not null order by 1"
    ) == [
        ('["a", "b,\\"c\\""]',),
        ("[]",),
        ("[null]",),
    ]
    assert q(pg["dsn"], "select st->>'k', st->>'s' from types_core.types where st is not null "
             "order by 1 nulls first") == [(None, ""), ("1", "x")]  # fmt: skip
    comment = q(pg["dsn"], "select obj_description('types_core.types'::regclass, 'pg_class')")
    assert "core.types from types.duckdb" in comment[0][0]
    assert result.built_at.isoformat(timespec="seconds") in comment[0][0]


def test_republish_replaces_the_data_and_cleans_a_crashed_publish(pg, tmp_path):
    settings = pg_settings(pg, "repub_")
    v1 = make_warehouse(tmp_path / "v1.duckdb", rows=50, version=1)
    v2 = make_warehouse(tmp_path / "v2.duckdb", rows=70, version=2)
    publish(v1, pg["dsn"], PUBLIC, settings)
    assert q(pg["dsn"], "select count(*), max(version) from repub_core.fct_orders") == [(51, 1)]
    # what a publish that crashed during the load / swap leaves behind
    for leftover in ("repub_core__staging", "repub_ml__old"):
        q(pg["dsn"], f"create schema {leftover}")
        q(pg["dsn"], f"create table {leftover}.junk as select 1 as x")
    result = publish(v2, pg["dsn"], PUBLIC, settings)
    assert result.rows["repub_core.fct_orders"] == 72
    assert q(pg["dsn"], "select count(*), max(version) from repub_core.fct_orders") == [(72, 2)]
    assert q(pg["dsn"], "select max(v) from repub_ml.demand_forecast") == [(2,)]
    schemas = {s for (s,) in q(pg["dsn"], "select nspname from pg_namespace "
                               "where nspname like 'repub%'")}  # fmt: skip
    assert schemas == {"repub_core", "repub_analytics", "repub_ml", "repub_alerts"}
    tables = {t for (t,) in q(pg["dsn"], "select table_schema || '.' || table_name from "
                              "information_schema.tables where table_schema like 'repub%'")}  # fmt: skip
    assert "repub_core.fct_orders" in tables and "repub_core.dummy" in tables
    assert not any("stg_" in t or "staging" in t or "junk" in t for t in tables)


def test_a_reader_querying_during_publishes_always_sees_one_complete_version(pg, tmp_path):
    settings = pg_settings(pg, "live_")
    rows = 150_000
    versions = {v: make_warehouse(tmp_path / f"v{v}.duckdb", rows=rows, version=v) for v in (1, 2)}
    expected = {
        (rows + v, v, sum(i * v for i in range(rows + v))) for v in (1, 2)
    }  # count, version, checksum of each complete version
    publish(versions[1], pg["dsn"], PUBLIC, settings)
    seen: list[tuple] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            with psycopg.connect(pg["dsn"], autocommit=True) as conn:
                while not stop.is_set():
                    seen.append(
                        conn.execute(
                            "select count(*), max(version), sum(amount) from live_core.fct_orders"
                        ).fetchone()
                    )
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        published = []
        for v in (2, 1, 2, 1):
            publish(versions[v], pg["dsn"], PUBLIC, settings)
            published.append(v)
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not errors, f"the reader failed: {errors[0]!r}"
    observed = {(c, v, int(s)) for c, v, s in seen}
    assert observed <= expected, f"partial or mixed versions: {observed - expected}"
    assert observed == expected  # both versions were seen
    assert len(seen) > 20
    assert q(pg["dsn"], "select max(version) from live_core.fct_orders") == [(published[-1],)]


def test_the_reader_role_can_select_but_not_write_or_create(pg, tmp_path, monkeypatch):
    monkeypatch.setenv("CH_TEST_READER_PASSWORD", "reader-pw-123")
    settings = pg_settings(pg, "ro_", reader_password_env="CH_TEST_READER_PASSWORD")
    publish(make_warehouse(tmp_path / "w.duckdb", rows=10), pg["dsn"], PUBLIC, settings,
            reader_password="reader-pw-123")  # fmt: skip
    assert q(pg["dsn"], "select rolcanlogin, rolsuper, rolcreatedb, rolcreaterole from pg_roles "
             "where rolname = %s", pg["role"]) == [(True, False, False, False)]  # fmt: skip
    # a SCRAM verifier is stored, never the text (publish sends only the verifier it computed)
    [(stored,)] = q(pg["dsn"], "select rolpassword from pg_authid where rolname = %s", pg["role"])
    assert stored.startswith("SCRAM-SHA-256$4096:") and "reader-pw-123" not in stored
    reader_dsn = (
        f"host=127.0.0.1 port=5432 user={pg['role']} password=reader-pw-123 dbname={pg['db']}"
    )
    assert q(reader_dsn, "select count(*) from ro_core.fct_orders") == [(11,)]
    assert q(reader_dsn, "select count(*) from ro_alerts.alerts") == [(1,)]
    forbidden = [
        "insert into ro_core.fct_orders values (1, 1, 1)",
        "update ro_core.fct_orders set amount = 0",
        "delete from ro_core.fct_orders",
        "truncate ro_core.fct_orders",
        "drop table ro_core.fct_orders",
        "create table ro_core.mine (x int)",
        "create table public.mine (x int)",
        "create schema mine",
        "alter schema ro_core rename to stolen",
    ]
    for statement in forbidden:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            q(reader_dsn, statement)
    assert q(pg["dsn"], "select count(*) from ro_core.fct_orders") == [(11,)]


def test_the_swap_gives_up_on_a_long_bi_query_and_keeps_the_previous_publication(pg, tmp_path):
    settings = pg_settings(pg, "lock_", lock_timeout_seconds=0.2, swap_attempts=2)
    publish(make_warehouse(tmp_path / "v1.duckdb", rows=10, version=1), pg["dsn"], PUBLIC,
            settings)  # fmt: skip
    v2 = make_warehouse(tmp_path / "v2.duckdb", rows=10, version=2)
    with psycopg.connect(pg["dsn"]) as bi:  # a BI transaction still reading the old table
        bi.execute("select count(*) from lock_core.fct_orders").fetchall()
        started = time.perf_counter()
        with pytest.raises(PublishError) as err:
            publish(v2, pg["dsn"], PUBLIC, settings)
        assert time.perf_counter() - started < 10
        assert "gave up" in str(err.value) and "previous publication is unchanged" in str(err.value)
        assert bi.execute("select max(version) from lock_core.fct_orders").fetchall() == [(1,)]
    assert q(pg["dsn"], "select max(version) from lock_core.fct_orders") == [(1,)]
    assert q(pg["dsn"], "select nspname from pg_namespace where nspname like 'lock%' "
             "order by 1") == [("lock_alerts",), ("lock_analytics",), ("lock_core",), ("lock_ml",)]  # fmt: skip
    publish(v2, pg["dsn"], PUBLIC, settings)  # once the query is done, the swap goes through
    assert q(pg["dsn"], "select max(version) from lock_core.fct_orders") == [(2,)]


# -- Dagster assets ---------------------------------------------------------------------------


def _resources(warehouse: Path, settings: ServingSettings) -> dict:
    return {
        "warehouse": WarehouseResource(
            path=str(warehouse), data_dir=str(warehouse.parent), hash_salt="unused"
        ),
        **serving_resources(settings),
    }


def _config(data_dir: Path):
    from orchestration.config import parse_config
    from tests.conftest import sandbox_config_dict

    return parse_config(sandbox_config_dict(str(data_dir)), "test-config")


def test_the_assets_materialize_and_an_unreachable_postgres_fails_clearly(
    pg, tmp_path, monkeypatch
):
    (tmp_path / "data").mkdir()
    warehouse = make_warehouse(tmp_path / "data" / "warehouse.duckdb", rows=20)
    settings = ServingSettings(postgres=pg_settings(pg, "dg_", dsn_env="CH_TEST_PG_DSN"))
    config = _config(tmp_path / "data")
    assets = serving_assets(config.model_copy(update={"serving": settings}))
    assert [a.key for a in assets] == [COPY_KEY, PUBLICATION_KEY]
    deps = set(assets[0].asset_deps[COPY_KEY])
    assert dg.AssetKey(["core", "fct_orders"]) in deps
    assert {dg.AssetKey(["analytics", "daily_sales"]), dg.AssetKey(["ml", "demand_forecast"]),
            dg.AssetKey(["alerts", "alerts"])} <= deps  # fmt: skip
    assert deps == set(public_mart_keys(settings))
    # the publication reads the serving copy (the warehouse stays free for the next build)
    assert set(assets[1].asset_deps[PUBLICATION_KEY]) == {COPY_KEY}
    assert [a.key for a in serving_assets(config)] == [COPY_KEY]
    assert serving_resources(ServingSettings()) == {}
    assert set(serving_resources(settings)) == {POSTGRES_RESOURCE_KEY}

    monkeypatch.setenv("CH_TEST_PG_DSN", pg["dsn"])
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(assets, resources=_resources(warehouse, settings), instance=instance)
    assert result.success
    copy_meta = instance.get_latest_materialization_event(COPY_KEY).asset_materialization.metadata
    target = tmp_path / "data" / "serving" / "warehouse.duckdb"
    assert copy_meta["path"].value == str(target) and target.exists()
    assert copy_meta["dagster/row_count"].value == 21 + 21 + 1 + 1 + 4  # marts + 4 dummies
    assert copy_meta["file_size_bytes"].value == target.stat().st_size
    assert "| core.fct_orders | 21 |" in copy_meta["rows_per_table"].value
    pub = instance.get_latest_materialization_event(PUBLICATION_KEY).asset_materialization.metadata
    assert pub["target"].value == f"127.0.0.1:5432/{pg['db']}"
    assert "| dg_core.fct_orders | 21 |" in pub["rows_per_table"].value
    assert pub["seconds"].value > 0
    assert q(pg["dsn"], "select count(*) from dg_core.fct_orders") == [(21,)]

    # PostgreSQL down: the asset fails with one clear sentence, no password, nothing changed
    port = free_port()
    monkeypatch.setenv(
        "CH_TEST_PG_DSN",
        f"postgresql://postgres:sup3r-s3cret@127.0.0.1:{port}/{pg['db']}?connect_timeout=3",
    )
    make_warehouse(warehouse, rows=20, version=2)
    failed = dg.materialize(
        [assets[1]], resources=_resources(warehouse, settings), instance=instance,
        raise_on_error=False,
    )  # fmt: skip
    assert not failed.success
    [failure] = [e for e in failed.all_events if e.is_step_failure]
    message = failure.step_failure_data.user_failure_data.description
    assert message.startswith(f"PostgreSQL at 127.0.0.1:{port}/{pg['db']} is unreachable: ")
    assert message.endswith("the previous publication is unchanged")
    assert "sup3r-s3cret" not in str(failure.step_failure_data)
    assert q(pg["dsn"], "select count(*), max(version) from dg_core.fct_orders") == [(21, 1)]

    # the library says the same
    with pytest.raises(PublishError) as err:
        publish(warehouse, f"host=127.0.0.1 port={port} password=sup3r-s3cret dbname=x",
                PUBLIC, settings.postgres)  # fmt: skip
    assert f"PostgreSQL at 127.0.0.1:{port}/x is unreachable" in str(err.value)
    assert "sup3r-s3cret" not in str(err.value)


def test_the_demo_warehouse_publishes_every_public_mart(demo_warehouse, pg, tmp_path):
    source = Path(demo_warehouse.warehouse_path)
    copy = refresh_serving_copy(source, tmp_path / "serving.duckdb", PUBLIC)
    result = publish(source, pg["dsn"], PUBLIC, pg_settings(pg, "demo_"))
    print(
        f"demo serving copy: {sum(copy.rows.values())} rows in {copy.seconds:.2f}s; "
        f"publication: {sum(result.rows.values())} rows in {result.seconds:.2f}s "
        f"(swap {result.swap_seconds:.3f}s)"
    )
    with duckdb.connect(str(source), read_only=True) as con:
        expected = {}
        for schema, table in con.sql(
            "select schema_name, table_name from duckdb_tables() "
            "where schema_name in ('core', 'analytics', 'ml', 'alerts')"
        ).fetchall():
            ((n,),) = con.sql(f'select count(*) from "{schema}"."{table}"').fetchall()
            expected[f"{schema}.{table}"] = n
    assert copy.rows == expected
    assert {k.removeprefix("demo_"): v for k, v in result.rows.items()} == expected
    assert expected["core.fct_orders"] > 1000 and expected["analytics.daily_sales"] > 100
    published = dict(q(pg["dsn"], "select schemaname || '.' || relname, n_live_tup from "
                       "pg_stat_user_tables where schemaname like 'demo_%'"))  # fmt: skip
    assert set(published) == set(result.rows)
    revenue = q(pg["dsn"], "select round(sum(net_revenue_base), 2) from demo_analytics.daily_sales")
    with duckdb.connect(str(source), read_only=True) as con:
        assert con.sql("select round(sum(net_revenue_base), 2) from analytics.daily_sales"
                       ).fetchall() == revenue  # fmt: skip


def test_a_second_concurrent_publish_is_refused_and_leaves_the_first_alone(pg, tmp_path):
    settings = pg_settings(pg, "conc_")
    warehouse = make_warehouse(tmp_path / "w.duckdb", rows=10)
    publish(warehouse, pg["dsn"], PUBLIC, settings)
    with psycopg.connect(pg["dsn"], autocommit=True) as first:  # a publish holding its lock
        first.execute("select pg_advisory_lock(hashtext('channelhouse-publish:conc_'))")
        first.execute("create schema conc_core__staging")  # ...and loading its staging
        with pytest.raises(PublishError, match="another publish into the same PostgreSQL"):
            publish(warehouse, pg["dsn"], PUBLIC, settings)
        assert q(pg["dsn"], "select count(*) from pg_namespace "
                 "where nspname = 'conc_core__staging'") == [(1,)]  # fmt: skip
    assert q(pg["dsn"], "select count(*) from conc_core.fct_orders") == [(11,)]
