"""The catalog and its listings (the catalog rng, independent of ``end``): products, variant
families, storefront listings with their channel ids and SKUs, price and promotion schedules."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from sandbox.business.numeric import (
    _check_digit,
    _dates,
    _day_index,
    _round_99,
    _unique_codes,
)
from sandbox.business.parameters import (
    _ADJECTIVES,
    _AFN,
    _ALNUM,
    _AMAZON,
    _BRANDS,
    _CATEGORIES,
    _CATEGORY_SHARE,
    _COLORS,
    _DIGITS,
    _FAMILY_SIZES,
    _HORIZON_EVENTS,
    _MERCHANT,
    _MFN,
    _PROMO_PCTS,
    _SELLER,
    _SF_CHANNEL,
    _SF_FX,
    _SHOPIFY,
    _SHOPIFY_US,
    _SIZES,
    _WALMART,
    _WALMART_US,
    _WFS,
    ACCOUNTS,
    LOCATIONS,
)


# ---------------------------------------------------------------------------------------------
# Catalog and listings (catalog rng, independent of `end`)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Catalog:
    frame: pl.DataFrame  # the products frame, all products
    family: np.ndarray
    category: np.ndarray
    brand: list[str]
    adjective: list[str]
    noun: list[str]
    variant: list[str]
    weight: np.ndarray  # base demand weight
    growth: np.ndarray  # log trend per year
    launch_day: np.ndarray  # day index (negative: launched before SIM_EPOCH)
    fba_fee_usd: np.ndarray


def _random_days(rng: np.random.Generator, first: date, last: date) -> int:
    return _day_index(first) + int(rng.integers(0, (last - first).days + 1))


def _build_catalog(rng: np.random.Generator, n_products: int) -> _Catalog:
    categories = list(_CATEGORIES)
    brand_categories = [
        set(rng.choice(len(categories), size=int(rng.integers(1, 3)), replace=False).tolist())
        for _ in _BRANDS
    ]
    brands_of = [
        [b for b, cats in enumerate(brand_categories) if c in cats] or [c]
        for c in range(len(categories))
    ]
    rows: list[dict[str, object]] = []
    family = 0
    while len(rows) < n_products:
        c = int(rng.choice(len(categories), p=_CATEGORY_SHARE))
        brand = _BRANDS[int(rng.choice(brands_of[c]))]
        nouns, low, high = _CATEGORIES[categories[c]]
        noun = nouns[int(rng.integers(len(nouns)))]
        adjective = _ADJECTIVES[int(rng.integers(len(_ADJECTIVES)))]
        size = min(int(rng.choice(_FAMILY_SIZES)), n_products - len(rows))
        by_size = size > 1 and rng.random() < 0.3
        axis = _SIZES if by_size else _COLORS
        variants = rng.choice(len(axis), size=size, replace=False)
        price = math.exp(rng.uniform(math.log(low), math.log(high)))
        if rng.random() < 0.8:
            launch = _random_days(rng, date(2021, 3, 1), date(2023, 12, 31))
        else:
            launch = _random_days(rng, date(2024, 2, 1), date(2026, 6, 30))
        for v in sorted(variants) if by_size else variants:
            rows.append(
                {
                    "family": family,
                    "category": c,
                    "brand": brand,
                    "adjective": adjective,
                    "noun": noun,
                    "variant": axis[int(v)],
                    "launch_day": launch,
                    "price": price * (1 + 0.25 * int(v)) if by_size else price,
                }
            )
        family += 1

    n = len(rows)
    list_price = _round_99(np.array([r["price"] for r in rows]) * rng.uniform(0.95, 1.05, n))
    unit_cost = (list_price * rng.uniform(0.25, 0.45, n)).round(2)
    brand_prefix = dict(
        zip(_BRANDS, _unique_codes(rng, len(_BRANDS), _DIGITS, 5, "8"), strict=True)
    )
    item_ref: dict[str, int] = defaultdict(lambda: int(rng.integers(100, 5000)))
    upcs = []
    for r in rows:
        body = brand_prefix[r["brand"]] + f"{item_ref[r['brand']]:05d}"
        item_ref[r["brand"]] += int(rng.integers(1, 9))
        upcs.append(body + _check_digit(body))
    launch_day = np.array([r["launch_day"] for r in rows])
    frame = pl.DataFrame(
        {
            "product_id": np.arange(1, n + 1, dtype=np.int64),
            "sku": [f"CH-{i:05d}" for i in range(1, n + 1)],
            "title": [f"{r['brand']} {r['adjective']} {r['noun']} - {r['variant']}" for r in rows],
            "brand": [r["brand"] for r in rows],
            "category": [categories[r["category"]] for r in rows],
            "gtin": ["00" + u for u in upcs],
            "upc": upcs,
            "unit_cost_usd": unit_cost,
            "list_price_usd": list_price,
        }
    ).with_columns(_dates("launch_date", launch_day))
    return _Catalog(
        frame=frame,
        family=np.array([r["family"] for r in rows]),
        category=np.array([r["category"] for r in rows]),
        brand=[r["brand"] for r in rows],
        adjective=[r["adjective"] for r in rows],
        noun=[r["noun"] for r in rows],
        variant=[r["variant"] for r in rows],
        weight=rng.lognormal(0.0, 1.2, n),
        growth=rng.normal(0.0, 0.3, n),
        launch_day=launch_day,
        fba_fee_usd=rng.uniform(3.2, 7.5, n).round(2),
    )


@dataclass(frozen=True)
class _Listings:
    """One row per (storefront, product); arrays indexed by listing."""

    sf: np.ndarray
    product: np.ndarray  # 0-based product index
    fulfillment: np.ndarray
    location: list[str]
    channel_sku: list[str]
    channel_item_id: list[str]
    channel_product_id: list[str]
    title: list[str]
    listed_day: np.ndarray
    delisted_day: np.ndarray  # int64 max when still listed
    affinity: np.ndarray  # storefront-specific demand multiplier
    conversion: np.ndarray  # Amazon sessions -> order lines
    buy_box: np.ndarray  # typical buy box percentage
    safety: np.ndarray  # reorder point = safety * lead-time demand
    cover_days: np.ndarray  # a replenishment order covers this many days of demand
    ref_price: np.ndarray  # reference price in local currency (demand is relative to it)

    @property
    def size(self) -> int:
        return int(self.sf.size)


def _storefronts_of(rng: np.random.Generator) -> list[int]:
    """Storefronts a product is listed on: one to three channels, several marketplaces."""
    channels = rng.random(3) < (0.8, 0.6, 0.45)
    if not channels.any():
        channels[rng.integers(3)] = True
    chosen: list[int] = []
    if channels[_AMAZON]:
        markets = rng.random(5) < (0.95, 0.45, 0.4, 0.45, 0.3)
        markets[0] |= not markets.any()
        chosen += np.flatnonzero(markets).tolist()
    if channels[_SHOPIFY]:
        stores = rng.random(2) < (0.9, 0.4)
        stores[0] |= not stores.any()
        chosen += (5 + np.flatnonzero(stores)).tolist()
    if channels[_WALMART]:
        chosen.append(_WALMART_US)
    return chosen


def _build_listings(rng: np.random.Generator, cat: _Catalog) -> _Listings:
    n_products = cat.launch_day.size
    pairs = [(s, p) for p in range(n_products) for s in _storefronts_of(rng)]
    pairs.sort()
    sf = np.array([s for s, _ in pairs])
    product = np.array([p for _, p in pairs])
    n = sf.size
    channel = _SF_CHANNEL[sf]

    late = rng.random(n) < 0.4
    listed_day = cat.launch_day[product] + np.where(late, rng.integers(0, 540, n), 0)
    delist = rng.random(n) < 0.04
    delisted_day = np.where(
        delist,
        np.maximum(listed_day + 60, rng.integers(_day_index(date(2024, 3, 1)), 1000, n)),
        np.iinfo(np.int64).max,
    )
    fulfillment = np.select(
        [channel == _AMAZON, channel == _WALMART],
        [np.where(rng.random(n) < 0.8, _AFN, _MFN), np.where(rng.random(n) < 0.4, _WFS, _SELLER)],
        _MERCHANT,
    )
    second_location = rng.random(n) < 0.25
    location = [
        _location(s, f, second)
        for s, f, second in zip(sf.tolist(), fulfillment.tolist(), second_location, strict=True)
    ]
    skus, gtins = cat.frame["sku"].to_list(), cat.frame["gtin"].to_list()
    channel_sku = [
        _channel_sku(skus[p], gtins[p], f, u)
        for p, f, u in zip(product.tolist(), fulfillment.tolist(), rng.random(n), strict=True)
    ]
    item_id, product_id = _channel_ids(rng, cat, sf, product)
    title = [_channel_title(cat, int(p), int(c)) for p, c in zip(product, channel, strict=True)]

    fx = _SF_FX[sf]
    markup = np.where(channel == _WALMART, 0.96, 1.0)
    ref_price = _round_99(cat.frame["list_price_usd"].to_numpy()[product] * fx * markup)
    low_safety = rng.random(n) < 0.25
    return _Listings(
        sf=sf,
        product=product,
        fulfillment=fulfillment,
        location=location,
        channel_sku=channel_sku,
        channel_item_id=item_id,
        channel_product_id=product_id,
        title=title,
        listed_day=listed_day,
        delisted_day=delisted_day,
        affinity=rng.lognormal(0.0, 0.4, n),
        conversion=rng.uniform(0.05, 0.15, n),
        buy_box=np.where(rng.random(n) < 0.7, 100.0, rng.uniform(70, 98, n)),
        safety=np.where(low_safety, rng.uniform(0.3, 0.8, n), rng.uniform(1.1, 2.0, n)),
        cover_days=rng.uniform(40, 100, n),
        ref_price=ref_price,
    )


def _location(sf: int, fulfillment: int, second: bool) -> str:
    """Where a listing's stock sits: the FBA marketplace, a Shopify location, a Walmart node."""
    channel = _SF_CHANNEL[sf]
    if channel == _AMAZON:
        return ACCOUNTS[sf].marketplace_id
    if channel == _SHOPIFY:
        store = [loc for account, loc, _ in LOCATIONS if account == ACCOUNTS[sf].account]
        return store[int(second)]
    return "WFS-1" if fulfillment == _WFS else "100009"


def _channel_sku(sku: str, gtin: str, fulfillment: int, draw: float) -> str:
    """The seller SKU on the channel: mostly the master SKU, sometimes not (match on GTIN)."""
    if fulfillment == _AFN and draw < 0.125:
        return sku + "-FBA"
    if fulfillment in (_WFS, _SELLER) and draw < 0.1:
        return "WM-" + gtin[-8:]
    return sku


def _channel_ids(
    rng: np.random.Generator, cat: _Catalog, sf: np.ndarray, product: np.ndarray
) -> tuple[list[str], list[str]]:
    """(channel_item_id, channel_product_id) per listing."""
    n_products, n_families = cat.family.size, int(cat.family.max()) + 1
    asins = _unique_codes(rng, n_products + n_families, _ALNUM, 8, "B0")
    family_size = np.bincount(cat.family)
    shop_products = _unique_codes(rng, 2 * n_families, _DIGITS, 12, "8")
    shop_variants = _unique_codes(rng, 2 * n_products, _DIGITS, 13, "4")
    walmart_items = _unique_codes(rng, n_products, _DIGITS, 8, "1")
    wpids = _unique_codes(rng, n_products, _ALNUM, 12)
    item_ids, product_ids = [], []
    for s, p in zip(sf.tolist(), product.tolist(), strict=True):
        fam = int(cat.family[p])
        channel = _SF_CHANNEL[s]
        if channel == _AMAZON:
            item_ids.append(asins[p])
            product_ids.append(asins[n_products + fam] if family_size[fam] > 1 else asins[p])
        elif channel == _SHOPIFY:
            store = s - _SHOPIFY_US
            item_ids.append(shop_variants[store * n_products + p])
            product_ids.append(shop_products[store * n_families + fam])
        else:
            item_ids.append(walmart_items[p])
            product_ids.append(wpids[p])
    return item_ids, product_ids


def _channel_title(cat: _Catalog, p: int, channel: int) -> str:
    if channel == _AMAZON:
        return f"{cat.brand[p]} {cat.adjective[p]} {cat.noun[p]} ({cat.variant[p]})"
    if channel == _SHOPIFY:
        return f"{cat.adjective[p]} {cat.noun[p]} - {cat.variant[p]}"
    return f"{cat.brand[p]} {cat.noun[p]}, {cat.variant[p]}"


@dataclass(frozen=True)
class _Schedule:
    """Per listing price changes and promotions, drawn for a fixed horizon."""

    price_listing: np.ndarray
    price_day: np.ndarray
    price: np.ndarray
    promo_listing: np.ndarray
    promo_start: np.ndarray
    promo_end: np.ndarray  # exclusive
    promo_pct: np.ndarray


def _build_schedule(rng: np.random.Generator, lst: _Listings) -> _Schedule:
    n, k = lst.size, _HORIZON_EVENTS
    start = np.maximum(lst.listed_day, 0)[:, None]
    price_day = start + np.cumsum(1 + rng.exponential(120, (n, k)).astype(np.int64), axis=1)
    price = _round_99(lst.ref_price[:, None] * rng.uniform(0.85, 1.1, (n, k)))
    gap = 20 + rng.exponential(130, (n, k)).astype(np.int64)
    duration = rng.integers(3, 15, (n, k))
    promo_start = start + np.cumsum(gap, axis=1) + np.cumsum(duration, axis=1) - duration
    listing = np.repeat(np.arange(n), k)
    return _Schedule(
        price_listing=listing,
        price_day=price_day.ravel(),
        price=price.ravel(),
        promo_listing=listing,
        promo_start=promo_start.ravel(),
        promo_end=(promo_start + duration).ravel(),
        promo_pct=rng.choice(_PROMO_PCTS, (n, k)).ravel(),
    )


def _price_matrix(lst: _Listings, sch: _Schedule, n_days: int) -> np.ndarray:
    """Price in force per (day, listing)."""
    matrix = np.full((n_days, lst.size), np.nan)
    matrix[0] = lst.ref_price
    inside = sch.price_day < n_days
    matrix[sch.price_day[inside], sch.price_listing[inside]] = sch.price[inside]
    filled = np.where(np.isnan(matrix), 0, np.arange(n_days)[:, None])
    np.maximum.accumulate(filled, axis=0, out=filled)
    return matrix[filled, np.arange(lst.size)]


def _promo_matrix(lst: _Listings, sch: _Schedule, n_days: int) -> np.ndarray:
    """Promotion discount rate per (day, listing); promotions of a listing never overlap."""
    delta = np.zeros((n_days + 1, lst.size))
    inside = sch.promo_start < n_days
    np.add.at(delta, (sch.promo_start[inside], sch.promo_listing[inside]), sch.promo_pct[inside])
    ends = np.minimum(sch.promo_end[inside], n_days)
    np.add.at(delta, (ends, sch.promo_listing[inside]), -sch.promo_pct[inside])
    return np.cumsum(delta, axis=0)[:n_days].round(2)
