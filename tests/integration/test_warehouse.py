"""The dbt warehouse on a small simulated business: every model and test builds, an
incremental build after new partitions and late updates equals a full rebuild, the numbers
equal the sandbox's ground truth, and no e-mail or salt ends up where it should not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from extractors import fx
from extractors.registry import build_extractor, streams_for
from extractors.runner import SAFETY_LAG, run_stream
from orchestration.config import parse_config
from orchestration.defs.warehouse import DBT_DIR, WarehouseBuildConfig, dbt_vars, run_environment
from sandbox.server import SandboxServer, sandbox_environment
from tests.conftest import sandbox_config_dict

HISTORY_DAYS = 40
FIRST_BUILD_GAP = 10  # the first build sees the lake up to this many days ago
SALT = "test-salt-7f3a9c1e5b2d4f60"
DBT = str(Path(sys.executable).with_name("dbt"))
PUBLIC_SCHEMAS = ("core", "analytics")


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def sync(config, root: Path, now: datetime, days: list[date] | None = None) -> None:
    """Every incremental stream of every connection over ``days`` (one window per stream),
    or, without days, every snapshot stream and the exchange rates."""
    env = sandbox_environment()
    for conn in config.connections:
        secrets = {name: env[var] for name, var in conn.secrets.items()}
        extractor = build_extractor(conn, secrets, sandbox_url=config.sandbox.url)
        for stream in streams_for(conn.channel).values():
            if stream.incremental == (days is not None):
                run_stream(extractor, stream.name, root, days=days, now=now)
    if days is None:
        fx.run_fx(config, root, now=now)


def dbt(
    config,
    warehouse: Path,
    target: Path,
    *args: str,
    salt: str = SALT,
    run_overrides: dict[str, str] | None = None,
    **var_overrides,
):
    """``dbt <args>`` as Dagster runs it: from dbt_project/, vars from the config, the run's
    own values (today, the reconciliation window) in the environment."""
    run = WarehouseBuildConfig(full_refresh="--full-refresh" in args)
    variables = {**dbt_vars(config), **var_overrides}
    env = {
        **os.environ,
        **run_environment(config, run),
        **(run_overrides or {}),
        "CHANNELHOUSE_DATA_DIR": str(config.data_dir.resolve()),
        "CHANNELHOUSE_WAREHOUSE": str(warehouse),
        "CHANNELHOUSE_HASH_SALT": salt,
        "DBT_LOG_PATH": str(target / "logs"),
    }
    return subprocess.run(
        [DBT, *args, "--vars", json.dumps(variables), "--target-path", str(target)],
        cwd=DBT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def assert_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


@pytest.fixture(scope="module")
def built(tmp_path_factory, sandbox: SandboxServer):
    """One lake, three builds: A full at day -10, A incremental after the rest of the history
    and late refunds, B full-refresh over the same final lake."""
    mp = pytest.MonkeyPatch()  # the paths come from the config and dbt()'s environment only
    for name in ("CHANNELHOUSE_DATA_DIR", "CHANNELHOUSE_WAREHOUSE", "CHANNELHOUSE_HASH_SALT"):
        mp.delenv(name, raising=False)
    # The sandbox's clock stands still, so every extraction sees the same state of the
    # business (the truth test below accounts for the records modified after the windows end).
    now = datetime.now(UTC) - timedelta(minutes=3)
    mp.setattr(sandbox.state, "clock", lambda: now)
    root = tmp_path_factory.mktemp("warehouse")
    raw = sandbox_config_dict(str(root / "data"), history_days=HISTORY_DAYS)
    raw["sandbox"] = {"port": sandbox.port}
    config = parse_config(raw, "test")
    lake = config.data_dir
    days = _days(config.sync.history_start, now.date())
    sync(config, lake, now, days[:-FIRST_BUILD_GAP])
    sync(config, lake, now)
    a, b = root / "a.duckdb", root / "b.duckdb"
    first = dbt(config, a, root / "target_a1", "build")
    # later: the schedule's overlapping windows, then refunds of older orders landing today
    sync(config, lake, now, days[-FIRST_BUILD_GAP - 2 :])
    business = sandbox.state.business
    refund_time = now - timedelta(minutes=10)
    late = {
        account: business.apply_late_update(account, 3, refund_time, min_age_days=20)
        for account in ("amazon_eu", "shopify_us", "walmart_us")
    }
    sync(config, lake, now, days[-1:])
    incremental = dbt(config, a, root / "target_a2", "build")
    full = dbt(config, b, root / "target_b", "build", "--full-refresh")
    yield {
        "config": config,
        "a": a,
        "b": b,
        "root": root,
        "now": now,
        "late": late,
        "results": (first, incremental, full),
    }
    mp.undo()


def test_dbt_build_passes_every_model_and_test(built):
    for result in built["results"]:
        assert_ok(result)
    summary = built["results"][1].stdout
    assert "ERROR=0" in summary and "SKIP=0" in summary
    run = json.loads((built["root"] / "target_a2" / "run_results.json").read_text())
    kinds = {r["unique_id"].split(".")[0] for r in run["results"]}
    assert {"model", "test", "seed", "unit_test"} <= kinds
    tests = [r for r in run["results"] if r["unique_id"].startswith("test.")]
    assert len(tests) > 50 and all(r["status"] == "pass" for r in tests)
    assert any("reconcile_with_the_lake" in r["unique_id"] for r in tests)


NO_EVENTS_NO_ROWS = {
    "sessions", "cart_abandonment", "cart_daily", "cart_products", "page_views", "page_daily", "funnel_timing",
    "experiment_exposures", "experiment_units",
    # no price drop, restock or new listing within this lake's 40 days (the mart's dbt unit
    # test and tests/alerting/test_alerting_watch.py have them)
    "price_and_stock_events",
    # reviews come from inbox files, which this lake has none of (the mart's dbt unit test has)
    "review_daily",
}  # fmt: skip


def test_connection_usage_sums_the_record_of_every_stream_run(built):
    """Every extraction of the fixture's syncs went through run_stream, which appended its
    usage record: the mart's per-connection totals equal the records' in the lake."""
    lake = built["config"].data_dir
    with duckdb.connect(str(built["b"]), read_only=True) as con:
        got = con.execute(
            "select connection_name, sum(runs), sum(requests), sum(rows_landed) "
            "from analytics.connection_usage group by 1 order by 1"
        ).fetchall()
        want = con.execute(
            "select connection, count(*), sum(requests), sum(rows_landed) from read_parquet("
            f"'{lake}/raw/channel=usage/connection=*/entity=stream_runs/date=*/*.parquet', "
            "hive_partitioning = true) group by 1 order by 1"
        ).fetchall()
    assert got == want
    apis = {c.name for c in built["config"].connections}
    # the exchange rates' runs count too (the ECB feed's, the rates file's)
    assert {row[0] for row in got} == apis | {"ecb", "file"}
    assert all(requests > 0 and rows > 0 for name, _, requests, rows in got if name in apis)


def _tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    return con.execute(
        "select schema_name, table_name from duckdb_tables() "
        f"where schema_name in {PUBLIC_SCHEMAS} and database_name = current_database() "
        "order by all"
    ).fetchall()


def test_incremental_build_equals_a_full_rebuild(built):
    con = duckdb.connect(str(built["a"]), read_only=True)
    con.execute(f"attach '{built['b']}' as full_rebuild (read_only)")
    tables = _tables(con)
    assert len(tables) == 36  # 10 core marts, 26 analytics marts
    for schema, table in tables:
        rows = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
        # this lake has no storefront events (the inbox tests have them)
        assert rows > 0 or table in NO_EVENTS_NO_ROWS, f"{schema}.{table} is empty"
        for left, right in (("", "full_rebuild."), ("full_rebuild.", "")):
            diff = con.execute(
                f'select count(*) from (select * from {left}"{schema}"."{table}" '
                f'except all select * from {right}"{schema}"."{table}")'
            ).fetchone()[0]
            assert diff == 0, f"{schema}.{table}: {diff} rows differ ({left or 'incremental'})"
    # the late refunds reached the incremental tables
    refunded = con.execute(
        "select count(*) from core.fct_orders where order_status = 'refunded' "
        "and source_updated_at > now() - interval 1 hour and ordered_at < now() - interval 20 day"
    ).fetchone()[0]
    assert refunded >= sum(len(v) for v in built["late"].values()) - 3  # Amazon: 48 h lag


def _warehouse_totals(path: Path) -> pl.DataFrame:
    con = duckdb.connect(str(path), read_only=True)
    return con.sql(
        """
        select connection_name as account, storefront_id, cast(ordered_at as date) as purchase_date,
            count(distinct order_id) as orders, count(*) as lines, sum(quantity) as units,
            sum(gross_amount)::double as gross, sum(discount_amount)::double as discount,
            sum(refunded_amount)::double as refunded
        from core.fct_order_lines group by all
        """
    ).pl()


def test_warehouse_equals_the_sandbox_ground_truth(built, sandbox: SandboxServer):
    config, now = built["config"], built["now"]
    business = sandbox.state.business
    first = config.sync.history_start
    last = now.date() - timedelta(days=1)  # today is still moving (and pending orders unpriced)
    truth = (
        business.ground_truth(now)
        .filter(pl.col("purchase_date").is_between(first, last))
        .with_columns(
            pl.when(pl.col("account").str.starts_with("amazon"))
            .then(pl.col("marketplace_id"))
            .otherwise(pl.col("account"))
            .alias("storefront_id")
        )
    )
    before_lag = business.ground_truth(now - timedelta(hours=48)).select(
        "account", "marketplace_id", "purchase_date", pl.col("refunded").alias("refunded_floor")
    )
    # Orders modified after the extraction windows' end (now - SAFETY_LAG) have left the
    # window of their previous version and wait for the next sync (as with every
    # modified-since API): their days are not compared.
    unsynced = (
        business.orders_view(now)
        .filter(pl.col("last_updated_at") > now - SAFETY_LAG)
        .select(
            "account", "marketplace_id", pl.col("purchased_at").dt.date().alias("purchase_date")
        )
        .unique()
    )
    truth = truth.join(unsynced, on=["account", "marketplace_id", "purchase_date"], how="anti")
    got = _warehouse_totals(built["a"])
    joined = truth.join(
        got, on=["account", "storefront_id", "purchase_date"], how="left", suffix="_wh"
    ).join(before_lag, on=["account", "marketplace_id", "purchase_date"], how="left")
    assert joined.height > HISTORY_DAYS * 6
    for column in ("orders", "lines", "units"):
        bad = joined.filter(pl.col(column) != pl.col(f"{column}_wh"))
        assert bad.is_empty(), f"{column} differs from the business:\n{bad}"
    for column in ("gross", "discount"):
        bad = joined.filter((pl.col(column) - pl.col(f"{column}_wh")).abs() > 0.005)
        assert bad.is_empty(), f"{column} differs from the business:\n{bad}"
    # refunds: exact where the API has no delay; Amazon Finances may lag 48 hours
    prompt = joined.filter(~pl.col("account").str.starts_with("amazon"))
    bad = prompt.filter((pl.col("refunded") - pl.col("refunded_wh")).abs() > 0.005)
    assert bad.is_empty(), f"refunds differ from the business:\n{bad}"
    amazon = joined.filter(pl.col("account").str.starts_with("amazon"))
    bad = amazon.filter(
        (pl.col("refunded_wh") > pl.col("refunded") + 0.005)
        | (pl.col("refunded_wh") < pl.col("refunded_floor").fill_null(0) - 0.005)
    )
    assert bad.is_empty(), f"Amazon refunds outside [truth 48 h ago, truth now]:\n{bad}"
    assert amazon["refunded_wh"].sum() > 0


def test_answers_what_sold_yesterday_at_net_revenue_in_base_currency(built):
    con = duckdb.connect(str(built["a"]), read_only=True)
    yesterday = (built["now"] - timedelta(days=2)).date()
    rows = con.execute(
        "select channel, sum(orders), sum(units), sum(net_revenue_base) "
        "from analytics.daily_sales where sales_date = ? group by channel order by channel",
        [yesterday],
    ).fetchall()
    assert [r[0] for r in rows] == ["amazon", "shopify", "walmart"]
    assert all(r[1] > 0 and r[2] >= r[1] and r[3] > 0 for r in rows)
    stock = con.execute(
        "select count(distinct product_id), sum(available_quantity) from core.fct_inventory_daily "
        "where inventory_date = (select max(inventory_date) from core.fct_inventory_daily)"
    ).fetchone()
    assert stock[0] > 50 and stock[1] > 0
    # every currency converted: EUR, GBP and CAD lines have rates, USD is 1
    rates = dict(
        con.execute(
            "select currency, min(fx_rate_to_base) from core.fct_order_lines group by 1"
        ).fetchall()
    )
    assert set(rates) == {"USD", "CAD", "GBP", "EUR"} and rates["USD"] == 1
    assert 1.0 < rates["GBP"] < 1.5 and 0.6 < rates["CAD"] < 0.85


def test_no_email_or_salt_is_stored(built):
    con = duckdb.connect(str(built["a"]), read_only=True)
    columns = con.execute(
        "select schema_name, table_name, column_name from duckdb_columns() "
        "where data_type = 'VARCHAR' and schema_name in ('core', 'analytics', 'intermediate') "
        "and database_name = current_database()"
    ).fetchall()
    for schema, table, column in columns:
        hits = con.execute(
            f'select count(*) from "{schema}"."{table}" where "{column}" like \'%@%\''
        ).fetchone()[0]
        assert hits == 0, f"{schema}.{table}.{column} holds e-mail addresses"
    hashes = con.execute(
        "select count(*), count(distinct customer_id), count(*) filter (where is_multichannel) "
        "from core.dim_customers where email_hash is not null"
    ).fetchone()
    assert hashes[0] > 100 and hashes[1] < hashes[0] and hashes[2] > 0  # merged by e-mail
    for path in built["root"].rglob("*"):
        if path.is_file() and path.suffix in (".json", ".sql", ".log", ".duckdb", ".wal"):
            assert SALT.encode() not in path.read_bytes(), f"the salt leaked into {path}"


def test_a_missing_exchange_rate_fails_the_build_and_names_the_currency(built, tmp_path):
    # a base currency the rate sources do not know: every conversion lacks a rate
    result = dbt(
        built["config"],
        tmp_path / "c.duckdb",
        tmp_path / "target",
        "build",
        "--select",
        "+int_order_lines_joined_to_fx",
        base_currency="XAU",
    )
    assert result.returncode != 0
    assert "assert_every_order_line_has_an_fx_rate" in result.stdout
    con = duckdb.connect(str(tmp_path / "c.duckdb"), read_only=True)
    assert con.execute(
        "select count(*) from intermediate.int_order_lines_joined_to_fx where fx_rate_to_base is not null"
    ).fetchone() == (0,)


def test_hash_salt_is_required(built, tmp_path):
    result = dbt(built["config"], tmp_path / "d.duckdb", tmp_path / "t", "seed", salt="short")
    assert result.returncode != 0
    assert "CHANNELHOUSE_HASH_SALT must be set" in result.stdout + result.stderr
