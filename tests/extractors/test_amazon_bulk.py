"""Amazon order history in bulk (extractors/amazon/bulk.py) over real HTTP: the flat-file orders
reports land the same lake as getOrders + getOrderItems on the columns both carry, and the
business's truth; the threshold; FATAL, CANCELLED and an expired document URL; malformed rows
and unknown trailing columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import polars as pl
import pytest

from extractors.amazon import AmazonExtractor, bulk
from extractors.amazon.settings import AmazonConnection
from extractors.base import Window
from extractors.http import ApiError
from extractors.runner import run_stream
from orchestration.config import parse_config, resolve_secrets
from sandbox.amazon import order_reports
from sandbox.wire import Fault
from tests.conftest import sandbox_config_dict
from tests.extractors.amazon_helpers import (
    FAST_RETRY,
    US,
    assert_matches_truth,
    lake,
    last_days,
)
from tests.extractors.test_amazon_orders import quiet_moment
from tests.integration.test_warehouse import assert_ok, dbt

# the columns the flat file carries (the others are null in bulk rows: DECISIONS.md)
SHARED_ORDERS = [
    "amazon_order_id", "marketplace_id", "purchased_at", "last_updated_at", "order_status",
    "fulfillment_channel", "sales_channel", "order_total_amount", "order_total_currency",
    "number_of_items_shipped", "number_of_items_unshipped", "shipment_service_level_category",
    "is_business_order", "ship_city", "ship_state", "ship_postal_code", "ship_country",
]  # fmt: skip
SHARED_ITEMS = [
    "amazon_order_id", "seller_sku", "order_last_updated_at", "marketplace_id", "order_status",
    "asin", "title", "quantity_ordered", "quantity_shipped", "item_price", "item_tax",
    "shipping_price", "shipping_tax", "promotion_discount", "currency", "promotion_ids",
]  # fmt: skip
BULK_NULL_ITEMS = ["order_item_id", "condition_id", "is_gift"]
BULK_NULL_ORDERS = ["buyer_email", "order_type", "payment_method", "is_prime", "earliest_ship_at"]


def extractor(config, sandbox, bulk_history_days: int | None, **update):
    conn = config.connection("amazon_na")
    conn = conn.model_copy(update={"bulk_history_days": bulk_history_days, **update})
    return AmazonExtractor(conn, resolve_secrets(conn), sandbox_url=sandbox.url, retry=FAST_RETRY)


def frozen_at_a_quiet_moment(sandbox, monkeypatch) -> datetime:
    frozen = quiet_moment(sandbox, "amazon_na")
    monkeypatch.setattr(sandbox.state, "clock", lambda: frozen)
    return frozen


@pytest.mark.calendar
def test_bulk_lake_equals_the_per_order_lake_and_the_business(
    config, sandbox, sandbox_env, tmp_path, monkeypatch
):
    frozen = frozen_at_a_quiet_moment(sandbox, monkeypatch)
    days = last_days(40, frozen.date())
    per_order = run_stream(extractor(config, sandbox, None), "orders", tmp_path / "a", days, frozen)
    in_bulk = run_stream(extractor(config, sandbox, 30), "orders", tmp_path / "b", days, frozen)
    for root, version in (("a", "orders/v0"), ("b", "reports/2021-06-30")):
        assert set(lake(tmp_path / root, "amazon_na", "orders")["_api_version"]) == {version}
    assert in_bulk.quarantined == 0 and per_order.quarantined == 0
    assert_matches_truth(tmp_path / "b", sandbox, in_bulk, days[0])
    for entity, shared, key in (
        ("orders", SHARED_ORDERS, ["amazon_order_id"]),
        ("order_items", SHARED_ITEMS, ["amazon_order_id", "seller_sku"]),
    ):
        a = lake(tmp_path / "a", "amazon_na", entity).select(shared).sort(key)
        b = lake(tmp_path / "b", "amazon_na", entity).select(shared).sort(key)
        assert a.height > 300 and a.equals(b), f"{entity}: bulk differs from per-order"
    items = lake(tmp_path / "b", "amazon_na", "order_items")
    assert items.select(pl.col(BULK_NULL_ITEMS).is_null().all()).row(0) == (True,) * 3
    orders = lake(tmp_path / "b", "amazon_na", "orders")
    assert orders.select(pl.col(BULK_NULL_ORDERS).is_null().all()).row(0) == (True,) * 5
    # 2 chunks of 30 days (both marketplaces in each): a handful of calls, not one per order
    assert in_bulk.stats.requests < 40 < per_order.rows("orders") < per_order.stats.requests


def test_the_threshold_picks_the_path():
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def decide(days: float, threshold: int | None) -> bool:
        conn = _conn(threshold)
        return bulk.uses_bulk(conn, Window(start, start + timedelta(days=days)))

    assert not decide(30, 30) and decide(30.01, 30) and decide(2, 1)
    assert not decide(700, None)  # null keeps the per-order path (buyer e-mail, OrderItemId)
    reports = bulk.order_reports(["M1", "M2"], Window(start, start + timedelta(days=61)), 30)
    # one report per chunk for all the marketplaces: the reports hold the whole region anyway
    assert [(r.marketplace_id, r.window.end - r.window.start) for r in reports] == [
        ("M1,M2", timedelta(days=d)) for d in (30, 30, 1)
    ]


def _conn(threshold: int | None) -> AmazonConnection:
    secrets = {s: f"AMAZON_{s.upper()}" for s in ("client_id", "client_secret", "refresh_token")}
    return AmazonConnection(name="amazon_na", channel="amazon", region="na", secrets=secrets,
                            marketplaces=[US], bulk_history_days=threshold)  # fmt: skip


def _bulk(config, sandbox, days: int = 40, **update):
    ex = extractor(config, sandbox, 1, **update)
    end = datetime.now(UTC) - timedelta(minutes=5)
    return ex.extract("orders", Window(end - timedelta(days=days), end))


def test_a_fatal_report_is_requested_again_once(config, sandbox, sandbox_env):
    clean = _bulk(config, sandbox, 10)
    fired = sandbox.state.faults.fired["amazon:report_fatal"]  # the sandbox is shared
    sandbox.state.faults.add(
        Fault("amazon", "report_fatal", 1, path=r"/reports/2021-06-30/reports$")
    )
    again = _bulk(config, sandbox, 10)
    assert sandbox.state.faults.fired["amazon:report_fatal"] == fired + 1
    assert len(again.rows["orders"]) >= len(clean.rows["orders"]) > 0
    sandbox.state.faults.add(
        Fault("amazon", "report_fatal", 2, path=r"/reports/2021-06-30/reports$")
    )
    with pytest.raises(ApiError, match="ended FATAL twice"):
        _bulk(config, sandbox, 3, marketplaces=[US])


def test_a_cancelled_report_means_no_rows_for_its_range(config, sandbox, sandbox_env):
    # two 20-day chunks; the report of one of them is cancelled (Amazon's "no data")
    clean = _bulk(config, sandbox, 40, bulk_report_days=20)
    fired = sandbox.state.faults.fired["amazon:report_cancelled"]  # the sandbox is shared
    sandbox.state.faults.add(
        Fault("amazon", "report_cancelled", 1, path=r"/reports/2021-06-30/reports$")
    )
    cancelled = _bulk(config, sandbox, 40, bulk_report_days=20)
    assert sandbox.state.faults.fired["amazon:report_cancelled"] == fired + 1
    assert 0 < len(cancelled.rows["orders"]) < len(clean.rows["orders"]) - 50


def test_an_expired_document_url_is_asked_for_again(config, sandbox, sandbox_env):
    clean = _bulk(config, sandbox, 10)
    fired = sandbox.state.faults.fired["amazon:expire_document_url"]  # the sandbox is shared
    sandbox.state.faults.add(Fault("amazon", "expire_document_url", 1, path=r"/documents/"))
    again = _bulk(config, sandbox, 10)
    assert sandbox.state.faults.fired["amazon:expire_document_url"] == fired + 1
    assert len(again.rows["order_items"]) >= len(clean.rows["order_items"]) > 0


def test_a_malformed_row_quarantines_its_order_and_unknown_columns_are_tolerated(
    config, sandbox, sandbox_env, monkeypatch
):
    monkeypatch.setattr(
        order_reports,
        "ORDERS_COLUMNS",
        (*order_reports.ORDERS_COLUMNS, "signature-confirmation-recommended"),
    )
    serve, broken = order_reports._row, {}

    def bad_row(order: dict, item: dict, pending: bool) -> dict:
        row = serve(order, item, pending)
        if not broken:
            broken["order"] = row["amazon-order-id"]
            row["quantity"] = "two"
        return row

    monkeypatch.setattr(order_reports, "_row", bad_row)
    result = _bulk(config, sandbox, 5)
    assert [q.entity for q in result.quarantine] == ["orders"]
    assert "quantity" in result.quarantine[0].reason
    assert broken["order"] in result.quarantine[0].record
    ids = [o["amazon_order_id"] for o in result.rows["orders"]]
    assert broken["order"] not in ids and len(ids) > 10


@pytest.mark.calendar
def test_an_incremental_sync_after_a_bulk_load_updates_the_same_order_lines(
    sandbox, sandbox_env, tmp_path, monkeypatch
):
    """Bulk history as of two days ago (no OrderItemId, pending orders unpriced), then the
    Orders API over the last three days as of now (orders shipped, delivered, refunded since):
    the warehouse keeps one line per (order, SKU), with the sandbox's values, the OrderItemId
    where getOrderItems gave it, and refunds and fees joined to those lines."""
    for name in ("CHANNELHOUSE_DATA_DIR", "CHANNELHOUSE_WAREHOUSE", "CHANNELHOUSE_HASH_SALT"):
        monkeypatch.delenv(name, raising=False)
    # an order updated inside the API run's safety lag would leave its older partition and
    # land in no run yet, with its fees already posted: freeze the clock where none was
    now = quiet_moment(sandbox, "amazon_na").replace(microsecond=0)
    then = now - timedelta(days=2)
    raw = sandbox_config_dict(str(tmp_path / "data"), history_days=40)
    raw["connections"] = [c for c in raw["connections"] if c["name"] == "amazon_na"]
    raw["sandbox"] = {"port": sandbox.port}
    config = parse_config(raw, "test")
    ex = extractor(config, sandbox, 30)
    monkeypatch.setattr(sandbox.state, "clock", lambda: then)
    bulk_run = run_stream(ex, "orders", config.data_dir, last_days(38, then.date()), then)
    in_bulk = lake(config.data_dir, "amazon_na", "orders")
    assert set(in_bulk["_api_version"]) == {"reports/2021-06-30"}
    monkeypatch.setattr(sandbox.state, "clock", lambda: now)
    days = last_days(41, now.date())
    run_stream(ex, "orders", config.data_dir, days[-3:], now)  # the Orders API path
    by_api = lake(config.data_dir, "amazon_na", "orders").filter(
        pl.col("_api_version") == "orders/v0"
    )
    changed_ids = by_api.join(
        in_bulk.filter(pl.col("last_updated_at") < then - timedelta(days=1)),
        on="amazon_order_id",
        how="semi",
    )["amazon_order_id"].to_list()
    assert len(changed_ids) >= 3  # bulk-loaded orders that changed and came back by the API
    # the finances of the days the orders cover (bulk: 39 days back to 2 days ago, API: since)
    run_stream(ex, "financial_events", config.data_dir, days[1:], now)
    assert_ok(
        dbt(config, tmp_path / "w.duckdb", tmp_path / "target", "build", "--select",
            "+int_order_lines_unioned", "+int_refunds_unioned", "+int_order_line_fees",
            "--indirect-selection", "cautious")
    )  # fmt: skip
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        lines = con.sql(
            "select l.channel_order_id, l.channel_line_id, l.order_line_id, l.quantity, "
            "l.gross_amount, l.is_priced, s.amazon_order_item_id from "
            "intermediate.int_order_lines_unioned l join staging.stg_amazon__order_items s "
            "on l.channel_order_id = s.amazon_order_id and l.channel_line_id = s.seller_sku"
        ).pl()
        refunds = con.sql("select order_line_id from intermediate.int_refunds_unioned").pl()
        fees = con.sql("select order_line_id from intermediate.int_order_line_fees").pl()
    assert lines.height == lines.select("channel_order_id", "channel_line_id").n_unique()
    b = sandbox.state.business
    want = b.order_lines.join(
        b.orders.filter(pl.col("account") == "amazon_na"), on="order_key"
    ).select(
        pl.col("channel_order_id"),
        pl.col("channel_sku").alias("channel_line_id"),
        pl.col("line_id").alias("truth_item_id"),
        pl.col("quantity").cast(pl.Int64).alias("truth_quantity"),
        (pl.col("unit_price") * pl.col("quantity")).round(2).alias("truth_gross"),
    )
    got = lines.join(want, on=["channel_order_id", "channel_line_id"], how="left")
    assert got["truth_item_id"].null_count() == 0  # every warehouse line is a business line
    assert (got["quantity"] == got["truth_quantity"]).all()
    priced = got.filter(pl.col("is_priced"))
    assert ((priced["gross_amount"].cast(pl.Float64) - priced["truth_gross"]).abs() < 0.005).all()
    lake_lines = lake(config.data_dir, "amazon_na", "order_items").unique(
        ["amazon_order_id", "seller_sku"]
    )
    assert lines.height == lake_lines.height > 300
    # the lines the Orders API re-fetched know their OrderItemId; bulk-only ones do not
    api_ids = set(lake(config.data_dir, "amazon_na", "order_items")["order_item_id"].drop_nulls())
    known = got.filter(pl.col("amazon_order_item_id").is_not_null())
    assert known["channel_order_id"].is_in(changed_ids).sum() >= 3
    assert (known["amazon_order_item_id"] == known["truth_item_id"]).all()
    assert set(known["amazon_order_item_id"]) == api_ids
    line_ids = set(lines["order_line_id"])
    assert refunds.height > 3 and set(refunds["order_line_id"]) <= line_ids
    assert fees.height > 100 and set(fees["order_line_id"]) <= line_ids
    assert bulk_run.quarantined == 0
