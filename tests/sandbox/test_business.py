"""Tests of the deterministic simulated business behind the sandbox emulators."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from sandbox.business import ACCOUNTS, SIM_EPOCH, Business

END = date(2025, 9, 1)
CUTOFF = date(2025, 6, 1)
NOW = datetime(2025, 8, 20, 15, 30, tzinfo=UTC)
FRAMES = (
    "storefronts",
    "products",
    "listings",
    "prices",
    "locations",
    "customers",
    "orders",
    "order_lines",
    "refunds",
    "inventory_daily",
    "traffic_daily",
    "fees",
)
TARGET_PER_DAY = {
    "ATVPDKIKX0DER": 30,
    "A2EUQ1WTGCTBG2": 5,
    "A1F83G8C2ARO7P": 6,
    "A1PA6795UKMFR9": 7,
    "A13V1IB3VIYZZH": 4,
    "channelhouse-demo": 25,
    "channelhouse-eu": 8,
    "WALMART_US": 15,
}


@pytest.fixture(scope="module")
def biz() -> Business:
    return Business(seed=42, end=END)


@pytest.fixture(scope="module")
def biz_short() -> Business:
    return Business(seed=42, end=CUTOFF)


@pytest.fixture(scope="module")
def lines_full(biz: Business) -> pl.DataFrame:
    """Order lines with their order's storefront, time and the listing's stock location."""
    return (
        biz.order_lines.join(biz.orders, on="order_key")
        .join(
            biz.listings.select("account", "marketplace_id", "product_id", "location_id"),
            on=["account", "marketplace_id", "product_id"],
        )
        .with_columns(
            pl.col("purchased_at").dt.date().alias("date"),
            (pl.col("unit_price") * pl.col("quantity")).round(2).alias("gross"),
        )
    )


def gs1_valid(code: str) -> bool:
    digits = [int(c) for c in code]
    weights = [3 if i % 2 == 0 else 1 for i in range(len(digits) - 1)][::-1]
    total = sum(d * w for d, w in zip(digits[:-1], weights, strict=True))
    return (10 - total % 10) % 10 == digits[-1]


# --- construction, determinism, causality ---------------------------------------------------
def test_construction_time_scale_1() -> None:
    started = time.perf_counter()
    business = Business(seed=42)  # SIM_EPOCH .. today
    elapsed = time.perf_counter() - started
    print(f"\nBusiness(scale=1.0, end=today) built in {elapsed:.2f} s")
    for name in FRAMES:
        print(f"  {name}: {getattr(business, name).height} rows")
    assert elapsed < 30


def test_same_seed_gives_identical_frames(biz: Business) -> None:
    again = Business(seed=42, end=END)
    for name in FRAMES:
        assert_frame_equal(getattr(biz, name), getattr(again, name))


def test_different_seed_differs(biz: Business) -> None:
    other = Business(seed=7, end=END)
    assert not other.orders.equals(biz.orders)
    assert not other.products.equals(biz.products)
    assert other.products.height == pytest.approx(biz.products.height, abs=30)


def test_moving_end_does_not_change_the_past(biz: Business, biz_short: Business) -> None:
    def before(frame: pl.DataFrame, column: str) -> pl.DataFrame:
        return frame.filter(pl.col(column).cast(pl.Date) < CUTOFF)

    short_orders = biz_short.orders
    assert short_orders.height > 40_000
    assert_frame_equal(short_orders, before(biz.orders, "purchased_at"))
    keys = short_orders["order_key"].implode()
    for name in ("order_lines", "refunds", "fees"):
        full = getattr(biz, name).filter(pl.col("order_key").is_in(keys))
        assert_frame_equal(getattr(biz_short, name), full)
    for name, column in [
        ("customers", "created_at"),
        ("inventory_daily", "date"),
        ("traffic_daily", "date"),
        ("prices", "valid_from"),
        ("products", "launch_date"),
    ]:
        assert_frame_equal(getattr(biz_short, name), before(getattr(biz, name), column))
    # Listing status (is_active, listed_until) is reported as of `end`; the rest is fixed.
    stable = pl.exclude("is_active", "listed_until")
    assert_frame_equal(
        biz_short.listings.select(stable), before(biz.listings, "listed_from").select(stable)
    )


# --- structure and identifiers ---------------------------------------------------------------
def test_storefronts_are_the_fixed_accounts(biz: Business) -> None:
    assert biz.storefronts.columns == [
        "account",
        "channel",
        "marketplace_id",
        "currency",
        "country",
    ]
    assert biz.storefronts.rows() == [tuple(s) for s in ACCOUNTS]
    assert ("amazon_eu", "amazon", "A1F83G8C2ARO7P", "GBP", "GB") in biz.storefronts.rows()


def test_schemas(biz: Business) -> None:
    utc = pl.Datetime("us", "UTC")
    assert biz.orders.schema["order_key"] == pl.Int64
    assert biz.orders.schema["purchased_at"] == utc
    assert biz.orders.schema["cancelled_at"] == utc
    assert biz.order_lines.schema["line_number"] == pl.Int32
    assert biz.order_lines.schema["quantity"] == pl.Int32
    assert biz.refunds.schema["quantity"] == pl.Int32
    assert biz.products.schema["launch_date"] == pl.Date
    assert biz.listings.schema["is_active"] == pl.Boolean
    assert biz.inventory_daily.schema["available"] == pl.Int64
    assert biz.customers.schema["created_at"] == utc
    assert biz.orders.columns[:4] == ["order_key", "account", "marketplace_id", "currency"]
    assert biz.order_lines.columns == [
        "order_key", "line_number", "line_id", "product_id", "channel_sku", "quantity",
        "unit_price", "discount", "tax",
    ]  # fmt: skip


def test_keys_are_unique(biz: Business) -> None:
    unique_on = {
        "products": ["product_id"],
        "listings": ["account", "marketplace_id", "product_id"],
        "prices": ["account", "marketplace_id", "product_id", "valid_from"],
        "customers": ["customer_id"],
        "orders": ["order_key"],
        "order_lines": ["order_key", "line_number"],
        "refunds": ["refund_id"],
        "inventory_daily": ["date", "account", "location_id", "product_id"],
        "traffic_daily": ["date", "account", "marketplace_id", "product_id"],
        "fees": ["order_key", "line_number", "fee_type"],
    }
    for name, keys in unique_on.items():
        frame = getattr(biz, name)
        assert frame.select(keys).is_duplicated().sum() == 0, name
    assert biz.products["sku"].is_unique().all() and biz.products["gtin"].is_unique().all()
    assert biz.orders.select("account", "channel_order_id").is_duplicated().sum() == 0
    amazon_lines = biz.order_lines.join(biz.orders, on="order_key").filter(
        pl.col("account").str.starts_with("amazon")
    )
    assert amazon_lines["line_id"].is_unique().all()


def test_product_identifiers(biz: Business) -> None:
    products = biz.products
    assert products.height >= 250  # ~300, a few launch after `end`
    assert products["category"].n_unique() == 8 and products["brand"].n_unique() >= 15
    for gtin, upc, sku in products.select("gtin", "upc", "sku").iter_rows():
        assert re.fullmatch(r"\d{14}", gtin) and gs1_valid(gtin)
        assert upc == gtin[2:] and gs1_valid(upc)
        assert re.fullmatch(r"CH-\d{5}", sku)
    assert (products["unit_cost_usd"] < products["list_price_usd"]).all()


def test_listings(biz: Business) -> None:
    listings = biz.listings.join(biz.products, on="product_id", suffix="_product")
    per_product = listings.group_by("product_id").agg(
        pl.col("account").str.split("_").list.first().n_unique().alias("channels")
    )
    assert per_product["channels"].min() >= 1 and per_product["channels"].max() <= 3
    assert per_product.height > 0.9 * biz.products.height
    assert (listings["listed_from"] >= listings["launch_date"]).all()
    amazon = listings.filter(pl.col("account").str.starts_with("amazon"))
    assert amazon["channel_item_id"].str.contains(r"^B0[0-9A-Z]{8}$").all()
    asins = amazon.group_by("product_id").agg(pl.col("channel_item_id").n_unique())
    assert (asins["channel_item_id"] == 1).all()
    assert amazon.group_by("product_id").len()["len"].max() > 1  # several marketplaces
    assert set(amazon["fulfillment"]) == {"AFN", "MFN"}
    fba = amazon.filter(pl.col("channel_sku").str.ends_with("-FBA"))
    assert 0.05 < fba.height / amazon.height < 0.16
    assert (fba["channel_sku"] == fba["sku"] + "-FBA").all()
    walmart = listings.filter(pl.col("account") == "walmart_us")
    assert walmart["channel_item_id"].str.contains(r"^\d+$").all()
    assert walmart["channel_product_id"].str.contains(r"^[0-9A-Z]{12}$").all()
    wm = walmart.filter(pl.col("channel_sku").str.starts_with("WM-"))
    assert wm.height > 0 and (wm["channel_sku"] == "WM-" + wm["gtin"].str.slice(6)).all()
    shopify = listings.filter(pl.col("account").str.starts_with("shopify"))
    assert shopify["channel_item_id"].str.contains(r"^\d+$").all()
    assert (shopify["fulfillment"] == "merchant").all()
    assert shopify["location_id"].str.starts_with("gid://shopify/Location/").all()
    assert set(biz.locations["location_id"]) >= set(biz.listings["location_id"])


def test_prices_in_local_currency_with_changes(biz: Business, lines_full: pl.DataFrame) -> None:
    prices = biz.prices
    assert ((prices["price"] * 100).round() % 100 == 99).all()
    changes = prices.group_by("account", "marketplace_id", "product_id").len()
    assert changes["len"].max() >= 4 and changes["len"].mean() > 2
    # The unit price of every line is the price in force on its purchase date.
    in_force = lines_full.sort("date").join_asof(
        prices.sort("valid_from"),
        left_on="date",
        right_on="valid_from",
        by=["account", "marketplace_id", "product_id"],
        check_sortedness=False,
    )
    assert (in_force["price"] == in_force["unit_price"]).all()
    # Indicative conversion: a product's CAD price is about 1.36 times its USD price.
    usd = biz.current_prices(NOW).filter(pl.col("currency").is_in(["USD", "CAD"]))
    usd = usd.filter(pl.col("account") == "amazon_na").pivot(
        on="currency", index="product_id", values="price"
    )
    ratio = (usd["CAD"] / usd["USD"]).drop_nulls()
    assert 1.15 < ratio.median() < 1.6


# --- orders, lines, refunds ---------------------------------------------------------------
def test_order_invariants(biz: Business, lines_full: pl.DataFrame) -> None:
    orders, lines = biz.orders, biz.order_lines
    assert orders["order_key"].is_in(lines["order_key"].implode()).all()
    assert lines["order_key"].is_in(orders["order_key"].implode()).all()
    assert (lines["quantity"] >= 1).all()
    assert ((lines_full["discount"] >= 0) & (lines_full["discount"] <= lines_full["gross"])).all()
    assert (lines_full["discount"] > 0).mean() > 0.02  # promotions happen
    us = lines_full.filter(pl.col("currency") == "USD")
    other = lines_full.filter(pl.col("currency") != "USD")
    assert (other["tax"] == 0).all()
    rate = us["tax"].sum() / (us["gross"] - us["discount"]).sum()
    assert 0.06 < rate < 0.09
    assert orders["purchased_at"].is_sorted()
    shipped = orders.filter(pl.col("shipped_at").is_not_null())
    ship_delay = shipped["shipped_at"] - shipped["purchased_at"]
    assert ship_delay.min() >= timedelta(hours=1) and ship_delay.max() <= timedelta(days=3)
    transit = shipped["delivered_at"] - shipped["shipped_at"]
    assert transit.min() >= timedelta(days=2) and transit.max() <= timedelta(days=7)
    cancelled = orders.filter(pl.col("cancelled_at").is_not_null())
    assert cancelled["shipped_at"].null_count() == cancelled.height
    assert 0.01 < cancelled.height / orders.height < 0.03
    assert orders["channel_order_name"].filter(orders["account"] == "shopify_us")[0] == "#1001"
    amazon = orders.filter(pl.col("account").str.starts_with("amazon"))
    assert amazon["channel_order_id"].str.contains(r"^\d{3}-\d{7}-\d{7}$").all()
    walmart = orders.filter(pl.col("account") == "walmart_us")
    assert walmart["channel_order_id"].str.contains(r"^[1-9]\d{12}$").all()
    assert walmart["channel_order_name"].str.contains(r"^[1-9]\d{12}$").all()


def test_refunds(biz: Business, lines_full: pl.DataFrame) -> None:
    refunds = biz.refunds.join(lines_full, on=["order_key", "line_number"])
    assert refunds.height == biz.refunds.height
    net = refunds["gross"] - refunds["discount"]
    assert (refunds["amount"] > 0).all() and (refunds["amount"] <= net + 1e-9).all()
    assert (refunds["quantity"] >= 1).all()
    assert (refunds["quantity"] <= refunds["quantity_right"]).all()
    assert refunds["cancelled_at"].null_count() == refunds.height
    assert (refunds["refunded_at"] > refunds["delivered_at"]).all()
    age = refunds["refunded_at"] - refunds["purchased_at"]
    assert age.min() >= timedelta(days=5)
    refunded_orders = refunds["order_key"].n_unique() / biz.orders.height
    assert 0.05 <= refunded_orders <= 0.08
    part_quantity = (refunds["quantity"] < refunds["quantity_right"]).sum()
    refunded_lines = refunds.group_by("order_key").len()
    order_lines = lines_full.group_by("order_key").len()
    one_of_many = refunded_lines.join(order_lines, on="order_key").filter(
        pl.col("len") < pl.col("len_right")
    )
    assert part_quantity > 0 and one_of_many.height > 0


def test_no_sales_outside_listing_period(biz: Business, lines_full: pl.DataFrame) -> None:
    listed = lines_full.join(
        biz.listings.select(
            "account", "marketplace_id", "product_id", "listed_from", "listed_until"
        ),
        on=["account", "marketplace_id", "product_id"],
    ).join(biz.products.select("product_id", "launch_date"), on="product_id")
    assert listed.height == lines_full.height
    assert (listed["date"] >= listed["listed_from"]).all()
    assert (listed["date"] >= listed["launch_date"]).all()
    delisted = listed.filter(pl.col("listed_until").is_not_null())
    assert (delisted["date"] < delisted["listed_until"]).all()


def test_volume_close_to_targets(biz: Business) -> None:
    per_day = (
        biz.orders.group_by("marketplace_id")
        .len()
        .with_columns((pl.col("len") / biz.n_days).alias("per_day"))
    )
    for marketplace, observed in per_day.select("marketplace_id", "per_day").iter_rows():
        target = TARGET_PER_DAY[marketplace]
        assert 0.7 * target <= observed <= 1.3 * target, (marketplace, observed)


def test_q4_peak_and_weekends(biz: Business) -> None:
    daily = biz.orders.group_by(pl.col("purchased_at").dt.date().alias("d")).len()
    q4 = daily.filter(pl.col("d").is_between(date(2024, 11, 1), date(2024, 12, 31)))
    summer = daily.filter(pl.col("d").is_between(date(2024, 6, 1), date(2024, 8, 31)))
    assert q4["len"].mean() > 1.3 * summer["len"].mean()
    shopify = biz.orders.filter(pl.col("account") == "shopify_us").with_columns(
        pl.col("purchased_at").dt.weekday().alias("weekday")
    )
    by_day = shopify.group_by("weekday").len().sort("weekday")["len"]
    assert by_day[5:].mean() > by_day[:5].mean()  # Saturday and Sunday


def test_customers(biz: Business) -> None:
    orders_per = biz.orders.group_by("customer_id").len()
    assert (orders_per["len"] >= 5).sum() >= 50
    assert (orders_per["len"] == 1).mean() > 0.6
    customers = biz.customers
    assert set(customers["customer_id"]) == set(biz.orders["customer_id"])
    home = biz.orders.join(customers, on="customer_id", suffix="_customer")
    assert (home["account"] == home["account_customer"]).all()
    first_order = biz.orders.group_by("customer_id").agg(pl.col("purchased_at").min())
    created = customers.join(first_order, on="customer_id")
    assert (created["created_at"] == created["purchased_at"]).all()
    amazon = customers.filter(pl.col("account").str.starts_with("amazon"))
    assert amazon["email"].str.contains(r"^[0-9a-f]+@marketplace\.amazon\.com$").all()
    walmart = customers.filter(pl.col("account") == "walmart_us")
    relay = walmart["email"].str.contains(r"^[0-9A-F]+@relay\.walmart\.com$")
    assert relay.mean() > 0.7
    us = customers.filter(pl.col("account").is_in(["shopify_us", "walmart_us"]))
    shared = us.group_by("email").agg(pl.col("account").n_unique().alias("accounts"))
    shared_emails = shared.filter(pl.col("accounts") == 2)["email"].implode()
    share = us["email"].is_in(shared_emails).mean()
    assert 0.08 < share < 0.25
    assert walmart.filter(~relay)["email"].is_in(shared_emails).all()


# --- inventory, traffic, fees ---------------------------------------------------------------
def test_inventory_invariants_and_censoring(biz: Business, lines_full: pl.DataFrame) -> None:
    inv = biz.inventory_daily
    assert (inv["on_hand"] == inv["available"] + inv["reserved"]).all()
    assert inv.select(pl.col("available", "reserved", "inbound").min()).row(0) >= (0, 0, 0)
    assert (inv["available"] == 0).sum() > 0 and (inv["inbound"] > 0).sum() > 0
    sold = lines_full.group_by("date", "account", "location_id", "product_id").agg(
        pl.col("quantity").sum()
    )
    keys = ["date", "account", "location_id", "product_id"]
    checked = inv.join(sold, on=keys, how="left").with_columns(pl.col("quantity").fill_null(0))
    assert sold.height == sold.join(inv, on=keys).height  # every sale has a stock row
    assert (checked["quantity"] <= checked["available"]).all()
    stockout_days = checked.filter(pl.col("available") == 0)
    assert stockout_days.height > 100 and (stockout_days["quantity"] == 0).all()
    # Stock is replenished: listings that ran out have stock again later.
    recovered = inv.group_by(keys[1:]).agg(
        (pl.col("available") == 0).any().alias("out"), pl.col("available").last().alias("last")
    )
    assert recovered.filter("out")["last"].gt(0).mean() > 0.5


def test_traffic(biz: Business, lines_full: pl.DataFrame) -> None:
    traffic = biz.traffic_daily
    assert traffic["account"].str.starts_with("amazon").all()
    assert (traffic["sessions"] > 0).all()
    assert (traffic["browser_sessions"] + traffic["mobile_sessions"] == traffic["sessions"]).all()
    assert (traffic["page_views"] >= traffic["sessions"]).all()
    assert traffic["buy_box_pct"].is_between(0, 100).all()
    amazon_lines = lines_full.filter(pl.col("account").str.starts_with("amazon")).height
    conversion = amazon_lines / traffic["sessions"].sum()
    assert 0.05 <= conversion <= 0.15


def test_fees(biz: Business, lines_full: pl.DataFrame) -> None:
    fees = biz.fees.join(lines_full, on=["order_key", "line_number"])
    assert fees.height == biz.fees.height
    assert fees["account"].str.starts_with("amazon").all()
    assert (fees["amount"] < 0).all()
    assert (fees["posted_at"] == fees["shipped_at"]).all()
    assert set(fees["fee_type"]) == {"Commission", "FBAPerUnitFulfillmentFee"}
    fba = fees.filter(pl.col("fee_type") == "FBAPerUnitFulfillmentFee")
    assert (fba["fulfillment"] == "AFN").all()
    commission = fees.filter(pl.col("fee_type") == "Commission")
    share = -commission["amount"].sum() / (commission["gross"] - commission["discount"]).sum()
    assert share == pytest.approx(0.15, abs=0.002)
    shipped_amazon = lines_full.filter(
        pl.col("account").str.starts_with("amazon"), pl.col("shipped_at").is_not_null()
    )
    assert commission.height == shipped_amazon.height


# --- views --------------------------------------------------------------------------------------
def test_orders_view_shows_only_the_past(biz: Business) -> None:
    view = biz.orders_view(NOW)
    assert view.height == biz.orders.filter(pl.col("purchased_at") <= NOW).height
    for column in ("shipped_at", "delivered_at", "cancelled_at", "last_updated_at"):
        assert (view[column].drop_nulls() <= NOW).all(), column
    assert (view["last_updated_at"] >= view["purchased_at"]).all()
    assert set(view["status"]) <= {"pending", "unshipped", "shipped", "delivered", "cancelled"}
    recent = view.filter(pl.col("purchased_at") > NOW - timedelta(days=3))
    assert {"unshipped", "shipped"} <= set(recent["status"])
    pending = view.filter(pl.col("status") == "pending")
    assert (pending["purchased_at"] > NOW - timedelta(minutes=30)).all()
    # An order shipped after NOW is shown unshipped, without its future ship date.
    future_ship = biz.orders.filter(pl.col("purchased_at") <= NOW, pl.col("shipped_at") > NOW)
    shown = view.join(future_ship.select("order_key"), on="order_key")
    assert shown.height > 0 and shown["shipped_at"].null_count() == shown.height
    assert set(shown["status"]) <= {"pending", "unshipped"}
    refunds = biz.refunds_view(NOW)
    assert (refunds["refunded_at"] <= NOW).all()
    assert view["refunded_amount"].sum() == pytest.approx(refunds["amount"].sum())
    assert set(view["is_refunded"]) == {"none", "partial", "full"}
    lines = biz.lines_view(NOW)
    assert set(lines["order_key"]) == set(view["order_key"])


def test_views_are_fast(biz: Business) -> None:
    biz.orders_view(NOW - timedelta(days=1))  # warm-up
    started = time.perf_counter()
    for i in range(10):
        biz.orders_view(NOW + timedelta(seconds=i))
    per_call = (time.perf_counter() - started) / 10
    print(f"\norders_view: {per_call * 1000:.1f} ms per call")
    assert per_call < 0.25


def test_ground_truth_matches_the_lines(biz: Business) -> None:
    truth = biz.ground_truth(NOW)
    lines = biz.lines_view(NOW).join(biz.orders, on="order_key")
    by_hand = lines.group_by("account", "marketplace_id", "currency").agg(
        pl.col("order_key").n_unique().alias("orders"),
        pl.len().alias("lines"),
        pl.col("quantity").sum().alias("units"),
        (pl.col("unit_price") * pl.col("quantity")).round(2).sum().alias("gross"),
        pl.col("discount").sum(),
        pl.col("refunded_amount").sum().alias("refunded"),
    )
    totals = truth.group_by("account", "marketplace_id", "currency").agg(
        pl.col("orders", "lines", "units", "gross", "discount", "refunded").sum()
    )
    joined = totals.join(by_hand, on=["account", "marketplace_id", "currency"], suffix="_lines")
    assert joined.height == 8
    for column in ("orders", "lines", "units"):
        assert (joined[column] == joined[f"{column}_lines"]).all()
    for column in ("gross", "discount", "refunded"):
        assert ((joined[column] - joined[f"{column}_lines"]).abs() < 0.01).all(), column
    assert truth["purchase_date"].max() == NOW.date()
    one = biz.ground_truth(NOW, account="walmart_us")
    assert set(one["account"]) == {"walmart_us"}
    assert (
        one["orders"].sum() == biz.orders_view(NOW).filter(pl.col("account") == "walmart_us").height
    )


def test_inventory_at_and_current_prices(biz: Business) -> None:
    stock = biz.inventory_at(NOW)
    day = biz.inventory_daily.filter(pl.col("date") == NOW.date()).drop("date")
    keys = ["account", "location_id", "product_id"]
    assert_frame_equal(stock.select(day.columns).sort(keys), day.sort(keys))
    assert (stock["last_updated_at"] <= NOW).all()
    assert (stock["last_updated_at"] >= datetime.combine(SIM_EPOCH, datetime.min.time(), UTC)).all()
    prices = biz.current_prices(NOW)
    assert {"price", "currency"} <= set(prices.columns)
    assert (prices["listed_from"] <= NOW.date()).all()
    latest = (
        biz.prices.filter(pl.col("valid_from") <= NOW.date())
        .sort("valid_from")
        .group_by("account", "marketplace_id", "product_id")
        .last()
    )
    joined = prices.join(latest, on=["account", "marketplace_id", "product_id"])
    assert joined.height == prices.height and (joined["price"] == joined["price_right"]).all()


def test_apply_late_update() -> None:
    business = Business(seed=42, end=date(2024, 12, 1))
    now = datetime(2024, 11, 30, 18, 0, 5, tzinfo=UTC)
    before = business.ground_truth(now)["refunded"].sum()
    keys = business.apply_late_update("walmart_us", 5, now)
    assert len(keys) == 5 and keys == sorted(set(keys))
    view = business.orders_view(now).filter(pl.col("order_key").is_in(keys))
    assert (view["account"] == "walmart_us").all()
    assert (view["last_updated_at"] == now).all()
    assert (view["is_refunded"] == "full").all() and (view["status"] == "delivered").all()
    assert (view["purchased_at"] < now - timedelta(days=60)).all()
    net = (
        business.order_lines.filter(pl.col("order_key").is_in(keys))
        .select(((pl.col("unit_price") * pl.col("quantity")).round(2) - pl.col("discount")).sum())
        .item()
    )
    assert view["refunded_amount"].sum() == pytest.approx(net)
    assert business.ground_truth(now)["refunded"].sum() == pytest.approx(before + net)
    late = business.refunds_view(now).filter(pl.col("refunded_at") == now)
    assert set(late["order_key"]) == set(keys)
    earlier = now - timedelta(seconds=1)
    assert business.orders_view(earlier).filter(pl.col("order_key").is_in(keys))[
        "refunded_amount"
    ].sum() == pytest.approx(0)
    # Deterministic, and never the same order twice.
    again = Business(seed=42, end=date(2024, 12, 1))
    assert again.apply_late_update("walmart_us", 5, now) == keys
    more = business.apply_late_update("walmart_us", 5, now)
    assert not set(more) & set(keys)
    with pytest.raises(ValueError, match="unknown account"):
        business.apply_late_update("ebay", 1, now)
