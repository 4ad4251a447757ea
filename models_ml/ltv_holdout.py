"""Lifetime value tested against what happened _(issue 15)_: per decile of predicted value, the
revenue BG/NBD + Gamma-Gamma predicted for the next ``h`` days against the revenue the same
customers brought in those days.

For each horizon ``h`` of ``LtvSettings.horizons_days`` the models are fitted on the orders up
to ``end - h`` (nothing later is read for the fit) and every calibration customer is scored;
customers are ranked by predicted value (decile 1 = the highest) and each decile's predicted
and actual revenue, in (end - h, end], are compared. A horizon whose calibration period would
be shorter than ``min_calibration_days`` is left out.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl

from models_ml.ltv import _prepare_orders, ltv_scores
from models_ml.ltv_fit import InsufficientDataError
from models_ml.settings import LtvSettings

__all__ = ["VALUE_HOLDOUT_SCHEMA", "value_holdout"]

VALUE_HOLDOUT_SCHEMA = {
    "horizon_days": pl.Int32,
    "bucket": pl.String,
    "n_customers": pl.Int64,
    "predicted_value": pl.Float64,
    "actual_value": pl.Float64,
    "error_pct": pl.Float64,
    "calibration_end": pl.Date,
    "holdout_end": pl.Date,
}


def _one_horizon(orders: pl.DataFrame, end: date, h: int, settings: LtvSettings) -> pl.DataFrame:
    cal_end = end - timedelta(days=h)
    fitted = ltv_scores(
        orders, settings.model_copy(update={"calibration_end": cal_end, "horizons_days": (h,)})
    ).customer_ltv
    actual = (
        orders.filter((pl.col("order_date") > cal_end) & (pl.col("order_date") <= end))
        .group_by("customer_id")
        .agg(pl.col("amount").sum().alias("actual"))
    )
    scored = fitted.select("customer_id", pl.col(f"expected_value_{h}d").alias("predicted")).join(
        actual, on="customer_id", how="left"
    )
    p = scored["predicted"].to_numpy()
    order = np.argsort(-p, kind="stable")
    decile = np.empty(p.size, dtype=np.int64)
    decile[order] = np.arange(p.size) * 10 // max(p.size, 1) + 1
    scored = scored.with_columns(
        pl.col("actual").fill_null(0.0),
        bucket=pl.Series([f"decile_{d:02d}" for d in decile], dtype=pl.String),
    )
    aggs = [
        pl.len().cast(pl.Int64).alias("n_customers"),
        pl.col("predicted").sum().alias("predicted_value"),
        pl.col("actual").sum().alias("actual_value"),
    ]
    table = pl.concat(
        [
            scored.group_by("bucket").agg(aggs).sort("bucket"),
            scored.select(aggs)
            .with_columns(bucket=pl.lit("total"))
            .select("bucket", "n_customers", "predicted_value", "actual_value"),
        ]
    )
    return table.with_columns(
        horizon_days=pl.lit(h, pl.Int32),
        error_pct=pl.when(pl.col("actual_value") > 0)
        .then((pl.col("predicted_value") - pl.col("actual_value")) / pl.col("actual_value") * 100)
        .otherwise(None),
        calibration_end=pl.lit(cal_end, pl.Date),
        holdout_end=pl.lit(end, pl.Date),
    ).select(list(VALUE_HOLDOUT_SCHEMA))


def value_holdout(
    transactions: Any,
    end: date,
    settings: LtvSettings | None = None,
    min_calibration_days: int = 180,
) -> pl.DataFrame:
    """Predicted vs actual revenue per decile of predicted value and in total, per horizon
    (VALUE_HOLDOUT_SCHEMA; error_pct = (predicted − actual) / actual × 100). ``transactions``:
    customer_id, order_date, amount, one row per order. Raises ``InsufficientDataError`` when no
    horizon leaves ``min_calibration_days`` of history to fit on."""
    settings = settings or LtvSettings()
    orders, _, _ = _prepare_orders(transactions, "customer_id", "order_date", "amount")
    if orders.is_empty():
        raise InsufficientDataError("no orders")
    first = orders["order_date"].min()
    parts = [
        _one_horizon(orders, end, h, settings)
        for h in sorted(settings.horizons_days)
        if (end - timedelta(days=h) - first).days >= min_calibration_days
    ]
    if not parts:
        raise InsufficientDataError(
            f"{(end - first).days} days of orders: no horizon of {settings.horizons_days} leaves "
            f"{min_calibration_days} days to fit on"
        )
    return pl.concat(parts).cast(VALUE_HOLDOUT_SCHEMA)
