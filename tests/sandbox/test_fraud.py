"""Injected fraud: the honest business is unchanged, each pattern looks as documented."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from sandbox.business import Business

END = date(2024, 7, 1)


@pytest.fixture(scope="module")
def honest() -> Business:
    return Business(seed=42, end=END)


@pytest.fixture(scope="module")
def fraud() -> Business:
    return Business(seed=42, end=END, fraud=True)


def _without_injected(frame: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(~pl.col("order_key").is_in(truth["order_key"].implode()))


def test_honest_business_is_unchanged_by_fraud(honest: Business, fraud: Business) -> None:
    truth = fraud.fraud_truth()
    columns = ["account", "customer_id", "purchased_at", "shipped_at", "cancelled_at"]
    columns += ["shipping_price", "shipping_tax", "fulfillment"]
    assert (
        _without_injected(fraud.orders, truth).select(columns).equals(honest.orders.select(columns))
    )
    line_columns = ["product_id", "quantity", "unit_price", "discount", "tax"]
    assert (
        _without_injected(fraud.order_lines, truth)
        .select(line_columns)
        .equals(honest.order_lines.select(line_columns))
    )
    refund_columns = ["refunded_at", "quantity", "amount", "reason"]
    assert (
        _without_injected(fraud.refunds, truth)
        .select(refund_columns)
        .equals(honest.refunds.select(refund_columns))
    )
    assert fraud.inventory_daily.equals(honest.inventory_daily)
    assert fraud.customer_preferences.equals(honest.customer_preferences)
    assert fraud.customers.head(honest.customers.height).equals(honest.customers)
    # the injected orders are merged in time order, keys stay 1..n
    assert fraud.orders["purchased_at"].is_sorted()
    assert fraud.orders["order_key"].to_list() == list(range(1, fraud.orders.height + 1))


def test_fraud_truth_is_deterministic_and_covers_every_pattern(fraud: Business) -> None:
    truth = fraud.fraud_truth()
    assert set(truth["pattern"]) == {
        "velocity_burst",
        "big_first_order",
        "refund_abuse",
        "cancel_abuse",
        "address_ring",
    }
    assert truth.equals(Business(seed=42, end=END, fraud=True).fraud_truth())
    assert truth["customer_id"].min() > fraud.customer_preferences["customer_id"].max()


def test_velocity_burst_is_one_email_many_new_customers_within_an_hour(fraud: Business) -> None:
    burst = fraud.fraud_truth().filter(pl.col("pattern") == "velocity_burst")
    per_case = (
        burst.join(fraud.customers.select("customer_id", "email"), on="customer_id")
        .group_by("case")
        .agg(
            pl.col("email").n_unique().alias("emails"),
            pl.col("customer_id").n_unique().alias("customers"),
            pl.len().alias("orders"),
            (pl.col("purchased_at").max() - pl.col("purchased_at").min()).alias("span"),
        )
    )
    assert per_case["emails"].to_list() == [1] * per_case.height
    assert (per_case["customers"] == per_case["orders"]).all()
    assert per_case["orders"].min() >= 4
    assert per_case["span"].max() <= timedelta(hours=1)


def test_address_ring_is_new_customers_shipping_to_one_address_billed_abroad(
    fraud: Business,
) -> None:
    ring = fraud.fraud_truth().filter(pl.col("pattern") == "address_ring")
    members = ring.join(
        fraud.customers.select("customer_id", "email", "address_of", "billing_country"),
        on="customer_id",
    )
    per_case = members.group_by("case").agg(
        pl.col("email").n_unique().alias("emails"),
        pl.col("address_of").n_unique().alias("addresses"),
        pl.col("billing_country").n_unique().alias("billing_countries"),
        (pl.col("billing_country") == "US").any().alias("billed_at_home"),
        pl.len().alias("orders"),
        (pl.col("purchased_at").max() - pl.col("purchased_at").min()).alias("span"),
    )
    assert per_case.height >= 5
    assert (per_case["emails"] == per_case["orders"]).all()  # an e-mail of their own each
    assert per_case["addresses"].to_list() == [1] * per_case.height
    assert per_case["billing_countries"].to_list() == [1] * per_case.height
    assert not per_case["billed_at_home"].any()
    assert per_case["orders"].min() >= 3 and per_case["span"].max() <= timedelta(hours=20)
    assert set(ring["account"]) == {"shopify_us"}
    # honest customers use their own address; a few Shopify ones pay with a card from abroad
    honest = fraud.customers.filter(~pl.col("customer_id").is_in(ring["customer_id"].implode()))
    assert (honest["address_of"] == honest["customer_id"]).all()
    shopify_us = honest.filter(pl.col("account") == "shopify_us")
    abroad = (shopify_us["billing_country"] != "US").mean()
    assert 0.01 < abroad < 0.05


def test_refund_and_cancel_abuse(fraud: Business) -> None:
    truth = fraud.fraud_truth()
    refunds = truth.filter(pl.col("pattern") == "refund_abuse").join(
        fraud.refunds.select("order_key", "refunded_at"), on="order_key"
    )
    # every refund-abuse order is fully refunded before the same customer's next order
    assert refunds.height == truth.filter(pl.col("pattern") == "refund_abuse").height
    nxt = refunds.sort("purchased_at").with_columns(
        pl.col("purchased_at").shift(-1).over("customer_id").alias("next_at")
    )
    assert (nxt.drop_nulls("next_at")["refunded_at"] < nxt.drop_nulls("next_at")["next_at"]).all()
    cancels = truth.filter(pl.col("pattern") == "cancel_abuse").join(
        fraud.orders.select("order_key", "cancelled_at"), on="order_key"
    )
    assert cancels["cancelled_at"].null_count() == 0
    big = truth.filter(pl.col("pattern") == "big_first_order").join(
        fraud.order_lines.select("order_key", "quantity"), on="order_key"
    )
    assert big["quantity"].min() >= 6


def test_fraud_truth_needs_fraud(honest: Business) -> None:
    with pytest.raises(ValueError, match="fraud=True"):
        honest.fraud_truth()
