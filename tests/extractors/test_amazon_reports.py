"""Amazon SP-API financial events, sales & traffic, inventory and listings over real HTTP.

Every test extracts through the sandbox and checks the lake (or the result) against the
simulated business, so a lost page, a doubled order or a wrong sum fails."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import polars as pl
import pytest

from extractors import amazon
from extractors.base import Window
from extractors.runner import run_stream
from sandbox.amazon import reports as amazon_reports
from tests.extractors.amazon_helpers import (
    US,
    lake,
    last_days,
    pairs_with_sales_data,
    today,
    truth,
)


# ---------------------------------------------------------------------------------------------
# Financial events, sales & traffic, inventory, listings
# ---------------------------------------------------------------------------------------------
@pytest.mark.calendar
def test_financial_events_over_180_days_are_split_and_complete(na, sandbox, tmp_path):
    days = last_days(200, today() - timedelta(days=1))
    run = run_stream(na, "financial_events", tmp_path, days=days)
    assert run.stats.pages >= 7  # pages span at most 30 days each, some of them empty
    events = lake(tmp_path, "amazon_na", "financial_events")
    b = sandbox.state.business
    start, end = run.window.start, run.window.end
    shipped = b.orders.filter(
        (pl.col("account") == "amazon_na")
        & pl.col("shipped_at").is_between(start, end, closed="left")
    ).join(b.order_lines, on="order_key")
    principal = events.filter(
        (pl.col("event_type") == "Shipment") & (pl.col("amount_name") == "Principal")
    )
    assert principal.height == shipped.height
    assert float(principal["amount"].cast(pl.Float64).sum()) == pytest.approx(
        float((shipped["unit_price"] * shipped["quantity"]).sum()), abs=0.01
    )
    fees = b.fees.join(shipped.select("order_key", "line_number"), on=["order_key", "line_number"])
    got_fees = events.filter(pl.col("amount_type") == "Fee")
    assert got_fees.height == fees.height
    assert set(got_fees["amount_name"]) == {"Commission", "FBAPerUnitFulfillmentFee"}
    refunds = b.refunds.filter(pl.col("refunded_at").is_between(start, end, closed="left")).join(
        b.orders.filter(pl.col("account") == "amazon_na"), on="order_key", how="semi"
    )
    got_refunds = events.filter(pl.col("event_type") == "Refund")
    assert got_refunds.height == refunds.height
    assert float(got_refunds["amount"].cast(pl.Float64).sum()) == pytest.approx(
        -float(refunds["amount"].sum()), abs=0.01
    )
    assert events.select(amazon.FINANCIAL_EVENTS.key).is_unique().all()


@pytest.mark.calendar
def test_sales_and_traffic_agree_with_the_orders_of_each_day(na, sandbox, tmp_path, monkeypatch):
    monkeypatch.setattr(amazon_reports, "REPORT_QUEUE_S", 150.0)  # 0.15 s in the fast profile
    monkeypatch.setattr(amazon_reports, "REPORT_PROCESSING_S", 150.0)
    days = last_days(3, today() - timedelta(days=1))
    expected = pairs_with_sales_data(sandbox, days, datetime.now(UTC))
    assert expected  # not vacuous: some report of the 2 marketplaces x 3 days has data
    run = run_stream(na, "sales_traffic", tmp_path, days=days)
    # token + per report (2 marketplaces x 3 days): create, >= 3 polls, document if it has data
    assert run.stats.requests >= 1 + 6 * 4 + 2 * len(expected)
    by_date = lake(tmp_path, "amazon_na", "sales_traffic_by_date")
    assert set(by_date.select("marketplace_id", "date").iter_rows()) == expected
    assert by_date.height == len(expected)
    want = truth(sandbox, datetime.now(UTC)).filter(pl.col("purchase_date").is_in(days))
    joined = by_date.join(
        want,
        left_on=["marketplace_id", "date"],
        right_on=["marketplace_id", "purchase_date"],
        how="inner",
    )
    assert joined.height == want.height > 0  # every day with orders has its row
    assert (joined["units_ordered"] == joined["units"]).all()
    assert (joined["total_order_items"] == joined["lines"]).all()
    assert ((joined["ordered_product_sales"].cast(pl.Float64) - joined["gross"]).abs() < 0.01).all()
    without_orders = by_date.join(
        want,
        left_on=["marketplace_id", "date"],
        right_on=["marketplace_id", "purchase_date"],
        how="anti",
    )
    assert (without_orders["units_ordered"] == 0).all()  # traffic only
    by_sku = lake(tmp_path, "amazon_na", "sales_traffic_by_sku")
    sums = by_sku.group_by("marketplace_id", "date").agg(
        pl.col("units_ordered").sum(), pl.col("sessions").sum()
    )
    check = by_date.join(sums, on=["marketplace_id", "date"], suffix="_sku")
    assert (check["units_ordered"] == check["units_ordered_sku"]).all()
    assert (check["sessions"] == check["sessions_sku"]).all() and check["sessions"].sum() > 0
    assert by_sku.select(amazon.SALES_TRAFFIC_BY_SKU.key).is_unique().all()


def test_a_day_without_data_is_a_cancelled_report_and_no_rows(na, sandbox):
    result = na.extract("sales_traffic", Window.for_days(date(2023, 6, 1), date(2023, 6, 2)))
    assert result.rows == {} and result.quarantine == []
    assert result.stats.requests >= 1 + 4 * 2  # created and polled, never downloaded


def test_inventory_is_the_fba_stock_of_every_afn_listing(na, sandbox):
    result = na.extract("inventory", None)
    rows = result.rows["inventory_summaries"]
    assert result.stats.pages > 2  # 50 summaries per page
    b = sandbox.state.business
    afn = b.listings.filter((pl.col("account") == "amazon_na") & (pl.col("fulfillment") == "AFN"))
    stock = b.inventory_at(datetime.now(UTC)).join(
        afn.select("marketplace_id", "product_id"), on=["marketplace_id", "product_id"]
    )
    assert len(rows) == stock.height
    want = {
        (r["marketplace_id"], r["channel_sku"]): r["available"] for r in stock.iter_rows(named=True)
    }
    got = {(r["marketplace_id"], r["seller_sku"]): r["fulfillable_quantity"] for r in rows}
    assert got == want
    assert all(r["total_quantity"] >= r["fulfillable_quantity"] for r in rows)


def test_listings_flat_file_parses_into_every_listing(na, sandbox):
    result = na.extract("listings", None)
    rows = result.rows["listings"]
    want = sandbox.state.business.current_prices(datetime.now(UTC)).filter(
        pl.col("account") == "amazon_na"
    )
    assert len(rows) == want.height and not result.quarantine
    prices = {
        (r["marketplace_id"], r["channel_sku"]): r["price"] for r in want.iter_rows(named=True)
    }
    for row in rows:
        assert row["price"] == Decimal(f"{prices[(row['marketplace_id'], row['seller_sku'])]:.2f}")
        assert row["currency"] == ("USD" if row["marketplace_id"] == US else "CAD")
        assert row["product_id_type"] == "UPC" and len(row["product_id"]) == 12
        assert row["status"] in ("Active", "Inactive")
        assert (row["quantity"] is None) == (row["fulfillment_channel"] == "AFN")
