"""What the demo files share: the period, timestamps, deterministic hashes and the warehouse's
product SKUs."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import polars as pl

from sandbox.business import SIM_EPOCH, Business

DEMO_DAYS = 90
SHOPS = ("shopify_us", "shopify_eu")
_EVENTS_STREAM, _ETSY_STREAM, _COSTS_STREAM, _TASTE_STREAM = 9101, 9102, 9103, 9104
_UTC_OFFSET = {"shopify_us": -6, "shopify_eu": 1}  # the business's diurnal profile zones
_US = 1_000_000
_MINUTE = 60 * _US
_HOUR = 60 * _MINUTE
# the shops' orders and visits per local hour of the day
# fmt: off
_HOURLY = np.array(
    [0.5, 0.3, 0.2, 0.15, 0.15, 0.2, 0.4, 0.7, 1.0, 1.2, 1.3, 1.35,
     1.4, 1.35, 1.3, 1.3, 1.35, 1.45, 1.6, 1.75, 1.8, 1.6, 1.2, 0.8]
)
# fmt: on
_HOURLY = _HOURLY / _HOURLY.sum()


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
