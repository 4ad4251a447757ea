"""The simulation's results as polars frames: orders, lines, refunds, customers, inventory,
traffic, fees, listings and prices."""

from __future__ import annotations

import numpy as np
import polars as pl

from sandbox.business.catalog import (
    _Listings,
    _Schedule,
)
from sandbox.business.fraud import RING_BILLING_COUNTRIES
from sandbox.business.numeric import (
    _dates,
    _feistel,
    _hex,
    _mix64,
    _pick,
    _ts,
)
from sandbox.business.parameters import (
    _AFN,
    _AMAZON,
    _AMAZON_ORDER_PREFIXES,
    _COMMISSION_RATE,
    _FIRST_NAMES,
    _FULFILLMENTS,
    _LAST_NAMES,
    _NA,
    _REFUND_REASONS,
    _SF_CHANNEL,
    _SF_FX,
    _SHOPIFY,
    _WALMART,
    ACCOUNTS,
)
from sandbox.business.simulation import _Simulation

# the billing country of a customer whose card is issued abroad, by shipping country
_BILLING_ABROAD = {"US": "CA", "CA": "US", "GB": "IE", "DE": "AT", "FR": "BE"}


# ---------------------------------------------------------------------------------------------
# Frames
# ---------------------------------------------------------------------------------------------
def _storefront_columns(sf: np.ndarray) -> list[pl.Series]:
    return [
        _pick([s.account for s in ACCOUNTS], sf).alias("account"),
        _pick([s.marketplace_id for s in ACCOUNTS], sf).alias("marketplace_id"),
    ]


def _orders_frame(sim: _Simulation) -> pl.DataFrame:
    o = sim.orders
    keys, sf = o["order_key"], o["sf"]
    channel = _SF_CHANNEL[sf]
    amazon_number = _feistel(keys, 10**7, 4 * sim.seed + 1)
    prefixes = [p for sf_prefixes in _AMAZON_ORDER_PREFIXES for p in sf_prefixes]
    offset = np.cumsum([0] + [len(p) for p in _AMAZON_ORDER_PREFIXES])[np.minimum(sf, 4)]
    n_prefixes = np.array([len(p) for p in _AMAZON_ORDER_PREFIXES])[np.minimum(sf, 4)]
    frame = pl.DataFrame(
        {
            "order_key": keys,
            "_channel": channel,
            "_prefix": _pick(prefixes, offset + keys % n_prefixes),
            "_amazon": amazon_number,
            "_shopify": 5_600_000_000_000 + keys * 1_013,
            "_shopify_name": o["shopify_number"],
            "_po": (1 + keys % 9) * 10**12 + _feistel(keys, 10**6, 4 * sim.seed + 2),
            "_co": (1 + keys // 9 % 9) * 10**12 + _feistel(keys, 10**6, 4 * sim.seed + 3),
        }
    )
    amazon_id = pl.format(
        "{}-{}-{}",
        "_prefix",
        (pl.col("_amazon") // 10**7).cast(pl.Utf8).str.zfill(7),
        (pl.col("_amazon") % 10**7).cast(pl.Utf8).str.zfill(7),
    )
    is_amazon, is_shopify = pl.col("_channel") == _AMAZON, pl.col("_channel") == _SHOPIFY
    frame = frame.select(
        "order_key",
        *_storefront_columns(sf),
        _pick([s.currency for s in ACCOUNTS], sf).alias("currency"),
        pl.when(is_amazon)
        .then(amazon_id)
        .when(is_shopify)
        .then(pl.col("_shopify").cast(pl.Utf8))
        .otherwise(pl.col("_po").cast(pl.Utf8))
        .alias("channel_order_id"),
        pl.when(is_amazon)
        .then(amazon_id)
        .when(is_shopify)
        .then(pl.format("#{}", "_shopify_name"))
        .otherwise(pl.col("_co").cast(pl.Utf8))
        .alias("channel_order_name"),
    )
    return frame.with_columns(
        pl.Series("customer_id", o["customer_id"]),
        _ts("purchased_at", o["purchased_us"]),
        _ts("shipped_at", o["shipped_us"]),
        _ts("delivered_at", o["delivered_us"]),
        _ts("cancelled_at", o["cancelled_us"]),
        _pick(_FULFILLMENTS, o["fulfillment"]).alias("fulfillment"),
        pl.Series("shipping_price", o["shipping_price"]),
        pl.Series("shipping_tax", o["shipping_tax"]),
    )


def _lines_frame(sim: _Simulation, order_sf: np.ndarray) -> pl.DataFrame:
    ln = sim.lines
    keys, listing = ln["order_key"], ln["listing"]
    channel = _SF_CHANNEL[order_sf[keys - 1]]
    row = np.arange(1, keys.size + 1, dtype=np.int64)
    amazon_item = (60 + row % 10) * 10**12 + _feistel(row, 10**6, 4 * sim.seed + 4)
    frame = pl.DataFrame(
        {
            "order_key": keys,
            "line_number": ln["line_number"],
            "_channel": channel,
            "_amazon": amazon_item,
            "_shopify": 13_000_000_000_000 + row * 1_009,
        }
    )
    return frame.select(
        "order_key",
        "line_number",
        pl.when(pl.col("_channel") == _AMAZON)
        .then(pl.col("_amazon").cast(pl.Utf8))
        .when(pl.col("_channel") == _SHOPIFY)
        .then(pl.col("_shopify").cast(pl.Utf8))
        .otherwise(pl.col("line_number").cast(pl.Utf8))
        .alias("line_id"),
        pl.Series("product_id", sim.lst.product[listing] + 1, dtype=pl.Int64),
        _pick(sim.lst.channel_sku, listing).alias("channel_sku"),
        pl.Series("quantity", ln["quantity"], dtype=pl.Int32),
        pl.Series("unit_price", ln["unit_price"]),
        pl.Series("discount", ln["discount"]),
        pl.Series("tax", ln["tax"]),
    )


def _refunds_frame(sim: _Simulation) -> pl.DataFrame:
    r = sim.refunds
    return pl.DataFrame(
        {
            "order_key": r["order_key"],
            "line_number": r["line_number"].astype(np.int32),
            "quantity": r["quantity"].astype(np.int32),
            "amount": r["amount"],
        }
    ).select(
        pl.format("RF-{}-{}", "order_key", "line_number").alias("refund_id"),
        "order_key",
        "line_number",
        _ts("refunded_at", r["refunded_us"]),
        "quantity",
        "amount",
        _pick(_REFUND_REASONS, r["reason"]).alias("reason"),
    )


def _customers_frame(sim: _Simulation) -> pl.DataFrame:
    c = sim.customers.new
    ids, sf, link = c["customer_id"], c["sf"], c["link"]
    person = np.where(link > 0, link, ids)  # shared people take the Shopify customer's identity
    token = _mix64(person, sim.seed)
    first = (token >> np.uint64(20)) % np.uint64(len(_FIRST_NAMES))
    last = (token >> np.uint64(40)) % np.uint64(len(_LAST_NAMES))
    account, marketplace_id = _storefront_columns(sf)
    frame = pl.DataFrame(
        {
            "customer_id": ids,
            "_channel": _SF_CHANNEL[sf],
            "_shared": link > 0,
            "_person": person,
            "_amazon": _hex(token, upper=False),
            "_walmart": np.char.add(_hex(token, upper=True), _hex(_mix64(person, ~sim.seed), True)),
        }
    ).with_columns(
        _pick(_FIRST_NAMES, first.astype(np.int64)).alias("first_name"),
        _pick(_LAST_NAMES, last.astype(np.int64)).alias("last_name"),
    )
    real = pl.format(
        "{}.{}{}@example.{}",
        pl.col("first_name").str.to_lowercase(),
        pl.col("last_name").str.to_lowercase(),
        "_person",
        pl.when(pl.col("_person") % 3 == 0)
        .then(pl.lit("com"))
        .when(pl.col("_person") % 3 == 1)
        .then(pl.lit("org"))
        .otherwise(pl.lit("net")),
    )
    email = (
        pl.when(pl.col("_channel") == _AMAZON)
        .then(pl.format("{}@marketplace.amazon.com", "_amazon"))
        .when((pl.col("_channel") == _WALMART) & ~pl.col("_shared"))
        .then(pl.format("{}@relay.walmart.com", "_walmart"))
        .otherwise(real)
    )
    # where the customer's card is billed: at home, but for one Shopify customer in 40 abroad
    # (the neighbouring country: travellers, gifts), and the address ring's cards (fraud.py)
    home = np.array([s.country for s in ACCOUNTS])[sf]
    abroad = (_SF_CHANNEL[sf] == _SHOPIFY) & (token % np.uint64(40) == 0)
    billing = np.where(abroad, np.vectorize(_BILLING_ABROAD.get)(home), home).astype(object)
    address_of = ids.copy()
    ring = sim.customers.addresses
    if ring:
        at = np.searchsorted(ids, ring["customer_id"])
        address_of[at] = ring["address_of"]
        billing[at] = np.array(RING_BILLING_COUNTRIES)[ring["billing"]]
    return frame.select(
        "customer_id",
        account,
        email.alias("email"),
        "first_name",
        "last_name",
        _ts("created_at", c["created_us"]),
        marketplace_id,
        pl.Series("address_of", address_of, pl.Int64),
        pl.Series("billing_country", billing.tolist(), pl.Utf8),
    )


def _inventory_frame(sim: _Simulation) -> pl.DataFrame:
    lst = sim.lst
    days = np.arange(sim.n_days)
    day, listing = np.nonzero(days[:, None] >= lst.listed_day[None, :])
    available, reserved, inbound = (
        sim.snapshot[i, day, listing].astype(np.int64) for i in range(3)
    )
    return pl.DataFrame(
        [
            _dates("date", day),
            _pick([ACCOUNTS[s].account for s in lst.sf], listing).alias("account"),
            _pick(lst.location, listing).alias("location_id"),
            pl.Series("product_id", lst.product[listing] + 1, dtype=pl.Int64),
            pl.Series("available", available),
            pl.Series("reserved", reserved),
            pl.Series("inbound", inbound),
            pl.Series("on_hand", available + reserved),
        ]
    )


def _traffic_frame(sim: _Simulation) -> pl.DataFrame:
    t = sim.traffic
    listing, sessions, mobile = t["listing"], t["sessions"], t["mobile_sessions"]
    return pl.DataFrame(
        [
            _dates("date", t["day"]),
            *_storefront_columns(sim.lst.sf[listing]),
            pl.Series("product_id", sim.lst.product[listing] + 1, dtype=pl.Int64),
            pl.Series("sessions", sessions, dtype=pl.Int64),
            pl.Series("page_views", t["page_views"], dtype=pl.Int64),
            pl.Series("browser_sessions", sessions - mobile, dtype=pl.Int64),
            pl.Series("mobile_sessions", mobile, dtype=pl.Int64),
            pl.Series("buy_box_pct", t["buy_box_pct"]),
        ]
    )


def _fees_frame(sim: _Simulation, fba_fee_usd: np.ndarray) -> pl.DataFrame:
    """Amazon Commission and FBA fees per shipped line, posted when the order ships."""
    ln, o = sim.lines, sim.orders
    order = ln["order_key"] - 1
    sf, shipped = o["sf"][order], o["shipped_us"][order]
    net = (ln["unit_price"] * ln["quantity"]).round(2) - ln["discount"]
    fba_unit = (fba_fee_usd[sim.lst.product[ln["listing"]]] * _SF_FX[sf]).round(2)
    charged = (_SF_CHANNEL[sf] == _AMAZON) & (shipped != _NA)
    commission = np.flatnonzero(charged)
    fba = np.flatnonzero(charged & (o["fulfillment"][order] == _AFN))
    rows = np.r_[commission, fba]
    fee_type = np.r_[np.zeros(commission.size, np.int64), np.ones(fba.size, np.int64)]
    amount = np.r_[net[commission] * _COMMISSION_RATE, fba_unit[fba] * ln["quantity"][fba]]
    return pl.DataFrame(
        [
            pl.Series("order_key", ln["order_key"][rows]),
            pl.Series("line_number", ln["line_number"][rows], dtype=pl.Int32),
            _ts("posted_at", shipped[rows]),
            _pick(("Commission", "FBAPerUnitFulfillmentFee"), fee_type).alias("fee_type"),
            pl.Series("amount", -amount.round(2)),
        ]
    ).sort("order_key", "line_number", "fee_type")


def _listings_frame(lst: _Listings, n_days: int) -> pl.DataFrame:
    delisted = lst.delisted_day < n_days
    return pl.DataFrame(
        [
            *_storefront_columns(lst.sf),
            pl.Series("product_id", lst.product + 1, dtype=pl.Int64),
            pl.Series("channel_sku", lst.channel_sku, dtype=pl.Utf8),
            pl.Series("channel_item_id", lst.channel_item_id, dtype=pl.Utf8),
            pl.Series("channel_product_id", lst.channel_product_id, dtype=pl.Utf8),
            pl.Series("title", lst.title, dtype=pl.Utf8),
            _pick(_FULFILLMENTS, lst.fulfillment).alias("fulfillment"),
            pl.Series("is_active", ~delisted),
            _dates("listed_from", lst.listed_day),
            _dates("listed_until", lst.delisted_day, valid=delisted),
            pl.Series("location_id", lst.location, dtype=pl.Utf8),
        ]
    )


def _prices_frame(lst: _Listings, sch: _Schedule, n_days: int) -> pl.DataFrame:
    listing = np.r_[np.arange(lst.size), sch.price_listing]
    day = np.r_[lst.listed_day, sch.price_day]
    price = np.r_[lst.ref_price, sch.price]
    keep = day < n_days
    listing, day, price = listing[keep], day[keep], price[keep]
    order = np.lexsort((day, listing))
    listing, day, price = listing[order], day[order], price[order]
    changed = np.r_[True, (listing[1:] != listing[:-1]) | (price[1:] != price[:-1])]
    listing, day, price = listing[changed], day[changed], price[changed]
    return pl.DataFrame(
        [
            *_storefront_columns(lst.sf[listing]),
            pl.Series("product_id", lst.product[listing] + 1, dtype=pl.Int64),
            _dates("valid_from", day),
            pl.Series("price", price),
        ]
    )
