"""The fallback for series too young for a backtest: a top-down share of a peer total, and
its own backtest (:mod:`models_ml.forecast` routes series here)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from models_ml import backtest as bt
from models_ml.settings import (
    ForecastSettings,
)

CV_COLUMNS = ["unique_id", "ds", "cutoff", "model", "yhat", "y"]
FORECAST_COLUMNS = [
    "unique_id",
    "ds",
    "model",
    "yhat",
    "yhat_lo_80",
    "yhat_hi_80",
    "yhat_lo_95",
    "yhat_hi_95",
    "demand_class",
]


# --------------------------------------------------------------------------- fallback


def top_down_fallback(
    series: pd.DataFrame,
    targets: Iterable[str],
    peers: Iterable[str],
    settings: ForecastSettings,
    peer_groups: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Forecast ``targets`` from their own short history shrunk towards their peers (see the
    module docstring). Returns FORECAST_COLUMNS without ``demand_class``."""
    from scipy import stats

    targets, peers = list(targets), list(peers)
    levels = settings.levels
    groups = peer_groups or {}
    group_of = lambda uid: groups.get(uid, "__all__")  # noqa: E731
    recent = series[series["unique_id"].isin(peers)]
    end_by = recent.groupby("unique_id")["ds"].transform("max")
    recent = recent[recent["ds"] > end_by - pd.Timedelta(days=settings.fallback_window)]
    recent = recent[recent["y_observed"].notna()].copy()
    recent["group"] = recent["unique_id"].map(group_of)
    recent["mean"] = recent.groupby("unique_id")["y_observed"].transform("mean")
    recent = recent[recent["mean"] > 0]
    recent["ratio"] = recent["y_observed"] / recent["mean"]
    recent["dow"] = recent["ds"].dt.dayofweek
    peer_level = recent.groupby(["group", "unique_id"])["mean"].first().groupby("group").median()
    dow = recent.groupby(["group", "dow"])["ratio"].mean()
    qs = {}
    for lv in levels:
        lo, hi = (1 - lv / 100) / 2, (1 + lv / 100) / 2
        qs[lv] = recent.groupby("group")["ratio"].quantile([lo, hi]).unstack()
    all_peer = float(recent.groupby("unique_id")["mean"].first().median()) if len(recent) else 0.0

    mine = series[series["unique_id"].isin(targets)]
    ends = mine.groupby("unique_id")["ds"].max()
    own_obs = mine[mine["y_observed"].notna()].groupby("unique_id")["y_observed"]
    own_n, own_means = own_obs.size(), own_obs.mean()
    out = []
    for uid in targets:
        end = ends[uid]
        grp = group_of(uid)
        n = int(own_n.get(uid, 0))
        own_mean = float(own_means[uid]) if n else 0.0
        peer = float(peer_level.get(grp, all_peer)) if len(recent) else own_mean
        w = n / (n + settings.fallback_shrink_days)
        level = w * own_mean + (1 - w) * peer
        ds = pd.date_range(end + pd.Timedelta(days=1), periods=settings.horizon, freq="D")
        if grp in dow.index.get_level_values(0):
            prof = dow.loc[grp].reindex(range(7)).fillna(1.0)
            prof = prof / prof.mean()
        else:
            prof = pd.Series(1.0, index=range(7))
        yhat = level * prof.reindex(ds.dayofweek).to_numpy()
        frame = pd.DataFrame({"unique_id": uid, "ds": ds, "model": "TopDown", "yhat": yhat})
        for lv in levels:
            if grp in qs[lv].index:
                q = qs[lv].loc[grp]
                frame[f"yhat_lo_{lv}"] = yhat * q.iloc[0]
                frame[f"yhat_hi_{lv}"] = yhat * q.iloc[1]
            else:
                frame[f"yhat_lo_{lv}"] = stats.poisson.ppf((1 - lv / 100) / 2, yhat)
                frame[f"yhat_hi_{lv}"] = stats.poisson.ppf((1 + lv / 100) / 2, yhat)
        out.append(frame)
    cols = FORECAST_COLUMNS[:-1]
    return pd.concat(out, ignore_index=True)[cols] if out else pd.DataFrame(columns=cols)


def backtest_fallback(
    series: pd.DataFrame,
    targets: Iterable[str],
    peers: Iterable[str],
    settings: ForecastSettings,
    peer_groups: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Rolling-origin check of the top-down fallback (CV_COLUMNS rows, models ``TopDown`` and
    the ``SeasonalNaive`` baseline) over ``settings.fallback_backtest``'s shorter origins.

    At each origin the history of targets AND peers is cut there; a target counts from the
    origins it has ``fallback_min_train_days`` of own history before. Seasonal naive repeats
    the target's last week before the origin.
    """
    fb = settings.fallback_backtest
    targets, peers = list(targets), list(peers)
    if not targets:
        return pd.DataFrame(columns=CV_COLUMNS)
    short = settings.model_copy(update={"horizon": fb.horizon})
    end = series["ds"].max()
    first = series.groupby("unique_id")["ds"].min()
    actual = series[["unique_id", "ds", "y"]]
    parts = []
    for cutoff in bt.cutoffs_for(end, fb):
        start = cutoff - pd.Timedelta(days=settings.fallback_min_train_days)
        eligible = [u for u in targets if first.get(u, end) <= start]
        if not eligible:
            continue
        history = series[series["ds"] <= cutoff]
        td = top_down_fallback(history, eligible, peers, short, peer_groups)
        td = td[["unique_id", "ds", "model", "yhat"]]
        week = history[
            history["unique_id"].isin(eligible)
            & (history["ds"] > cutoff - pd.Timedelta(days=fb.season_length))
        ]
        last = week.assign(dow=week["ds"].dt.dayofweek)[["unique_id", "dow", "y"]]
        days = td[["unique_id", "ds"]].assign(dow=td["ds"].dt.dayofweek)
        snaive = days.merge(last, on=["unique_id", "dow"], how="left").rename(columns={"y": "yhat"})
        snaive = snaive.assign(model=bt.BASELINE)[["unique_id", "ds", "model", "yhat"]]
        rows = pd.concat([td, snaive], ignore_index=True).assign(cutoff=cutoff)
        rows = rows[rows["ds"] <= end].merge(actual, on=["unique_id", "ds"], how="inner")
        parts.append(rows)
    if not parts:
        return pd.DataFrame(columns=CV_COLUMNS)
    return pd.concat(parts, ignore_index=True)[CV_COLUMNS]


# --------------------------------------------------------------------------- main entry
