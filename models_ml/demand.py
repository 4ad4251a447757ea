"""Daily demand series: tidy preparation, stockout handling and demand-pattern classes.

Input is one row per series key × date with the units sold (and optionally whether the item
was in stock that day); output is the statsforecast long format ``unique_id, ds, y`` plus the
columns the forecaster and the backtest need.

Stockouts. A day with no sale while the item was out of stock is *missing* demand, not zero
demand. Such days get ``y_observed = NaN`` and ``is_stockout = True``; the model input ``y``
is imputed there as the series' recent in-stock level (mean of the last ``impute_window``
in-stock days before the gap) times its day-of-week profile (mean per weekday over in-stock
days divided by the overall in-stock mean, shrunk towards 1 for weekdays with few
observations). A stockout stretch at the very start uses the first in-stock level after it.
Models are fitted on the imputed ``y``; the backtest scores only in-stock days
(``models_ml.backtest`` drops ``is_stockout`` rows from every error sum), so imputed values
never count as actuals.

Classes (Syntetos, Boylan & Croston 2005): over the in-stock days of the series,
ADI = in-stock days / days with demand and CV² = (std / mean)² of the non-zero demand sizes.
``smooth`` (ADI < 1.32, CV² < 0.49), ``erratic`` (ADI < 1.32, CV² ≥ 0.49), ``intermittent``
(ADI ≥ 1.32, CV² < 0.49), ``lumpy`` (ADI ≥ 1.32, CV² ≥ 0.49). Before those: ``new`` when the
series has fewer than ``new_days`` days of history, ``inactive`` when it had no demand in its
last ``inactive_days`` days (or none at all). The pandas arithmetic here is a few group-bys;
no library computes ADI/CV² over a stockout mask, hence hand-written.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd
import polars as pl

from models_ml.settings import DemandSettings

DEMAND_CLASSES = ("smooth", "erratic", "intermittent", "lumpy", "new", "inactive")
ID_SEPARATOR = "|"


def _to_pandas(frame: pd.DataFrame | pl.DataFrame) -> pd.DataFrame:
    return frame.to_pandas() if isinstance(frame, pl.DataFrame) else frame.copy()


def build_series(
    frame: pd.DataFrame | pl.DataFrame,
    id_cols: Sequence[str],
    date_col: str = "date",
    units_col: str = "units",
    in_stock_col: str | None = "in_stock",
    end_date: date | None = None,
    settings: DemandSettings | None = None,
) -> pd.DataFrame:
    """Tidy daily series, one row per series and calendar day.

    ``frame``: one row per key × date (several rows per day are summed); ``in_stock_col`` is
    optional (absent column or ``None`` means always in stock; a null value counts as in stock).
    Each series runs from its first row to ``end_date`` (default: the latest date in the frame).
    Days without a row are zero demand, unless marked out of stock.

    Returns columns ``unique_id`` (the id columns joined by ``|``), the id columns, ``ds``
    (datetime64), ``y`` (float, imputed on stockout days), ``y_observed`` (NaN on stockout
    days) and ``is_stockout`` (bool), sorted by ``unique_id, ds``.
    """
    settings = settings or DemandSettings()
    df = _to_pandas(frame)
    id_cols = list(id_cols)
    df[date_col] = pd.to_datetime(df[date_col])
    has_stock = in_stock_col is not None and in_stock_col in df.columns
    if has_stock:
        df["_out"] = ~df[in_stock_col].fillna(True).astype(bool)
    else:
        df["_out"] = False
    df["unique_id"] = df[id_cols].astype(str).agg(ID_SEPARATOR.join, axis=1)
    daily = (
        df.groupby(["unique_id", date_col], sort=False)
        .agg(units=(units_col, "sum"), out=("_out", "max"))
        .reset_index()
        .rename(columns={date_col: "ds"})
    )
    daily["units"] = daily["units"].astype(float)
    end = pd.Timestamp(end_date) if end_date is not None else daily["ds"].max()
    starts = daily.groupby("unique_id")["ds"].min()
    starts = starts[starts <= end]
    lengths = ((end - starts).dt.days + 1).to_numpy()
    grid = pd.DataFrame(
        {
            "unique_id": np.repeat(starts.index.to_numpy(), lengths),
            "ds": np.concatenate(
                [pd.date_range(s, end, freq="D").to_numpy() for s in starts.to_numpy()]
            )
            if len(starts)
            else np.array([], dtype="datetime64[ns]"),
        }
    )
    out = grid.merge(daily, on=["unique_id", "ds"], how="left")
    out["is_stockout"] = out["out"].astype("boolean").fillna(False).astype(bool) & (
        out["units"].fillna(0) <= 0
    )
    out["y_observed"] = out["units"].fillna(0.0).where(~out["is_stockout"])
    out = out.drop(columns=["units", "out"]).sort_values(["unique_id", "ds"], ignore_index=True)
    out["y"] = _impute_stockouts(out, settings)
    keys = df.drop_duplicates("unique_id").set_index("unique_id")[id_cols]
    out = out.join(keys, on="unique_id")
    return out[["unique_id", *id_cols, "ds", "y", "y_observed", "is_stockout"]]


def _impute_stockouts(series: pd.DataFrame, settings: DemandSettings) -> pd.Series:
    """Recent in-stock level × weekday profile on stockout days; observed values elsewhere."""
    y = series["y_observed"]
    if not series["is_stockout"].any():
        return y.astype(float)
    uid = series["unique_id"]
    obs = series.loc[~series["is_stockout"], ["unique_id", "y_observed"]]
    level = obs.groupby("unique_id")["y_observed"].transform(
        lambda x: x.rolling(settings.impute_window, min_periods=1).mean()
    )
    level = level.reindex(series.index).groupby(uid).ffill()
    first_level = (
        obs.groupby("unique_id")["y_observed"]
        .apply(lambda x: x.head(settings.impute_window).mean())
        .reindex(uid)
        .to_numpy()
    )
    level = level.fillna(pd.Series(first_level, index=series.index)).fillna(0.0)
    dow = series["ds"].dt.dayofweek
    tmp = pd.DataFrame({"uid": uid, "dow": dow, "y": y})
    mean_all = tmp.groupby("uid")["y"].transform("mean")
    per = tmp.groupby(["uid", "dow"])["y"].agg(["sum", "count"])
    k = settings.weekday_shrink
    means = tmp.groupby("uid")["y"].mean()
    per["mean_all"] = means.reindex(per.index.get_level_values(0)).to_numpy()
    per["factor"] = (per["sum"] + k * per["mean_all"]) / ((per["count"] + k) * per["mean_all"])
    factor = per["factor"].reindex(pd.MultiIndex.from_arrays([uid, dow])).to_numpy()
    factor = np.where(np.isfinite(factor) & (mean_all.to_numpy() > 0), factor, 1.0)
    imputed = level.to_numpy() * factor
    return pd.Series(np.where(series["is_stockout"], imputed, y), index=series.index)


def classify_demand(series: pd.DataFrame, settings: DemandSettings | None = None) -> pd.DataFrame:
    """One row per series: ``unique_id, n_days, n_instock_days, n_demand_days, adi, cv2,
    last_demand_ds, demand_class`` (see the module docstring for the rules)."""
    settings = settings or DemandSettings()
    s = series[["unique_id", "ds", "y_observed"]]
    end = s.groupby("unique_id")["ds"].max()
    nz = s[s["y_observed"] > 0]
    g = s.groupby("unique_id")
    out = pd.DataFrame(
        {
            "n_days": g.size(),
            "n_instock_days": g["y_observed"].count(),
            "n_demand_days": nz.groupby("unique_id").size(),
            "size_mean": nz.groupby("unique_id")["y_observed"].mean(),
            "size_std": nz.groupby("unique_id")["y_observed"].std(ddof=0),
            "last_demand_ds": nz.groupby("unique_id")["ds"].max(),
        }
    )
    out["n_demand_days"] = out["n_demand_days"].fillna(0).astype(int)
    out["adi"] = out["n_instock_days"] / out["n_demand_days"].where(out["n_demand_days"] > 0)
    out["cv2"] = (out["size_std"] / out["size_mean"]) ** 2
    frequent = out["adi"] < settings.adi_threshold
    regular = out["cv2"] < settings.cv2_threshold
    cls = np.select(
        [frequent & regular, frequent & ~regular, ~frequent & regular],
        ["smooth", "erratic", "intermittent"],
        "lumpy",
    )
    idle_days = (end - out["last_demand_ds"]).dt.days
    inactive = out["last_demand_ds"].isna() | (idle_days >= settings.inactive_days)
    cls = np.where(inactive, "inactive", cls)
    cls = np.where(out["n_days"] < settings.new_days, "new", cls)
    out["demand_class"] = cls
    out = out.reset_index(names="unique_id")
    return out[
        [
            "unique_id",
            "n_days",
            "n_instock_days",
            "n_demand_days",
            "adi",
            "cv2",
            "last_demand_ds",
            "demand_class",
        ]
    ]
