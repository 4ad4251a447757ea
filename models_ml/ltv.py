"""Customer lifetime value: RFM summary, BG/NBD purchase model, Gamma-Gamma spend model.

Plain functions over polars (or pandas) frames; no Dagster, no warehouse access.

Models
------
* BG/NBD — Fader, Hardie & Lee (2005), "Counting your customers the easy way: an alternative to
  the Pareto/NBD model", Marketing Science 24(2). Per-customer log-likelihood eq. (6), P(alive)
  from eq. (13) of the accompanying note, conditional expectation eq. (10) (Gaussian
  hypergeometric term via ``scipy.special.hyp2f1``).
* Gamma-Gamma — Fader, Hardie & Lee (2005), "RFM and CLV: using iso-value curves for customer
  base analysis", JMR 42(4), and Fader & Hardie's note "The Gamma-Gamma model of monetary
  value" (2013): likelihood of the mean repeat spend, conditional expected average spend.

Why the maths is hand-written: the reference Python implementation (``lifetimes``) is
unmaintained and not installed, and its successor (PyMC-Marketing) pulls in PyMC/PyTensor —
far too heavy for four closed-form log-likelihoods. Everything numeric that has a library is
taken from scipy (``gammaln``, ``betaln``, ``hyp2f1``, ``logaddexp``, ``optimize.minimize``).
The implementation is validated in ``tests/models_ml/test_models_ml_ltv.py`` against the published CDNOW
parameters (the paper and the lifetimes documentation) on the CDNOW sample shipped with
lifetimes (MIT), see ``tests/fixtures/ltv/README.md``.

Conventions (the same as lifetimes' ``summary_data_from_transaction_data``, daily frequency)
---------------------------------------------------------------------------------------
* Orders are grouped by customer and calendar day; a "purchase" is a day with orders.
* ``frequency`` = number of purchase days after the first one (repeat purchases).
* ``recency_days`` = days between the first and the last purchase day (0 when no repeat).
* ``t_days`` = days between the first purchase day and ``calibration_end`` (inclusive end).
* ``monetary_value`` = mean of the repeat purchase days' totals (the first day is excluded, as
  the Gamma-Gamma model expects); 0 when there is no repeat purchase.
* Orders after ``calibration_end`` are ignored; customers whose first order is after it are
  not in the summary. Orders with a null customer, a null/zero/negative amount are dropped and
  counted (:class:`RfmSummary`).

Value
-----
``expected_value_<h>d`` = expected purchases in the next ``h`` days × expected average spend.
With ``annual_discount_rate = 0`` (the default) nothing is discounted. With a rate ``d > 0``
the horizon is cut into 30-day steps (the last one shorter); the expected purchases of each
step are discounted by ``(1 + d) ** -(step_end_days / 365)`` (end-of-step discounting, as
lifetimes' ``customer_lifetime_value`` does with monthly steps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import polars as pl

from models_ml.ltv_fit import (
    BgNbdFit,
    FitInfo,
    GammaGammaFit,
    InsufficientDataError,
    _arrays,
    bgnbd_conditional_expected_purchases,
    bgnbd_log_likelihood,
    bgnbd_p_alive,
    fit_bgnbd,
    fit_gamma_gamma,
    gamma_gamma_conditional_expected_spend,
    gamma_gamma_log_likelihood,
)
from models_ml.settings import LtvSettings

__all__ = [
    "BgNbdFit",
    "FitInfo",
    "GammaGammaFit",
    "InsufficientDataError",
    "LtvResult",
    "LtvSettings",
    "RfmSummary",
    "bgnbd_conditional_expected_purchases",
    "bgnbd_log_likelihood",
    "bgnbd_p_alive",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "gamma_gamma_conditional_expected_spend",
    "gamma_gamma_log_likelihood",
    "holdout_check",
    "ltv_scores",
    "rfm_summary",
]

DISCOUNT_STEP_DAYS = 30


# --------------------------------------------------------------------------------------------
# RFM summary
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RfmSummary:
    """Per-customer summary plus what was left out and why.

    ``customers`` columns: customer_id, frequency (Int64), recency_days (Int64), t_days (Int64),
    monetary_value (Float64), first_purchase_date (Date), last_purchase_date (Date).
    """

    customers: pl.DataFrame
    calibration_end: date
    n_orders_used: int
    n_orders_after_calibration: int
    n_orders_null_customer: int
    n_orders_nonpositive_amount: int
    n_customers_first_order_after_calibration: int


def _to_polars(frame: Any) -> pl.DataFrame:
    if isinstance(frame, pl.DataFrame):
        return frame
    return pl.from_pandas(frame)


def _as_date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def _prepare_orders(
    transactions: Any, customer_col: str, date_col: str, amount_col: str
) -> tuple[pl.DataFrame, int, int]:
    """Rename, cast to date/float, drop null customers and non-positive/null amounts."""
    frame = _to_polars(transactions)
    missing = {customer_col, date_col, amount_col} - set(frame.columns)
    if missing:
        raise ValueError(f"transactions lack column(s) {sorted(missing)}")
    frame = frame.select(
        pl.col(customer_col).alias("customer_id"),
        pl.col(date_col).cast(pl.Date).alias("order_date"),
        pl.col(amount_col).cast(pl.Float64).alias("amount"),
    )
    null_customer = frame["customer_id"].is_null()
    n_null_customer = int(null_customer.sum())
    frame = frame.filter(~null_customer)
    nonpositive = frame["amount"].is_null() | (frame["amount"] <= 0.0)
    n_nonpositive = int(nonpositive.sum())
    frame = frame.filter(~nonpositive).filter(pl.col("order_date").is_not_null())
    return frame, n_null_customer, n_nonpositive


def rfm_summary(
    transactions: Any,
    calibration_end: date | datetime | None = None,
    *,
    customer_col: str = "customer_id",
    date_col: str = "order_date",
    amount_col: str = "amount",
) -> RfmSummary:
    """Lifetimes-style RFM summary at daily grain (see module docstring for definitions).

    ``transactions``: one row per order (polars or pandas) with a customer id, an order date (or
    datetime: the calendar day is used) and an amount. ``calibration_end`` is inclusive;
    ``None`` = the last order date present (after dropping unusable rows).
    """
    orders, n_null_customer, n_nonpositive = _prepare_orders(
        transactions, customer_col, date_col, amount_col
    )
    if calibration_end is None:
        if orders.is_empty():
            raise InsufficientDataError("no usable orders to summarise")
        calibration_end = orders["order_date"].max()
    cal_end = _as_date(calibration_end)

    after = orders["order_date"] > cal_end
    n_after = int(after.sum())
    customers_all = orders["customer_id"].n_unique()
    orders = orders.filter(~after)

    daily = orders.group_by("customer_id", "order_date").agg(pl.col("amount").sum())
    first = pl.col("order_date").min().over("customer_id")
    daily = daily.with_columns(is_repeat=pl.col("order_date") > first)
    summary = (
        daily.group_by("customer_id")
        .agg(
            frequency=pl.col("is_repeat").sum().cast(pl.Int64),
            first_purchase_date=pl.col("order_date").min(),
            last_purchase_date=pl.col("order_date").max(),
            monetary_value=pl.col("amount").filter(pl.col("is_repeat")).mean(),
        )
        .with_columns(
            recency_days=(pl.col("last_purchase_date") - pl.col("first_purchase_date"))
            .dt.total_days()
            .cast(pl.Int64),
            t_days=(pl.lit(cal_end) - pl.col("first_purchase_date")).dt.total_days().cast(pl.Int64),
            monetary_value=pl.col("monetary_value").fill_null(0.0).cast(pl.Float64),
        )
        .select(
            "customer_id",
            "frequency",
            "recency_days",
            "t_days",
            "monetary_value",
            "first_purchase_date",
            "last_purchase_date",
        )
        .sort("customer_id")
    )
    return RfmSummary(
        customers=summary,
        calibration_end=cal_end,
        n_orders_used=orders.height,
        n_orders_after_calibration=n_after,
        n_orders_null_customer=n_null_customer,
        n_orders_nonpositive_amount=n_nonpositive,
        n_customers_first_order_after_calibration=customers_all - summary.height,
    )


# --------------------------------------------------------------------------------------------
# Scoring, parameters, diagnostics
# --------------------------------------------------------------------------------------------

PARAMETERS_SCHEMA = {
    "model": pl.String,
    "parameter": pl.String,
    "value": pl.Float64,
    "calibration_end": pl.Date,
}
DIAGNOSTICS_SCHEMA = {
    "model": pl.String,
    "calibration_end": pl.Date,
    "time_unit": pl.String,
    "n_customers": pl.Int64,
    "log_likelihood": pl.Float64,
    "converged": pl.Boolean,
    "message": pl.String,
    "method": pl.String,
    "iterations": pl.Int64,
    "n_function_evals": pl.Int64,
    "fit_seconds": pl.Float64,
    "n_orders_used": pl.Int64,
    "n_orders_excluded_after_calibration": pl.Int64,
    "n_orders_excluded_null_customer": pl.Int64,
    "n_orders_excluded_nonpositive_amount": pl.Int64,
    "frequency_monetary_corr": pl.Float64,
}


@dataclass(frozen=True)
class LtvResult:
    """Outputs of :func:`ltv_scores`.

    * ``customer_ltv``: customer_id, frequency, recency_days, t_days, monetary_value, p_alive,
      expected_purchases_<h>d…, expected_avg_spend, expected_value_<h>d…, calibration_end.
    * ``ltv_parameters``: model ('bg_nbd' | 'gamma_gamma'), parameter, value, calibration_end.
      BG/NBD's alpha is per day.
    * ``ltv_diagnostics``: one row per model, columns of ``DIAGNOSTICS_SCHEMA``.
    """

    customer_ltv: pl.DataFrame
    ltv_parameters: pl.DataFrame
    ltv_diagnostics: pl.DataFrame
    bgnbd: BgNbdFit
    gamma_gamma: GammaGammaFit
    summary: RfmSummary


def _discounted_expected_purchases(
    horizon: int,
    annual_rate: float,
    x: np.ndarray,
    t_x: np.ndarray,
    big_t: np.ndarray,
    fit: BgNbdFit,
) -> np.ndarray:
    if annual_rate == 0.0:
        return bgnbd_conditional_expected_purchases(horizon, x, t_x, big_t, fit)
    total = np.zeros_like(x)
    previous = np.zeros_like(x)
    ends = [*range(DISCOUNT_STEP_DAYS, horizon, DISCOUNT_STEP_DAYS), horizon]
    for end in ends:
        cumulative = bgnbd_conditional_expected_purchases(end, x, t_x, big_t, fit)
        total += (cumulative - previous) * (1.0 + annual_rate) ** (-end / 365.0)
        previous = cumulative
    return total


def _fit_models(summary: RfmSummary, settings: LtvSettings) -> tuple[BgNbdFit, GammaGammaFit]:
    customers = summary.customers
    if customers.height < settings.min_customers:
        raise InsufficientDataError(
            f"{customers.height} customers < min_customers={settings.min_customers}"
        )
    repeat = customers.filter(pl.col("frequency") > 0)
    if repeat.height < settings.min_customers:
        raise InsufficientDataError(
            f"{repeat.height} repeat customers < min_customers={settings.min_customers}"
        )
    bgnbd = fit_bgnbd(customers["frequency"], customers["recency_days"], customers["t_days"])
    gamma_gamma = fit_gamma_gamma(repeat["frequency"], repeat["monetary_value"])
    return bgnbd, gamma_gamma


def _diagnostics_row(model: str, info: FitInfo | None, summary: RfmSummary) -> dict[str, Any]:
    if info is None:
        raise ValueError(f"{model} fit has no FitInfo (make fits with fit_bgnbd / fit_gamma_gamma)")
    return {
        "model": model,
        "calibration_end": summary.calibration_end,
        "time_unit": "day",
        "n_customers": info.n_customers,
        "log_likelihood": info.log_likelihood,
        "converged": info.converged,
        "message": info.message,
        "method": info.method,
        "iterations": info.iterations,
        "n_function_evals": info.n_function_evals,
        "fit_seconds": info.fit_seconds,
        "n_orders_used": summary.n_orders_used,
        "n_orders_excluded_after_calibration": summary.n_orders_after_calibration,
        "n_orders_excluded_null_customer": summary.n_orders_null_customer,
        "n_orders_excluded_nonpositive_amount": summary.n_orders_nonpositive_amount,
        "frequency_monetary_corr": _frequency_monetary_corr(summary)
        if model == "gamma_gamma"
        else None,
    }


def _frequency_monetary_corr(summary: RfmSummary) -> float | None:
    """Pearson correlation of frequency and average spend over the repeat customers:
    Gamma-Gamma assumes spend independent of frequency (|r| above ~0.3: treat the spend part
    with care)."""
    repeat = summary.customers.filter(pl.col("frequency") > 0)
    if repeat.height < 3:
        return None
    r = repeat.select(pl.corr("frequency", "monetary_value")).item()
    return None if r is None or math.isnan(r) else float(r)


def ltv_scores(
    transactions: Any,
    settings: LtvSettings | None = None,
    *,
    customer_col: str = "customer_id",
    date_col: str = "order_date",
    amount_col: str = "amount",
) -> LtvResult:
    """Summarise, fit BG/NBD + Gamma-Gamma, and score every customer (see :class:`LtvResult`)."""
    settings = settings or LtvSettings()
    summary = rfm_summary(
        transactions,
        settings.calibration_end,
        customer_col=customer_col,
        date_col=date_col,
        amount_col=amount_col,
    )
    bgnbd, gamma_gamma = _fit_models(summary, settings)

    customers = summary.customers
    x, t_x, big_t, m = _arrays(
        customers["frequency"],
        customers["recency_days"],
        customers["t_days"],
        customers["monetary_value"],
    )
    spend = gamma_gamma_conditional_expected_spend(x, m, gamma_gamma)
    columns: dict[str, Any] = {"p_alive": bgnbd_p_alive(x, t_x, big_t, bgnbd)}
    for h in settings.horizons_days:
        columns[f"expected_purchases_{h}d"] = bgnbd_conditional_expected_purchases(
            h, x, t_x, big_t, bgnbd
        )
    columns["expected_avg_spend"] = spend
    for h in settings.horizons_days:
        purchases = _discounted_expected_purchases(
            h, settings.annual_discount_rate, x, t_x, big_t, bgnbd
        )
        columns[f"expected_value_{h}d"] = purchases * spend
    customer_ltv = customers.select(
        "customer_id", "frequency", "recency_days", "t_days", "monetary_value"
    ).with_columns(
        *[pl.Series(name, values, dtype=pl.Float64) for name, values in columns.items()],
        calibration_end=pl.lit(summary.calibration_end, dtype=pl.Date),
    )

    params = [("bg_nbd", k, v) for k, v in bgnbd.params.items()] + [
        ("gamma_gamma", k, v) for k, v in gamma_gamma.params.items()
    ]
    ltv_parameters = pl.DataFrame(
        {
            "model": [p[0] for p in params],
            "parameter": [p[1] for p in params],
            "value": [p[2] for p in params],
            "calibration_end": [summary.calibration_end] * len(params),
        },
        schema=PARAMETERS_SCHEMA,
    )
    ltv_diagnostics = pl.DataFrame(
        [
            _diagnostics_row("bg_nbd", bgnbd.info, summary),
            _diagnostics_row("gamma_gamma", gamma_gamma.info, summary),
        ],
        schema=DIAGNOSTICS_SCHEMA,
    )
    return LtvResult(
        customer_ltv=customer_ltv,
        ltv_parameters=ltv_parameters,
        ltv_diagnostics=ltv_diagnostics,
        bgnbd=bgnbd,
        gamma_gamma=gamma_gamma,
        summary=summary,
    )


def customer_ltv_schema(settings: LtvSettings | None = None) -> dict[str, Any]:
    """The columns of ``LtvResult.customer_ltv`` (for an empty table when there is too little
    history to fit)."""
    settings = settings or LtvSettings()
    horizons = settings.horizons_days
    return {
        "customer_id": pl.String,
        "frequency": pl.Int64,
        "recency_days": pl.Int64,
        "t_days": pl.Int64,
        "monetary_value": pl.Float64,
        "p_alive": pl.Float64,
        **{f"expected_purchases_{h}d": pl.Float64 for h in horizons},
        "expected_avg_spend": pl.Float64,
        **{f"expected_value_{h}d": pl.Float64 for h in horizons},
        "calibration_end": pl.Date,
    }


HOLDOUT_SCHEMA = {
    "bucket": pl.String,
    "n_customers": pl.Int64,
    "actual_purchases": pl.Float64,
    "predicted_purchases": pl.Float64,
    "actual_per_customer": pl.Float64,
    "predicted_per_customer": pl.Float64,
    "error_pct": pl.Float64,
    "calibration_end": pl.Date,
    "holdout_end": pl.Date,
}


def holdout_check(
    transactions: Any,
    calibration_end: date | datetime,
    holdout_end: date | datetime,
    settings: LtvSettings | None = None,
    *,
    max_bucket: int = 7,
    customer_col: str = "customer_id",
    date_col: str = "order_date",
    amount_col: str = "amount",
) -> pl.DataFrame:
    """Fit on orders up to ``calibration_end``; compare predicted and actual purchase days in
    (calibration_end, holdout_end] for the calibration customers.

    Returns one row per calibration-frequency bucket ('0', '1', …, '<max_bucket>+') and a last
    row 'total' (columns of ``HOLDOUT_SCHEMA``; error_pct = (predicted − actual) / actual × 100,
    null when actual is 0). Purchases counted as distinct order days, as in the model.
    """
    settings = (settings or LtvSettings()).model_copy(
        update={"calibration_end": _as_date(calibration_end)}
    )
    cal_end, hold_end = _as_date(calibration_end), _as_date(holdout_end)
    if hold_end <= cal_end:
        raise ValueError("holdout_end must be after calibration_end")
    summary = rfm_summary(
        transactions, cal_end, customer_col=customer_col, date_col=date_col, amount_col=amount_col
    )
    bgnbd, _ = _fit_models(summary, settings)
    customers = summary.customers
    predicted = bgnbd_conditional_expected_purchases(
        (hold_end - cal_end).days,
        customers["frequency"],
        customers["recency_days"],
        customers["t_days"],
        bgnbd,
    )
    orders, _, _ = _prepare_orders(transactions, customer_col, date_col, amount_col)
    actual = (
        orders.filter((pl.col("order_date") > cal_end) & (pl.col("order_date") <= hold_end))
        .group_by("customer_id")
        .agg(actual=pl.col("order_date").n_unique().cast(pl.Float64))
    )
    scored = (
        customers.select("customer_id", "frequency")
        .with_columns(predicted=pl.Series(predicted, dtype=pl.Float64))
        .join(actual, on="customer_id", how="left")
        .with_columns(
            pl.col("actual").fill_null(0.0),
            bucket=pl.when(pl.col("frequency") >= max_bucket)
            .then(pl.lit(f"{max_bucket}+"))
            .otherwise(pl.col("frequency").cast(pl.String)),
            order=pl.col("frequency").clip(upper_bound=max_bucket),
        )
    )
    aggs = [
        pl.len().cast(pl.Int64).alias("n_customers"),
        pl.col("actual").sum().alias("actual_purchases"),
        pl.col("predicted").sum().alias("predicted_purchases"),
    ]
    by_bucket = scored.group_by("bucket", "order").agg(aggs).sort("order").drop("order")
    total = scored.select(aggs).with_columns(bucket=pl.lit("total"))
    table = pl.concat([by_bucket, total.select(by_bucket.columns)])
    return (
        table.with_columns(
            actual_per_customer=pl.col("actual_purchases") / pl.col("n_customers"),
            predicted_per_customer=pl.col("predicted_purchases") / pl.col("n_customers"),
            error_pct=pl.when(pl.col("actual_purchases") > 0)
            .then(
                (pl.col("predicted_purchases") - pl.col("actual_purchases"))
                / pl.col("actual_purchases")
                * 100
            )
            .otherwise(None),
            calibration_end=pl.lit(cal_end, dtype=pl.Date),
            holdout_end=pl.lit(hold_end, dtype=pl.Date),
        )
        .select(list(HOLDOUT_SCHEMA))
        .cast(HOLDOUT_SCHEMA)
    )
