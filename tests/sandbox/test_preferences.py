"""The simulated customers' preference structure (issue 15) and its ground truth."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from sandbox.business import Business

END = date(2025, 3, 1)


@pytest.fixture(scope="module")
def biz() -> Business:
    return Business(seed=42, end=END)


@pytest.fixture(scope="module")
def lines(biz: Business) -> pl.DataFrame:
    return (
        biz.order_lines.join(
            biz.orders.select("order_key", "customer_id", "purchased_at"), on="order_key"
        )
        .join(biz.products.select("product_id", "category", "brand"), on="product_id")
        .join(biz.customer_preferences, on="customer_id")
    )


def test_ground_truth_frames(biz: Business) -> None:
    prefs = biz.customer_preferences
    assert prefs["customer_id"].sort().to_list() == biz.customers["customer_id"].sort().to_list()
    assert prefs["favourite_category"].is_in(biz.products["category"].implode()).all()
    comp = biz.complements
    assert comp.height > 100 and comp["reason"].str.contains(" goes with ").all()
    # complements are symmetric and stay within a category
    swapped = comp.select(
        pl.col("complement_product_id").alias("product_id"),
        pl.col("product_id").alias("complement_product_id"),
    )
    assert swapped.join(comp, on=["product_id", "complement_product_id"], how="anti").height == 0
    cats = biz.products.select("product_id", "category")
    both = comp.join(cats, on="product_id").join(
        cats, left_on="complement_product_id", right_on="product_id", suffix="_c"
    )
    assert (both["category"] == both["category_c"]).all()


def test_repeat_orders_follow_the_favourite_category(lines: pl.DataFrame) -> None:
    first = lines.group_by("customer_id").agg(pl.col("order_key").min().alias("first_order"))
    repeat = lines.join(first, on="customer_id").filter(
        pl.col("order_key") != pl.col("first_order")
    )
    match = (repeat["category"] == repeat["favourite_category"]).mean()
    # by chance a line's category is a customer's favourite ~15% of the time (8 categories)
    chance = (
        (lines.group_by("category").len().with_columns(share=pl.col("len") / pl.col("len").sum()))[
            "share"
        ]
        .pow(2)
        .sum()
    )
    assert repeat.height > 1000
    assert match > 2.5 * chance, (match, chance)


def test_complements_share_baskets_and_follow_each_other(
    biz: Business, lines: pl.DataFrame
) -> None:
    comp = biz.complements.select("product_id", "complement_product_id")
    pairs = (
        lines.select("order_key", "product_id")
        .join(lines.select("order_key", pl.col("product_id").alias("other")), on="order_key")
        .filter(pl.col("product_id") < pl.col("other"))
    )
    is_comp = pairs.join(
        comp, left_on=["product_id", "other"], right_on=["product_id", "complement_product_id"]
    )
    # a random same-basket pair of different products is a complement far less often
    assert is_comp.height / pairs.height > 0.1, (is_comp.height, pairs.height)
    # a repeat order's first product is often the complement of the customer's previous one
    seq = (
        lines.sort("purchased_at", "order_key")
        .group_by("order_key", maintain_order=True)
        .agg(pl.col("customer_id").first(), pl.col("product_id").first())
        .with_columns(prev=pl.col("product_id").shift(1).over("customer_id"))
        .drop_nulls("prev")
    )
    follows = seq.join(
        comp, left_on=["prev", "product_id"], right_on=["product_id", "complement_product_id"]
    )
    shuffled = seq.with_columns(pl.col("prev").shuffle(seed=1)).join(
        comp, left_on=["prev", "product_id"], right_on=["product_id", "complement_product_id"]
    )
    assert follows.height > 2 * shuffled.height, (follows.height, shuffled.height, seq.height)


def test_preferences_are_deterministic(biz: Business) -> None:
    again = Business(seed=42, end=END)
    assert again.customer_preferences.equals(biz.customer_preferences)
    assert again.orders.equals(biz.orders)


def test_customers_rarely_buy_after_their_buying_life(lines: pl.DataFrame) -> None:
    orders = lines.unique("order_key").with_columns(
        late=pl.col("purchased_at").dt.replace_time_zone(None) > pl.col("buying_until")
    )
    first = orders.group_by("customer_id").agg(pl.col("order_key").min().alias("first"))
    repeat = orders.join(first, on="customer_id").filter(pl.col("order_key") != pl.col("first"))
    assert repeat["late"].mean() < 0.05, repeat["late"].mean()
    assert orders.filter(pl.col("order_key").is_in(first["first"].implode()))["late"].sum() == 0


def test_logged_in_visitors_browse_their_favourite_category(biz: Business) -> None:
    """Product views of identified visitors fall in the customer's favourite category far more
    often than any category's share of anonymous views (the tastes show in the clickstream,
    so views and cart adds carry signal for the recommendations)."""
    from sandbox.exports.events import storefront_events
    from sandbox.shopify.common import CUSTOMER_ID_BASE

    events = storefront_events(biz, date(2025, 2, 1), date(2025, 2, 15))
    category = (
        biz.listings.join(biz.products.select("product_id", "category"), on="product_id")
        .select(pl.col("channel_sku").alias("sku"), "category")
        .unique("sku")
    )
    views = events.filter(pl.col("event") == "product_viewed").join(category, on="sku")
    known = (
        views.filter(pl.col("user_id").is_not_null())
        .with_columns(
            customer_id=pl.col("user_id").str.extract(r"(\d+)$").cast(pl.Int64) - CUSTOMER_ID_BASE
        )
        .join(biz.customer_preferences, on="customer_id")
    )
    in_favourite = (known["category"] == known["favourite_category"]).mean()
    anonymous = views.filter(pl.col("user_id").is_null())["category"].value_counts(normalize=True)
    assert known.height > 1000
    assert in_favourite > 0.5 > 2 * anonymous["proportion"].max()
