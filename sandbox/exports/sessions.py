"""Storefront sessions of one Shopify shop: its orders, landing pages, browsing and buying
events, their timing, visitor ids and customer GIDs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

import numpy as np
import polars as pl

from sandbox.business import ACCOUNTS, Business
from sandbox.exports.common import (
    _EVENTS_STREAM,
    _HOUR,
    _MINUTE,
    _US,
    _UTC_OFFSET,
    _hex32,
)
from sandbox.shopify.common import CUSTOMER_ID_BASE

# Sessions per order (about 2.5% of sessions convert), of which part are return visits.
_BROWSE_PER_ORDER = 33.0
_RETURN_SHARE = 0.10  # browsing sessions whose visitor comes back later
_PRIOR_SHARE = 0.35  # buyers who visited in an earlier session
_MARGIN_DAYS = 4  # days generated around the period: sessions reach 3 days back, 2 ahead
_KNOWN_DEVICE = 0.6  # buyers whose anonymous id is the same on every order (one device)
_LOGGED_IN = 0.4  # buyers identified on every event, not only from checkout on
_BROWSER_LOGGED_IN = 0.08
_VIEW_TASTE = 0.7  # a logged-in browser's product views in their favourite category
_BOUNCE = 0.45
_CART_PER_VIEW = 0.09
_CHECKOUT_PER_CART = 0.4
_SEARCH = 0.15

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
    favourite: np.ndarray  # each customer's favourite category (collection slug), same order


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
    customers = (
        business.customers.filter(pl.col("account") == account)
        .sort("created_at")
        .join(
            business.customer_preferences.select("customer_id", "favourite_category"),
            on="customer_id",
            how="left",
            maintain_order="left",
        )
    )
    created = customers["created_at"].dt.epoch("us").to_numpy()
    favourite = customers["favourite_category"].str.to_lowercase().str.replace_all(" ", "-")
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
        favourite.to_numpy(),
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
    tastes: tuple[np.ndarray, np.random.Generator] | None = None,
) -> pl.DataFrame:
    """Events of sessions that do not buy (``sessions``: ascending keys): land, maybe search,
    view products, add some to the cart, sometimes start a checkout, and leave. ``tastes``:
    per session the visitor's favourite category (None: unknown) and the generator that
    draws which of their views follow it (own stream: the other events stay as they were)."""
    n = sessions.size
    views = np.where(
        rng.random(n) < _BOUNCE / depth_scale, 0, 1 + rng.poisson(0.8 * depth_scale, n)
    )
    total = int(views.sum())
    weights = catalog["weight"].to_numpy()
    pick = rng.choice(catalog.height, size=total, p=weights / weights.sum())
    if tastes is not None:
        pick = _follow_tastes(pick, np.repeat(tastes[0], views), shop, catalog, tastes[1])
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


def _follow_tastes(
    pick: np.ndarray,
    favourite: np.ndarray,
    shop: _Shop,
    catalog: pl.DataFrame,
    rng: np.random.Generator,
) -> np.ndarray:
    """A share ``_VIEW_TASTE`` of the views of visitors with a favourite category re-drawn
    among that category's listings (by the same popularity weights): logged-in customers
    browse what they like, so views carry the taste the recommendations learn."""
    slugs = np.array([shop.categories.get(sku) for sku in catalog["sku"].to_list()], dtype=object)
    weights = catalog["weight"].to_numpy()
    known = np.fromiter((f is not None for f in favourite), bool, favourite.size)
    follow = known & (rng.random(pick.size) < _VIEW_TASTE)
    out = pick.copy()
    for category in sorted(set(favourite[follow].tolist())):
        rows = np.flatnonzero(follow & (favourite == category))
        candidates = np.flatnonzero(slugs == category)
        if candidates.size:
            w = weights[candidates]
            out[rows] = candidates[rng.choice(candidates.size, size=rows.size, p=w / w.sum())]
    return out


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
