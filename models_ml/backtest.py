"""Rolling-origin backtest: statsforecast cross-validation plus MASE, WAPE and bias.

The windows come from ``StatsForecast.cross_validation`` (``n_windows`` cutoffs ``step``
days apart, each forecasting ``horizon`` days; expanding training window). Results are kept
long: ``unique_id, ds, cutoff, model, y, yhat``.

Metrics are hand-written (a few numpy sums) rather than taken from utilsforecast because two
details matter here: stockout days (``is_stockout``) are removed from every sum, since their
"actuals" are imputed, and the MASE scale is the in-sample seasonal-naive MAE of the training
part *before each cutoff* (not of the whole series).

Per series × model, over all windows pooled:
- ``mae``  = mean |y − ŷ|
- ``mase`` = mean over windows of (window MAE / scale at that cutoff); NaN when every scale is 0
- ``wape`` = Σ|y − ŷ| / Σy (NaN when Σy = 0)
- ``bias`` = Σ(ŷ − y) / Σy (positive = over-forecast)
Overall (per model): WAPE and bias pool all series (so weighted by actual volume);
MASE is the volume-weighted mean of the series' MASE.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from models_ml.settings import BacktestSettings

BASELINE = "SeasonalNaive"


def cross_validate(
    sf_models: Sequence,
    df: pd.DataFrame,
    settings: BacktestSettings,
    n_jobs: int = 1,
    refit: bool = True,
) -> pd.DataFrame:
    """statsforecast cross-validation of ``sf_models`` on ``df`` (unique_id, ds, y) → long
    ``unique_id, ds, cutoff, model, yhat, y``. ``refit=False`` fits each model once at the
    first origin and moves it forward through later origins (parameters kept, state
    updated; statsforecast's ``forward``) — far cheaper for ETS/Theta."""
    from statsforecast import StatsForecast

    if df.empty:
        return pd.DataFrame(columns=["unique_id", "ds", "cutoff", "model", "yhat", "y"])
    sf = StatsForecast(models=list(sf_models), freq="D", n_jobs=n_jobs)
    cv = sf.cross_validation(
        df=df[["unique_id", "ds", "y"]],
        h=settings.horizon,
        n_windows=settings.n_windows,
        step_size=settings.step,
        refit=refit,
    )
    names = [c for c in cv.columns if c not in ("unique_id", "ds", "cutoff", "y")]
    long = cv.melt(
        id_vars=["unique_id", "ds", "cutoff", "y"],
        value_vars=names,
        var_name="model",
        value_name="yhat",
    )
    long["yhat"] = long["yhat"].clip(lower=0)
    return long[["unique_id", "ds", "cutoff", "model", "yhat", "y"]]


def cutoffs_for(end: pd.Timestamp, settings: BacktestSettings) -> list[pd.Timestamp]:
    """The forecast origins statsforecast uses for a series ending on ``end``."""
    first = end - pd.Timedelta(days=settings.span())
    return [first + pd.Timedelta(days=i * settings.step) for i in range(settings.n_windows)]


def seasonal_scales(
    series: pd.DataFrame, cutoffs: pd.DataFrame, season_length: int
) -> pd.DataFrame:
    """In-sample seasonal-naive MAE per (unique_id, cutoff) over in-stock days up to the cutoff.

    ``series``: unique_id, ds, y_observed (NaN = stockout); ``cutoffs``: unique_id, cutoff.
    """
    s = series[["unique_id", "ds", "y_observed"]].sort_values(["unique_id", "ds"])
    lag = s.groupby("unique_id")["y_observed"].shift(season_length)
    s = s.assign(err=(s["y_observed"] - lag).abs())
    keys = cutoffs[["unique_id", "cutoff"]].drop_duplicates()
    merged = keys.merge(s[["unique_id", "ds", "err"]], on="unique_id")
    merged = merged[merged["ds"] <= merged["cutoff"]]
    return (
        merged.groupby(["unique_id", "cutoff"], as_index=False)["err"]
        .mean()
        .rename(columns={"err": "scale"})
    )


def score(cv: pd.DataFrame, series: pd.DataFrame, season_length: int = 7) -> pd.DataFrame:
    """Metrics per unique_id × model: ``n_points, actual, mae, mase, wape, bias``.

    ``cv``: long backtest rows (unique_id, ds, cutoff, model, yhat, y); ``series``: the
    prepared series (unique_id, ds, y_observed, is_stockout). Stockout days are excluded.
    """
    cols = ["unique_id", "model", "n_points", "actual", "mae", "mase", "wape", "bias"]
    if cv.empty:
        return pd.DataFrame(columns=cols)
    obs = series[["unique_id", "ds", "y_observed"]]
    d = cv.drop(columns=["y"], errors="ignore").merge(obs, on=["unique_id", "ds"], how="left")
    d = d[d["y_observed"].notna()].copy()
    d["abs_err"] = (d["y_observed"] - d["yhat"]).abs()
    d["err"] = d["yhat"] - d["y_observed"]
    scales = seasonal_scales(series, d[["unique_id", "cutoff"]], season_length)
    per_window = (
        d.groupby(["unique_id", "model", "cutoff"], as_index=False)["abs_err"]
        .mean()
        .merge(scales, on=["unique_id", "cutoff"], how="left")
    )
    per_window["scaled"] = per_window["abs_err"] / per_window["scale"].where(
        per_window["scale"] > 0
    )
    mase = per_window.groupby(["unique_id", "model"])["scaled"].mean()
    g = d.groupby(["unique_id", "model"])
    out = pd.DataFrame(
        {
            "n_points": g.size(),
            "actual": g["y_observed"].sum(),
            "mae": g["abs_err"].mean(),
            "abs_err_sum": g["abs_err"].sum(),
            "err_sum": g["err"].sum(),
        }
    )
    out["mase"] = mase
    denom = out["actual"].where(out["actual"] > 0)
    out["wape"] = out["abs_err_sum"] / denom
    out["bias"] = out["err_sum"] / denom
    return out.reset_index()[cols]


def chosen_rows(cv: pd.DataFrame, selection: pd.DataFrame) -> pd.DataFrame:
    """The backtest rows of each series' chosen model, relabelled ``model='Chosen'``."""
    pick = selection[["unique_id", "model"]]
    rows = cv.merge(pick, on=["unique_id", "model"])
    return rows.assign(model="Chosen")


def overall(cv: pd.DataFrame, series: pd.DataFrame, season_length: int = 7) -> pd.DataFrame:
    """Per model over every series it was backtested on: ``model, n_series, actual, wape, bias,
    mase`` (WAPE/bias pooled, i.e. volume-weighted; MASE volume-weighted mean)."""
    per = score(cv, series, season_length)
    obs = series[["unique_id", "ds", "y_observed"]]
    d = cv.drop(columns=["y"], errors="ignore").merge(obs, on=["unique_id", "ds"])
    d = d[d["y_observed"].notna()]
    d = d.assign(abs_err=(d["y_observed"] - d["yhat"]).abs(), err=d["yhat"] - d["y_observed"])
    g = d.groupby("model")
    res = pd.DataFrame(
        {"actual": g["y_observed"].sum(), "abs_err": g["abs_err"].sum(), "err": g["err"].sum()}
    )
    res["wape"] = res["abs_err"] / res["actual"]
    res["bias"] = res["err"] / res["actual"]
    ok = per[per["mase"].notna() & (per["actual"] > 0)]
    w = ok.assign(wm=ok["mase"] * ok["actual"]).groupby("model")[["wm", "actual"]].sum()
    res["mase"] = w["wm"] / w["actual"]
    res["n_series"] = per.groupby("model")["unique_id"].nunique()
    return res.reset_index()[["model", "n_series", "actual", "wape", "bias", "mase"]]


def headline(
    cv: pd.DataFrame, selection: pd.DataFrame, series: pd.DataFrame, season_length: int = 7
) -> dict:
    """Chosen ensemble vs seasonal naive on the same series and days.

    Returns ``{"wape_chosen", "wape_seasonal_naive", "improvement_pct", "n_series", "text"}``;
    ``improvement_pct`` = (1 − WAPE_chosen / WAPE_snaive) × 100. Only series that have both a
    chosen model and a SeasonalNaive backtest count. Note: the choice was made on these same
    windows, so this is an in-sample-selection figure (see ``headline_holdout``).
    """
    base = cv[cv["model"] == BASELINE]
    both = set(base["unique_id"]) & set(selection["unique_id"])
    chosen = chosen_rows(cv[cv["unique_id"].isin(both)], selection)
    table = overall(pd.concat([chosen, base[base["unique_id"].isin(both)]]), series, season_length)
    table = table.set_index("model")
    if "Chosen" not in table.index or BASELINE not in table.index:
        return {
            "wape_chosen": float("nan"),
            "wape_seasonal_naive": float("nan"),
            "improvement_pct": float("nan"),
            "n_series": 0,
            "text": "no series with both a chosen model and a seasonal-naive backtest",
        }
    wc, wb = float(table.at["Chosen", "wape"]), float(table.at[BASELINE, "wape"])
    pct = (1 - wc / wb) * 100
    verb = "beats" if pct >= 0 else "trails"
    return {
        "wape_chosen": wc,
        "wape_seasonal_naive": wb,
        "improvement_pct": pct,
        "n_series": len(both),
        "text": (
            f"chosen ensemble {verb} seasonal naive on overall WAPE by {abs(pct):.1f}% "
            f"({wc:.3f} vs {wb:.3f}, {len(both)} series)"
        ),
    }


def headline_holdout(
    cv: pd.DataFrame,
    series: pd.DataFrame,
    select,
    season_length: int = 7,
) -> dict:
    """Honest variant of :func:`headline`: choose with ``select(metrics)`` on every window but
    the last, then score the choice on the last window only."""
    last = cv["cutoff"].max()
    early, late = cv[cv["cutoff"] < last], cv[cv["cutoff"] == last]
    if early.empty:
        return headline(cv, select(score(cv, series, season_length)), series, season_length)
    sel = select(score(early, series, season_length))
    return headline(late, sel, series, season_length)
