"""The sandbox's demo inbox files: deterministic, one purchase per Shopify order, written
atomically and importable."""

from __future__ import annotations

import gzip
import os
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from extractors.inbox import import_all
from sandbox import exports
from sandbox.business import Business
from sandbox.exports.experiments import experiment_exposures
from sandbox.shopify.common import CUSTOMER_ID_BASE
from tests.extractors.inbox_helpers import (
    API_CONNECTIONS,
    NOW,
)

# ---------------------------------------------------------------------------------------------
# The sandbox's demo files
# ---------------------------------------------------------------------------------------------
DEMO_END = date(2025, 3, 1)
DEMO_DAYS = 10


@pytest.fixture(scope="module")
def business() -> Business:
    return Business(seed=11, scale=0.3, end=DEMO_END)


def _shopify_orders(business: Business, start: date, end: date) -> pl.DataFrame:
    return business.orders.filter(
        pl.col("account").is_in(["shopify_us", "shopify_eu"])
        & (pl.col("purchased_at") >= datetime.combine(start, datetime.min.time(), UTC))
        & (pl.col("purchased_at") < datetime.combine(end, datetime.min.time(), UTC))
    )


def test_storefront_events_are_deterministic_and_match_the_shopify_orders(business: Business):
    start, end = DEMO_END - timedelta(days=DEMO_DAYS), DEMO_END
    events = exports.storefront_events(business, start, end)
    assert events.equals(exports.storefront_events(business, start, end))
    assert events["event_id"].n_unique() == events.height
    assert events["occurred_at"].min() >= datetime.combine(start, datetime.min.time(), UTC)
    assert events["occurred_at"].max() < datetime.combine(end, datetime.min.time(), UTC)
    # A day's events do not depend on the period asked for.
    day = start + timedelta(days=4)
    on_day = pl.col("occurred_at").dt.date() == day
    assert events.filter(on_day).equals(
        exports.storefront_events(
            business, day - timedelta(days=2), day + timedelta(days=1)
        ).filter(on_day)
    )
    # One purchase per Shopify order of the period, with its id, value and buyer.
    purchases = events.filter(pl.col("event") == "checkout_completed")
    orders = _shopify_orders(business, start, end)
    assert purchases.height == orders.height > 0
    assert sorted(purchases["order_id"].to_list()) == sorted(
        f"gid://shopify/Order/{i}" for i in orders["channel_order_id"].to_list()
    )
    lines = business.order_lines.join(
        orders.select("order_key", "channel_order_id", "customer_id"), on="order_key"
    )
    expected = (
        lines.group_by("channel_order_id", "customer_id")
        .agg(
            ((pl.col("unit_price") * pl.col("quantity")).round(2) - pl.col("discount"))
            .sum()
            .round(2)
            .alias("value")
        )
        .select(
            pl.format("gid://shopify/Order/{}", "channel_order_id").alias("order_id"),
            pl.format("gid://shopify/Customer/{}", pl.col("customer_id") + CUSTOMER_ID_BASE).alias(
                "user_id"
            ),
            "value",
        )
        .sort("order_id")
    )
    assert purchases.select("order_id", "user_id", "value").sort("order_id").equals(expected)
    # Browsing that does not convert: about 2.5% of sessions buy, carts are abandoned.
    sessions = events.filter(pl.col("event") == "page_viewed").height
    assert 0.015 < purchases.height / sessions < 0.04
    carts = events.filter(pl.col("event") == "product_added_to_cart").height
    assert carts > 2 * purchases.height


def test_demo_inbox_is_written_atomically_reproducibly_and_imports_cleanly(
    business: Business, tmp_path: Path
):
    first = exports.write_demo_inbox(business, tmp_path / "a", days=DEMO_DAYS)
    second = exports.write_demo_inbox(business, tmp_path / "b", days=DEMO_DAYS)
    relative = [p.relative_to(tmp_path / "a") for p in first]
    assert relative == [p.relative_to(tmp_path / "b") for p in second]
    assert all(
        (tmp_path / "a" / r).read_bytes() == (tmp_path / "b" / r).read_bytes() for r in relative
    )
    assert not list((tmp_path / "a").rglob("*.tmp"))
    inbox = tmp_path / "a" / "inbox"
    assert sorted(p.name for p in (inbox / "events/shopify_us").iterdir())[:2] == [
        "mapping.yml",
        f"shopify_us-events-{DEMO_END - timedelta(days=DEMO_DAYS)}.ndjson.gz",
    ]
    first_line = gzip.decompress(
        next((inbox / "events/shopify_us").glob("*.gz")).read_bytes()
    ).split(b"\n")[0]
    assert b'"sessionId"' not in first_line and b'"anonymousId"' in first_line

    for path in inbox.rglob("*"):
        os.utime(path, (time.time() - 10, time.time() - 10))
    results = import_all(tmp_path / "a", API_CONNECTIONS, now=NOW)
    assert {r.status for r in results} == {"imported"}
    assert sum(r.rows_quarantined for r in results) == 0
    by_entity: dict[str, int] = {}
    for r in results:
        by_entity[r.entity] = by_entity.get(r.entity, 0) + r.rows_written
    start = DEMO_END - timedelta(days=DEMO_DAYS)
    events = exports.storefront_events(business, start, DEMO_END)
    exposures = experiment_exposures(events, start, business.seed)
    assert exposures.height > 0
    assert by_entity["events"] == events.height + exposures.height
    assert by_entity["reviews"] > 0
    assert by_entity["order_lines"] == exports.etsy_orders(business, start, DEMO_END).height > 0
    costs = exports.product_costs(business, start, DEMO_END)
    assert by_entity["product_costs"] == costs.height
    skus = exports.product_skus(business)
    assert set(costs["sku"]) == set(skus["product_sku"])
    changed = costs.height - skus.height
    assert 0.05 * skus.height < changed < 0.15 * skus.height

    # The events import as the warehouse expects: no session id, a funnel step per pixel event,
    # and visitors who come back after more than 30 minutes.
    events = pl.read_parquet(
        tmp_path / "a/raw/channel=files/connection=*/entity=events/date=*/*.parquet"
    )
    assert events["session_id"].null_count() == events.height
    assert set(events["funnel_step"].drop_nulls()) == {
        "page_view",
        "product_view",
        "add_to_cart",
        "checkout",
        "purchase",
    }
    gaps = (
        events.sort("storefront_id", "anonymous_id", "occurred_at")
        .with_columns(
            pl.col("occurred_at").diff().over("storefront_id", "anonymous_id").alias("gap")
        )
        .filter(pl.col("gap") > timedelta(minutes=30))
    )
    assert gaps.height > 0
    purchases = events.filter(pl.col("funnel_step") == "purchase")
    assert (
        purchases["order_id"].n_unique()
        == purchases.height
        == _shopify_orders(business, start, DEMO_END).height
    )
