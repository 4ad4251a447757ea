"""Sales anomaly scoring and trending-product detection over daily series.

Plain functions over polars frames; no Dagster, no warehouse access.

Input contract (long daily series, one row per series and day)::

    unique_id: str   e.g. "revenue|channel|amazon" or "units|product|CH-00042"
    ds:        date  local sales day
    y:         float the value (revenue in base currency, or units)
    metric, entity_type, entity_id (optional, str) carried through to the output

``build_daily_series`` builds that frame from analytics.daily_sales (per channel, and per product
for the products you pass, normally the A-class ones of analytics.abc_xyz).

**Baseline (hand-written selection, library statistics).** A day is compared with the same weekday
of the previous ``baseline_weeks`` weeks (strictly before the day): baseline = their median, spread
= their MAD scaled to a normal sigma (1.4826 x MAD, as scipy.stats.median_abs_deviation with
scale="normal"; computed with numpy's nanmedian because scipy's NaN path is slow).
robust_z = (y - baseline) / scale with scale = max(1.4826 x MAD, ``mad_floor_fraction`` x
|baseline|, ``mad_floor_abs``, sqrt(baseline) for count metrics (``count_metrics``, by the
``metric`` column: counts vary at least like Poisson noise), and only when MAD = 0 the standard
deviation of all days of the same ``baseline_weeks`` weeks before the day): the floors guard
MAD = 0. A perfectly regular series would otherwise divide by zero or turn a 1-unit wobble into
z = infinity; an intermittent product (no sale on most Tuesdays, MAD 0) would turn every sale
into an anomaly, so its day-to-day spread is used instead. Comparing
weekday with weekday is what makes a regular weekly pattern produce no anomalies; the selection of
same-weekday history is a few lines of numpy (no library offers "same weekday, last N weeks"), the
statistics come from scipy.

**Forecast interval.** When a forecast frame (unique_id, ds, yhat, yhat_lo_<level>,
yhat_hi_<level>, as statsforecast/prophet wrappers produce) has a row for the day,
outside_interval = y < lo or y > hi; else NULL.

**Decision.** is_anomaly = |robust_z| >= ``z_threshold`` and |y - baseline| >= ``min_abs_deviation``
and, when the day has a forecast interval and ``require_interval_agreement`` (default), y is also
outside it: the forecast model, which knows trend and holidays, must agree that the day is not
explained. Without enough baseline history (``min_baseline_weeks``) the interval alone decides;
without either, no anomaly. score = |robust_z| (NULL without a baseline): a ranking number in
"robust standard deviations from the usual same weekday". direction = spike when y > baseline
(or > yhat without a baseline), else drop.

**Trending.** Units in the last ``recent_days`` vs the ``recent_days`` before. Under "no change"
the recent count of a Poisson process, given the total of both windows, is Binomial(total, 0.5);
``scipy.stats.binomtest`` gives the one-sided p-value (the exact conditional test for two Poisson
rates). is_trending_up = growth >= ``min_growth`` and p <= ``alpha`` and recent units >=
``min_recent_volume`` (the volume guard: 1 -> 3 units is +200% but means nothing).
Beside the test, a time-decayed view of the same two windows: ``decayed_units`` weighs a day's
units by 0.5^(age / ``half_life_days``) (age 0 on the window's last day), ``decay_ratio`` divides
it by what a steady seller of the same two-window total would reach (> 1: selling faster lately;
it sees a ramp inside the recent window the two sums cannot), and ``trend_rank`` orders the
series by ``decayed_units`` (1 = hottest now).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterable
from datetime import date, timedelta

import numpy as np
import polars as pl
from numpy.lib.stride_tricks import sliding_window_view
from scipy.stats import binomtest, norm

from models_ml.settings import AnomalySettings, TrendingSettings

__all__ = [
    "ANOMALY_SCHEMA",
    "TRENDING_SCHEMA",
    "AnomalySettings",
    "TrendingSettings",
    "build_daily_series",
    "detect_trending",
    "score_anomalies",
]


ANOMALY_SCHEMA: dict[str, pl.DataType] = {
    "unique_id": pl.String(),
    "metric": pl.String(),
    "entity_type": pl.String(),
    "entity_id": pl.String(),
    "ds": pl.Date(),
    "y": pl.Float64(),
    "baseline": pl.Float64(),
    "baseline_scale": pl.Float64(),
    "baseline_points": pl.Int64(),
    "robust_z": pl.Float64(),
    "yhat": pl.Float64(),
    "yhat_lo": pl.Float64(),
    "yhat_hi": pl.Float64(),
    "outside_interval": pl.Boolean(),
    "direction": pl.String(),
    "score": pl.Float64(),
    "is_anomaly": pl.Boolean(),
}

TRENDING_SCHEMA: dict[str, pl.DataType] = {
    "unique_id": pl.String(),
    "metric": pl.String(),
    "entity_type": pl.String(),
    "entity_id": pl.String(),
    "window_end_date": pl.Date(),
    "recent_total": pl.Float64(),
    "previous_total": pl.Float64(),
    "growth_pct": pl.Float64(),
    "p_value": pl.Float64(),
    "is_trending_up": pl.Boolean(),
    "decayed_units": pl.Float64(),
    "decay_ratio": pl.Float64(),
    "trend_rank": pl.Int32(),
}

_CARRIED = ("metric", "entity_type", "entity_id")
_NORMAL_MAD = float(norm.ppf(0.75))  # MAD / this = sigma for normal data (1.4826 x MAD)


def build_daily_series(
    daily_sales: pl.DataFrame, product_ids: Iterable[str] | None = None
) -> pl.DataFrame:
    """Daily revenue and units per channel, and per product for ``product_ids``.

    Input: analytics.daily_sales (sales_date, channel, product_id, units, gross_revenue_base,
    discounts_base). Revenue = gross_revenue_base - discounts_base: the value of orders placed that
    day (refunds are left out: they happen on other days and are no demand signal).
    unique_id = ``<metric>|<entity_type>|<entity_id>`` with entity_type channel or product.
    """
    sales = daily_sales.select(
        pl.col("sales_date").cast(pl.Date).alias("ds"),
        pl.col("channel").cast(pl.String),
        pl.col("product_id").cast(pl.String),
        pl.col("units").cast(pl.Float64).fill_null(0.0),
        (
            pl.col("gross_revenue_base").cast(pl.Float64).fill_null(0.0)
            - pl.col("discounts_base").cast(pl.Float64).fill_null(0.0)
        ).alias("revenue"),
    )
    parts = [
        sales.rename({"channel": "entity_id"})
        .drop("product_id")
        .with_columns(pl.lit("channel").alias("entity_type"))
    ]
    products = sorted(set(product_ids or []))
    if products:
        parts.append(
            sales.filter(pl.col("product_id").is_in(products))
            .rename({"product_id": "entity_id"})
            .drop("channel")
            .with_columns(pl.lit("product").alias("entity_type"))
        )
    cols = ["entity_type", "entity_id", "ds", "units", "revenue"]
    grouped = (
        pl.concat([p.select(cols) for p in parts])
        .filter(pl.col("entity_id").is_not_null())
        .group_by("entity_type", "entity_id", "ds")
        .agg(pl.col("units").sum(), pl.col("revenue").sum())
    )
    long = grouped.unpivot(
        index=["entity_type", "entity_id", "ds"],
        on=["revenue", "units"],
        variable_name="metric",
        value_name="y",
    )
    return long.select(
        pl.concat_str(["metric", "entity_type", "entity_id"], separator="|").alias("unique_id"),
        "metric",
        "entity_type",
        "entity_id",
        "ds",
        pl.col("y").cast(pl.Float64),
    ).sort("unique_id", "ds")


def _complete_days(history: pl.DataFrame, fill: bool) -> pl.DataFrame:
    frame = history.select(
        pl.col("unique_id").cast(pl.String),
        pl.col("ds").cast(pl.Date),
        pl.col("y").cast(pl.Float64),
    )
    if not fill or frame.is_empty():
        return frame.sort("unique_id", "ds")
    spans = frame.group_by("unique_id").agg(
        pl.col("ds").min().alias("lo"), pl.col("ds").max().alias("hi")
    )
    grid = spans.select("unique_id", pl.date_ranges("lo", "hi", interval="1d").alias("ds")).explode(
        "ds"
    )
    return (
        grid.join(frame, on=["unique_id", "ds"], how="left")
        .with_columns(pl.col("y").fill_null(0.0))
        .sort("unique_id", "ds")
    )


def _weekday_baseline(y: np.ndarray, weeks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median, normal-scaled MAD and count of the previous ``weeks`` values of one weekday."""
    padded = np.concatenate([np.full(weeks, np.nan), y])
    windows = sliding_window_view(padded, weeks)[: len(y)]  # row i = y[i-weeks : i]
    counts = np.sum(~np.isnan(windows), axis=1)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows: too little history
        med = np.nanmedian(windows, axis=1)
        # = scipy.stats.median_abs_deviation(scale="normal", nan_policy="omit"), whose NaN path
        # loops in Python (40x slower here)
        mad = np.nanmedian(np.abs(windows - med[:, None]), axis=1) / _NORMAL_MAD
    return med, mad, counts


def score_anomalies(
    history: pl.DataFrame,
    forecast: pl.DataFrame | None = None,
    settings: AnomalySettings | None = None,
) -> pl.DataFrame:
    """Score every series x day of ``history`` (see module docstring); schema ANOMALY_SCHEMA."""
    s = settings or AnomalySettings()
    days = _complete_days(history, s.fill_missing_days).with_columns(
        pl.col("ds").dt.weekday().alias("_wd")
    )
    days = days.sort("unique_id", "_wd", "ds")
    n = days.height
    med, mad, counts = np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, dtype=np.int64)
    y_all = days["y"].to_numpy()
    group_starts = (
        days.with_row_index("_i").group_by("unique_id", "_wd").agg(pl.col("_i").min())["_i"]
    )
    bounds = [*sorted(group_starts.to_list()), n]
    for lo_i, hi_i in itertools.pairwise(bounds):  # one weekday of one series
        m, d, c = _weekday_baseline(y_all[lo_i:hi_i], s.baseline_weeks)
        med[lo_i:hi_i], mad[lo_i:hi_i], counts[lo_i:hi_i] = m, d, c
    enough = counts >= s.min_baseline_weeks
    scored = days.with_columns(
        pl.Series("baseline", np.where(enough, med, np.nan)).fill_nan(None),
        pl.Series("_mad", np.where(enough, mad, np.nan)).fill_nan(None),
        pl.Series("baseline_points", counts),
    ).sort("unique_id", "ds")
    # MAD = 0 (most same-weekday values equal, e.g. an intermittent product selling on few days):
    # fall back to the standard deviation of ALL days of the same weeks before the day.
    window = 7 * s.baseline_weeks
    if "metric" in history.columns:
        counts_ids = history.filter(pl.col("metric").is_in(s.count_metrics))["unique_id"].unique()
        is_count = pl.col("unique_id").is_in(counts_ids.cast(pl.String).implode())
    else:
        is_count = pl.lit(False)
    scored = scored.with_columns(is_count.alias("_is_count"))
    scored = scored.with_columns(
        pl.col("y")
        .shift(1)
        .rolling_std(window_size=window, min_samples=7 * s.min_baseline_weeks)
        .over("unique_id")
        .alias("_std_all")
    )
    scored = scored.with_columns(
        pl.max_horizontal(
            pl.col("_mad"),
            pl.when(pl.col("_mad") == 0).then(pl.col("_std_all")),
            pl.col("baseline").abs() * s.mad_floor_fraction,
            pl.when(pl.col("_is_count")).then(pl.col("baseline").abs().sqrt()),
            pl.lit(s.mad_floor_abs),
        )
        .alias("baseline_scale")
        .cast(pl.Float64)
    ).with_columns(
        pl.when(pl.col("baseline").is_not_null())
        .then((pl.col("y") - pl.col("baseline")) / pl.col("baseline_scale"))
        .alias("robust_z"),
        pl.when(pl.col("baseline").is_not_null())
        .then(pl.col("baseline_scale"))
        .alias("baseline_scale"),
    )

    lo, hi = f"yhat_lo_{s.interval_level}", f"yhat_hi_{s.interval_level}"
    if forecast is not None and not forecast.is_empty():
        fc = forecast.select(
            pl.col("unique_id").cast(pl.String),
            pl.col("ds").cast(pl.Date),
            pl.col("yhat").cast(pl.Float64),
            pl.col(lo).cast(pl.Float64).alias("yhat_lo"),
            pl.col(hi).cast(pl.Float64).alias("yhat_hi"),
        )
        scored = scored.join(fc, on=["unique_id", "ds"], how="left")
    else:
        scored = scored.with_columns(
            pl.lit(None, pl.Float64).alias(c) for c in ("yhat", "yhat_lo", "yhat_hi")
        )

    has_interval = pl.col("yhat_lo").is_not_null() & pl.col("yhat_hi").is_not_null()
    outside = pl.when(has_interval).then(
        (pl.col("y") < pl.col("yhat_lo")) | (pl.col("y") > pl.col("yhat_hi"))
    )
    robust_hit = (pl.col("robust_z").abs() >= s.z_threshold) & (
        (pl.col("y") - pl.col("baseline")).abs() >= s.min_abs_deviation
    )
    agree = (
        pl.col("outside_interval").fill_null(True) if s.require_interval_agreement else pl.lit(True)
    )
    scored = scored.with_columns(outside.alias("outside_interval")).with_columns(
        pl.when(pl.col("baseline").is_not_null())
        .then(robust_hit.fill_null(False) & agree)
        .otherwise(pl.col("outside_interval").fill_null(False))
        .alias("is_anomaly"),
        pl.col("robust_z").abs().alias("score"),
        pl.when(pl.coalesce("baseline", "yhat").is_null())
        .then(None)
        .when(pl.col("y") > pl.coalesce("baseline", "yhat"))
        .then(pl.lit("spike"))
        .otherwise(pl.lit("drop"))
        .alias("direction"),
    )
    if s.score_last_days is not None:
        scored = scored.filter(
            pl.col("ds")
            > pl.col("ds").max().over("unique_id") - pl.duration(days=s.score_last_days)
        )
    scored = _carry(scored, history)
    return scored.select([pl.col(c).cast(t) for c, t in ANOMALY_SCHEMA.items()]).sort(
        "unique_id", "ds"
    )


def _carry(frame: pl.DataFrame, history: pl.DataFrame) -> pl.DataFrame:
    present = [c for c in _CARRIED if c in history.columns]
    if present:
        attrs = history.select(["unique_id", *present]).unique("unique_id", keep="first")
        frame = frame.join(
            attrs.with_columns(pl.col("unique_id").cast(pl.String)), on="unique_id", how="left"
        )
    return frame.with_columns(
        pl.lit(None, pl.String).alias(c) for c in _CARRIED if c not in present
    )


def detect_trending(
    history: pl.DataFrame,
    settings: TrendingSettings | None = None,
    as_of: date | None = None,
) -> pl.DataFrame:
    """Recent vs previous window per series (see module docstring); schema TRENDING_SCHEMA.

    ``history`` as for score_anomalies (use the units series: the test assumes counts).
    The windows end on ``as_of`` (default the latest day in ``history``).
    """
    s = settings or TrendingSettings()
    frame = history.select(
        pl.col("unique_id").cast(pl.String),
        pl.col("ds").cast(pl.Date),
        pl.col("y").cast(pl.Float64),
    )
    if frame.is_empty():
        return pl.DataFrame(schema=TRENDING_SCHEMA)
    end = as_of or frame["ds"].max()
    recent_start = end - timedelta(days=s.recent_days - 1)
    prev_start = recent_start - timedelta(days=s.recent_days)
    totals = (
        frame.filter(pl.col("ds") <= end)
        .group_by("unique_id")
        .agg(
            pl.col("y").filter(pl.col("ds") >= recent_start).sum().alias("recent_total"),
            pl.col("y")
            .filter((pl.col("ds") >= prev_start) & (pl.col("ds") < recent_start))
            .sum()
            .alias("previous_total"),
        )
        .sort("unique_id")
    )
    p_values = []
    for recent, previous in zip(totals["recent_total"], totals["previous_total"], strict=True):
        r, n = round(recent), round(recent) + round(previous)
        p_values.append(binomtest(r, n, 0.5, alternative="greater").pvalue if n > 0 else 1.0)
    out = totals.with_columns(
        pl.Series("p_value", p_values, dtype=pl.Float64),
        pl.lit(end, pl.Date).alias("window_end_date"),
        pl.when(pl.col("previous_total") > 0)
        .then((pl.col("recent_total") / pl.col("previous_total") - 1.0) * 100.0)
        .alias("growth_pct"),
    ).with_columns(
        (
            (pl.col("growth_pct").fill_null(float("inf")) >= s.min_growth * 100.0)
            & (pl.col("p_value") <= s.alpha)
            & (pl.col("recent_total") >= s.min_recent_volume)
        ).alias("is_trending_up")
    )
    age = (pl.lit(end) - pl.col("ds")).dt.total_days()
    decayed = (
        frame.filter(pl.col("ds").is_between(prev_start, end))
        .group_by("unique_id")
        .agg((pl.col("y") * pl.lit(0.5).pow(age / s.half_life_days)).sum().alias("decayed_units"))
    )
    # a steady seller: total / window days on each day, decayed alike
    steady = float(np.power(0.5, np.arange(2 * s.recent_days) / s.half_life_days).sum())
    window_total = pl.col("recent_total") + pl.col("previous_total")
    out = (
        out.join(decayed, on="unique_id", how="left")
        .with_columns(pl.col("decayed_units").fill_null(0.0))
        .with_columns(
            pl.when(window_total > 0)
            .then(pl.col("decayed_units") / (window_total / (2 * s.recent_days) * steady))
            .alias("decay_ratio"),
            pl.struct(-pl.col("decayed_units"), "unique_id").rank("ordinal").alias("trend_rank"),
        )
        .sort("unique_id")
    )
    out = _carry(out, history)
    return out.select([pl.col(c).cast(t) for c, t in TRENDING_SCHEMA.items()])
