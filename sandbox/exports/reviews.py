"""Review export files of the simulated business, as its review apps and Amazon would give them.

* ``reviews/shopify_us/``: a Judge.me reviews export (CSV: ``title, body, rating, review_date,
  source, curated, reviewer_name, reviewer_email, product_id, product_handle, ...``);
* ``reviews/shopify_eu/``: a Shopify Product Reviews export (``product_handle, state, rating,
  title, author, email, location, body, reply, created_at, replied_at``);
* ``reviews/amazon_na/``, ``reviews/amazon_eu/``: a tab-separated review download per seller
  account (ASIN, marketplace, review id, star rating, title, text, date, reviewer, verified
  purchase) with its ``mapping.yml``.

The reviews are those of :func:`sandbox.business.reviews.simulate_reviews` in the period,
injected manipulation included; Walmart's reviews are not exported (see DECISIONS.md).
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from extractors.inbox.files import write_text_atomic
from sandbox.business import Business
from sandbox.business.reviews import simulate_reviews
from sandbox.shopify.shop import _handle

AMAZON_REVIEWS_MAPPING = """\
# An Amazon review download (tab-separated), one row per review.
format: tsv
timestamp_format: "%Y-%m-%d %H:%M:%S"
verified_values: ["Yes"]
columns:
  review_id: Review ID
  product_id: ASIN
  storefront_id: Marketplace
  rating: Star Rating
  title: Review Title
  body: Review Text
  reviewed_at: Review Date
  reviewer_id: Reviewer ID
  reviewer_name: Reviewer Name
  verified: Verified Purchase
"""
_JUDGE_ME_COLUMNS = [
    "title",
    "body",
    "rating",
    "review_date",
    "source",
    "curated",
    "reviewer_name",
    "reviewer_email",
    "product_id",
    "product_handle",
    "reply",
    "reply_date",
    "picture_urls",
    "ip_address",
    "location",
]
_SPR_COLUMNS = [
    "product_handle",
    "state",
    "rating",
    "title",
    "author",
    "email",
    "location",
    "body",
    "reply",
    "created_at",
    "replied_at",
]


def shopify_handles(business: Business, account: str) -> pl.DataFrame:
    """``channel_item_id`` (the Shopify product id) -> ``product_handle``, as the shop names
    its products (the handle of the title of the product's first variant)."""
    return (
        business.listings.filter(pl.col("account") == account)
        .drop("title")
        .sort("channel_product_id", "channel_item_id")
        .unique("channel_product_id", keep="first", maintain_order=True)
        .join(business.products.select("product_id", "title"), on="product_id")
        .select(
            pl.col("channel_product_id").alias("channel_item_id"),
            pl.col("title").map_elements(_handle, return_dtype=pl.Utf8).alias("product_handle"),
        )
    )


def period_reviews(business: Business, account: str, start: date, end: date) -> pl.DataFrame:
    """The account's reviews written in [start, end)."""
    first = datetime.combine(start, datetime.min.time(), UTC)
    last = datetime.combine(end, datetime.min.time(), UTC)
    return simulate_reviews(business).frame.filter(
        (pl.col("account") == account) & pl.col("reviewed_at").is_between(first, last, "left")
    )


def _csv(frame: pl.DataFrame, separator: str = ",") -> str:
    buffer = io.StringIO()
    frame.write_csv(buffer, separator=separator)
    return buffer.getvalue()


def judge_me_csv(business: Business, start: date, end: date) -> str:
    reviews = period_reviews(business, "shopify_us", start, end).join(
        shopify_handles(business, "shopify_us"), on="channel_item_id", how="left"
    )
    frame = reviews.select(
        "title",
        "body",
        "rating",
        pl.col("reviewed_at").dt.strftime("%Y-%m-%d %H:%M:%S UTC").alias("review_date"),
        pl.when(pl.col("is_verified"))
        .then(pl.lit("email"))
        .otherwise(pl.lit("web"))
        .alias("source"),
        pl.lit("ok").alias("curated"),
        "reviewer_name",
        "reviewer_email",
        pl.col("channel_item_id").alias("product_id"),
        "product_handle",
    )
    empty = [c for c in _JUDGE_ME_COLUMNS if c not in frame.columns]
    return _csv(
        frame.with_columns(pl.lit(None, pl.Utf8).alias(c) for c in empty).select(_JUDGE_ME_COLUMNS)
    )


def shopify_product_reviews_csv(business: Business, start: date, end: date) -> str:
    reviews = period_reviews(business, "shopify_eu", start, end).join(
        shopify_handles(business, "shopify_eu"), on="channel_item_id", how="left"
    )
    frame = reviews.select(
        "product_handle",
        pl.lit("published").alias("state"),
        "rating",
        "title",
        pl.col("reviewer_name").alias("author"),
        pl.col("reviewer_email").alias("email"),
        "body",
        pl.col("reviewed_at").dt.strftime("%Y-%m-%dT%H:%M:%S%:z").alias("created_at"),
    )
    empty = [c for c in _SPR_COLUMNS if c not in frame.columns]
    return _csv(
        frame.with_columns(pl.lit(None, pl.Utf8).alias(c) for c in empty).select(_SPR_COLUMNS)
    )


def amazon_reviews_tsv(business: Business, account: str, start: date, end: date) -> str:
    reviews = period_reviews(business, account, start, end)
    frame = reviews.select(
        pl.col("channel_item_id").alias("ASIN"),
        pl.col("marketplace_id").alias("Marketplace"),
        pl.col("review_id").alias("Review ID"),
        pl.col("rating").alias("Star Rating"),
        pl.col("title").alias("Review Title"),
        pl.col("body").alias("Review Text"),
        pl.col("reviewed_at").dt.strftime("%Y-%m-%d %H:%M:%S").alias("Review Date"),
        pl.col("reviewer_id").alias("Reviewer ID"),
        pl.col("reviewer_name").alias("Reviewer Name"),
        pl.when(pl.col("is_verified"))
        .then(pl.lit("Yes"))
        .otherwise(pl.lit("No"))
        .alias("Verified Purchase"),
    )
    return _csv(frame, "\t")


def write_review_exports(business: Business, inbox: Path, start: date, end: date) -> list[Path]:
    """The review files of [start, end) under ``inbox/reviews/``; returns the paths written."""
    last = f"{start}_{end}"
    folder = Path(inbox) / "reviews"
    written = [
        write_text_atomic(
            folder / "shopify_us" / f"judgeme-reviews-{last}.csv",
            judge_me_csv(business, start, end),
        ),
        write_text_atomic(
            folder / "shopify_eu" / f"shopify-product-reviews-{last}.csv",
            shopify_product_reviews_csv(business, start, end),
        ),
    ]
    for account in ("amazon_na", "amazon_eu"):
        written.append(write_text_atomic(folder / account / "mapping.yml", AMAZON_REVIEWS_MAPPING))
        written.append(
            write_text_atomic(
                folder / account / f"amazon-reviews-{last}.tsv",
                amazon_reviews_tsv(business, account, start, end),
            )
        )
    return written
