"""The Shopify storefronts' clickstream files: one ``<storefront>-events-<UTC day>.ndjson.gz`` per
day and the ``mapping.yml`` that reads them."""

from __future__ import annotations

import gzip
import io
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from extractors.inbox.files import write_bytes_atomic, write_text_atomic
from sandbox.business import Business
from sandbox.exports.common import (
    _EVENTS_STREAM,
    _HOUR,
    _HOURLY,
    _MINUTE,
    _TASTE_STREAM,
    _US,
    SHOPS,
    _days,
    _hex32,
    _us,
)
from sandbox.exports.experiments import experiment_exposures
from sandbox.exports.sessions import (
    _BROWSE_PER_ORDER,
    _BROWSER_LOGGED_IN,
    _KNOWN_DEVICE,
    _LOGGED_IN,
    _MARGIN_DAYS,
    _PRIOR_SHARE,
    _RETURN_SHARE,
    _browse_events,
    _buying_events,
    _customer_gids,
    _orders_of,
    _session_bounds,
    _Shop,
    _shop,
    _timed,
    _visitor_ids,
)

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
  experiment_id: properties.experiment_id
  variant: properties.variant
experiment_unit: visitor
funnel_steps:
  page_viewed: page_view
  product_viewed: product_view
  product_added_to_cart: add_to_cart
  checkout_started: checkout
  checkout_completed: purchase
"""


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
    known = rng.integers(0, max(signed_up, 1), n_browse) % max(signed_up, 1)
    who = shop.customer_ids[known]
    user_browse = _customer_gids(who, signed_in)
    taste_rng = np.random.default_rng([seed, _TASTE_STREAM, shop.sf, day.toordinal()])
    favourite = np.where(signed_in, shop.favourite[known], None)

    hour = rng.choice(24, size=n_browse, p=_HOURLY)
    start_us = _us(day) - shop.offset_us + hour * _HOUR + rng.integers(0, _HOUR, n_browse)
    anchors = pl.DataFrame(
        {
            "session": np.r_[buy, browse],
            "anchor_us": np.r_[orders["purchased_us"].to_numpy(), start_us],
            "at_end": np.r_[np.ones(k, dtype=bool), np.zeros(n_browse, dtype=bool)],
        }
    )
    parts = [_browse_events(rng, shop, browse, catalog, tastes=(favourite, taste_rng))]
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
    for name in ("experiment_id", "variant"):
        if name not in events.columns:
            events = events.with_columns(pl.lit(None, pl.Utf8).alias(name))
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
            "experiment_id",
            "variant",
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
    UTC day of [start, end) under ``inbox``, with the A/B tests' exposure events
    (``sandbox.exports.experiments``); returns the paths written."""
    events = storefront_events(business, start, end)
    exposures = experiment_exposures(events, start, business.seed)
    events = pl.concat([events, exposures], how="diagonal_relaxed").sort(
        "storefront", "occurred_at", "event_id"
    )
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
