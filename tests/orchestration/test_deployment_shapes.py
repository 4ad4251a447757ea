"""Any seller, any mix of channels: the demo's jobs end to end in each deployment shape.

Shopify-only (one store), Amazon-only (one marketplace), Walmart-only, two Shopify stores, and
a file-only seller (orders export + storefront events + product costs in the inbox, no API
connection at all), each on a short history against the one shared sandbox. Every shape builds
the whole warehouse (core and analytics marts), the forecasts, LTV, the alerts and the weekly
report; the marts of a channel the deployment does not have are there and empty, with the
same typed columns as in a deployment that has it.

Each shape is its own pytest-xdist group, so the shapes spread over the workers; the
cross-shape comparison of the built columns goes through one JSON file per test session
(:func:`record_columns`), whichever worker built a shape.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import duckdb
import pytest

from orchestration.demo import DEMO_JOBS
from tests.conftest import run_demo_pipeline

HISTORY_DAYS = 35
SHAPES = {
    "shopify_only": ["shopify_us"],
    "amazon_only": ["amazon_na"],
    "walmart_only": ["walmart_us"],
    "two_shopify_stores": ["shopify_us", "shopify_eu"],
    "files_only": [],
}
AMAZON_ONLY_MARTS = ("core.fct_traffic_daily",)
Columns = dict[str, list[list[str]]]  # table -> [column, type] in order


def _count(con, table: str) -> int:
    return con.execute(f"select count(*) from {table}").fetchall()[0][0]


def _columns(con) -> Columns:
    rows = con.execute(
        "select schema_name || '.' || table_name, column_name, data_type from duckdb_columns() "
        "where schema_name in ('staging', 'intermediate', 'core', 'analytics') "
        "order by schema_name, table_name, column_index"
    ).fetchall()
    out: Columns = {}
    for table, column, data_type in rows:
        out.setdefault(table, []).append([column, data_type])
    return out


def record_columns(path: Path, name: str, columns: Columns) -> dict[str, list[str]]:
    """Add shape ``name``'s columns to the shared file ``path`` and compare them with every
    shape recorded there before: {other shape: differences} for each one compared (an empty
    list when equal). An exclusive lock makes read, compare and write one step, so of any two
    shapes the later one compares with the earlier, whatever the workers' order."""
    with path.with_suffix(".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        built: dict[str, Columns] = json.loads(path.read_text()) if path.exists() else {}
        if name in built:
            raise AssertionError(f"{name} was recorded twice in {path}")
        compared = {other: _differences(columns, theirs) for other, theirs in built.items()}
        path.write_text(json.dumps({**built, name: columns}))
    return compared


def _differences(mine: Columns, theirs: Columns) -> list[str]:
    out = [f"table {t} only in one of them" for t in sorted(set(mine) ^ set(theirs))]
    for table in sorted(set(mine) & set(theirs)):
        if mine[table] != theirs[table]:
            out.append(f"{table}: {mine[table]} vs {theirs[table]}")
    return out


@pytest.fixture(scope="session")
def columns_file(tmp_path_factory) -> Path:
    """One file per test session: every xdist worker's base directory shares a parent."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "shape_columns.json"


@pytest.fixture(
    scope="module",
    params=[pytest.param(name, marks=pytest.mark.xdist_group(f"shape_{name}")) for name in SHAPES],
)
def shape(request, tmp_path_factory, sandbox):
    """(name, config, runs) of one deployment shape after the demo's jobs."""
    name = request.param
    data_dir = tmp_path_factory.mktemp(name) / "data"
    config, runs = run_demo_pipeline(data_dir, sandbox, HISTORY_DAYS, SHAPES[name])
    return name, config, runs


def test_every_demo_job_succeeds(shape):
    name, _, runs = shape
    assert [job for job, *_ in runs] == list(DEMO_JOBS)
    failed = {job: failures for job, ok, _, failures in runs if not ok}
    assert not failed, f"{name}: {failed}"


def test_the_marts_the_data_supports_are_filled(shape):
    name, config, _ = shape
    channels = {c.channel for c in config.connections}
    with duckdb.connect(str(config.warehouse_path), read_only=True) as con:
        for table in (
            "core.fct_orders",
            "core.fct_order_lines",
            "core.dim_products",
            "analytics.daily_sales",
            "analytics.customer_rfm",
            "analytics.daily_margin",
            "analytics.funnel_daily",  # the demo inbox's storefront events
            "ml.demand_forecast",
            "ml.forecast_selection",
        ):
            assert _count(con, table) > 0, f"{name}: {table} is empty"
        # an API channel brings its stock (file channels have none): stock alerts follow
        if channels:
            assert _count(con, "core.fct_inventory_daily") > 0
            assert _count(con, "alerts.alerts") > 0, f"{name}: no alerts"
        sold = con.execute("select distinct channel from core.fct_orders order by 1").fetchall()
        assert {c for (c,) in sold} == channels | {"etsy"}  # etsy: the demo's file channel
        # every sold line has a product: own SKUs of the file channel become products
        methods = dict(
            con.execute(
                "select match_method, count(*) from core.dim_product_listings group by 1"
            ).fetchall()
        )
        assert "ambiguous" not in methods and "unmatched" not in methods, methods
        if not channels:
            assert set(methods) <= {"own_sku", "manual"}, methods
        for table in AMAZON_ONLY_MARTS:
            assert (_count(con, table) > 0) == ("amazon" in channels), table
        # LTV needs 100 repeat customers: 35 days have fewer, so the tables are empty, not an error
        assert _count(con, "ml.customer_ltv") == 0
        # amounts in the base currency need no rate, whatever the rates cover
        assert _count(con, "core.fct_order_lines where net_amount_base is null") == 0


def test_the_weekly_report_is_written(shape):
    name, config, _ = shape
    folder = config.data_dir / "exports" / "weekly_business_review"
    files = {p.suffix for p in folder.rglob("*") if p.is_file()}
    assert {".pdf", ".xlsx", ".csv"} <= files, f"{name}: {sorted(files)}"


def test_absent_channels_have_empty_models_with_the_full_typed_columns(
    shape, columns_file, request
):
    """A staging model of a source without lake files is an empty relation with the columns
    (and types) it has where the lake has them: every shape has the same tables with the same
    typed columns as every shape built before it in the session, on any worker (Amazon's
    staging tables are filled in one shape and empty in the four others, and so on)."""
    name, config, _ = shape
    with duckdb.connect(str(config.warehouse_path), read_only=True) as con:
        got = _columns(con)
        empty = {t for t in got if t.startswith("staging.") and _count(con, t) == 0}
    channels = {c.channel for c in config.connections}
    for channel in ("amazon", "shopify", "walmart"):
        assert (f"staging.stg_{channel}__orders" in empty) == (channel not in channels)
    assert os.environ.get("CHANNELHOUSE_DATA_DIR") is None  # nothing leaked from the runs
    compared = record_columns(columns_file, name, got)
    mismatched = {other: diff for other, diff in compared.items() if diff}
    assert not mismatched, f"{name} differs from {mismatched}"
    selected = {
        i.callspec.params["shape"] for i in request.session.items if "shape" in i.fixturenames
    }
    if selected == {name}:
        pytest.skip(f"{name} is the only shape in this session: no other shape to compare with")


def test_a_shape_whose_columns_differ_is_named_with_the_difference(tmp_path):
    """The shared record that the comparison above relies on: equal shapes pass, a type or a
    table that differs is reported against the shape recorded earlier."""
    path = tmp_path / "columns.json"
    first = {"staging.stg_amazon__orders": [["amazon_order_id", "VARCHAR"]]}
    assert record_columns(path, "a", first) == {}
    assert record_columns(path, "b", first) == {"a": []}
    retyped = {"staging.stg_amazon__orders": [["amazon_order_id", "INTEGER"]]}
    assert record_columns(path, "c", retyped) == {
        "a": ["staging.stg_amazon__orders: [['amazon_order_id', 'INTEGER']] vs "
              "[['amazon_order_id', 'VARCHAR']]"],
        "b": ["staging.stg_amazon__orders: [['amazon_order_id', 'INTEGER']] vs "
              "[['amazon_order_id', 'VARCHAR']]"],
    }  # fmt: skip
    extra = {**first, "core.fct_orders": []}
    assert record_columns(path, "d", extra)["a"] == ["table core.fct_orders only in one of them"]
    with pytest.raises(AssertionError, match="a was recorded twice"):
        record_columns(path, "a", first)
