"""Amazon SP-API orders over real HTTP: every page and item page, late refunds, pending
orders, malformed records in quarantine.

Every test extracts through the sandbox and checks the lake (or the result) against the
simulated business, so a lost page, a doubled order or a wrong sum fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from extractors import amazon
from extractors.base import Window
from extractors.runner import SAFETY_LAG, run_stream
from sandbox.amazon import orders as amazon_orders
from sandbox.server import SandboxServer
from tests.extractors.amazon_helpers import (
    CA,
    US,
    assert_matches_truth,
    lake,
    last_days,
    today,
)


# ---------------------------------------------------------------------------------------------
# Orders
# ---------------------------------------------------------------------------------------------
def quiet_moment(sandbox: SandboxServer, account: str) -> datetime:
    """The latest moment with no event of ``account``'s orders in the safety lag before it.

    An order updated inside the lag is in neither the run that ends before the update nor
    the truth computed at that end, so a truth comparison freezes the clock at such a moment.
    """
    b = sandbox.state.business
    orders = b.orders.filter(pl.col("account") == account)
    events = (
        pl.concat(
            [
                orders.select(pl.col(c).alias("at"))
                for c in ("purchased_at", "shipped_at", "delivered_at", "cancelled_at")
            ]
            + [
                b.refunds.join(orders, on="order_key", how="semi").select(
                    pl.col("refunded_at").alias("at")
                )
            ]
        )
        .drop_nulls()["at"]
        .sort()
        .to_list()
    )
    moment = datetime.now(UTC) - timedelta(seconds=5)
    while True:
        inside = [e for e in events if moment - SAFETY_LAG - timedelta(seconds=2) < e <= moment]
        if not inside:
            return moment
        moment = inside[0] - timedelta(microseconds=1)


@pytest.mark.calendar
def test_orders_every_page_and_item_page_lands_and_matches_the_business(
    na, sandbox, tmp_path, monkeypatch
):
    monkeypatch.setattr(amazon_orders, "ORDER_ITEMS_PAGE_SIZE", 1)  # multi-line orders: 2+ pages
    frozen = quiet_moment(sandbox, "amazon_na")
    monkeypatch.setattr(sandbox.state, "clock", lambda: frozen)
    days = last_days(14, frozen.date())
    run = run_stream(na, "orders", tmp_path, days=days, now=frozen)
    n_orders = assert_matches_truth(tmp_path, sandbox, run, days[0])
    assert n_orders > amazon.ORDERS_PAGE_SIZE  # so getOrders had to follow NextToken
    items = lake(tmp_path, "amazon_na", "order_items")
    multi = items.group_by("amazon_order_id").len().filter(pl.col("len") > 1)
    assert multi.height > 0  # ... and getOrderItems too
    assert run.quarantined == 0 and run.stats.pages > n_orders
    orders = lake(tmp_path, "amazon_na", "orders")
    assert set(orders["marketplace_id"]) == {US, CA}
    assert orders["amazon_order_id"].str.contains(r"^\d{3}-\d{7}-\d{7}$").all()
    assert set(orders["order_status"]) <= {"Pending", "Unshipped", "Shipped", "Canceled"}
    assert set(orders["fulfillment_channel"]) == {"AFN", "MFN"}
    assert orders["buyer_email"].drop_nulls().str.ends_with("@marketplace.amazon.com").all()
    shipped = orders.filter(pl.col("order_status") == "Shipped")
    assert (shipped["ship_country"].is_in(["US", "CA"])).all()
    assert (shipped["number_of_items_unshipped"] == 0).all()
    assert orders.schema["order_total_amount"] == pl.Decimal(18, 4)


@pytest.mark.calendar
def test_a_late_refund_of_an_old_order_is_picked_up_by_the_next_run_of_today(na, sandbox, tmp_path):
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    days = last_days((today() - at.date()).days + 1)
    keys = sandbox.state.business.apply_late_update("amazon_na", 2, at)
    assert len(keys) == 2
    ids = sandbox.state.business.orders.filter(pl.col("order_key").is_in(keys))
    run_stream(na, "orders", tmp_path, days=days)
    orders = lake(tmp_path, "amazon_na", "orders").filter(
        pl.col("amazon_order_id").is_in(ids["channel_order_id"].to_list())
    )
    assert orders.height == 2
    assert (orders["last_updated_at"] == at).all()
    assert (orders["purchased_at"] < at - timedelta(days=60)).all()
    items = lake(tmp_path, "amazon_na", "order_items").filter(
        pl.col("amazon_order_id").is_in(orders["amazon_order_id"].to_list())
    )
    assert items.height >= 2 and (items["order_last_updated_at"] == at).all()
    run_stream(na, "financial_events", tmp_path, days=days)
    refunds = lake(tmp_path, "amazon_na", "financial_events").filter(
        (pl.col("event_type") == "Refund") & (pl.col("posted_at") == at)
    )
    assert set(refunds["amazon_order_id"]) == set(orders["amazon_order_id"])
    assert (refunds["amount"] < 0).all()


@pytest.mark.calendar
def test_a_pending_order_keeps_its_lines_with_null_money(na, sandbox, monkeypatch):
    monkeypatch.setattr(amazon_orders, "PENDING_FOR", timedelta(days=3650))  # everything pending
    result = na.extract(
        "orders",
        Window.for_days(today() - timedelta(days=3), today()).clamp_end(
            datetime.now(UTC) - SAFETY_LAG
        ),
    )
    items = result.rows["order_items"]
    assert items and all(i["item_price"] is None and i["item_tax"] is None for i in items)
    assert all(i["quantity_ordered"] >= 1 and i["asin"] for i in items)


def test_a_malformed_order_and_item_land_in_quarantine_with_the_field_named(
    na, sandbox, tmp_path, monkeypatch
):
    serve_order, serve_item = amazon_orders._order_json, amazon_orders._order_item_json
    broken: dict[str, str] = {}

    def bad_order(row: dict) -> dict:
        order = serve_order(row)
        if not broken.get("order"):
            broken["order"] = order["AmazonOrderId"]
            order["PurchaseDate"] = "yesterday-ish"
        return order

    def bad_item(item: dict, pending: bool, shipped: bool) -> dict:
        served = serve_item(item, pending, shipped)
        if not broken.get("item"):
            broken["item"] = served["OrderItemId"]
            served["QuantityOrdered"] = "two"
        return served

    monkeypatch.setattr(amazon_orders, "_order_json", bad_order)
    monkeypatch.setattr(amazon_orders, "_order_item_json", bad_item)
    run = run_stream(na, "orders", tmp_path, days=last_days(3))
    assert run.quarantined == 2
    quarantine = pl.concat(
        [lake(tmp_path, "amazon_na", e, "quarantine") for e in ("orders", "order_items")]
    )
    reasons = dict(zip(quarantine["entity"], quarantine["reason"], strict=True))
    assert "PurchaseDate" in reasons["orders"] and "QuantityOrdered" in reasons["order_items"]
    assert broken["order"] in quarantine.filter(pl.col("entity") == "orders")["record"][0]
    orders = lake(tmp_path, "amazon_na", "orders")
    assert broken["order"] not in orders["amazon_order_id"].to_list() and orders.height > 10
