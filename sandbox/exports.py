"""Demo files for the inbox, made from the simulated business (deterministic from its seed).

:func:`write_demo_inbox` fills ``<data dir>/inbox/`` with what a seller would drop there:

* ``events/shopify_us/``, ``events/shopify_eu/``: the two Shopify storefronts' clickstream, one
  ``<storefront>-events-<UTC day>.ndjson.gz`` per day, in the shape of Shopify web-pixel /
  Segment-style events (``event``, ``anonymousId``, ``userId``, ``timestamp``, ``properties``,
  ``context.page``), with a ``mapping.yml``. Every Shopify order of the period is a session
  ending with a ``checkout_completed`` event that carries the order's id (the Shopify order GID,
  as the lake's ``shopify_order_id``), name, value (its subtotal after discounts) and products;
  visitors who do not buy browse, search, add to cart and abandon (about 2.5% of sessions
  convert). The files hold no session id: sessions are rebuilt downstream with the 30-minute
  rule, and some visitors come back after more than 30 minutes (buyers who visited 35 minutes
  to 3 days before their order, browsers who return); most buyers keep one anonymous id over
  all their orders, and logged-in customers carry their Shopify customer GID as ``userId``.
* ``product_costs/product_costs.csv``: the catalog's unit cost (USD) per product SKU of the
  warehouse (``dim_products.product_sku``: the most common listing SKU of the GTIN), effective
  from the simulation's first day, plus a cost change for about 10% of the SKUs half-way
  through the period.
* ``orders/etsy/``: a file-only channel, ``etsy``: a semicolon-separated "sold items" export
  in EUR with decimal commas and local (Europe/Berlin) times, and its ``mapping.yml``.

Files are written under a hidden temporary name and renamed, so a watcher never sees half a
file.
"""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from extractors.inbox.files import write_bytes_atomic, write_text_atomic
from sandbox.business import ACCOUNTS, SIM_EPOCH, Business
from sandbox.shopify.common import CUSTOMER_ID_BASE

__all__ = [
    "DEMO_DAYS",
    "EVENTS_MAPPING",
    "etsy_orders",
    "product_costs",
    "product_skus",
    "storefront_events",
    "write_demo_inbox",
    "write_storefront_events",
]

DEMO_DAYS = 90
SHOPS = ("shopify_us", "shopify_eu")
_EVENTS_STREAM, _ETSY_STREAM, _COSTS_STREAM = 9101, 9102, 9103
_UTC_OFFSET = {"shopify_us": -6, "shopify_eu": 1}  # the business's diurnal profile zones
_US = 1_000_000
_MINUTE = 60 * _US
_HOUR = 60 * _MINUTE

# Sessions per order (about 2.5% of sessions convert), of which part are return visits.
_BROWSE_PER_ORDER = 33.0
_RETURN_SHARE = 0.10  # browsing sessions whose visitor comes back later
_PRIOR_SHARE = 0.35  # buyers who visited in an earlier session
_MARGIN_DAYS = 4  # days generated around the period: sessions reach 3 days back, 2 ahead
_KNOWN_DEVICE = 0.6  # buyers whose anonymous id is the same on every order (one device)
_LOGGED_IN = 0.4  # buyers identified on every event, not only from checkout on
_BROWSER_LOGGED_IN = 0.08
_BOUNCE = 0.45
_CART_PER_VIEW = 0.09
_CHECKOUT_PER_CART = 0.4
_SEARCH = 0.15

# fmt: off
_HOURLY = np.array(
    [0.5, 0.3, 0.2, 0.15, 0.15, 0.2, 0.4, 0.7, 1.0, 1.2, 1.3, 1.35,
     1.4, 1.35, 1.3, 1.3, 1.35, 1.45, 1.6, 1.75, 1.8, 1.6, 1.2, 0.8]
)
# fmt: on
_HOURLY = _HOURLY / _HOURLY.sum()
# (utm_source, utm_medium, referrer); direct and organic traffic carry no UTM parameters.
_SOURCES = (
    (None, None, None),
    (None, None, "https://www.google.com/"),
    ("google", "cpc", "https://www.google.com/"),
    ("facebook", "paid_social", "https://www.facebook.com/"),
    ("instagram", "social", "https://l.instagram.com/"),
    ("newsletter", "email", None),
    ("tiktok", "paid_social", "https://www.tiktok.com/"),
)
_SOURCE_P_BROWSE = np.array([0.25, 0.25, 0.15, 0.12, 0.08, 0.08, 0.07])
_SOURCE_P_BUY = np.array([0.28, 0.20, 0.17, 0.08, 0.05, 0.17, 0.05])
_SEARCH_TERMS = ("gift", "sale", "black", "set", "large", "travel", "kitchen", "lamp")

EVENTS_MAPPING = """\
# Shopify storefront events (web pixel), one NDJSON.gz file per UTC day.
format: ndjson
channel: shopify
storefront_id: {account}
timestamp_format: iso
columns:
  event_id: id
  anonymous_id: anonymousId
  user_id: userId
  event_name: event
  occurred_at: timestamp
  sku: properties.sku
  quantity: properties.quantity
  value: properties.value
  currency: properties.currency
  order_id: properties.order_id
  page_url: context.page.url
  referrer: context.page.referrer
funnel_steps:
  page_viewed: page_view
  product_viewed: product_view
  product_added_to_cart: add_to_cart
  checkout_started: checkout
  checkout_completed: purchase
"""

ETSY_MAPPING = """\
# Etsy "sold order items" as the shop's spreadsheet tool saves it: semicolons, decimal commas,
# shop-local times. One row per item; shipping is on the order's first item.
format: csv
delimiter: ";"
decimal_comma: true
timestamp_format: "%d.%m.%Y %H:%M"
timezone: Europe/Berlin
currency: EUR
cancelled_statuses: [Canceled]
columns:
  order_id: Order ID
  line_id: Transaction ID
  ordered_at: Sale Date
  shipped_at: Date Shipped
  customer_id: Buyer User ID
  sku: SKU
  product_name: Item Name
  quantity: Quantity
  unit_price: Price
  discount: Discount Amount
  shipping: Order Shipping
  status: Status
"""


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------
def _mix(*parts: np.ndarray | int) -> np.ndarray:
    """A 64-bit hash of the element-wise combination of ``parts`` (splitmix64 rounds)."""
    size = next((np.size(p) for p in parts if np.ndim(p) > 0), 1)
    h = np.full(size, 0x9E3779B97F4A7C15, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for part in parts:
            value = np.broadcast_to(np.asarray(part, dtype=np.int64), (size,)).astype(np.uint64)
            h = h ^ (
                value + np.uint64(0x9E3779B97F4A7C15) + (h << np.uint64(6)) + (h >> np.uint64(2))
            )
            h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            h = h ^ (h >> np.uint64(31))
    return h


def _hex32(*parts: np.ndarray | int) -> pl.Series:
    """32 hex digits per element, from two independent hashes of ``parts``."""
    pairs = np.column_stack([_mix(*parts, 1), _mix(*parts, 2)]).astype(">u8")
    digits = np.frombuffer(pairs.tobytes().hex().encode("ascii"), dtype="S32")
    return pl.Series(digits.astype("U32"), dtype=pl.Utf8)


def _us(day: date) -> int:
    return int(datetime.combine(day, time(), UTC).timestamp()) * _US


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days)]


def _period(business: Business, days: int, end: date | None) -> tuple[date, date]:
    end = end or business.end
    return max(end - timedelta(days=days), SIM_EPOCH), end


def product_skus(business: Business) -> pl.DataFrame:
    """``product_id, product_sku``: the SKU the warehouse names each product by — the most
    common (upper-cased) SKU among the product's listings, ties: shortest, then alphabetical
    (int_listings_matched / dim_products)."""
    skus = business.listings.select(
        "product_id", pl.col("channel_sku").str.strip_chars().str.to_uppercase().alias("sku")
    )
    ranked = (
        skus.group_by("product_id", "sku")
        .len()
        .sort(
            ["product_id", "len", pl.col("sku").str.len_chars(), "sku"],
            descending=[False, True, False, False],
        )
        .group_by("product_id", maintain_order=True)
        .first()
    )
    return (
        business.products.select("product_id", "sku")
        .join(
            ranked.select("product_id", pl.col("sku").alias("listed")), on="product_id", how="left"
        )
        .select("product_id", pl.coalesce("listed", "sku").alias("product_sku"))
        .sort("product_id")
    )


# ---------------------------------------------------------------------------------------------
# Storefront events
# ---------------------------------------------------------------------------------------------
@dataclass
class _Shop:
    account: str
    sf: int
    domain: str
    currency: str
    offset_us: int
    catalog: pl.DataFrame  # day, sku, price, weight: listings live that day
    categories: dict[str, str]  # sku -> collection slug
    customer_ids: np.ndarray  # Shopify customers, by creation time
    customer_created: np.ndarray


def _shop(business: Business, account: str, start: date, end: date) -> _Shop:
    sf = next(i for i, s in enumerate(ACCOUNTS) if s.account == account)
    store = ACCOUNTS[sf]
    listings = business.listings.filter(pl.col("account") == account)
    sold = (
        business.order_lines.join(
            business.orders.filter(pl.col("account") == account).select("order_key"),
            on="order_key",
        )
        .group_by("product_id")
        .len("sold")
    )
    days = pl.DataFrame({"day": pl.date_range(start, end, eager=True)})
    live = (
        days.join(
            listings.select("product_id", "channel_sku", "listed_from", "listed_until"), how="cross"
        )
        .filter(
            (pl.col("listed_from") <= pl.col("day"))
            & (pl.col("listed_until").is_null() | (pl.col("listed_until") > pl.col("day")))
        )
        .sort("day")
    )
    prices = (
        business.prices.filter(pl.col("account") == account)
        .select("product_id", pl.col("valid_from").alias("day"), "price")
        .sort("day")
    )
    catalog = (
        live.join_asof(
            prices, on="day", by="product_id", strategy="backward", check_sortedness=False
        )
        .join(sold, on="product_id", how="left")
        .select(
            "day",
            pl.col("channel_sku").alias("sku"),
            pl.col("price").fill_null(0.0),
            ((pl.col("sold").fill_null(0) + 1).cast(pl.Float64) ** 0.8).alias("weight"),
        )
        .sort("day", "sku")
    )
    slugs = listings.join(business.products.select("product_id", "category"), on="product_id")
    categories = {
        sku: category.lower().replace(" ", "-")
        for sku, category in slugs.select("channel_sku", "category").iter_rows()
    }
    customers = business.customers.filter(pl.col("account") == account).sort("created_at")
    created = customers["created_at"].dt.epoch("us").to_numpy()
    return _Shop(
        account,
        sf,
        f"https://{store.marketplace_id}.myshopify.com",
        store.currency,
        _UTC_OFFSET[account] * _HOUR,
        catalog,
        categories,
        customers["customer_id"].to_numpy(),
        created,
    )


def _orders_of(business: Business, account: str, start: date, end: date) -> pl.DataFrame:
    """Shopify orders placed in [start, end): key, id, name, customer, time, value, products."""
    orders = business.orders.filter(
        (pl.col("account") == account)
        & (pl.col("purchased_at") >= datetime.combine(start, time(), UTC))
        & (pl.col("purchased_at") < datetime.combine(end, time(), UTC))
    )
    lines = (
        business.order_lines.join(orders.select("order_key"), on="order_key")
        .with_columns(
            ((pl.col("unit_price") * pl.col("quantity")).round(2) - pl.col("discount")).alias("net")
        )
        .sort("order_key", "line_number")
    )
    per_order = lines.group_by("order_key", maintain_order=True).agg(
        pl.col("net").sum().round(2).alias("value"),
        pl.struct(
            pl.col("channel_sku").alias("sku"),
            pl.col("quantity").cast(pl.Int64),
            pl.col("unit_price").alias("price"),
        ).alias("products"),
    )
    return (
        orders.join(per_order, on="order_key")
        .select(
            "order_key",
            pl.format("gid://shopify/Order/{}", "channel_order_id").alias("order_id"),
            pl.col("channel_order_name").alias("order_name"),
            "customer_id",
            pl.col("purchased_at").dt.epoch("us").alias("purchased_us"),
            "value",
            "products",
        )
        .sort("purchased_us", "order_key")
    )


def _landing(
    rng: np.random.Generator, shop: _Shop, n: int, buying: bool, skus: np.ndarray
) -> dict[str, list]:
    """Landing page URL (with UTM parameters) and referrer per session; ``skus`` is a product
    of interest per session (for product landing pages)."""
    source = rng.choice(len(_SOURCES), size=n, p=_SOURCE_P_BUY if buying else _SOURCE_P_BROWSE)
    kind = rng.choice(3, size=n, p=[0.45, 0.3, 0.25])
    campaign = rng.integers(1, 6, size=n)
    urls, referrers = [], []
    for s, k, sku, c in zip(
        source.tolist(), kind.tolist(), skus.tolist(), campaign.tolist(), strict=True
    ):
        utm, medium, referrer = _SOURCES[s]
        if k == 0 or sku is None:
            path = "/"
        elif k == 1:
            path = f"/collections/{shop.categories.get(sku, 'all')}"
        else:
            path = f"/products/{sku.lower()}"
        query = f"?utm_source={utm}&utm_medium={medium}&utm_campaign=c{c}" if utm else ""
        urls.append(shop.domain + path + query)
        referrers.append(referrer)
    return {"page": urls, "referrer": referrers}


def _browse_events(
    rng: np.random.Generator,
    shop: _Shop,
    sessions: np.ndarray,
    catalog: pl.DataFrame,
    depth_scale: float = 1.0,
) -> pl.DataFrame:
    """Events of sessions that do not buy (``sessions``: ascending keys): land, maybe search,
    view products, add some to the cart, sometimes start a checkout, and leave."""
    n = sessions.size
    views = np.where(
        rng.random(n) < _BOUNCE / depth_scale, 0, 1 + rng.poisson(0.8 * depth_scale, n)
    )
    total = int(views.sum())
    weights = catalog["weight"].to_numpy()
    pick = rng.choice(catalog.height, size=total, p=weights / weights.sum())
    view_session = np.repeat(sessions, views)
    view_rank = np.arange(total) - np.repeat(np.cumsum(views) - views, views)
    carted = rng.random(total) < _CART_PER_VIEW * depth_scale
    quantity = np.where(carted, 1 + (rng.random(total) < 0.15), 0)
    price = catalog["price"].to_numpy()[pick]
    skus = catalog["sku"].to_numpy()[pick]
    cart_value = np.bincount(
        np.searchsorted(sessions, view_session), weights=price * quantity, minlength=n
    )
    checkout = (cart_value > 0) & (rng.random(n) < _CHECKOUT_PER_CART)
    search = rng.random(n) < _SEARCH
    first_sku = np.full(n, None, dtype=object)
    has_view = views > 0
    first_sku[has_view] = skus[np.cumsum(views)[has_view] - views[has_view]]
    landing = _landing(rng, shop, n, False, first_sku)
    term = rng.integers(len(_SEARCH_TERMS), size=n)
    product_urls = [f"{shop.domain}/products/{s.lower()}" for s in skus.tolist()]
    tokens = _hex32(shop.sf, sessions, 7).str.slice(0, 24)
    frames = [
        pl.DataFrame(
            {
                "session": sessions,
                "seq": 0,
                "event": "page_viewed",
                "page": landing["page"],
                "referrer": landing["referrer"],
            }
        ),
        pl.DataFrame(
            {
                "session": sessions[search],
                "seq": 1,
                "event": "search_submitted",
                "page": [
                    f"{shop.domain}/search?q={_SEARCH_TERMS[t]}" for t in term[search].tolist()
                ],
            }
        ),
        pl.DataFrame(
            {
                "session": view_session,
                "seq": 10 + 2 * view_rank,
                "event": "product_viewed",
                "sku": skus,
                "quantity": np.ones(total, dtype=np.int64),
                "value": price,
                "page": product_urls,
            }
        ),
        pl.DataFrame(
            {
                "session": view_session[carted],
                "seq": 11 + 2 * view_rank[carted],
                "event": "product_added_to_cart",
                "sku": skus[carted],
                "quantity": quantity[carted].astype(np.int64),
                "value": (price * quantity)[carted].round(2),
                "page": [u for u, c in zip(product_urls, carted.tolist(), strict=True) if c],
            }
        ),
        pl.DataFrame(
            {
                "session": sessions[checkout],
                "seq": 1000,
                "event": "checkout_started",
                "value": cart_value[checkout].round(2),
                "page": [
                    f"{shop.domain}/checkouts/cn/{t}" for t in tokens.filter(pl.Series(checkout))
                ],
            }
        ),
    ]
    return pl.concat(
        [f.with_columns(pl.col("seq").cast(pl.Int64)) for f in frames], how="diagonal_relaxed"
    )


def _buying_events(
    rng: np.random.Generator,
    shop: _Shop,
    sessions: np.ndarray,
    orders: pl.DataFrame,
    catalog: pl.DataFrame,
) -> pl.DataFrame:
    """Events of the sessions that end with an order: land, maybe look at other products,
    view and add each product of the order, check out, complete the checkout."""
    n = sessions.size
    products = (
        orders.select(pl.int_range(pl.len()).alias("i"), "products")
        .explode("products")
        .unnest("products")
    )
    line_session = sessions[products["i"].to_numpy()]
    line_rank = products.select(pl.int_range(pl.len()).over("i")).to_series().to_numpy()
    extra = rng.poisson(0.6, n)
    n_extra = int(extra.sum())
    weights = catalog["weight"].to_numpy()
    pick = rng.choice(catalog.height, size=n_extra, p=weights / weights.sum())
    extra_session = np.repeat(sessions, extra)
    extra_rank = np.arange(n_extra) - np.repeat(np.cumsum(extra) - extra, extra)
    line_skus = products["sku"].to_numpy()
    extra_skus = catalog["sku"].to_numpy()[pick]
    first_line = products.group_by("i", maintain_order=True).first()["sku"].to_numpy()
    landing = _landing(rng, shop, n, True, first_line)
    tokens = _hex32(shop.sf, sessions, 7).str.slice(0, 24).to_list()
    line_urls = [f"{shop.domain}/products/{s.lower()}" for s in line_skus.tolist()]
    value = orders["value"].to_numpy()
    line_value = (products["price"] * products["quantity"]).round(2).to_numpy()
    frames = [
        pl.DataFrame(
            {
                "session": sessions,
                "seq": 0,
                "event": "page_viewed",
                "page": landing["page"],
                "referrer": landing["referrer"],
            }
        ),
        pl.DataFrame(
            {
                "session": extra_session,
                "seq": 10 + 2 * extra_rank,
                "event": "product_viewed",
                "sku": extra_skus,
                "quantity": np.ones(n_extra, dtype=np.int64),
                "value": catalog["price"].to_numpy()[pick],
                "page": [f"{shop.domain}/products/{s.lower()}" for s in extra_skus.tolist()],
            }
        ),
        pl.DataFrame(
            {
                "session": line_session,
                "seq": 100 + 2 * line_rank,
                "event": "product_viewed",
                "sku": line_skus,
                "quantity": np.ones(line_skus.size, dtype=np.int64),
                "value": products["price"].to_numpy(),
                "page": line_urls,
            }
        ),
        pl.DataFrame(
            {
                "session": line_session,
                "seq": 101 + 2 * line_rank,
                "event": "product_added_to_cart",
                "sku": line_skus,
                "quantity": products["quantity"].to_numpy(),
                "value": line_value,
                "page": line_urls,
            }
        ),
        pl.DataFrame(
            {
                "session": sessions,
                "seq": 1000,
                "event": "checkout_started",
                "value": value,
                "page": [f"{shop.domain}/checkouts/cn/{t}" for t in tokens],
            }
        ),
        pl.DataFrame(
            {
                "session": sessions,
                "seq": 1001,
                "event": "checkout_completed",
                "value": value,
                "page": [f"{shop.domain}/checkouts/cn/{t}/thank-you" for t in tokens],
                "order_id": orders["order_id"],
                "order_name": orders["order_name"],
                "products": orders["products"],
            }
        ),
    ]
    return pl.concat(
        [f.with_columns(pl.col("seq").cast(pl.Int64)) for f in frames], how="diagonal_relaxed"
    )


def _timed(events: pl.DataFrame, rng: np.random.Generator, anchors: pl.DataFrame) -> pl.DataFrame:
    """Event times: a gap of 5 s to 20 min before each event of a session (none before the
    first); ``anchors`` gives per session ``anchor_us`` and whether it is the time of the
    session's last event (``at_end``) or of its first."""
    events = events.sort("session", "seq")
    gaps = np.minimum(5 * _US + rng.exponential(50 * _US, events.height), 20 * _MINUTE)
    events = events.with_columns(pl.Series("gap", gaps.astype(np.int64))).with_columns(
        pl.when(pl.col("seq") == pl.col("seq").min().over("session"))
        .then(0)
        .otherwise(pl.col("gap"))
        .alias("gap")
    )
    events = events.with_columns(
        pl.col("gap").cum_sum().over("session").alias("offset"),
        pl.col("gap").sum().over("session").alias("length"),
    ).join(anchors, on="session")
    return events.with_columns(
        pl.when(pl.col("at_end"))
        .then(pl.col("anchor_us") - pl.col("length") + pl.col("offset"))
        .otherwise(pl.col("anchor_us") + pl.col("offset"))
        .alias("t_us")
    ).drop("gap", "offset", "length", "anchor_us", "at_end")


def _session_bounds(events: pl.DataFrame) -> pl.DataFrame:
    return events.group_by("session").agg(
        pl.col("t_us").min().alias("first_us"), pl.col("t_us").max().alias("last_us")
    )


def _visitor_ids(seed: int, kind: int, *parts: np.ndarray | int) -> pl.Series:
    return _hex32(seed, _EVENTS_STREAM, kind, *parts)


def _customer_gids(ids: np.ndarray, present: np.ndarray) -> np.ndarray:
    out = np.full(ids.size, None, dtype=object)
    out[present] = [f"gid://shopify/Customer/{CUSTOMER_ID_BASE + int(c)}" for c in ids[present]]
    return out


def _day_events(business: Business, shop: _Shop, day: date, orders: pl.DataFrame) -> pl.DataFrame:
    """The events of the sessions that start on one local day of one storefront (plus the
    earlier and later visits of some of their visitors)."""
    seed = business.seed
    rng = np.random.default_rng([seed, _EVENTS_STREAM, shop.sf, day.toordinal()])
    catalog = shop.catalog.filter(pl.col("day") == day)
    if catalog.height == 0:  # nothing listed that day: browse what was bought, if anything
        if orders.height == 0:
            return pl.DataFrame()
        catalog = (
            orders.select(pl.col("products").explode().struct.unnest())
            .select("sku", "price", pl.lit(1.0).alias("weight"))
            .unique("sku", keep="first", maintain_order=True)
        )
    base = (day.toordinal() * 8 + shop.sf) * 10_000_000  # session keys, unique in the period
    k = orders.height
    n_browse = int(rng.poisson(max(k, 1) * _BROWSE_PER_ORDER))
    buy = base + np.arange(k, dtype=np.int64)
    browse = base + 1_000_000 + np.arange(n_browse, dtype=np.int64)
    revisit = 5_000_000  # key offset of a visitor's other session

    # Buyers: the order's customer; one device (the same anonymous id) on all orders for most.
    customer = orders["customer_id"].to_numpy()
    one_device = rng.random(k) < _KNOWN_DEVICE
    anon_buy = np.where(
        one_device,
        _visitor_ids(seed, 1, shop.sf, customer).to_numpy(),
        _visitor_ids(seed, 2, orders["order_key"].to_numpy()).to_numpy(),
    )
    user_buy = _customer_gids(customer, np.ones(k, dtype=bool))
    everywhere_buy = rng.random(k) < _LOGGED_IN
    # Browsers: anonymous, a few logged-in customers who signed up before that day.
    anon_browse = _visitor_ids(seed, 3, shop.sf, day.toordinal(), np.arange(n_browse)).to_numpy()
    signed_up = int(np.searchsorted(shop.customer_created, _us(day)))
    signed_in = (rng.random(n_browse) < _BROWSER_LOGGED_IN) & (signed_up > 0)
    who = shop.customer_ids[rng.integers(0, max(signed_up, 1), n_browse) % max(signed_up, 1)]
    user_browse = _customer_gids(who, signed_in)

    hour = rng.choice(24, size=n_browse, p=_HOURLY)
    start_us = _us(day) - shop.offset_us + hour * _HOUR + rng.integers(0, _HOUR, n_browse)
    anchors = pl.DataFrame(
        {
            "session": np.r_[buy, browse],
            "anchor_us": np.r_[orders["purchased_us"].to_numpy(), start_us],
            "at_end": np.r_[np.ones(k, dtype=bool), np.zeros(n_browse, dtype=bool)],
        }
    )
    parts = [_browse_events(rng, shop, browse, catalog)]
    if k:
        parts.insert(0, _buying_events(rng, shop, buy, orders, catalog))
    events = _timed(pl.concat(parts, how="diagonal_relaxed"), rng, anchors)

    # Other visits: some buyers came before (ending 35 min to 3 days before the buying session
    # starts), some browsers come back (35 min to 2 days after they left).
    prior = buy[rng.random(k) < _PRIOR_SHARE]
    again = browse[rng.random(n_browse) < _RETURN_SHARE]
    if prior.size + again.size:
        bounds = (
            _session_bounds(events)
            .filter(pl.col("session").is_in(np.r_[prior, again]))
            .sort("session")
            .with_columns(pl.col("session").is_in(prior).alias("before"))
        )
        before = bounds["before"].to_numpy()
        gap = 35 * _MINUTE + (rng.random(bounds.height) * np.where(before, 72, 48) * _HOUR)
        later = pl.DataFrame(
            {
                "session": bounds["session"].to_numpy() + revisit,
                "anchor_us": np.where(
                    before,
                    bounds["first_us"].to_numpy() - gap.astype(np.int64),
                    bounds["last_us"].to_numpy() + gap.astype(np.int64),
                ),
                "at_end": before,
            }
        )
        others = _browse_events(rng, shop, later["session"].to_numpy(), catalog, 1.6)
        events = pl.concat([events, _timed(others, rng, later)], how="diagonal_relaxed")

    keys = np.r_[buy, browse]
    visitors = pl.DataFrame(
        {
            "session": np.r_[keys, keys + revisit],
            "anonymous_id": np.tile(np.r_[anon_buy, anon_browse], 2),
            "user": np.tile(np.r_[user_buy, user_browse], 2).tolist(),
            "everywhere": np.tile(np.r_[everywhere_buy, signed_in], 2),
        },
        schema_overrides={"anonymous_id": pl.Utf8, "user": pl.Utf8},
    )
    return (
        events.join(visitors, on="session")
        .with_columns(
            pl.when(
                pl.col("everywhere")
                | pl.col("event").is_in(["checkout_started", "checkout_completed"])
            )
            .then(pl.col("user"))
            .alias("user_id")
        )
        .drop("user", "everywhere")
    )


def storefront_events(business: Business, start: date, end: date) -> pl.DataFrame:
    """Clickstream events of the Shopify storefronts in [start, end) (UTC days), one row each:
    ``storefront, event_id, event, occurred_at, anonymous_id, user_id, sku, quantity, value,
    currency, order_id, order_name, products, page_url, referrer``, sorted by storefront and
    time. Deterministic from the business's seed; a day's events do not depend on the period
    asked for, except that events outside it are left out."""
    start_us, end_us = _us(start), _us(end)
    frames = []
    for account in SHOPS:
        # A local day's sessions reach from 3 days before it (earlier visits of buyers) to
        # 2 days after it (returning browsers): generate the days around the period too.
        first, last = start - timedelta(days=_MARGIN_DAYS), end + timedelta(days=_MARGIN_DAYS)
        shop = _shop(business, account, first, last)
        orders = _orders_of(business, account, first - timedelta(days=1), last + timedelta(days=1))
        local_day = ((pl.col("purchased_us") + shop.offset_us) // (86_400 * _US)).alias("local_day")
        orders = orders.with_columns(local_day)
        by_day = {d: f for (d,), f in orders.partition_by("local_day", as_dict=True).items()}
        empty = orders.clear()
        first_day = date(1970, 1, 1).toordinal()
        for day in _days(first, last):
            day_orders = by_day.get(day.toordinal() - first_day, empty)
            events = _day_events(business, shop, day, day_orders)
            if events.height:
                frames.append(
                    events.filter(
                        (pl.col("t_us") >= start_us) & (pl.col("t_us") < end_us)
                    ).with_columns(
                        pl.lit(account).alias("storefront"), pl.lit(shop.currency).alias("currency")
                    )
                )
    events = pl.concat(frames, how="diagonal_relaxed")
    return events.select(
        "storefront",
        _hex32(
            business.seed, _EVENTS_STREAM, 9, events["session"].to_numpy(), events["seq"].to_numpy()
        ).alias("event_id"),
        "event",
        pl.from_epoch("t_us", time_unit="us").dt.replace_time_zone("UTC").alias("occurred_at"),
        "anonymous_id",
        "user_id",
        "sku",
        "quantity",
        pl.col("value").round(2),
        "currency",
        "order_id",
        "order_name",
        "products",
        pl.col("page").alias("page_url"),
        "referrer",
    ).sort("storefront", "occurred_at", "event_id")


def _ndjson_gz(events: pl.DataFrame) -> bytes:
    """Events in the web-pixel shape, one JSON object per line, gzipped (no timestamp in the
    gzip header, so the same events give the same bytes)."""
    has_value = pl.col("value").is_not_null()
    shaped = events.select(
        pl.col("event_id").alias("id"),
        "event",
        pl.col("anonymous_id").alias("anonymousId"),
        pl.col("user_id").alias("userId"),
        pl.col("occurred_at").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").alias("timestamp"),
        pl.struct(
            "sku",
            "quantity",
            "value",
            pl.when(has_value).then(pl.col("currency")).alias("currency"),
            "order_id",
            "order_name",
            "products",
        ).alias("properties"),
        pl.struct(pl.struct(pl.col("page_url").alias("url"), "referrer").alias("page")).alias(
            "context"
        ),
    )
    buffer = io.BytesIO()
    shaped.write_ndjson(buffer)
    return gzip.compress(buffer.getvalue(), compresslevel=6, mtime=0)


def write_storefront_events(business: Business, inbox: Path, start: date, end: date) -> list[Path]:
    """``events/<storefront>/mapping.yml`` and one ``<storefront>-events-<day>.ndjson.gz`` per
    UTC day of [start, end) under ``inbox``; returns the paths written."""
    events = storefront_events(business, start, end)
    written = []
    for account in SHOPS:
        folder = Path(inbox) / "events" / account
        written.append(
            write_text_atomic(folder / "mapping.yml", EVENTS_MAPPING.format(account=account))
        )
        mine = events.filter(pl.col("storefront") == account).with_columns(
            pl.col("occurred_at").dt.date().alias("day")
        )
        for (day,), frame in sorted(mine.partition_by("day", as_dict=True).items()):
            path = folder / f"{account}-events-{day.isoformat()}.ndjson.gz"
            written.append(write_bytes_atomic(path, _ndjson_gz(frame.drop("day"))))
    return written


# ---------------------------------------------------------------------------------------------
# Product costs
# ---------------------------------------------------------------------------------------------
def product_costs(business: Business, start: date, end: date) -> pl.DataFrame:
    """``sku, unit_cost, currency, effective_from, shipping_cost_per_unit`` rows: every
    product's catalog cost (USD) from SIM_EPOCH, and for about 10% of them a new cost (3-15%
    higher) from the middle of [start, end). ``sku`` is the warehouse's product SKU."""
    rng = np.random.default_rng([business.seed, _COSTS_STREAM])
    base = business.products.select("product_id", "unit_cost_usd").join(
        product_skus(business), on="product_id"
    )
    changed = rng.random(base.height) < 0.10
    factor = rng.uniform(1.03, 1.15, base.height)
    middle = start + (end - start) / 2
    rows = pl.concat(
        [
            base.select(
                "product_id",
                "product_sku",
                "unit_cost_usd",
                pl.lit(SIM_EPOCH).alias("effective_from"),
            ),
            base.filter(pl.Series(changed)).select(
                "product_id",
                "product_sku",
                (pl.col("unit_cost_usd") * pl.Series(factor[changed]))
                .round(2)
                .alias("unit_cost_usd"),
                pl.lit(middle).alias("effective_from"),
            ),
        ]
    )
    return rows.sort("product_id", "effective_from").select(
        pl.col("product_sku").alias("sku"),
        pl.col("unit_cost_usd").round(2).alias("unit_cost"),
        pl.lit("USD").alias("currency"),
        "effective_from",
        pl.lit(None, dtype=pl.Float64).alias("shipping_cost_per_unit"),
    )


def _costs_csv(costs: pl.DataFrame) -> str:
    return costs.with_columns(
        pl.col("unit_cost").map_elements(lambda v: f"{v:.2f}", return_dtype=pl.Utf8)
    ).write_csv()


# ---------------------------------------------------------------------------------------------
# A file-only channel: Etsy
# ---------------------------------------------------------------------------------------------
_ETSY_ORDERS_PER_DAY = 4.0
_ETSY_EUR_PER_USD = 0.92 * 1.08  # the shop's prices: converted, a little above list price
_ETSY_ZONE = "Europe/Berlin"


def etsy_orders(business: Business, start: date, end: date) -> pl.DataFrame:
    """Order items of a small Etsy shop (EUR) on the local days [start, end): a few orders a
    day (times the business's scale) of catalog products, with repeat buyers, coupons, shipping
    on each order's first item and about 3% cancellations. Columns as the export names them;
    ``Sale Date``/``Date Shipped`` are Europe/Berlin wall-clock times."""
    zone = ZoneInfo(_ETSY_ZONE)
    skus = product_skus(business)
    sold = business.order_lines.group_by("product_id").len("sold")
    products = (
        business.products.join(skus, on="product_id")
        .join(sold, on="product_id", how="left")
        .with_columns(((pl.col("sold").fill_null(0) + 1).cast(pl.Float64) ** 0.7).alias("w"))
        .sort("product_id")
    )
    launch = products["launch_date"].to_numpy()
    weight = products["w"].to_numpy()
    price_eur = np.round(products["list_price_usd"].to_numpy() * _ETSY_EUR_PER_USD) - 0.10
    price_eur = np.maximum(price_eur, 4.90)
    population = max(int(3000 * business.scale), 50)
    end_moment = datetime.combine(end, time(), UTC)
    rows: list[dict] = []
    for day in _days(start, end):
        rng = np.random.default_rng([business.seed, _ETSY_STREAM, day.toordinal()])
        weekend = 1.2 if day.weekday() >= 5 else 1.0
        n = int(rng.poisson(_ETSY_ORDERS_PER_DAY * business.scale * weekend))
        available = launch <= np.datetime64(day)
        if n == 0 or not available.any():
            continue
        p = np.where(available, weight, 0.0)
        index = (day - SIM_EPOCH).days
        for i in range(n):
            lines = int(rng.choice([1, 2, 3], p=[0.8, 0.17, 0.03]))
            picks = rng.choice(len(p), size=lines, p=p / p.sum())
            quantity = rng.choice([1, 2, 3], size=lines, p=[0.85, 0.12, 0.03])
            coupon = rng.random() < 0.15
            cancelled = rng.random() < 0.03
            buyer = int(population * rng.random() ** 1.6)
            local = datetime.combine(day, time()) + timedelta(
                hours=int(rng.choice(24, p=_HOURLY)), minutes=int(rng.integers(60))
            )
            shipped = local + timedelta(days=float(rng.uniform(1, 3)))
            shipped_utc = shipped.replace(tzinfo=zone).astimezone(UTC)
            gross = [
                round(float(price_eur[j]) * int(q), 2) for j, q in zip(picks, quantity, strict=True)
            ]
            shipping = 0.0 if sum(gross) >= 60 else 4.90
            for line, (j, q, g) in enumerate(zip(picks, quantity, gross, strict=True)):
                discount = round(g * 0.10, 2) if coupon else 0.0
                rows.append(
                    {
                        "Order ID": str(3_000_000_000 + index * 1000 + i),
                        "Transaction ID": str(4_000_000_000 + index * 10_000 + i * 10 + line),
                        "Sale Date": local,
                        "Buyer User ID": str(
                            100_000_000 + int(_mix(business.seed, buyer)[0] % 900_000_000)
                        ),
                        "Buyer": f"etsybuyer{buyer}",
                        "Item Name": products["title"][int(j)],
                        "SKU": products["product_sku"][int(j)],
                        "Quantity": int(q),
                        "Price": float(price_eur[j]),
                        "Discount Amount": discount,
                        "Order Shipping": shipping if line == 0 else 0.0,
                        "Item Total": round(g - discount, 2),
                        "Status": "Canceled" if cancelled else "Completed",
                        "Date Shipped": None if cancelled or shipped_utc >= end_moment else shipped,
                    }
                )
    return pl.DataFrame(rows, schema_overrides={"Date Shipped": pl.Datetime("us")})


def _etsy_csv(orders: pl.DataFrame) -> str:
    """The export as the shop's spreadsheet saves it: ';' between cells, decimal commas."""

    def comma(value: float) -> str:
        return f"{value:.2f}".replace(".", ",")

    out = io.StringIO()
    out.write(";".join(orders.columns) + "\n")
    for row in orders.iter_rows(named=True):
        cells = []
        for value in row.values():
            if value is None:
                cells.append("")
            elif isinstance(value, datetime):
                cells.append(value.strftime("%d.%m.%Y %H:%M"))
            elif isinstance(value, float):
                cells.append(comma(value))
            else:
                cells.append(str(value).replace(";", ","))
        out.write(";".join(cells) + "\n")
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# Everything
# ---------------------------------------------------------------------------------------------
def write_demo_inbox(
    business: Business, data_dir: Path, days: int = DEMO_DAYS, end: date | None = None
) -> list[Path]:
    """Write the demo files for the ``days`` days before ``end`` (default: the business's end)
    into ``<data_dir>/inbox/``: storefront events, product costs, the Etsy channel's orders
    and the mappings. Every file is written atomically; returns the paths written."""
    start, end = _period(business, days, end)
    inbox = Path(data_dir) / "inbox"
    written = [write_text_atomic(inbox / "orders" / "etsy" / "mapping.yml", ETSY_MAPPING)]
    written += write_storefront_events(business, inbox, start, end)
    written.append(
        write_text_atomic(
            inbox / "product_costs" / "product_costs.csv",
            _costs_csv(product_costs(business, start, end)),
        )
    )
    last = end - timedelta(days=1)
    written.append(
        write_text_atomic(
            inbox / "orders" / "etsy" / f"etsy_sold_items_{start}_{last}.csv",
            _etsy_csv(etsy_orders(business, start, end)),
        )
    )
    return written
