"""The product costs file: the catalog's unit cost (USD) per product SKU of the warehouse."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from sandbox.business import SIM_EPOCH, Business
from sandbox.exports.common import (
    _COSTS_STREAM,
    product_skus,
)


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
