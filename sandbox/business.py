"""A deterministic simulated multichannel business, served by the sandbox API emulators.

The business sells a catalog of about 300 products (eight categories, twenty brands, products
grouped in variant families) through eight storefronts (:data:`ACCOUNTS`): five Amazon
marketplaces under two seller accounts, two Shopify stores and Walmart US. Each product is
listed on one to three channels; every listing has its own channel ids (ASIN, Shopify
variant/product ids, Walmart item id/WPID), its own seller SKU (some Amazon SKUs carry an
``-FBA`` suffix and some Walmart SKUs are ``WM-<gtin tail>``, so matching must go through the
GTIN), its own price history in local currency and its own promotions.

Demand is generated per listing and day. Each storefront's volume follows its target (about
100 orders a day in all at scale 1, times ``scale``), a slow business growth, yearly
seasonality (Q4 peak, Black Friday, Cyber Monday, Prime Day on Amazon) and weekly seasonality;
the catalog decides how that volume is shared: a log-normal base weight (a few products sell
every day, a long tail sells a unit now and then), a per-product trend, a launch ramp, and
whether the listing is live. The price in force (elasticity 1.5) and promotions (which lift
demand) then move it up or down. The daily line count is negative-binomial (a gamma-mixed
Poisson). Lines are grouped into baskets of one to three products (same storefront and
fulfilment channel, usually the same category) with a purchase time from a diurnal profile in
the storefront's time zone.

Stock is tracked per listing at one location (the marketplace's FBA centre for Amazon listings,
MFN ones included; one of two Shopify locations; the Walmart seller node or WFS). Lines are
served in time order from the day's opening stock while it lasts; the rest of the demand is
lost (censored). Sold units are reserved until they ship (or come back if the order is
cancelled), and a reorder-point policy places replenishment orders that arrive 10-45 days
later, so listings with a low safety factor run out now and then. ``inventory_daily`` holds the
opening stock of each day, after that morning's receipts.

Each order then gets a customer (a preferential-attachment pool per storefront with a bias to
recent buyers: most customers buy once, a few buy many times; some Walmart customers are
Shopify US customers under the same e-mail address), a life cycle (shipped a few hours to three
days later, delivered two to seven days after that, about 2% cancelled before shipping, about
6.5% refunded 5-40 days after purchase, fully or partially), taxes (US only), shipping charges
and, on Amazon, marketplace fees. Amazon listings also get daily sessions and page views.

Everything is a pure function of ``(seed, scale)`` and the calendar day: the catalog comes from
``default_rng([seed, 0])``, each simulated day from ``default_rng([seed, day.toordinal(),
stream])``, and price/promotion schedules are drawn for a fixed horizon, so the data of a day
never changes when ``end`` moves later. The frames hold the whole life of every order placed
before ``end`` (including ship, delivery and refund events scheduled after ``end``); the
``*_view`` methods show what an API would show at a given wall-clock time (UTC; naive
datetimes are taken as UTC), and ``apply_late_update`` adds refunds to old orders to exercise
incremental extraction.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

import numpy as np
import polars as pl

__all__ = ["ACCOUNTS", "FX_PER_USD", "LOCATIONS", "SIM_EPOCH", "Business", "Storefront"]

SIM_EPOCH = date(2024, 1, 1)


class Storefront(NamedTuple):
    """One seller account on one marketplace (Amazon) or store (Shopify, Walmart)."""

    account: str
    channel: str
    marketplace_id: str
    currency: str
    country: str


ACCOUNTS: tuple[Storefront, ...] = (
    Storefront("amazon_na", "amazon", "ATVPDKIKX0DER", "USD", "US"),
    Storefront("amazon_na", "amazon", "A2EUQ1WTGCTBG2", "CAD", "CA"),
    Storefront("amazon_eu", "amazon", "A1F83G8C2ARO7P", "GBP", "GB"),
    Storefront("amazon_eu", "amazon", "A1PA6795UKMFR9", "EUR", "DE"),
    Storefront("amazon_eu", "amazon", "A13V1IB3VIYZZH", "EUR", "FR"),
    Storefront("shopify_us", "shopify", "channelhouse-demo", "USD", "US"),
    Storefront("shopify_eu", "shopify", "channelhouse-eu", "EUR", "DE"),
    Storefront("walmart_us", "walmart", "WALMART_US", "USD", "US"),
)

FX_PER_USD: dict[str, float] = {"USD": 1.0, "CAD": 1.36, "GBP": 0.79, "EUR": 0.92}

# (account, location_id, location_name)
LOCATIONS: tuple[tuple[str, str, str], ...] = (
    ("amazon_na", "ATVPDKIKX0DER", "Amazon.com FBA"),
    ("amazon_na", "A2EUQ1WTGCTBG2", "Amazon.ca FBA"),
    ("amazon_eu", "A1F83G8C2ARO7P", "Amazon.co.uk FBA"),
    ("amazon_eu", "A1PA6795UKMFR9", "Amazon.de FBA"),
    ("amazon_eu", "A13V1IB3VIYZZH", "Amazon.fr FBA"),
    ("shopify_us", "gid://shopify/Location/71104397001", "Main Warehouse (Edison, NJ)"),
    ("shopify_us", "gid://shopify/Location/71104397002", "Retail Store (Brooklyn, NY)"),
    ("shopify_eu", "gid://shopify/Location/82215508001", "EU Warehouse (Venlo)"),
    ("shopify_eu", "gid://shopify/Location/82215508002", "Showroom (Berlin)"),
    ("walmart_us", "100009", "Seller Warehouse (Edison, NJ)"),
    ("walmart_us", "WFS-1", "Walmart Fulfillment Services"),
)

# ---------------------------------------------------------------------------------------------
# Model parameters
# ---------------------------------------------------------------------------------------------
_N_SF = len(ACCOUNTS)
_CHANNELS = ("amazon", "shopify", "walmart")
_AMAZON, _SHOPIFY, _WALMART = range(3)
_SF_CHANNEL = np.array([_CHANNELS.index(s.channel) for s in ACCOUNTS])
_SF_FX = np.array([FX_PER_USD[s.currency] for s in ACCOUNTS])
_SF_TAXED = np.array([s.country == "US" for s in ACCOUNTS])
_SF_DAILY_ORDERS = np.array([30, 5, 6, 7, 4, 25, 8, 15], dtype=float)
_SF_UTC_OFFSET = np.array([-6, -5, 0, 1, 1, -6, 1, -6])
_SHOPIFY_US, _WALMART_US = 5, 7
_AMAZON_ORDER_PREFIXES = (
    ("111", "112", "113", "114"),
    ("701", "702"),
    ("202", "203", "204"),
    ("302", "303", "304"),
    ("402", "403", "405"),
)

_FULFILLMENTS = ("AFN", "MFN", "WFS", "SellerFulfilled", "merchant")
_AFN, _MFN, _WFS, _SELLER, _MERCHANT = range(5)
_SHIP_HOURS = np.array([[2, 30], [6, 72], [3, 40], [6, 72], [4, 72]], dtype=float)
_DELIVERY_DAYS = np.array([[2, 4], [2, 7], [2, 5], [2, 7], [2, 7]], dtype=float)
# Shipping charged below a free-shipping threshold, in USD, per channel (AFN ships free).
_SHIPPING_FEE_USD = np.array([4.99, 5.99, 5.99])
_FREE_SHIPPING_USD = np.array([25.0, 50.0, 35.0])

_LINES_PER_ORDER = 1.15  # observed lines per order after baskets are split by fulfilment
_BUSINESS_GROWTH = 0.08  # per year, centred on 2025-01-01
_QTY_VALUES = np.array([1, 2, 3, 4])
_QTY_PROBS = np.array([0.83, 0.12, 0.04, 0.01])
_MEAN_QTY = float(_QTY_VALUES @ _QTY_PROBS)
_BASKET_SIZES = np.array([1, 2, 3])
_BASKET_PROBS = np.array([0.8, 0.15, 0.05])
_DEMAND_GAMMA_SHAPE = 2.0  # daily demand noise: negative binomial with this shape
_ELASTICITY = 1.5
_PROMO_LIFT = 3.0  # a 20% discount lifts demand by 60%
_PROMO_PCTS = np.array([0.1, 0.15, 0.2, 0.25, 0.3])
_HORIZON_EVENTS = 60  # price changes and promotions drawn per listing, whatever `end` is

_CANCEL_RATE = 0.02
_REFUND_RATE = 0.065
_REFUND_REASONS = (
    "Defective",
    "Damaged in transit",
    "Not as described",
    "No longer needed",
    "Wrong item sent",
    "Better price available",
)
_LATE_REFUND_REASON = "Customer return (late adjustment)"
_COMMISSION_RATE = 0.15

_LEAD_DAYS = (10, 45)
_LEAD_PLAN_DAYS = 28  # lead time the reorder point is planned for
_CASE_PACK = 6

_REPEAT_BY_CHANNEL = np.array([0.25, 0.4, 0.25])
_REPEAT_RAMP_ORDERS = 300  # the repeat rate reaches half its level after this many orders
_RECENCY = 0.6  # < 1 favours recent buyers when a repeat order picks a past order
_SHARE_FLAG = 0.15  # share of new Shopify US customers who will also buy on Walmart
_SHARE_CLAIM = 0.18  # share of new Walmart customers who are such a Shopify customer

PENDING_FOR = timedelta(minutes=30)  # an order is 'pending' (payment not authorised) this long
_NA = np.iinfo(np.int64).max  # "no such event" in the microsecond arrays
_DAY_US = 86_400_000_000
_EPOCH_US = (SIM_EPOCH - date(1970, 1, 1)).days * _DAY_US
_EPOCH_DAYS = (SIM_EPOCH - date(1970, 1, 1)).days
_STATUSES = ("pending", "unshipped", "shipped", "delivered", "cancelled")
_REFUND_STATES = ("none", "partial", "full")

# fmt: off
# Local-time hourly order profile (00:00 ... 23:00).
_HOURLY_LOCAL = np.array(
    [0.5, 0.3, 0.2, 0.15, 0.15, 0.2, 0.4, 0.7, 1.0, 1.2, 1.3, 1.35,
     1.4, 1.35, 1.3, 1.3, 1.35, 1.45, 1.6, 1.75, 1.8, 1.6, 1.2, 0.8]
)
# Monday ... Sunday, per channel.
_WEEKLY = np.array(
    [
        [1.03, 1.0, 0.98, 0.97, 0.96, 1.02, 1.04],
        [0.95, 0.97, 0.97, 0.98, 1.0, 1.07, 1.06],
        [0.98, 0.97, 0.97, 0.98, 1.0, 1.06, 1.04],
    ]
)

# ---------------------------------------------------------------------------------------------
# Catalog vocabulary
# ---------------------------------------------------------------------------------------------
_CATEGORIES: dict[str, tuple[tuple[str, ...], float, float]] = {
    "Kitchen": (
        ("Chef's Knife", "Cutting Board", "Water Bottle", "Coffee Grinder", "Mixing Bowl Set",
         "Spatula Set", "French Press", "Food Storage Containers"), 12, 80),
    "Home Decor": (
        ("Throw Pillow Cover", "Scented Candle", "Wall Clock", "Table Lamp", "Picture Frame Set",
         "Ceramic Vase"), 15, 90),
    "Outdoor": (
        ("Camping Lantern", "Hammock", "Cooler Bag", "Folding Camp Chair", "Hiking Daypack",
         "Hose Nozzle"), 15, 120),
    "Pet Supplies": (
        ("Dog Leash", "Cat Scratching Post", "Pet Bed", "Slow Feeder Bowl", "Chew Toy",
         "Grooming Brush"), 8, 60),
    "Fitness": (
        ("Yoga Mat", "Resistance Bands", "Adjustable Dumbbell", "Foam Roller", "Jump Rope",
         "Gym Bag"), 10, 150),
    "Electronics Accessories": (
        ("USB-C Cable", "Wireless Charger", "Phone Stand", "Bluetooth Speaker", "Laptop Sleeve",
         "Power Bank"), 9, 70),
    "Beauty": (
        ("Cleansing Brush", "Hot Air Brush", "Makeup Brush Set", "Jade Roller", "Nail Care Kit",
         "Bamboo Hairbrush"), 8, 60),
    "Toys": (
        ("Building Blocks Set", "Plush Bear", "Wooden Puzzle", "Kids Art Kit", "Remote Control Car",
         "Magnetic Tiles"), 10, 70),
}
_CATEGORY_SHARE = np.array([0.18, 0.12, 0.12, 0.12, 0.12, 0.14, 0.1, 0.1])
_BRANDS = (
    "Northwind", "Bramble & Co", "Lumina", "Peakline", "Hearthstone", "Cobalt Goods",
    "Willow Lane", "Tidepool", "Ironbark", "Fennec", "Juniper Home", "Kestrel", "Oakhaven",
    "Pebble & Pine", "Solstice", "Trailmark", "Velvet Fox", "Zephyr", "Brightside", "Maple & Moss",
)
_ADJECTIVES = (
    "Premium", "Classic", "Eco", "Pro", "Compact", "Deluxe", "Everyday", "Ultra", "Essential",
    "Signature",
)
_COLORS = ("Black", "White", "Grey", "Navy", "Sage Green", "Terracotta", "Blush Pink", "Charcoal")
_SIZES = ("Small", "Medium", "Large")
_FAMILY_SIZES = np.array([1, 1, 1, 2, 2, 3])
_FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Carlos", "Karen", "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Sandra", "Mark", "Ashley",
    "Lukas", "Emma", "Noah", "Mia", "Leon", "Sofia", "Oliver", "Amelia", "Hugo", "Chloe", "Priya",
    "Wei",
)
_LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore",
    "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis", "Walker", "Young",
    "Muller", "Schmidt", "Schneider", "Fischer", "Dubois", "Bernard", "Moreau", "Patel", "Nguyen",
    "Kim", "Chen", "Kowalski",
)
# fmt: on
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGITS = "0123456789"


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------
def _round_99(x: np.ndarray) -> np.ndarray:
    """Round prices to the nearest ``.99`` ending (23.40 -> 22.99, 23.60 -> 23.99)."""
    return np.maximum(np.round(x) - 0.01, 0.99).round(2)


def _check_digit(body: str) -> str:
    """GS1 mod-10 check digit (UPC, EAN, GTIN) for the digits before it."""
    total = sum(int(c) * (3 if i % 2 == 0 else 1) for i, c in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def _unique_codes(
    rng: np.random.Generator, n: int, alphabet: str, length: int, prefix: str = ""
) -> list[str]:
    """``n`` distinct random codes ``prefix + length chars of alphabet``."""
    letters = np.array(list(alphabet))
    codes: dict[str, None] = {}
    while len(codes) < n:
        for row in letters[rng.integers(0, len(alphabet), size=(n - len(codes), length))]:
            codes.setdefault(prefix + "".join(row), None)
    return list(codes)


def _rank_within(groups: np.ndarray) -> np.ndarray:
    """0-based rank of each element among the elements of its group, in array order."""
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    counts = np.diff(np.r_[starts, groups.size])
    ranks = np.empty(groups.size, dtype=np.int64)
    ranks[order] = np.arange(groups.size) - np.repeat(starts, counts)
    return ranks


def _feistel(values: np.ndarray, half: int, salt: int) -> np.ndarray:
    """A bijection of ``[0, half**2)`` (four Feistel rounds): keys to random-looking unique ids."""
    left, right = np.divmod(values.astype(np.int64), half)
    for round_ in range(4):
        mixed = (_mix64(right, salt * 8 + round_) % np.uint64(half)).astype(np.int64)
        left, right = right, (left + mixed) % half
    return left * half + right


def _mix64(values: np.ndarray, salt: int) -> np.ndarray:
    """A bijection of uint64 (odd multiply + xorshift), for hex tokens derived from ids."""
    with np.errstate(over="ignore"):
        x = values.astype(np.uint64) + np.uint64(salt & 0xFFFFFFFFFFFF)
        x = x * np.uint64(0x9E3779B97F4A7C15)
        x ^= x >> np.uint64(31)
        x = x * np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(29)
    return x


def _hex(values: np.ndarray, upper: bool) -> np.ndarray:
    """16-digit hex strings of uint64 values."""
    table = np.frombuffer(b"0123456789ABCDEF" if upper else b"0123456789abcdef", np.uint8)
    shifts = np.arange(60, -4, -4, dtype=np.uint64)
    nibbles = (values[:, None] >> shifts) & np.uint64(15)
    return table[nibbles.astype(np.intp)].view("S16").ravel().astype("U16")


def _to_us(now: datetime) -> int:
    """Microseconds since 1970 of a UTC (or naive, taken as UTC) datetime."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return (now - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _null_where(series: pl.Series, missing: np.ndarray) -> pl.Series:
    if not missing.any():
        return series
    return pl.select(pl.when(pl.Series(~missing)).then(series)).to_series().alias(series.name)


def _ts(name: str, us: np.ndarray) -> pl.Series:
    """Datetime[us, UTC] series from microseconds since 1970, ``_NA`` becoming null."""
    series = pl.Series(name, us, dtype=pl.Int64).cast(pl.Datetime("us", "UTC"))
    return _null_where(series, us == _NA)


def _dates(name: str, day_index: np.ndarray, valid: np.ndarray | None = None) -> pl.Series:
    """Date series from day indexes relative to SIM_EPOCH (null where not ``valid``)."""
    valid = np.ones(day_index.size, dtype=bool) if valid is None else valid
    days = (np.where(valid, day_index, 0) + _EPOCH_DAYS).astype(np.int32)
    return _null_where(pl.Series(name, days).cast(pl.Date), ~valid)


def _day_index(d: date) -> int:
    return (d - SIM_EPOCH).days


def _pick(names: tuple[str, ...] | list[str], index: np.ndarray) -> pl.Series:
    """Strings by index (vectorised lookup)."""
    return pl.Series(list(names), dtype=pl.Utf8).gather(index)


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


# ---------------------------------------------------------------------------------------------
# Demand rates
# ---------------------------------------------------------------------------------------------
def _nth_weekday(year: int, month: int, weekday: int, n: int) -> int:
    first = date(year, month, 1)
    return _day_index(first) + (weekday - first.weekday()) % 7 + 7 * (n - 1)


def _seasonality(n_days: int) -> np.ndarray:
    """Demand multiplier per (day, storefront): yearly, weekly and retail events."""
    days = np.arange(n_days)
    dates = np.datetime64(SIM_EPOCH) + days
    day_of_year = (dates - dates.astype("datetime64[Y]")).astype(np.int64)
    weekday = (days + SIM_EPOCH.weekday()) % 7
    weekly = _WEEKLY / _WEEKLY.mean(axis=1, keepdims=True)
    season = (1 + 0.22 * np.cos(2 * np.pi * (day_of_year - 350) / 365.25))[:, None]
    season = season * weekly[_SF_CHANNEL][:, weekday].T
    last_year = (SIM_EPOCH + timedelta(days=n_days)).year
    for year in range(SIM_EPOCH.year, last_year + 1):
        thanksgiving = _nth_weekday(year, 11, 3, 4)
        for offset, lift in enumerate((1.2, 2.2, 1.5, 1.4, 1.9)):  # Thu .. Cyber Monday
            if 0 <= thanksgiving + offset < n_days:
                season[thanksgiving + offset] *= lift
        prime_day = _nth_weekday(year, 7, 1, 3)
        for offset in (0, 1):
            if 0 <= prime_day + offset < n_days:
                season[prime_day + offset, _SF_CHANNEL == _AMAZON] *= 2.0
        december = slice(
            max(_day_index(date(year, 12, 1)), 0), max(_day_index(date(year, 12, 21)), 0)
        )
        season[december] *= 1.15
    return season


def _rate_matrix(
    cat: _Catalog, lst: _Listings, prices: np.ndarray, promos: np.ndarray, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Expected order lines per (day, listing), and each listing's steady daily lines.

    The catalog's structural weights (base weight, trend, launch ramp, listed or not) are
    normalised per storefront and day, so launches and trends move market share while the
    storefront's volume follows its target, business growth and seasonality; price changes and
    promotions then move demand up or down.
    """
    n_days = prices.shape[0]
    days = np.arange(n_days)[:, None]
    reference = 365  # trends are centred on 2025-01-01
    base = cat.weight[lst.product] * lst.affinity
    trend = np.exp(np.clip((days - reference) / 365.25 * cat.growth[lst.product], -1.5, 1.5))
    age = np.maximum(days - cat.launch_day[lst.product], 0)
    ramp = 1 - 0.7 * np.exp(-age / 30)
    live = (days >= lst.listed_day) & (days < lst.delisted_day)
    structural = base * trend * ramp * live
    one_hot = (lst.sf[:, None] == np.arange(_N_SF)).astype(float)
    growth = np.exp(_BUSINESS_GROWTH * (days - reference) / 365.25)
    target = _SF_DAILY_ORDERS * _LINES_PER_ORDER * scale * growth
    norm = (target / np.maximum(structural @ one_hot, 1e-12))[:, lst.sf]
    price_effect = (prices / lst.ref_price) ** -_ELASTICITY
    promo_effect = 1 + _PROMO_LIFT * promos
    season = _seasonality(n_days)[:, lst.sf]
    first_day = np.minimum(np.maximum(lst.listed_day, 0), n_days - 1)
    columns = np.arange(lst.size)
    steady = (norm * base * trend)[first_day, columns]
    return season * norm * structural * price_effect * promo_effect, steady


# ---------------------------------------------------------------------------------------------
# Day-by-day simulation
# ---------------------------------------------------------------------------------------------
class _Chunks:
    """Per-day arrays collected by name, concatenated at the end."""

    def __init__(self) -> None:
        self._parts: dict[str, list[np.ndarray]] = defaultdict(list)

    def add(self, **columns: np.ndarray) -> None:
        for name, values in columns.items():
            self._parts[name].append(values)

    def __getitem__(self, name: str) -> np.ndarray:
        return np.concatenate(self._parts[name])


class _CustomerBook:
    """Customer pool per storefront: new buyers, repeat buyers, Shopify/Walmart shared people."""

    def __init__(self, scale: float) -> None:
        self.history = np.zeros((_N_SF, 1024), dtype=np.int64)  # customer of each past order
        self.n_history = np.zeros(_N_SF, dtype=np.int64)
        self.shared_queue: list[int] = []  # Shopify US customers who will also buy on Walmart
        self.queue_head = 0
        self.next_id = 1
        self.ramp = _REPEAT_RAMP_ORDERS * scale
        self.new = _Chunks()

    def assign(self, rng: np.random.Generator, sf: np.ndarray, t_us: np.ndarray) -> np.ndarray:
        """Customer id per order (orders in time order)."""
        n = sf.size
        prior = self.n_history[sf]
        p_repeat = _REPEAT_BY_CHANNEL[_SF_CHANNEL[sf]] * prior / (prior + self.ramp)
        repeat = rng.random(n) < p_repeat
        past = np.minimum((prior * rng.random(n) ** _RECENCY).astype(np.int64), prior - 1)
        customers = np.where(repeat, self.history[sf, np.maximum(past, 0)], 0)
        new = np.flatnonzero(~repeat)
        ids = self.next_id + np.arange(new.size, dtype=np.int64)
        self.next_id += new.size
        customers[new] = ids
        link = self._link_shared(rng, sf[new], ids)
        self.new.add(customer_id=ids, sf=sf[new], created_us=t_us[new], link=link)
        self._remember(sf, customers)
        return customers

    def _link_shared(self, rng: np.random.Generator, sf: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """For new customers: the Shopify US customer a new Walmart customer is (0: nobody)."""
        u = rng.random(ids.size)
        self.shared_queue += ids[(sf == _SHOPIFY_US) & (u < _SHARE_FLAG)].tolist()
        link = np.zeros(ids.size, dtype=np.int64)
        wanted = np.flatnonzero((sf == _WALMART_US) & (u < _SHARE_CLAIM))
        take = min(wanted.size, len(self.shared_queue) - self.queue_head)
        link[wanted[:take]] = self.shared_queue[self.queue_head : self.queue_head + take]
        self.queue_head += take
        return link

    def _remember(self, sf: np.ndarray, customers: np.ndarray) -> None:
        slot = self.n_history[sf] + _rank_within(sf)
        if slot.max(initial=0) >= self.history.shape[1]:
            grown = np.zeros((_N_SF, 2 * (int(slot.max()) + 1)), dtype=np.int64)
            grown[:, : self.history.shape[1]] = self.history
            self.history = grown
        self.history[sf, slot] = customers
        self.n_history += np.bincount(sf, minlength=_N_SF)


def _group_into_orders(
    rng: np.random.Generator, group: np.ndarray, category: np.ndarray, product: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Baskets of one to three lines from the same (storefront, fulfilment) group.

    Returns a permutation of the lines and the basket of each permuted line.
    """
    n = group.size
    order = np.lexsort((rng.random(n), category, group))
    group = group[order]
    starts = np.zeros(n, dtype=bool)
    boundaries = np.cumsum(rng.choice(_BASKET_SIZES, size=n, p=_BASKET_PROBS))
    starts[np.r_[0, boundaries[boundaries < n]]] = True
    starts[1:] |= group[1:] != group[:-1]
    basket = np.cumsum(starts) - 1
    # The same product twice in a basket: move the extra line into its own order.
    prod = product[order]
    by_product = np.lexsort((prod, basket))
    same = (basket[by_product[1:]] == basket[by_product[:-1]]) & (
        prod[by_product[1:]] == prod[by_product[:-1]]
    )
    duplicates = by_product[1:][same]
    basket[duplicates] = basket[-1] + 1 + np.arange(duplicates.size)
    return order, basket


def _serve_in_time_order(
    listing: np.ndarray, qty: np.ndarray, t: np.ndarray, available: np.ndarray
) -> np.ndarray:
    """Mask of lines served from stock; lines are served in time order until stock runs out."""
    order = np.lexsort((t, listing))
    lst, q = listing[order], qty[order]
    cumulative = np.cumsum(q)
    first = np.flatnonzero(np.r_[True, lst[1:] != lst[:-1]])
    before_group = (cumulative - q)[first]
    within = cumulative - np.repeat(before_group, np.diff(np.r_[first, lst.size]))
    served = np.empty(listing.size, dtype=bool)
    served[order] = within <= available[lst]
    return served


@dataclass
class _DayOrders:
    """The orders of one day after stock censoring, in time order."""

    sf: np.ndarray
    fulfillment: np.ndarray
    t_us: np.ndarray
    line_order: np.ndarray  # order index (within the day) of each line, lines sorted by it
    line_number: np.ndarray
    listing: np.ndarray
    qty: np.ndarray

    @property
    def n(self) -> int:
        return int(self.sf.size)

    @classmethod
    def empty(cls) -> _DayOrders:
        i64, i32 = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
        return cls(i64, i64, i64, i64, i32, i64, i32)


class _Simulation:
    """Runs the business day by day; state is stock per listing and the customer pool."""

    def __init__(
        self,
        seed: int,
        scale: float,
        cat: _Catalog,
        lst: _Listings,
        prices: np.ndarray,
        promos: np.ndarray,
    ) -> None:
        self.seed, self.lst, self.prices, self.promos = seed, lst, prices, promos
        self.rates, steady_lines = _rate_matrix(cat, lst, prices, promos, scale)
        self.n_days = prices.shape[0]
        n = lst.size
        self.category = cat.category[lst.product]
        self.order_group = lst.sf * len(_FULFILLMENTS) + lst.fulfillment
        self.hour_cdf = np.cumsum(
            [np.roll(_HOURLY_LOCAL, -o) / _HOURLY_LOCAL.sum() for o in _SF_UTC_OFFSET], axis=1
        )
        self.hour_cdf[:, -1] = 1.0
        self.amazon = np.flatnonzero(_SF_CHANNEL[lst.sf] == _AMAZON)
        # Stock
        initial = np.ceil(steady_lines * _MEAN_QTY * lst.cover_days / _CASE_PACK) * _CASE_PACK
        initial = np.maximum(initial, _CASE_PACK)
        starts_before = lst.listed_day <= 0
        self.available = np.where(starts_before, initial, 0).astype(np.int64)
        self.reserved = np.zeros(n, dtype=np.int64)
        self.po_qty = np.where(starts_before, 0, initial).astype(np.int64)
        self.po_day = np.where(starts_before, -1, lst.listed_day)
        self.ship_release = np.zeros((self.n_days + 8, n), dtype=np.int64)
        self.cancel_release = np.zeros((self.n_days + 8, n), dtype=np.int64)
        # Opening stock per day: available, reserved, inbound.
        self.snapshot = np.zeros((3, self.n_days, n), dtype=np.int32)
        # Orders
        self.customers = _CustomerBook(scale)
        self.shopify_number = np.full(_N_SF, 1001, dtype=np.int64)
        self.next_order = 0
        self.orders, self.lines, self.refunds = _Chunks(), _Chunks(), _Chunks()
        self.traffic = _Chunks()

    def run(self) -> _Simulation:
        for d in range(self.n_days):
            self._day(d)
        return self

    def _day(self, d: int) -> None:
        ordinal = (SIM_EPOCH + timedelta(days=d)).toordinal()
        demand, people, life, stock, traffic = (
            np.random.default_rng([self.seed, ordinal, stream]) for stream in range(1, 6)
        )
        self._receive(d)
        self.snapshot[:, d] = (self.available, self.reserved, self.po_qty)
        noise = demand.gamma(_DEMAND_GAMMA_SHAPE, 1 / _DEMAND_GAMMA_SHAPE, self.lst.size)
        day = self._orders_of_day(demand, d, noise)
        self._record(d, day, people, life)
        self._replenish(stock, d)
        self._traffic(traffic, d, noise)

    def _receive(self, d: int) -> None:
        arriving = self.po_day == d
        self.available[arriving] += self.po_qty[arriving]
        self.po_qty[arriving] = 0
        self.po_day[arriving] = -1

    def _orders_of_day(self, rng: np.random.Generator, d: int, noise: np.ndarray) -> _DayOrders:
        counts = rng.poisson(self.rates[d] * noise)
        if not counts.any():
            return _DayOrders.empty()
        listing = np.repeat(np.arange(self.lst.size), counts)
        qty = rng.choice(_QTY_VALUES, size=listing.size, p=_QTY_PROBS)
        order, basket = _group_into_orders(
            rng, self.order_group[listing], self.category[listing], self.lst.product[listing]
        )
        listing, qty = listing[order], qty[order]
        n_baskets = int(basket.max(initial=-1)) + 1
        group = np.zeros(n_baskets, dtype=np.int64)
        group[basket] = self.order_group[listing]
        sf = group // len(_FULFILLMENTS)
        hour = (rng.random(n_baskets)[:, None] > self.hour_cdf[sf]).sum(axis=1)
        second = hour * 3600 + rng.integers(0, 3600, n_baskets)
        served = _serve_in_time_order(listing, qty, second[basket], self.available)
        kept = np.unique(basket[served])
        kept = kept[np.lexsort((kept, second[kept]))]
        new_index = np.full(n_baskets, -1)
        new_index[kept] = np.arange(kept.size)
        line_order = new_index[basket[served]]
        by_order = np.argsort(line_order, kind="stable")
        line_order = line_order[by_order]
        return _DayOrders(
            sf=sf[kept],
            fulfillment=group[kept] % len(_FULFILLMENTS),
            t_us=_EPOCH_US + d * _DAY_US + second[kept] * 1_000_000,
            line_order=line_order,
            line_number=(_rank_within(line_order) + 1).astype(np.int32),
            listing=listing[served][by_order],
            qty=qty[served][by_order].astype(np.int32),
        )

    def _record(
        self, d: int, day: _DayOrders, people: np.random.Generator, life: np.random.Generator
    ) -> None:
        keys = self.next_order + 1 + np.arange(day.n, dtype=np.int64)
        self.next_order += day.n
        shop_number = self.shopify_number[day.sf] + _rank_within(day.sf)
        self.shopify_number += np.bincount(day.sf, minlength=_N_SF)
        customer = self.customers.assign(people, day.sf, day.t_us)

        gross = (self.prices[d, day.listing] * day.qty).round(2)
        discount = (gross * self.promos[d, day.listing]).round(2)
        net = gross - discount
        tax_rate = np.where(_SF_TAXED[day.sf], life.uniform(0.06, 0.10, day.n).round(4), 0.0)
        tax_rate[life.random(day.n) < 0.05] = 0.0
        subtotal = np.bincount(day.line_order, weights=net, minlength=day.n)
        channel = _SF_CHANNEL[day.sf]
        fee = _round_99(_SHIPPING_FEE_USD[channel] * _SF_FX[day.sf])
        charged = (subtotal < _FREE_SHIPPING_USD[channel] * _SF_FX[day.sf]) & (
            day.fulfillment != _AFN
        )
        shipping = np.where(charged, fee, 0.0)

        shipped, delivered, cancelled = _life_cycle(life, day.t_us, day.fulfillment)
        self.orders.add(
            order_key=keys,
            sf=day.sf,
            fulfillment=day.fulfillment,
            customer_id=customer,
            purchased_us=day.t_us,
            shipped_us=shipped,
            delivered_us=delivered,
            cancelled_us=cancelled,
            shipping_price=shipping,
            shipping_tax=(shipping * tax_rate).round(2),
            shopify_number=shop_number,
        )
        self.lines.add(
            order_key=keys[day.line_order],
            line_number=day.line_number,
            listing=day.listing,
            quantity=day.qty,
            unit_price=self.prices[d, day.listing],
            discount=discount,
            tax=(net * tax_rate[day.line_order]).round(2),
        )
        self._refund(life, keys, day, delivered, cancelled, gross - discount)
        self._book_stock(d, day, shipped, cancelled)

    def _refund(
        self,
        rng: np.random.Generator,
        keys: np.ndarray,
        day: _DayOrders,
        delivered: np.ndarray,
        cancelled: np.ndarray,
        net: np.ndarray,
    ) -> None:
        """Full refunds, one-line refunds and part-quantity refunds of delivered orders."""
        n_lines = np.bincount(day.line_order, minlength=day.n)
        refunded = (cancelled == _NA) & (rng.random(day.n) < _REFUND_RATE)
        mode = rng.choice(3, size=day.n, p=[0.55, 0.25, 0.2])  # full, one line, part quantity
        target = (rng.random(day.n) * n_lines).astype(np.int64) + 1
        at = day.t_us + (rng.uniform(5, 40, day.n) * _DAY_US).astype(np.int64)
        at = np.maximum(
            at, np.where(refunded, delivered, 0) + rng.integers(1, 48, day.n) * 3_600_000_000
        )
        o = day.line_order
        line_hit = refunded[o] & ((mode[o] == 0) | (day.line_number == target[o]))
        part = (mode[o] == 2) & (day.qty > 1)
        qty = np.where(part, (rng.random(o.size) * (day.qty - 1)).astype(np.int32) + 1, day.qty)
        amount = np.where(qty == day.qty, net, (net / day.qty * qty).round(2))
        hit = np.flatnonzero(line_hit)
        self.refunds.add(
            order_key=keys[o[hit]],
            line_number=day.line_number[hit],
            refunded_us=at[o[hit]],
            quantity=qty[hit].astype(np.int32),
            amount=amount[hit].round(2),
            reason=rng.integers(0, len(_REFUND_REASONS), hit.size),
        )

    def _book_stock(
        self, d: int, day: _DayOrders, shipped: np.ndarray, cancelled: np.ndarray
    ) -> None:
        sold = np.bincount(day.listing, weights=day.qty, minlength=self.lst.size).astype(np.int64)
        self.available -= sold
        self.reserved += sold
        line_cancelled = cancelled[day.line_order]
        is_cancelled = line_cancelled != _NA
        release_at = np.where(is_cancelled, line_cancelled, shipped[day.line_order])
        release_day = (release_at - _EPOCH_US) // _DAY_US
        np.add.at(
            self.ship_release,
            (release_day[~is_cancelled], day.listing[~is_cancelled]),
            day.qty[~is_cancelled],
        )
        np.add.at(
            self.cancel_release,
            (release_day[is_cancelled], day.listing[is_cancelled]),
            day.qty[is_cancelled],
        )
        self.reserved -= self.ship_release[d] + self.cancel_release[d]
        self.available += self.cancel_release[d]

    def _replenish(self, rng: np.random.Generator, d: int) -> None:
        lst = self.lst
        daily_units = self.rates[d] * _MEAN_QTY
        live = (d >= lst.listed_day) & (d < lst.delisted_day)
        reorder_point = np.maximum(1.0, daily_units * _LEAD_PLAN_DAYS * lst.safety)
        due = np.flatnonzero(live & (self.po_day < 0) & (self.available <= reorder_point))
        lead = rng.integers(_LEAD_DAYS[0], _LEAD_DAYS[1] + 1, due.size)
        cover = daily_units[due] * lst.cover_days[due]
        self.po_qty[due] = np.maximum(1, np.ceil(cover / _CASE_PACK)) * _CASE_PACK
        self.po_day[due] = d + lead

    def _traffic(self, rng: np.random.Generator, d: int, noise: np.ndarray) -> None:
        amazon = self.amazon
        sessions = rng.poisson(self.rates[d, amazon] * noise[amazon] / self.lst.conversion[amazon])
        seen = sessions > 0
        listing, sessions = amazon[seen], sessions[seen]
        buy_box = np.where(
            self.snapshot[0, d, listing] == 0,
            rng.uniform(0, 15, listing.size),
            self.lst.buy_box[listing] - rng.uniform(0, 3, listing.size),
        )
        self.traffic.add(
            day=np.full(listing.size, d),
            listing=listing,
            sessions=sessions,
            page_views=sessions + rng.poisson(0.45 * sessions),
            mobile_sessions=rng.binomial(sessions, 0.62),
            buy_box_pct=np.clip(buy_box, 0, 100).round(1),
        )


def _life_cycle(
    rng: np.random.Generator, t_us: np.ndarray, fulfillment: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(shipped, delivered, cancelled) microseconds per order, ``_NA`` when it never happens."""
    n = t_us.size
    hours = rng.uniform(*_SHIP_HOURS[fulfillment].T)
    ship_delay = (hours * 3_600_000_000).astype(np.int64)
    days = rng.uniform(*_DELIVERY_DAYS[fulfillment].T)
    deliver_delay = (days * _DAY_US).astype(np.int64)
    cancelled = rng.random(n) < _CANCEL_RATE
    cancel_delay = (rng.uniform(0.05, 0.9, n) * np.minimum(ship_delay, _DAY_US)).astype(np.int64)
    shipped = np.where(cancelled, _NA, t_us + ship_delay)
    delivered = np.where(cancelled, _NA, t_us + ship_delay + deliver_delay)
    return shipped, delivered, np.where(cancelled, t_us + cancel_delay, _NA)


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
    return frame.select(
        "customer_id",
        account,
        email.alias("email"),
        "first_name",
        "last_name",
        _ts("created_at", c["created_us"]),
        marketplace_id,
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


# ---------------------------------------------------------------------------------------------
# The business
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Refunds:
    """The refunds frame and its arrays (order row, line row, time, amount, quantity).

    Replaced as a whole by late updates, so a view always sees one consistent state.
    """

    frame: pl.DataFrame
    order: np.ndarray
    line: np.ndarray
    at_us: np.ndarray
    amount: np.ndarray
    qty: np.ndarray

    def visible(self, now_us: int) -> np.ndarray:
        return self.at_us <= now_us

    def extended(
        self,
        rows: pl.DataFrame,
        order: np.ndarray,
        line: np.ndarray,
        at_us: np.ndarray,
        amount: np.ndarray,
        qty: np.ndarray,
    ) -> _Refunds:
        return _Refunds(
            frame=pl.concat([self.frame, rows]),
            order=np.r_[self.order, order],
            line=np.r_[self.line, line],
            at_us=np.r_[self.at_us, at_us],
            amount=np.r_[self.amount, amount],
            qty=np.r_[self.qty, qty],
        )


class Business:
    """The simulated business from SIM_EPOCH to ``end`` (exclusive, default: today UTC).

    Frames (polars): ``storefronts``, ``products``, ``listings``, ``prices``, ``locations``,
    ``customers``, ``orders``, ``order_lines``, ``refunds``, ``inventory_daily``,
    ``traffic_daily``, ``fees``. Views (``orders_view`` ...) show what an API would show at a
    given time; ``apply_late_update`` refunds old orders to test incremental extraction.
    """

    def __init__(
        self, seed: int = 42, scale: float = 1.0, end: date | None = None, n_products: int = 300
    ) -> None:
        end = end or datetime.now(UTC).date()
        n_days = _day_index(end)
        if n_days <= 0:
            raise ValueError(f"end must be after {SIM_EPOCH}, got {end}")
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.seed, self.scale, self.end, self.n_days = seed, scale, end, n_days
        catalog_rng = np.random.default_rng([seed, 0])
        cat = _build_catalog(catalog_rng, n_products)
        lst = _build_listings(catalog_rng, cat)
        sch = _build_schedule(catalog_rng, lst)
        sim = _Simulation(
            seed, scale, cat, lst, _price_matrix(lst, sch, n_days), _promo_matrix(lst, sch, n_days)
        ).run()

        self.storefronts = pl.DataFrame([s._asdict() for s in ACCOUNTS])
        self.locations = pl.DataFrame(
            LOCATIONS, schema=["account", "location_id", "location_name"], orient="row"
        )
        self.products = cat.frame.filter(pl.col("launch_date") < end)
        self.listings = _listings_frame(lst, n_days).filter(pl.col("listed_from") < end)
        self.prices = _prices_frame(lst, sch, n_days)
        self.customers = _customers_frame(sim)
        self.orders = _orders_frame(sim)
        self.order_lines = _lines_frame(sim, sim.orders["sf"])
        self.inventory_daily = _inventory_frame(sim)
        self.traffic_daily = _traffic_frame(sim)
        self.fees = _fees_frame(sim, cat.fba_fee_usd)
        self._index_for_views(sim)

    # -- view indexes ---------------------------------------------------------------------------
    def _index_for_views(self, sim: _Simulation) -> None:
        o, ln, r = sim.orders, sim.lines, sim.refunds
        self._lst = sim.lst
        self._o_sf = o["sf"]
        self._o_events = {
            "purchased": o["purchased_us"],
            "shipped": o["shipped_us"],
            "delivered": o["delivered_us"],
            "cancelled": o["cancelled_us"],
        }
        line_order = ln["order_key"] - 1
        gross = (ln["unit_price"] * ln["quantity"]).round(2)
        self._l_order = line_order
        self._l_net = (gross - ln["discount"]).round(2)
        self._l_qty = ln["quantity"]
        n_orders = self._o_sf.size
        self._line_start = np.searchsorted(line_order, np.arange(n_orders + 1))
        self._o_net = np.bincount(line_order, weights=self._l_net, minlength=n_orders).round(2)
        self._o_totals = pl.DataFrame(
            {
                "lines": np.bincount(line_order, minlength=n_orders),
                "units": np.bincount(line_order, weights=ln["quantity"], minlength=n_orders),
                "gross": np.bincount(line_order, weights=gross, minlength=n_orders),
                "discount": np.bincount(line_order, weights=ln["discount"], minlength=n_orders),
            },
            schema={
                "lines": pl.Int64,
                "units": pl.Int64,
                "gross": pl.Float64,
                "discount": pl.Float64,
            },
        )
        r_order = r["order_key"] - 1
        self._refunds = _Refunds(
            frame=_refunds_frame(sim),
            order=r_order,
            line=self._line_start[r_order] + r["line_number"] - 1,
            at_us=r["refunded_us"],
            amount=r["amount"],
            qty=r["quantity"],
        )
        self._inventory = sim.snapshot
        self._inventory_changed = _last_change_day(sim.snapshot, sim.lst.listed_day)
        self._late_updates = 0
        self._lock = threading.Lock()
        self._cache: dict[int, pl.DataFrame] = {}

    @property
    def refunds(self) -> pl.DataFrame:
        """refund_id, order_key, line_number, refunded_at, quantity, amount, reason."""
        return self._refunds.frame

    def _visible_orders(self, now_us: int) -> int:
        return int(np.searchsorted(self._o_events["purchased"], now_us, side="right"))

    # -- views ----------------------------------------------------------------------------------
    def orders_view(self, now: datetime) -> pl.DataFrame:
        """Orders placed at or before ``now`` as an API shows them then (later events hidden).

        Adds ``status``, ``last_updated_at``, ``refunded_amount`` and ``is_refunded``.
        """
        now_us = _to_us(now)
        with self._lock:
            cached = self._cache.get(now_us)
            refunds = self._refunds
        if cached is not None:
            return cached
        k = self._visible_orders(now_us)
        ev = {name: times[:k] for name, times in self._o_events.items()}
        happened = {name: times <= now_us for name, times in ev.items()}
        updated = ev["purchased"].copy()
        for name in ("shipped", "delivered", "cancelled"):
            np.maximum(updated, np.where(happened[name], ev[name], 0), out=updated)
        visible = refunds.visible(now_us)
        np.maximum.at(updated, refunds.order[visible], refunds.at_us[visible])
        refunded = np.bincount(
            refunds.order[visible], weights=refunds.amount[visible], minlength=k
        ).round(2)
        status = np.select(
            [
                happened["cancelled"],
                happened["delivered"],
                happened["shipped"],
                now_us - ev["purchased"] < PENDING_FOR // timedelta(microseconds=1),
            ],
            [4, 3, 2, 0],
            1,
        )
        refund_state = np.select([refunded >= self._o_net[:k] - 0.005, refunded > 0], [2, 1], 0)
        view = self.orders.head(k).with_columns(
            *(
                _ts(f"{name}_at", np.where(happened[name], ev[name], _NA))
                for name in ("shipped", "delivered", "cancelled")
            ),
            _pick(_STATUSES, status).alias("status"),
            _ts("last_updated_at", updated),
            pl.Series("refunded_amount", refunded, dtype=pl.Float64),
            _pick(_REFUND_STATES, refund_state).alias("is_refunded"),
        )
        with self._lock:
            if refunds is self._refunds:  # no late update meanwhile
                if len(self._cache) >= 16:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[now_us] = view
        return view

    def lines_view(self, now: datetime) -> pl.DataFrame:
        """Order lines of the orders visible at ``now``, with refunds visible at ``now``."""
        now_us = _to_us(now)
        n_lines = int(self._line_start[self._visible_orders(now_us)])
        refunds = self._refunds
        visible = refunds.visible(now_us)
        line = refunds.line[visible]
        return self.order_lines.head(n_lines).with_columns(
            pl.Series(
                "refunded_quantity",
                np.bincount(line, weights=refunds.qty[visible], minlength=n_lines),
                dtype=pl.Int32,
            ),
            pl.Series(
                "refunded_amount",
                np.bincount(line, weights=refunds.amount[visible], minlength=n_lines).round(2),
            ),
        )

    def refunds_view(self, now: datetime) -> pl.DataFrame:
        """Refunds issued at or before ``now``, oldest first."""
        refunds = self._refunds
        visible = refunds.visible(_to_us(now))
        return refunds.frame.filter(pl.Series(visible)).sort("refunded_at", "refund_id")

    def inventory_at(self, now: datetime) -> pl.DataFrame:
        """Stock per (account, location_id, product_id) on the latest simulated day <= ``now``.

        The daily snapshot is the opening stock of the day (after that morning's receipts).
        """
        if now.tzinfo is not None:
            now = now.astimezone(UTC)
        day = min(_day_index(now.date()), self.n_days - 1)
        stocked = np.flatnonzero((self._lst.listed_day <= day) & (day >= 0))
        day = max(day, 0)  # nothing is stocked before SIM_EPOCH
        available, reserved, inbound = (
            self._inventory[i, day, stocked].astype(np.int64) for i in range(3)
        )
        changed_day = self._inventory_changed[day, stocked].astype(np.int64)
        return pl.DataFrame(
            [
                _pick([ACCOUNTS[s].account for s in self._lst.sf], stocked).alias("account"),
                _pick(self._lst.location, stocked).alias("location_id"),
                pl.Series("product_id", self._lst.product[stocked] + 1, dtype=pl.Int64),
                pl.Series("available", available),
                pl.Series("reserved", reserved),
                pl.Series("inbound", inbound),
                pl.Series("on_hand", available + reserved),
                _ts("last_updated_at", _EPOCH_US + changed_day * _DAY_US),
                _pick([ACCOUNTS[s].marketplace_id for s in self._lst.sf], stocked).alias(
                    "marketplace_id"
                ),
                _pick(self._lst.channel_sku, stocked).alias("channel_sku"),
            ]
        )

    def current_prices(self, now: datetime) -> pl.DataFrame:
        """Listings live on ``now``'s date with the price in force (``price``, ``currency``)."""
        if now.tzinfo is not None:
            now = now.astimezone(UTC)
        today = now.date()
        keys = ["account", "marketplace_id", "product_id"]
        in_force = (
            self.prices.filter(pl.col("valid_from") <= today)
            .group_by(keys)
            .agg(pl.col("price").sort_by("valid_from").last())
        )
        return (
            self.listings.filter(pl.col("listed_from") <= today)
            .with_columns(
                is_active=pl.col("listed_until").is_null() | (pl.col("listed_until") > today)
            )
            .join(in_force, on=keys, how="inner")
            .join(
                self.storefronts.select("account", "marketplace_id", "currency"),
                on=["account", "marketplace_id"],
            )
            .sort(keys)
        )

    def ground_truth(self, now: datetime, account: str | None = None) -> pl.DataFrame:
        """Totals per (account, marketplace_id, currency, purchase_date) of orders visible at now.

        ``refunded`` sums the refunds visible at ``now`` on the purchase date of their order.
        """
        view = self.orders_view(now)
        frame = view.select(
            "account",
            "marketplace_id",
            "currency",
            pl.col("purchased_at").dt.date().alias("purchase_date"),
            "refunded_amount",
        ).hstack(self._o_totals.head(view.height))
        if account is not None:
            frame = frame.filter(pl.col("account") == account)
        return (
            frame.group_by("account", "marketplace_id", "currency", "purchase_date")
            .agg(
                pl.len().cast(pl.Int64).alias("orders"),
                pl.col("lines").sum(),
                pl.col("units").sum(),
                pl.col("gross").sum().round(2),
                pl.col("discount").sum().round(2),
                pl.col("refunded_amount").sum().round(2).alias("refunded"),
            )
            .sort("account", "marketplace_id", "purchase_date")
        )

    # -- late updates ---------------------------------------------------------------------------
    def apply_late_update(
        self, account: str, n: int, now: datetime, min_age_days: int = 60
    ) -> list[int]:
        """Fully refund, at ``now``, ``n`` delivered and never refunded orders of ``account``
        placed more than ``min_age_days`` before ``now``. Returns their order keys (sorted).
        """
        stores = [i for i, s in enumerate(ACCOUNTS) if s.account == account]
        if not stores:
            raise ValueError(f"unknown account {account!r}")
        now_us = _to_us(now)
        k = self._visible_orders(now_us)
        with self._lock:
            ever_refunded = np.zeros(k, dtype=bool)
            ever_refunded[self._refunds.order[self._refunds.order < k]] = True
            candidates = np.flatnonzero(
                np.isin(self._o_sf[:k], stores)
                & (self._o_events["purchased"][:k] < now_us - min_age_days * _DAY_US)
                & (self._o_events["delivered"][:k] <= now_us)
                & ~ever_refunded
            )
            rng = np.random.default_rng([self.seed, now_us, self._late_updates, stores[0]])
            chosen = np.sort(rng.choice(candidates, size=min(n, candidates.size), replace=False))
            self._late_updates += 1
            self._refunds = self._with_full_refunds(chosen, now_us)
            self._cache.clear()
        return [int(i) + 1 for i in chosen]

    def _with_full_refunds(self, orders: np.ndarray, at_us: int) -> _Refunds:
        starts, ends = self._line_start[orders], self._line_start[orders + 1]
        lines = np.repeat(starts, ends - starts) + _rank_within(np.repeat(orders, ends - starts))
        keys = self._l_order[lines] + 1
        numbers = (lines - self._line_start[self._l_order[lines]] + 1).astype(np.int32)
        rows = pl.DataFrame(
            {
                "order_key": keys,
                "line_number": numbers,
                "quantity": self._l_qty[lines].astype(np.int32),
                "amount": self._l_net[lines],
            },
        ).select(
            pl.format("RL-{}-{}", "order_key", "line_number").alias("refund_id"),
            "order_key",
            "line_number",
            _ts("refunded_at", np.full(lines.size, at_us, dtype=np.int64)),
            "quantity",
            "amount",
            pl.lit(_LATE_REFUND_REASON).alias("reason"),
        )
        return self._refunds.extended(
            rows,
            order=self._l_order[lines],
            line=lines,
            at_us=np.full(lines.size, at_us, dtype=np.int64),
            amount=self._l_net[lines],
            qty=self._l_qty[lines],
        )


def _last_change_day(snapshot: np.ndarray, listed_day: np.ndarray) -> np.ndarray:
    """Per (day, listing): the latest day <= day on which the listing's stock changed."""
    n_days = snapshot.shape[1]
    days = np.arange(n_days)[:, None]
    changed = np.zeros(snapshot.shape[1:], dtype=bool)
    changed[0] = True
    changed[1:] = (snapshot[:, 1:] != snapshot[:, :-1]).any(axis=0)
    changed |= days == listed_day[None, :]
    last = np.where(changed, days, 0).astype(np.int32)
    return np.maximum.accumulate(last, axis=0)
