"""The demand forecast of the whole catalogue as one call: the series (product × channel, per
channel and overall), the forecasts with :func:`models_ml.forecast.forecast_catalog`, the
history of past forecasts the anomaly scoring compares with, and a plot of a few series."""

from __future__ import annotations

import pandas as pd

from models_ml.demand import build_series
from models_ml.forecast import forecast_catalog
from models_ml.plots import markdown_png, pyplot

ALL = "all"  # the product (or channel) id of the total series
HISTORY_DAYS_AHEAD = 14  # days of each run's forecast kept for the anomaly scoring
HISTORY_KEEP_DAYS = 120


def demand_series(lines: pd.DataFrame, settings) -> pd.DataFrame:
    """Product × channel series plus one total per channel and one overall (product 'all')."""
    end = lines["date"].max()
    keys = ["product_id", "channel"]
    per_channel = lines.assign(product_id=ALL).groupby(
        ["product_id", "channel", "date"], as_index=False
    )
    total = lines.assign(product_id=ALL, channel=ALL).groupby([*keys, "date"], as_index=False)
    frames = [lines] + [
        grouped.agg(
            units=("units", "sum"), revenue=("revenue", "sum"), in_stock=("in_stock", "max")
        )
        for grouped in (per_channel, total)
    ]
    return pd.concat(
        [build_series(f, keys, end_date=end, settings=settings.demand) for f in frames],
        ignore_index=True,
    )


def forecast_demand(lines: pd.DataFrame, settings, selection: pd.DataFrame | None = None):
    """Series, revenue per series and the ForecastResult for the daily demand (one row per
    product_id, channel, date with units, revenue, in_stock; the dbt model intermediate.int_daily_demand):
    with ``selection`` the daily refit, without it the weekly backtest and selection (prophet
    competes for the top series by revenue and for the totals)."""
    series = demand_series(lines, settings)
    revenue = (
        lines.assign(unique_id=lines["product_id"] + "|" + lines["channel"])
        .groupby("unique_id")["revenue"]
        .sum()
        .to_dict()
    )
    totals = [u for u in series["unique_id"].unique() if u.startswith(f"{ALL}|")]
    result = forecast_catalog(
        series, settings, revenue=revenue, prophet_ids=totals, selection=selection
    )
    return series, revenue, result


def forecast_history(previous: pd.DataFrame | None, forecasts: pd.DataFrame) -> pd.DataFrame:
    """The first HISTORY_DAYS_AHEAD days of each run's channel and overall forecasts, kept for
    HISTORY_KEEP_DAYS: what the anomaly scoring compares a day's sales with (the forecast made
    before the day). A run replaces its own forecast_date's rows, so re-running is idempotent."""
    columns = ["forecast_date", "unique_id", "ds", "yhat", "yhat_lo_95", "yhat_hi_95"]
    new = forecasts[forecasts["product_id"] == ALL]
    new = new[new["ds"] < new["forecast_date"] + pd.Timedelta(days=HISTORY_DAYS_AHEAD)][columns]
    if previous is not None and len(previous):
        previous = previous[columns]
        previous = previous[
            pd.to_datetime(previous["forecast_date"])
            != pd.to_datetime(new["forecast_date"].iloc[0])
        ]
        new = pd.concat([previous, new], ignore_index=True)
    keep_from = pd.to_datetime(new["forecast_date"]).max() - pd.Timedelta(days=HISTORY_KEEP_DAYS)
    return new[pd.to_datetime(new["forecast_date"]) >= keep_from].reset_index(drop=True)


def plot_forecasts(series: pd.DataFrame, forecasts: pd.DataFrame, ids: list[str]) -> str:
    """History (last 180 days), forecast and 80/95% intervals of ``ids``, as a Markdown image."""
    fig, axes = pyplot().subplots(len(ids), 1, figsize=(9, 2.4 * len(ids)), squeeze=False)
    for ax, uid in zip(axes[:, 0], ids, strict=True):
        hist = series[series["unique_id"] == uid].tail(180)
        fc = forecasts[forecasts["unique_id"] == uid]
        ax.plot(hist["ds"], hist["y_observed"], color="black", lw=0.8, label="units sold")
        ax.fill_between(fc["ds"], fc["yhat_lo_95"], fc["yhat_hi_95"], alpha=0.2, label="95%")
        ax.fill_between(fc["ds"], fc["yhat_lo_80"], fc["yhat_hi_80"], alpha=0.35, label="80%")
        ax.plot(fc["ds"], fc["yhat"], lw=1.2, label=f"forecast ({fc['model'].iloc[0]})")
        ax.set_title(uid, fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    return markdown_png(fig, "forecasts")
