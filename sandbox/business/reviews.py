"""Product reviews of the simulated business, derived from its orders, with injected manipulation
and its ground truth.

**Honest reviews** follow sales: a share of the buyers of a delivered (not cancelled) line
write a review 1 day to several weeks after delivery (exponential delay, mean 8 days). Buyers of
a refunded line review more often (30% against 7%) and rate low (1-3 stars); the others rate
from the product's quality (a per-product mean between 3.4 and 4.7 stars). Honest reviews are
verified purchases, by the order's customer, one per line, with a title and a text from the
templates of :mod:`sandbox.business.review_texts`.

**Injected manipulation** (``review_truth``) repeats in 45-day cycles from day 60 of the
simulation (fixed calendar days: a day's reviews never change when ``end`` moves), each cycle
on other listings (mid sellers of the 90 days before it):

* ``burst_5star``: 24 five-star reviews within three days on one Shopify US product, from
  reviewers never seen before, none a verified purchase (days 0-3 of the cycle);
* ``duplicate_ring``: eight new reviewers post the same paragraph, each with a one-phrase
  edit, on three Shopify EU products (5 stars, unverified; days 10-20);
* ``rating_attack``: 18 one-star reviews within two days on one Amazon US listing, from new,
  unverified reviewers (days 30-32).

Reviews are keyed like the channel keys products: ``channel_item_id`` is the ASIN (Amazon),
the Shopify product's legacy id (reviews are per Shopify product, not variant) or the Walmart
item id. Everything comes from ``default_rng([seed, 9201, k])`` generators (k per draw), so the
business's orders are untouched and the reviews are a pure function of ``(seed, scale, end)``.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from sandbox.business.model import Business
from sandbox.business.parameters import SIM_EPOCH
from sandbox.business.preferences import _NOUNS
from sandbox.business.review_texts import honest_text, ring_text

REVIEWS_STREAM = 9201
CASES = ("burst_5star", "duplicate_ring", "rating_attack")
_P_REVIEW, _P_REVIEW_REFUNDED = 0.07, 0.30
_MEAN_DELAY_DAYS = 8.0
_STAR_SPREAD = 0.8
# Manipulation repeats every _CYCLE_DAYS from day _FIRST_CYCLE_DAY (fixed calendar days, so a
# day's reviews never change when ``end`` moves); offsets are days into the cycle.
_FIRST_CYCLE_DAY, _CYCLE_DAYS = 60, 45
_BURST = (24, 0, 3)  # reviews, offset, spread in days
_RING = (8, 3, 10, 10)  # reviewers, products, offset, spread
_ATTACK = (18, 30, 2)

_CACHE: weakref.WeakKeyDictionary[Business, ReviewSet] = weakref.WeakKeyDictionary()

REVIEW_COLUMNS = (
    "review_id",
    "account",
    "marketplace_id",
    "channel_item_id",
    "product_id",
    "reviewer_id",
    "reviewer_name",
    "reviewer_email",
    "order_key",
    "reviewed_at",
    "rating",
    "title",
    "body",
    "is_verified",
)


@dataclass(frozen=True)
class ReviewSet:
    """``frame``: every review (``REVIEW_COLUMNS``, by time); ``truth``: the injected ones
    (``review_id, case, account, channel_item_id``)."""

    frame: pl.DataFrame
    truth: pl.DataFrame


def _rng(seed: int, k: int) -> np.random.Generator:
    return np.random.default_rng([seed, REVIEWS_STREAM, k])


def _noun(titles: pl.Series) -> pl.Series:
    nouns = sorted(_NOUNS, key=len, reverse=True)
    return pl.Series([next((n for n in nouns if n in t), "product") for t in titles])


def _reviewed_lines(business: Business) -> pl.DataFrame:
    """Every order line that can be reviewed, with its listing's review key and refund flag."""
    refunded = (
        business.refunds.select("order_key", "line_number")
        .unique()
        .with_columns(pl.lit(True).alias("is_refunded"))
    )
    keys = business.listings.select(
        "account",
        "marketplace_id",
        "product_id",
        pl.when(pl.col("account").str.starts_with("shopify"))
        .then(pl.col("channel_product_id"))
        .otherwise(pl.col("channel_item_id"))
        .alias("channel_item_id"),
    ).unique(["account", "marketplace_id", "product_id"], keep="first")
    orders = business.orders.filter(pl.col("cancelled_at").is_null()).select(
        "order_key", "account", "marketplace_id", "customer_id", "purchased_at", "delivered_at"
    )
    return (
        business.order_lines.select("order_key", "line_number", "product_id")
        .join(orders, on="order_key")
        .join(keys, on=["account", "marketplace_id", "product_id"])
        .join(refunded, on=["order_key", "line_number"], how="left")
        .with_columns(pl.col("is_refunded").fill_null(False))
        .sort("order_key", "line_number")
    )


def _stars(rng: np.random.Generator, mean: np.ndarray, refunded: np.ndarray) -> np.ndarray:
    levels = np.arange(1, 6)
    weights = np.exp(-((levels[None, :] - mean[:, None]) ** 2) / (2 * _STAR_SPREAD**2))
    weights[refunded] = [0.6, 0.3, 0.1, 0.0, 0.0]
    cumulative = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    u = rng.random(mean.size)
    return 1 + (u[:, None] > cumulative).sum(axis=1).clip(0, 4)


def _texts(ratings: np.ndarray, nouns: list[str], draws: np.ndarray) -> tuple[list, list]:
    pairs = [honest_text(int(r), n, d) for r, n, d in zip(ratings, nouns, draws, strict=True)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _honest(business: Business) -> pl.DataFrame:
    seed = business.seed
    lines = _reviewed_lines(business)
    n = lines.height
    quality = 3.4 + 1.3 * _rng(seed, 0).beta(4, 2, int(business.products["product_id"].max()) + 1)
    refunded = lines["is_refunded"].to_numpy()
    writes = _rng(seed, 1).random(n) < np.where(refunded, _P_REVIEW_REFUNDED, _P_REVIEW)
    delay_us = (_rng(seed, 2).exponential(_MEAN_DELAY_DAYS, n) + 1) * 86_400e6
    ratings = _stars(_rng(seed, 3), quality[lines["product_id"].to_numpy()], refunded)
    draws = _rng(seed, 4).integers(0, 1 << 30, (n, 8))
    end = datetime.combine(business.end, datetime.min.time(), UTC)
    lines = lines.with_columns(
        pl.Series("rating", ratings, dtype=pl.Int32),
        pl.Series("_delay", delay_us.astype(np.int64)).cast(pl.Duration("us")),
        pl.Series("_writes", writes),
        pl.Series("_row", np.arange(n)),
    ).with_columns(
        (
            pl.coalesce("delivered_at", pl.col("purchased_at") + pl.duration(days=4))
            + pl.col("_delay")
        ).alias("reviewed_at")
    )
    picked = lines.filter(pl.col("_writes") & (pl.col("reviewed_at") < end))
    nouns = _noun(picked.join(business.products, on="product_id", how="left")["title"])
    titles, bodies = _texts(
        picked["rating"].to_numpy(), nouns.to_list(), draws[picked["_row"].to_numpy()]
    )
    people = business.customers.select(
        "customer_id",
        pl.format("{} {}.", "first_name", pl.col("last_name").str.slice(0, 1)).alias(
            "reviewer_name"
        ),
        pl.col("email").alias("reviewer_email"),
    )
    return picked.join(people, on="customer_id", how="left").with_columns(
        pl.format("RV-{}-{}", "order_key", "line_number").alias("review_id"),
        pl.format("CU{}", "customer_id").alias("reviewer_id"),
        pl.Series("title", titles),
        pl.Series("body", bodies),
        pl.lit(True).alias("is_verified"),
    )


def _targets(lines: pl.DataFrame, since: datetime, until: datetime, k: int) -> dict:
    """Target listings of cycle ``k``: mid sellers of the account by the lines bought in
    [since, until) (rank drawn from the cycle's rng), so a cycle's targets never change."""
    counts = (
        lines.filter(pl.col("purchased_at").is_between(since, until, closed="left"))
        .group_by("account", "marketplace_id", "channel_item_id", "product_id")
        .len()
        .sort("len", "channel_item_id", descending=[True, False])
    )
    rng = np.random.default_rng([REVIEWS_STREAM, k])

    def mid(account: str, n: int, marketplace_id: str | None = None) -> list[tuple]:
        rows = counts.filter(
            (pl.col("account") == account)
            & (pl.col("marketplace_id") == (marketplace_id or pl.col("marketplace_id")))
        )
        start = rows.height // 4 + int(rng.integers(0, max(rows.height // 4, 1)))
        return [tuple(r) for r in rows.slice(start, n).select(counts.columns[:4]).rows()]

    return {
        "burst_5star": mid("shopify_us", 1),
        "duplicate_ring": mid("shopify_eu", _RING[1]),
        "rating_attack": mid("amazon_na", 1, "ATVPDKIKX0DER"),
    }


def _fake(
    case: str,
    target: tuple,
    count: int,
    first: datetime,
    spread_days: float,
    rating: int,
    rng: np.random.Generator,
    nouns: dict[int, str],
    offset: int,
) -> list[dict]:
    account, marketplace_id, item, product_id = target
    hours = np.sort(rng.uniform(0, spread_days * 24, count))
    draws = rng.integers(0, 1 << 30, (count, 8))
    rows = []
    for i in range(count):
        title, body = honest_text(rating, nouns.get(product_id, "product"), draws[i])
        reviewer = offset + i
        rows.append(
            {
                "review_id": f"RV-{case}-{reviewer}",
                "account": account,
                "marketplace_id": marketplace_id,
                "channel_item_id": item,
                "product_id": product_id,
                "reviewer_id": f"NR{reviewer:06d}",
                "reviewer_name": f"User{int(draws[i, 0]) % 99991}",
                "reviewer_email": f"user{int(draws[i, 1]) % 999983}@mailbox.example",
                "reviewed_at": first + timedelta(hours=float(hours[i])),
                "rating": rating,
                "title": title,
                "body": body,
                "case": case,
            }
        )
    return rows


def _cycle(business: Business, lines: pl.DataFrame, k: int, nouns: dict) -> list[dict]:
    """The manipulation of cycle ``k`` (day ``_FIRST_CYCLE_DAY + k * _CYCLE_DAYS``)."""
    start = datetime.combine(SIM_EPOCH, datetime.min.time(), UTC) + timedelta(
        days=_FIRST_CYCLE_DAY + k * _CYCLE_DAYS
    )
    targets = _targets(lines, start - timedelta(days=90), start, k)
    rng = _rng(business.seed, 100 + k)
    rows: list[dict] = []
    for case, (count, offset_days, spread), rating, first_id in (
        ("burst_5star", _BURST, 5, 100_000),
        ("rating_attack", _ATTACK, 1, 200_000),
    ):
        for target in targets[case]:
            first = start + timedelta(days=offset_days)
            rows += _fake(
                case, target, count, first, spread, rating, rng, nouns, first_id + k * 1000
            )
    members, _, offset_days, spread = _RING
    first = start + timedelta(days=offset_days)
    for m in range(members):
        for j, target in enumerate(targets["duplicate_ring"]):
            reviewer = 300_000 + k * 1000 + m
            (row,) = _fake("duplicate_ring", target, 1, first, spread, 5, rng, nouns, reviewer)
            row["review_id"] = f"RV-duplicate_ring-{k}-{m}-{j}"
            row["body"] = ring_text(nouns.get(target[3], "product"), m)
            row["title"] = "Amazing, must buy"
            rows.append(row)
    return rows


def _manipulation(business: Business) -> list[dict]:
    end = datetime.combine(business.end, datetime.min.time(), UTC)
    lines = _reviewed_lines(business)
    titles = dict(business.products.select("product_id", "title").rows())
    nouns = dict(zip(titles, _noun(pl.Series(list(titles.values()))).to_list(), strict=True))
    rows: list[dict] = []
    k = 0
    while _FIRST_CYCLE_DAY + k * _CYCLE_DAYS < business.n_days:
        rows += [r for r in _cycle(business, lines, k, nouns) if r["reviewed_at"] < end]
        k += 1
    return rows


def simulate_reviews(business: Business) -> ReviewSet:
    """The business's reviews and the ground truth of the injected ones (cached per business)."""
    cached = _CACHE.get(business)
    if cached is not None:
        return cached
    honest = _honest(business).with_columns(pl.col("order_key").cast(pl.Int64))
    fake = _manipulation(business)
    schema = honest.select(REVIEW_COLUMNS).schema
    fakes = pl.DataFrame(
        [{**{k: r.get(k) for k in REVIEW_COLUMNS}, "is_verified": False} for r in fake],
        schema=schema,
    )
    frame = pl.concat([honest.select(REVIEW_COLUMNS), fakes]).sort("reviewed_at", "review_id")
    truth = pl.DataFrame(
        [(r["review_id"], r["case"], r["account"], r["channel_item_id"]) for r in fake],
        schema={
            "review_id": pl.Utf8,
            "case": pl.Utf8,
            "account": pl.Utf8,
            "channel_item_id": pl.Utf8,
        },
        orient="row",
    )
    result = ReviewSet(frame, truth)
    _CACHE[business] = result
    return result


def review_truth(business: Business) -> pl.DataFrame:
    """``review_id, case, account, channel_item_id`` of every injected review (CASES)."""
    return simulate_reviews(business).truth
