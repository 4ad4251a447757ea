"""Daily demand forecasts per series with model choice by backtest and prediction intervals.

Flow (:func:`forecast_catalog`), for series prepared by :func:`models_ml.demand.build_series`:

1. classify every series (:func:`models_ml.demand.classify_demand`);
2. route it:
   - ``inactive`` → zeros (model ``Zero``);
   - ``new``, or shorter than the statistical models need (``min_model_days``: the backtest
     span plus ``min_train_days``, and at least 2·horizon+1 days so conformal intervals can
     be calibrated) → the top-down fallback (model ``TopDown``, below);
   - ``smooth`` / ``erratic`` → candidates SeasonalNaive(7), AutoTheta(7), and AutoETS(7)
     for the ``ets_top_n`` highest-volume of them (+ AutoARIMA(7) when ``use_arima``;
     ~2 s per series, off by default); their backtest fits once at the first origin and
     moves forward (``refit_continuous_backtest=False``), which keeps a catalog of
     hundreds of smooth series inside the time budget;
   - ``intermittent`` / ``lumpy`` → SeasonalNaive(7), CrostonOptimized, ADIDA, IMAPA,
     TSB(alpha_d, alpha_p); they have no model-based intervals, so the final fit carries
     statsforecast ``ConformalIntervals(h=horizon, n_windows=conformal_windows)``;
   - Prophet (with country holidays from the offline ``holidays`` package) joins the
     candidates for the ``prophet_top_n`` series by revenue and for ``prophet_ids`` (the
     totals); its intervals are quantiles of its predictive samples.
3. backtest all candidates on the same rolling origins (:mod:`models_ml.backtest`), choose per
   series the lowest ``selection_metric`` (MASE, else WAPE when MASE is undefined); ties
   (within ``tie_tolerance`` relative) go to the simpler model (:data:`COMPLEXITY`);
4. refit only the chosen model on all history and forecast ``horizon`` days with ``levels``;
   outputs are clipped at 0 and made ordered (lo95 ≤ lo80 ≤ yhat ≤ hi80 ≤ hi95).

Scoring without a backtest (``selection=``). The weekly job runs the flow above; the daily
scoring run passes the ``selection`` frame a previous run returned (as persisted, e.g. read back
from DuckDB) and skips step 3's cross-validation entirely: each series is classified and routed
afresh (inactive → ``Zero``, new/short → ``TopDown``, as above), and every modelled series is
refit on its latest data with its previously chosen model (statsforecast models, intermittent
ones with conformal intervals; Prophet). A modelled series gets the per-class default of
``default_models`` (AutoTheta for smooth/erratic: cheap, with model-based intervals; TSB for
intermittent/lumpy: follows a decaying demand probability) and ``selected_by =
'default_no_backtest'`` when it is missing from the selection, or its previous model is not a
candidate for its current class (class changed, or it was ``TopDown``/``Zero`` before). The
returned ``selection`` keeps the previous ``selected_by``/``reason`` and metric columns (the last
backtest's numbers) for every series found in it; ``metrics`` and ``cv`` are empty.

Top-down fallback (new / short series). Level = shrinkage of the series' own in-stock mean
daily demand towards its peers': ``w·own + (1−w)·peer`` with ``w = n/(n + fallback_shrink_days)``
(n = in-stock days). Peers are the modelled series in the same ``peer_groups`` group (e.g. same
category × channel; all modelled series when no group is given), and ``peer`` is the median of
their mean daily demand over their last ``fallback_window`` days. The level is spread over the
week with the group's weekday profile. Intervals are the group's empirical quantiles of
day-level demand / its series' recent mean, times the forecast (Poisson quantiles from scipy
when there are no peers). A product with 10 days of sales thus starts near "a typical
product of its group", moving to its own rate as history accrues.

The fallback is backtested too (:func:`backtest_fallback`): on shorter rolling origins
(``fallback_backtest``, default 2 origins of 28 days, 14 days apart) with every series' history
cut at the origin, beside seasonal naive, for the young series with ``fallback_min_train_days``
of history before an origin; their rows join ``cv`` and ``metrics`` (the selection table gets
their ``*_TopDown`` and ``*_SeasonalNaive`` columns), so a young series has an accuracy figure.

Stockout days: the models fit the imputed ``y``; scoring ignores those days (see demand.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models_ml import backtest as bt
from models_ml.demand import classify_demand
from models_ml.fallback import (
    CV_COLUMNS,
    FORECAST_COLUMNS,
    backtest_fallback,
    top_down_fallback,
)
from models_ml.settings import (
    CONTINUOUS,
    CONTINUOUS_MODELS,
    INTERMITTENT,
    INTERMITTENT_MODELS,
    ForecastSettings,
)

log = logging.getLogger(__name__)

#: Simpler first; wins ties in model selection.
COMPLEXITY = {
    "Zero": 0,
    "SeasonalNaive": 1,
    "CrostonOptimized": 2,
    "ADIDA": 3,
    "IMAPA": 4,
    "TSB": 5,
    "AutoTheta": 6,
    "AutoETS": 7,
    "AutoARIMA": 8,
    "Prophet": 9,
    "TopDown": 10,
}
#: ``selected_by`` of a model given by class, without a backtest (see ``selection=``).
DEFAULT_NO_BACKTEST = "default_no_backtest"
METRIC_PREFIXES = ("mase_", "wape_", "bias_")


@dataclass
class ForecastResult:
    """``forecasts``: FORECAST_COLUMNS, one row per series × future day.
    ``selection``: unique_id, demand_class, model, selected_by, reason, then
    ``<metric>_<candidate>`` columns (mase/wape/bias per candidate; NaN when not a candidate).
    ``selected_by``: the metric that decided (mase/wape/mae), ``default_no_backtest`` for a
    class default in a scoring run, None for TopDown/Zero. ``reason``: ``backtest``,
    ``inactive``, ``new or short history``, or ``default: …`` (scoring run; why no previous
    model). In a scoring run (``selection=``) the metric columns are the previous ones.
    ``metrics``: long per series × model (backtest.score). ``cv``: long backtest rows (both
    empty, same columns, in a scoring run). ``timings``: seconds per stage (no
    ``backtest_*`` keys in a scoring run)."""

    forecasts: pd.DataFrame
    selection: pd.DataFrame
    metrics: pd.DataFrame
    cv: pd.DataFrame
    timings: dict[str, float]


# --------------------------------------------------------------------------- models


def continuous_models(settings: ForecastSettings) -> list:
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta, SeasonalNaive

    m = settings.season_length
    models = [SeasonalNaive(season_length=m), AutoTheta(season_length=m), AutoETS(season_length=m)]
    if settings.use_arima:
        models.append(AutoARIMA(season_length=m))
    return models


def intermittent_models(settings: ForecastSettings, conformal: bool = False) -> list:
    from statsforecast.models import ADIDA, IMAPA, TSB, CrostonOptimized, SeasonalNaive
    from statsforecast.utils import ConformalIntervals

    pi = (
        ConformalIntervals(h=settings.horizon, n_windows=settings.conformal_windows)
        if conformal
        else None
    )
    return [
        SeasonalNaive(season_length=settings.season_length),
        CrostonOptimized(prediction_intervals=pi),
        ADIDA(prediction_intervals=pi),
        IMAPA(prediction_intervals=pi),
        TSB(alpha_d=settings.tsb_alpha_d, alpha_p=settings.tsb_alpha_p, prediction_intervals=pi),
    ]


def _model_by_name(name: str, settings: ForecastSettings, demand_class: str):
    pool = (
        intermittent_models(settings, conformal=True)
        if demand_class in INTERMITTENT
        else continuous_models(settings.model_copy(update={"use_arima": True}))
    )
    for model in pool:
        if repr(model) == name:
            return model
    raise KeyError(name)


# --------------------------------------------------------------------------- selection


def select_models(
    metrics: pd.DataFrame,
    settings: ForecastSettings | None = None,
    demand_class: Mapping[str, str] | pd.Series | None = None,
) -> pd.DataFrame:
    """Per series, the candidate with the lowest selection metric (MASE by default; WAPE
    where MASE is undefined; MAE where both are); within ``tie_tolerance`` the simpler
    model wins. With ``demand_class`` (unique_id → class) given, SeasonalNaive is not
    selectable for intermittent/lumpy series unless ``intermittent_baseline_selectable``.
    ``metrics``: output of :func:`models_ml.backtest.score`.
    Returns ``unique_id, model, score, metric``."""
    settings = settings or ForecastSettings()
    if demand_class is not None and not settings.intermittent_baseline_selectable:
        sparse = metrics["unique_id"].map(pd.Series(demand_class)).isin(INTERMITTENT)
        metrics = metrics[~(sparse & (metrics["model"] == bt.BASELINE))]
    rows = []
    for uid, g in metrics.groupby("unique_id", sort=False):
        for metric in (settings.selection_metric, "wape", "mase", "mae"):
            vals = g[metric].astype(float)
            if vals.notna().any():
                break
        g = g.assign(score=vals, rank=g["model"].map(COMPLEXITY).fillna(99))
        g = g[g["score"].notna()]
        best = g["score"].min()
        near = g[g["score"] <= best * (1 + settings.tie_tolerance) + 1e-12]
        pick = near.sort_values(["rank", "score"]).iloc[0]
        rows.append((uid, pick["model"], float(pick["score"]), metric))
    return pd.DataFrame(rows, columns=["unique_id", "model", "score", "metric"])


# --------------------------------------------------------------------------- prophet


def _prophet_fit_predict(
    train: pd.DataFrame, horizon: int, levels: Sequence[int], settings: ForecastSettings
) -> pd.DataFrame:
    """Prophet on one series (ds, y) → ds, yhat and lo/hi per level from predictive samples."""
    from prophet import Prophet

    logging.getLogger("cmdstanpy").setLevel(logging.WARNING)
    logging.getLogger("prophet").setLevel(logging.ERROR)
    m = Prophet(
        weekly_seasonality=True,
        yearly_seasonality=len(train) >= 365,
        daily_seasonality=False,
        uncertainty_samples=settings.prophet_samples,
    )
    m.add_country_holidays(country_name=settings.prophet_country)
    m.fit(train[["ds", "y"]])
    logging.getLogger("cmdstanpy").setLevel(logging.WARNING)
    future = m.make_future_dataframe(periods=horizon, include_history=False)
    point = m.predict(future)["yhat"].to_numpy()
    out = pd.DataFrame({"ds": future["ds"], "yhat": point})
    if levels:
        samples = m.predictive_samples(future)["yhat"]
        for lv in levels:
            out[f"yhat_lo_{lv}"] = np.quantile(samples, (1 - lv / 100) / 2, axis=1)
            out[f"yhat_hi_{lv}"] = np.quantile(samples, (1 + lv / 100) / 2, axis=1)
    return out


def prophet_cross_validate(df: pd.DataFrame, settings: ForecastSettings) -> pd.DataFrame:
    """Prophet at the same origins as statsforecast → long backtest rows."""
    rows = []
    for uid, g in df.groupby("unique_id", sort=False):
        g = g.sort_values("ds")
        for cut in bt.cutoffs_for(g["ds"].max(), settings.backtest):
            train = g[g["ds"] <= cut]
            test = g[(g["ds"] > cut)].head(settings.backtest.horizon)
            fc = _prophet_fit_predict(train, settings.backtest.horizon, (), settings)
            fc = fc.merge(test[["ds", "y"]], on="ds")
            rows.append(fc.assign(unique_id=uid, cutoff=cut, model="Prophet"))
    if not rows:
        return pd.DataFrame(columns=["unique_id", "ds", "cutoff", "model", "yhat", "y"])
    out = pd.concat(rows, ignore_index=True)
    out["yhat"] = out["yhat"].clip(lower=0)
    return out[["unique_id", "ds", "cutoff", "model", "yhat", "y"]]


def _fit_input(df: pd.DataFrame, settings: ForecastSettings) -> pd.DataFrame:
    d = df[["unique_id", "ds", "y"]]
    if settings.max_train_days:
        end = d.groupby("unique_id")["ds"].transform("max")
        d = d[d["ds"] > end - pd.Timedelta(days=settings.max_train_days)]
    return d


def _tidy(fc: pd.DataFrame, levels: Sequence[int]) -> pd.DataFrame:
    """Non-negative and ordered intervals: lo_wide ≤ lo_narrow ≤ yhat ≤ hi_narrow ≤ hi_wide."""
    fc = fc.copy()
    fc["yhat"] = fc["yhat"].clip(lower=0)
    lv = sorted(levels)
    prev_lo, prev_hi = fc["yhat"], fc["yhat"]
    for level in lv:
        lo = np.minimum(fc[f"yhat_lo_{level}"].clip(lower=0), prev_lo)
        hi = np.maximum(fc[f"yhat_hi_{level}"].clip(lower=0), prev_hi)
        fc[f"yhat_lo_{level}"], fc[f"yhat_hi_{level}"] = lo, hi
        prev_lo, prev_hi = lo, hi
    return fc


def _final_statsforecast(
    df: pd.DataFrame, chosen: pd.DataFrame, classes: pd.Series, settings: ForecastSettings
) -> list[pd.DataFrame]:
    from statsforecast import StatsForecast

    out = []
    levels = list(settings.levels)
    chosen = chosen.assign(family=chosen["unique_id"].map(classes).isin(INTERMITTENT))
    for (name, fam), g in chosen.groupby(["model", "family"]):
        if name == "Prophet":
            continue
        model = _model_by_name(name, settings, "intermittent" if fam else "smooth")
        sub = _fit_input(df[df["unique_id"].isin(g["unique_id"])], settings)
        sf = StatsForecast(models=[model], freq="D", n_jobs=settings.n_jobs)
        fc = sf.forecast(df=sub, h=settings.horizon, level=levels)
        fc = fc.rename(
            columns={
                name: "yhat",
                **{f"{name}-lo-{lv}": f"yhat_lo_{lv}" for lv in levels},
                **{f"{name}-hi-{lv}": f"yhat_hi_{lv}" for lv in levels},
            }
        )
        out.append(fc.assign(model=name))
    return out


def forecast_catalog(
    series: pd.DataFrame,
    settings: ForecastSettings | None = None,
    revenue: Mapping[str, float] | None = None,
    prophet_ids: Iterable[str] = (),
    peer_groups: Mapping[str, str] | None = None,
    selection: pd.DataFrame | None = None,
) -> ForecastResult:
    """Backtest, choose and forecast every series of ``series`` (output of
    :func:`models_ml.demand.build_series`: unique_id, ds, y, y_observed, is_stockout).

    ``revenue``: unique_id → revenue, ranks the ``prophet_top_n`` series that also try
    Prophet; ``prophet_ids``: series that always try it (the totals); ``peer_groups``:
    unique_id → group used by the top-down fallback.
    ``selection``: the ``selection`` frame of a previous run (as persisted). When given, no
    backtest runs: each series is refit with its previously chosen model (or the class
    default, see the module docstring); ``revenue`` and ``prophet_ids`` are then unused and
    ``metrics``/``cv`` are empty.
    """
    settings = settings or ForecastSettings()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    series = series.sort_values(["unique_id", "ds"], ignore_index=True)
    classes = classify_demand(series, settings.demand).set_index("unique_id")
    cls = classes["demand_class"]
    long_enough = classes["n_days"] >= settings.min_model_days()
    inactive = cls.index[cls == "inactive"]
    modelled = cls.index[long_enough & cls.isin(CONTINUOUS + INTERMITTENT)]
    fallback = cls.index[~cls.index.isin(inactive) & ~cls.index.isin(modelled)]
    previous = None if selection is None else _clean_selection(selection)
    timings["prepare"] = time.perf_counter() - t0

    if previous is None:
        cv, metrics, chosen = _backtest_and_select(
            series, cls, modelled, settings, revenue, prophet_ids, timings
        )
        t = time.perf_counter()
        young = backtest_fallback(series, fallback, modelled, settings, peer_groups)
        if not young.empty:
            young_metrics = bt.score(young, series, settings.season_length)
            cv = pd.concat([cv, young], ignore_index=True) if len(cv) else young
            metrics = (
                pd.concat([metrics, young_metrics], ignore_index=True)
                if len(metrics)
                else young_metrics
            )
        timings["fallback_backtest"] = time.perf_counter() - t
    else:
        t = time.perf_counter()
        cv = pd.DataFrame(columns=CV_COLUMNS)
        metrics = bt.score(cv, series, settings.season_length)
        chosen = _reuse_selection(previous, cls, modelled, settings)
        timings["score_select"] = time.perf_counter() - t

    t = time.perf_counter()
    parts = _final_statsforecast(series, chosen, cls, settings)
    timings["final_statsforecast"] = time.perf_counter() - t
    t = time.perf_counter()
    for uid in chosen.loc[chosen["model"] == "Prophet", "unique_id"]:
        g = _fit_input(series[series["unique_id"] == uid], settings)
        fc = _prophet_fit_predict(g, settings.horizon, settings.levels, settings)
        parts.append(fc.assign(unique_id=uid, model="Prophet"))
    timings["final_prophet"] = time.perf_counter() - t
    t = time.perf_counter()
    if len(fallback):
        peers = modelled  # none: own mean, flat week, Poisson intervals
        parts.append(top_down_fallback(series, fallback, peers, settings, peer_groups))
    timings["fallback"] = time.perf_counter() - t
    if len(inactive):
        end = series.groupby("unique_id")["ds"].max()
        zero = []
        for uid in inactive:
            ds = pd.date_range(end[uid] + pd.Timedelta(days=1), periods=settings.horizon)
            zero.append(pd.DataFrame({"unique_id": uid, "ds": ds, "model": "Zero", "yhat": 0.0}))
        z = pd.concat(zero, ignore_index=True)
        for lv in settings.levels:
            z[f"yhat_lo_{lv}"] = 0.0
            z[f"yhat_hi_{lv}"] = 0.0
        parts.append(z)
    fc = pd.concat([p for p in parts if not p.empty], ignore_index=True)
    fc = _tidy(fc, settings.levels)
    fc["demand_class"] = fc["unique_id"].map(cls)
    fc = fc[FORECAST_COLUMNS].sort_values(["unique_id", "ds"], ignore_index=True)
    sel = _selection_table(cls, chosen, metrics, fallback, inactive, previous)
    timings["total"] = time.perf_counter() - t0
    return ForecastResult(fc, sel, metrics, cv, timings)


def _backtest_and_select(
    series: pd.DataFrame,
    cls: pd.Series,
    modelled: pd.Index,
    settings: ForecastSettings,
    revenue: Mapping[str, float] | None,
    prophet_ids: Iterable[str],
    timings: dict[str, float],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Step 3 of the module docstring → (cv, metrics, chosen). A modelled series with no
    scored backtest day (stocked out through every window) gets its class default."""
    cvs = []
    cont = modelled[cls.loc[modelled].isin(CONTINUOUS)]
    sparse = modelled[cls.loc[modelled].isin(INTERMITTENT)]
    volume = series[series["unique_id"].isin(cont)].groupby("unique_id")["y"].mean()
    n_ets = len(cont) if settings.ets_top_n is None else settings.ets_top_n
    with_ets = set(volume.sort_values(ascending=False).index[:n_ets])
    cheap = [m for m in continuous_models(settings) if repr(m) != "AutoETS"]
    groups = (
        ("continuous_ets", [u for u in cont if u in with_ets], continuous_models(settings)),
        ("continuous", [u for u in cont if u not in with_ets], cheap),
        ("intermittent", list(sparse), intermittent_models(settings)),
    )
    for name, ids, models in groups:
        t = time.perf_counter()
        refit = name == "intermittent" or settings.refit_continuous_backtest
        sub = _fit_input(series[series["unique_id"].isin(ids)], settings)
        cvs.append(bt.cross_validate(models, sub, settings.backtest, settings.n_jobs, refit))
        timings[f"backtest_{name}"] = time.perf_counter() - t
    prophet_set = set(prophet_ids) & set(modelled)
    if revenue and settings.prophet_top_n:
        ranked = sorted(
            (u for u in modelled if u in revenue), key=lambda u: revenue[u], reverse=True
        )
        prophet_set |= set(ranked[: settings.prophet_top_n])
    t = time.perf_counter()
    if prophet_set:
        cvs.append(prophet_cross_validate(series[series["unique_id"].isin(prophet_set)], settings))
    timings["backtest_prophet"] = time.perf_counter() - t
    cv = (
        pd.concat([c for c in cvs if not c.empty], ignore_index=True)
        if any(not c.empty for c in cvs)
        else pd.DataFrame(columns=CV_COLUMNS)
    )
    t = time.perf_counter()
    metrics = bt.score(cv, series, settings.season_length)
    chosen = (
        select_models(metrics, settings, cls)
        if not metrics.empty
        else pd.DataFrame(columns=["unique_id", "model", "score", "metric"])
    )
    unscored = [u for u in modelled if u not in set(chosen["unique_id"])]
    if unscored:
        default = pd.DataFrame(
            {
                "unique_id": unscored,
                "model": [settings.default_models[cls[u]] for u in unscored],
                "score": np.nan,
                "metric": DEFAULT_NO_BACKTEST,
                "reason": "default: no in-stock day in the backtest",
            }
        )
        chosen = pd.concat([chosen.assign(reason="backtest"), default], ignore_index=True)
    timings["score_select"] = time.perf_counter() - t
    return cv, metrics, chosen


def _text(col: pd.Series) -> pd.Series:
    """Strings with None for missing (NaN, None, pd.NA: whatever the persisted frame used)."""
    col = col.astype(object)
    return col.where(col.notna(), None).map(lambda v: v if v is None else str(v).strip())


def _clean_selection(selection: pd.DataFrame) -> pd.DataFrame:
    """A persisted selection frame, normalised: text columns str/None, metric columns float,
    one row per unique_id (the last), indexed by unique_id as str."""
    prev = selection.to_pandas() if hasattr(selection, "to_pandas") else selection.copy()
    missing = {"unique_id", "model"} - set(prev.columns)
    if missing:
        raise ValueError(f"selection lacks columns {sorted(missing)}")
    for col in ("unique_id", "demand_class", "model", "selected_by", "reason"):
        prev[col] = _text(prev[col]) if col in prev.columns else None
    metric_cols = [c for c in prev.columns if str(c).startswith(METRIC_PREFIXES)]
    for col in metric_cols:
        prev[col] = pd.to_numeric(prev[col], errors="coerce").astype(float)
    prev = prev[prev["unique_id"].notna()]
    if prev["unique_id"].duplicated().any():
        log.warning("selection has duplicate unique_ids; keeping the last row of each")
        prev = prev.drop_duplicates("unique_id", keep="last")
    cols = ["unique_id", "demand_class", "model", "selected_by", "reason", *metric_cols]
    return prev[cols].set_index("unique_id")


def _reuse_selection(
    previous: pd.DataFrame, cls: pd.Series, modelled: pd.Index, settings: ForecastSettings
) -> pd.DataFrame:
    """The model per modelled series for a scoring run → unique_id, model, score, metric,
    reason (score NaN: nothing is scored)."""
    rows = []
    for uid in modelled:
        klass = cls[uid]
        pool = INTERMITTENT_MODELS if klass in INTERMITTENT else CONTINUOUS_MODELS
        key = str(uid)
        if key in previous.index:
            prev = previous.loc[key]
            if prev["model"] in pool:
                reason = prev["reason"] or "backtest"
                rows.append((uid, prev["model"], np.nan, prev["selected_by"], reason))
                continue
            reason = (
                "default: class changed since last selection"
                if prev["demand_class"] != klass
                else f"default: previous model {prev['model']} not usable"
            )
        else:
            reason = "default: new since last selection"
        model = settings.default_models[klass]
        rows.append((uid, model, np.nan, DEFAULT_NO_BACKTEST, reason))
    return pd.DataFrame(rows, columns=["unique_id", "model", "score", "metric", "reason"])


def _selection_table(cls, chosen, metrics, fallback, inactive, previous=None) -> pd.DataFrame:
    base = pd.DataFrame({"unique_id": cls.index, "demand_class": cls.to_numpy()})
    pick = chosen[["unique_id", "model", "metric"]].rename(columns={"metric": "selected_by"})
    sel = base.merge(pick, on="unique_id", how="left")
    sel.loc[sel["unique_id"].isin(fallback), "model"] = "TopDown"
    sel.loc[sel["unique_id"].isin(inactive), "model"] = "Zero"
    modelled_reason = (
        sel["unique_id"].map(chosen.set_index("unique_id")["reason"])
        if "reason" in chosen.columns
        else "backtest"
    )
    sel["reason"] = np.where(
        sel["unique_id"].isin(inactive),
        "inactive",
        np.where(sel["unique_id"].isin(fallback), "new or short history", modelled_reason),
    )
    if previous is not None:
        carried = previous.drop(columns=["demand_class", "model", "selected_by", "reason"])
        carried = carried.reindex(sel["unique_id"].map(str).to_numpy())
        for col in carried.columns:
            sel[col] = carried[col].to_numpy()
    elif not metrics.empty:
        wide = metrics.pivot(index="unique_id", columns="model", values=["mase", "wape", "bias"])
        wide.columns = [f"{m}_{model}" for m, model in wide.columns]
        sel = sel.merge(wide.reset_index(), on="unique_id", how="left")
    return sel
