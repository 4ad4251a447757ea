"""models_ml forecasting: series preparation, classes, backtest metrics, selection, forecasts.

Synthetic series with known structure; one small catalog run (shared fixture) keeps it fast.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models_ml import backtest as bt
from models_ml import forecast as fmod
from models_ml.demand import DemandSettings, build_series, classify_demand
from models_ml.forecast import (
    DEFAULT_NO_BACKTEST,
    FORECAST_COLUMNS,
    INTERMITTENT,
    ForecastSettings,
    forecast_catalog,
    select_models,
)

END = pd.Timestamp("2025-12-31")
WEEK = np.array([10.0, 8.0, 8.0, 10.0, 12.0, 20.0, 18.0])  # Monday .. Sunday
SETTINGS = ForecastSettings(
    horizon=28,
    n_jobs=1,
    backtest=bt.BacktestSettings(n_windows=2, step=14, horizon=28),
    prophet_top_n=0,
)


def _days(n: int) -> pd.DatetimeIndex:
    return pd.date_range(end=END, periods=n, freq="D")


def _frame(uid: str, units, in_stock=None, n: int | None = None) -> pd.DataFrame:
    ds = _days(len(units) if n is None else n)
    out = pd.DataFrame({"sku": uid, "date": ds, "units": np.asarray(units, dtype=float)})
    out["in_stock"] = True if in_stock is None else in_stock
    return out


def _catalog_input() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 400
    ds = _days(n)
    weekly = rng.poisson(WEEK[ds.dayofweek] * 3)  # smooth, strong weekly season
    pure = WEEK[ds.dayofweek]  # exact repetition: seasonal naive is perfect
    sparse = rng.poisson(2, n) * (rng.random(n) < 0.15) + 0.0
    stock = rng.poisson(10, n).astype(float)
    in_stock = np.ones(n, dtype=bool)
    in_stock[-30:] = False  # last 30 days out of stock: no sales, but not zero demand
    stock[-30:] = 0
    peers = [_frame(f"peer{i}", rng.poisson(4 + i, n)) for i in range(3)]
    newer = _frame("new10", [6, 4, 5, 7, 3, 5, 6, 4, 5, 5])
    return pd.concat(
        [
            _frame("weekly", weekly),
            _frame("pure", pure),
            _frame("sparse", sparse),
            _frame("stockout", stock, in_stock),
            newer,
            *peers,
        ],
        ignore_index=True,
    )


@pytest.fixture(scope="module")
def series() -> pd.DataFrame:
    return build_series(_catalog_input(), ["sku"], end_date=END.date())


@pytest.fixture(scope="module")
def result(series):
    return forecast_catalog(series, SETTINGS)


def _fc(result, uid: str) -> pd.DataFrame:
    return result.forecasts[result.forecasts["unique_id"] == uid]


# ----------------------------------------------------------------- preparation, classes


def test_missing_days_are_zero_but_stockouts_are_missing():
    raw = pd.DataFrame(
        {
            "sku": ["a", "a", "a"],
            "date": pd.to_datetime(["2025-01-01", "2025-01-04", "2025-01-05"]),
            "units": [3, 0, 2],
            "in_stock": [True, False, True],
        }
    )
    s = build_series(raw, ["sku"], end_date=pd.Timestamp("2025-01-06").date())
    assert s["ds"].dt.day.tolist() == [1, 2, 3, 4, 5, 6]
    assert s["y_observed"].tolist()[:3] == [3.0, 0.0, 0.0]
    assert np.isnan(s["y_observed"].iloc[3])
    assert s["is_stockout"].tolist() == [False, False, False, True, False, False]
    assert s["y"].iloc[3] > 0  # imputed from the in-stock level, not 0


def test_classes_follow_adi_and_cv2():
    n = 200
    smooth = np.full(n, 5.0)
    erratic = np.where(np.arange(n) % 2 == 0, 1.0, 20.0)
    intermittent = np.where(np.arange(n) % 4 == 0, 5.0, 0.0)
    lumpy = np.where(np.arange(n) % 4 == 0, np.where(np.arange(n) % 8 == 0, 1.0, 30.0), 0.0)
    dead = np.r_[np.ones(50), np.zeros(n - 50)]
    raw = pd.concat(
        [
            _frame("smooth", smooth),
            _frame("erratic", erratic),
            _frame("intermittent", intermittent),
            _frame("lumpy", lumpy),
            _frame("dead", dead),
            _frame("young", [1.0] * 10),
        ]
    )
    s = build_series(raw, ["sku"], end_date=END.date())
    c = classify_demand(s, DemandSettings(new_days=28, inactive_days=90)).set_index("unique_id")
    assert c["demand_class"].to_dict() == {
        "dead": "inactive",
        "erratic": "erratic",
        "intermittent": "intermittent",
        "lumpy": "lumpy",
        "smooth": "smooth",
        "young": "new",
    }
    assert c.at["intermittent", "adi"] == pytest.approx(4.0)
    assert c.at["intermittent", "cv2"] == pytest.approx(0.0)
    # sizes 1 and 20: mean 10.5, std 9.5 -> CV² = (9.5/10.5)²
    assert c.at["erratic", "cv2"] == pytest.approx((9.5 / 10.5) ** 2)


# ----------------------------------------------------------------- backtest metrics


def test_metrics_by_hand():
    ds = pd.date_range("2025-01-01", periods=6, freq="D")
    series = pd.DataFrame(
        {
            "unique_id": "a",
            "ds": ds,
            "y_observed": [2.0, 4.0, 6.0, 4.0, 0.0, np.nan],
            "is_stockout": [False] * 5 + [True],
        }
    )
    cut = ds[2]
    cv = pd.DataFrame(
        {
            "unique_id": "a",
            "ds": ds[3:],
            "cutoff": cut,
            "model": "M",
            "yhat": [5.0, 2.0, 100.0],  # the last day is a stockout: ignored
            "y": [4.0, 0.0, 0.0],
        }
    )
    m = bt.score(cv, series, season_length=1).iloc[0]
    # errors on in-stock days: |4-5| = 1, |0-2| = 2 -> MAE 1.5
    # scale: naive lag-1 MAE up to the cutoff: |4-2|, |6-4| -> 2
    assert m["n_points"] == 2
    assert m["mae"] == pytest.approx(1.5)
    assert m["mase"] == pytest.approx(0.75)
    assert m["wape"] == pytest.approx(3 / 4)
    assert m["bias"] == pytest.approx((1 + 2) / 4)
    over = bt.overall(cv, series, season_length=1).iloc[0]
    assert over["wape"] == pytest.approx(0.75) and over["mase"] == pytest.approx(0.75)


def test_headline_compares_chosen_with_seasonal_naive():
    ds = pd.date_range("2025-01-01", periods=4, freq="D")
    series = pd.DataFrame(
        {"unique_id": "a", "ds": ds, "y_observed": [1.0, 1, 10, 10], "is_stockout": False}
    )
    rows = []
    for model, yhat in (("SeasonalNaive", [5.0, 15.0]), ("Good", [9.0, 11.0])):
        rows.append(
            pd.DataFrame(
                {"unique_id": "a", "ds": ds[2:], "cutoff": ds[1], "model": model, "yhat": yhat}
            )
        )
    cv = pd.concat(rows)
    h = bt.headline(cv, pd.DataFrame({"unique_id": ["a"], "model": ["Good"]}), series, 1)
    assert h["wape_seasonal_naive"] == pytest.approx(10 / 20)
    assert h["wape_chosen"] == pytest.approx(2 / 20)
    assert h["improvement_pct"] == pytest.approx(80.0)
    assert "beats seasonal naive on overall WAPE by 80.0%" in h["text"]


def test_selection_prefers_simpler_model_on_ties():
    metrics = pd.DataFrame(
        {
            "unique_id": ["a", "a", "a", "b", "b"],
            "model": ["AutoETS", "SeasonalNaive", "AutoTheta", "AutoETS", "SeasonalNaive"],
            "mase": [0.500, 0.501, 0.7, 0.4, 0.9],
            "wape": [0.3, 0.3, 0.4, 0.2, 0.5],
            "mae": [1.0, 1.0, 1.0, 1.0, 1.0],
        }
    )
    pick = select_models(metrics, SETTINGS).set_index("unique_id")["model"].to_dict()
    assert pick == {"a": "SeasonalNaive", "b": "AutoETS"}


# ----------------------------------------------------------------- catalog forecasts


def test_output_schema_and_interval_sanity(result, series):
    fc = result.forecasts
    assert list(fc.columns) == FORECAST_COLUMNS
    assert fc.groupby("unique_id").size().eq(SETTINGS.horizon).all()
    assert set(fc["unique_id"]) == set(series["unique_id"])
    assert not fc.isna().any().any()
    assert (fc["yhat_lo_95"] >= 0).all()
    assert (fc["yhat_lo_95"] <= fc["yhat_lo_80"]).all()
    assert (fc["yhat_lo_80"] <= fc["yhat"]).all()
    assert (fc["yhat"] <= fc["yhat_hi_80"]).all()
    assert (fc["yhat_hi_80"] <= fc["yhat_hi_95"]).all()
    assert fc["ds"].min() == END + pd.Timedelta(days=1)
    sel = result.selection
    assert {"unique_id", "demand_class", "model", "reason"} <= set(sel.columns)
    assert "mase_SeasonalNaive" in sel.columns and "wape_CrostonOptimized" in sel.columns


def test_weekly_season_recovered(result):
    fc = _fc(result, "weekly")
    by_dow = fc.groupby(fc["ds"].dt.dayofweek)["yhat"].mean().to_numpy()
    truth = WEEK * 3
    assert np.corrcoef(by_dow, truth)[0, 1] > 0.95
    assert by_dow.mean() == pytest.approx(truth.mean(), rel=0.15)


def test_selection_picks_seasonal_naive_on_exact_weekly_repeat(result):
    sel = result.selection.set_index("unique_id")
    assert sel.at["pure", "model"] == "SeasonalNaive"
    # its in-sample seasonal-naive error is 0, so MASE is undefined and WAPE decides
    assert np.isnan(sel.at["pure", "mase_SeasonalNaive"])
    assert sel.at["pure", "selected_by"] == "wape"
    assert sel.at["pure", "wape_SeasonalNaive"] == pytest.approx(0.0)
    fc = _fc(result, "pure")
    assert np.allclose(fc["yhat"].to_numpy(), WEEK[fc["ds"].dt.dayofweek])


def test_intermittent_series_gets_intermittent_model_with_conformal_intervals(result):
    sel = result.selection.set_index("unique_id")
    assert sel.at["sparse", "demand_class"] in INTERMITTENT
    assert sel.at["sparse", "model"] in {"CrostonOptimized", "ADIDA", "IMAPA", "TSB"}
    fc = _fc(result, "sparse")
    assert (fc["yhat_hi_95"] > fc["yhat"]).all()
    assert (fc["yhat_hi_95"] >= fc["yhat_hi_80"]).all()
    assert (fc["yhat_hi_95"] > fc["yhat_hi_80"]).any()
    # sparse demand: about 0.15 * 2 = 0.3 a day
    assert 0.1 < fc["yhat"].mean() < 0.6


def test_stockout_gap_not_treated_as_zero(series, result):
    s = series[series["unique_id"] == "stockout"]
    gap = s[s["is_stockout"]]
    assert len(gap) == 30 and gap["y_observed"].isna().all()
    assert gap["y"].mean() == pytest.approx(10, rel=0.2)
    fc = _fc(result, "stockout")
    assert fc["yhat"].mean() == pytest.approx(10, rel=0.2)
    # the backtest scores in-stock days only: the last window's actuals are all stockouts
    cv_days = result.cv[(result.cv["unique_id"] == "stockout")]
    scored = result.metrics[result.metrics["unique_id"] == "stockout"]["n_points"]
    assert (scored < cv_days.groupby("model").size().min()).all()


def test_new_product_uses_top_down_fallback(result):
    sel = result.selection.set_index("unique_id")
    assert sel.at["new10", "demand_class"] == "new"
    assert sel.at["new10", "model"] == "TopDown"
    fc = _fc(result, "new10")
    assert (fc["model"] == "TopDown").all()
    own, peers = 5.0, 5.0  # own mean 5; peer levels ~4, 5, 6 -> median ~5
    assert fc["yhat"].mean() == pytest.approx((own + peers) / 2, rel=0.3)
    assert (fc["yhat_hi_95"] > fc["yhat"]).all()


def test_backtest_headline_on_catalog(result, series):
    modelled = result.selection[result.selection["reason"] == "backtest"]
    h = bt.headline(result.cv, modelled[["unique_id", "model"]], series)
    assert h["n_series"] == len(modelled)
    assert h["wape_chosen"] <= h["wape_seasonal_naive"] + 1e-12


def test_prophet_competes_in_the_same_backtest(series):
    one = series[series["unique_id"] == "weekly"]
    res = forecast_catalog(one, SETTINGS, prophet_ids=["weekly"])
    models = set(res.metrics["model"])
    assert {"Prophet", "SeasonalNaive", "AutoETS", "AutoTheta"} <= models
    assert set(res.cv.loc[res.cv["model"] == "Prophet", "cutoff"]) == set(
        res.cv.loc[res.cv["model"] == "AutoETS", "cutoff"]
    )
    sel = res.selection.iloc[0]
    best = min(models, key=lambda m: sel[f"mase_{m}"])
    assert sel["model"] == best or sel[f"mase_{sel['model']}"] <= sel[f"mase_{best}"] * 1.005
    fc = res.forecasts
    assert (fc["yhat_lo_95"] <= fc["yhat_lo_80"]).all() and (
        fc["yhat_hi_80"] <= fc["yhat_hi_95"]
    ).all()


def test_fallback_without_peers_uses_own_mean_and_poisson_intervals():
    units = [1, 2, 3, 0, 1, 2, 5, 1, 0, 2]
    res = forecast_catalog(build_series(_frame("only", units), ["sku"]), SETTINGS)
    fc = res.forecasts
    assert (fc["model"] == "TopDown").all()
    assert np.allclose(fc["yhat"], np.mean(units))  # flat week, no peers to shrink towards
    # Poisson(1.7): 2.5% quantile 0, 97.5% quantile 5
    assert (fc["yhat_lo_95"] == 0).all() and (fc["yhat_hi_95"] == 5).all()


def test_young_series_are_backtested_without_looking_ahead():
    """The top-down fallback of a young series is scored on shorter origins with history cut
    at each origin: changing the days after an origin does not change its forecast; seasonal
    naive repeats the week before the origin; a series too young for an origin is left out."""
    rng = np.random.default_rng(3)
    young = np.tile([2.0, 4, 6, 8, 10, 12, 14], 12)  # 84 days, a weekly shape
    frames = [_frame(f"peer{i}", rng.poisson(5, 400)) for i in range(3)]
    frames += [_frame("young", young), _frame("baby", [3.0] * 60)]
    series = build_series(pd.concat(frames, ignore_index=True), ["sku"], end_date=END.date())
    res = forecast_catalog(series, SETTINGS)
    fb = SETTINGS.fallback_backtest
    cv = res.cv[res.cv["unique_id"] == "young"]
    cutoffs = bt.cutoffs_for(series["ds"].max(), fb)
    assert sorted(cv["cutoff"].unique()) == cutoffs and set(cv["model"]) == {
        "TopDown",
        "SeasonalNaive",
    }
    assert len(cv) == 2 * fb.n_windows * fb.horizon  # both models, every day of each window
    naive = cv[(cv["model"] == "SeasonalNaive")]
    assert np.allclose(naive["yhat"], naive["y"])  # an exact weekly repeat
    # "baby" has 60 days: only the last origin (end - 28) leaves it 28 days of history before
    assert set(res.cv.loc[res.cv["unique_id"] == "baby", "cutoff"]) == {cutoffs[-1]}
    sel = res.selection.set_index("unique_id")
    assert sel.at["young", "model"] == "TopDown"
    # (MASE is undefined here: an exact weekly repeat has no in-sample naive error)
    assert sel.at["young", "wape_SeasonalNaive"] == pytest.approx(0.0)
    assert sel.at["young", "wape_TopDown"] > 0.1
    # no look-ahead: other values after the first origin leave its TopDown rows unchanged
    changed = series.copy()
    after = (changed["unique_id"] == "young") & (changed["ds"] > cutoffs[0])
    changed.loc[after, ["y", "y_observed"]] = 100.0
    first = fmod.backtest_fallback(changed, ["young"], ["peer0", "peer1", "peer2"], SETTINGS)
    mine = first[(first["cutoff"] == cutoffs[0]) & (first["model"] == "TopDown")]
    orig = cv[(cv["cutoff"] == cutoffs[0]) & (cv["model"] == "TopDown")]
    assert np.allclose(mine["yhat"].to_numpy(), orig["yhat"].to_numpy())
    assert (mine["y"] == 100.0).all()


# ----------------------------------------------------------------- scoring with a selection


def _through_duckdb(frame: pd.DataFrame) -> pd.DataFrame:
    """What the daily run reads back from the persisted table."""
    import duckdb

    con = duckdb.connect()
    con.register("frame", frame)
    con.execute("create table t as select * from frame")
    return con.sql("select * from t").df()


def _assert_valid(fc: pd.DataFrame, uids) -> None:
    assert list(fc.columns) == FORECAST_COLUMNS
    assert set(fc["unique_id"]) == set(uids)
    assert fc.groupby("unique_id").size().eq(SETTINGS.horizon).all()
    assert not fc.isna().any().any()
    assert (fc["yhat_lo_95"] >= 0).all()
    assert (fc["yhat_lo_95"] <= fc["yhat_lo_80"]).all()
    assert (fc["yhat_lo_80"] <= fc["yhat"]).all()
    assert (fc["yhat"] <= fc["yhat_hi_80"]).all()
    assert (fc["yhat_hi_80"] <= fc["yhat_hi_95"]).all()


@pytest.fixture(scope="module")
def previous(result):
    """The selection as persisted, minus "weekly" and "sparse" (series new since then), with
    "pure" recorded under another class and model, and a null row."""
    prev = result.selection[~result.selection["unique_id"].isin(["weekly", "sparse"])].copy()
    pure = prev["unique_id"] == "pure"
    prev.loc[pure, "demand_class"], prev.loc[pure, "model"] = "intermittent", "TSB"
    null = pd.DataFrame({"unique_id": [None], "model": [None]})
    return _through_duckdb(pd.concat([prev, null], ignore_index=True))


@pytest.fixture(scope="module")
def scoring(series, previous):
    def no_backtest(*args, **kwargs):
        raise AssertionError("a scoring run must not backtest")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bt, "cross_validate", no_backtest)
        mp.setattr(fmod, "prophet_cross_validate", no_backtest)
        return forecast_catalog(series, SETTINGS, selection=previous)


def test_scoring_run_refits_chosen_models_without_backtest(result, scoring, series):
    assert len(result.cv) > 0 and len(result.metrics) > 0
    assert scoring.cv.empty and list(scoring.cv.columns) == list(result.cv.columns)
    assert scoring.metrics.empty and list(scoring.metrics.columns) == list(result.metrics.columns)
    assert not any(k.startswith("backtest_") for k in scoring.timings)
    _assert_valid(scoring.forecasts, series["unique_id"].unique())
    assert list(scoring.selection.columns) == list(result.selection.columns)
    old = result.selection.set_index("unique_id")
    new = scoring.selection.set_index("unique_id")
    kept = ["stockout", "peer0", "peer1", "peer2", "new10"]
    for col in ("demand_class", "model", "selected_by", "reason"):
        pd.testing.assert_series_equal(new.loc[kept, col], old.loc[kept, col])
    # the last backtest's numbers are carried through for the persisted table
    metric_cols = [c for c in old.columns if c.startswith(("mase_", "wape_", "bias_"))]
    pd.testing.assert_frame_equal(
        new.loc[kept, metric_cols].astype(float), old.loc[kept, metric_cols].astype(float)
    )
    used = scoring.forecasts.groupby("unique_id")["model"].first()
    assert used.to_dict() == new["model"].to_dict()


def test_series_missing_from_selection_gets_class_default(scoring):
    sel = scoring.selection.set_index("unique_id")
    assert sel.at["weekly", "model"] == "AutoTheta"
    assert sel.at["sparse", "model"] == "TSB"
    for uid in ("weekly", "sparse"):
        assert sel.at[uid, "selected_by"] == DEFAULT_NO_BACKTEST
        assert sel.at[uid, "reason"] == "default: new since last selection"
        assert sel.loc[uid, sel.columns.str.startswith("mase_")].isna().all()
    fc = _fc(scoring, "sparse")
    assert (fc["yhat_hi_95"] > fc["yhat"]).all()  # TSB refit with conformal intervals
    assert 0.1 < fc["yhat"].mean() < 0.6
    weekly = _fc(scoring, "weekly")
    by_dow = weekly.groupby(weekly["ds"].dt.dayofweek)["yhat"].mean().to_numpy()
    assert np.corrcoef(by_dow, WEEK)[0, 1] > 0.9


def test_class_change_drops_the_previous_model(scoring):
    sel = scoring.selection.set_index("unique_id")
    # "pure" was recorded as intermittent with TSB; it is smooth now -> smooth default
    assert sel.at["pure", "demand_class"] == "smooth"
    assert sel.at["pure", "model"] == "AutoTheta"
    assert sel.at["pure", "selected_by"] == DEFAULT_NO_BACKTEST
    assert sel.at["pure", "reason"] == "default: class changed since last selection"


def test_scoring_selection_round_trips(series, scoring):
    again = forecast_catalog(series, SETTINGS, selection=_through_duckdb(scoring.selection))
    cols = ["unique_id", "demand_class", "model", "selected_by", "reason"]
    pd.testing.assert_frame_equal(again.selection[cols], scoring.selection[cols])
    pd.testing.assert_frame_equal(again.forecasts, scoring.forecasts)


def test_series_that_became_inactive_follows_its_class(series, result):
    ids = ["weekly", "peer0"]
    sub = series[series["unique_id"].isin(ids)].copy()
    dead = (sub["unique_id"] == "peer0") & (sub["ds"] > END - pd.Timedelta(days=100))
    sub.loc[dead, ["y", "y_observed"]] = 0.0
    res = forecast_catalog(sub, SETTINGS, selection=result.selection)
    sel = res.selection.set_index("unique_id")
    assert sel.at["peer0", "model"] == "Zero" and sel.at["peer0", "reason"] == "inactive"
    assert (_fc(res, "peer0")["yhat_hi_95"] == 0).all()
    assert (
        sel.at["weekly", "model"] == result.selection.set_index("unique_id").at["weekly", "model"]
    )


def test_default_models_are_validated():
    with pytest.raises(ValueError, match="default_models"):
        ForecastSettings(default_models={"smooth": "TSB"})


def test_series_stocked_out_through_the_backtest_still_gets_a_forecast():
    rng = np.random.default_rng(1)
    n = 300
    units = rng.poisson(8, n).astype(float)
    in_stock = np.ones(n, dtype=bool)
    in_stock[-45:], units[-45:] = False, 0.0  # every backtest day (last 42) is a stockout
    raw = pd.concat([_frame("gone", units, in_stock), _frame("other", rng.poisson(5, n))])
    res = forecast_catalog(build_series(raw, ["sku"], end_date=END.date()), SETTINGS)
    sel = res.selection.set_index("unique_id")
    assert "gone" not in set(res.metrics["unique_id"])
    assert sel.at["gone", "model"] == "AutoTheta"
    assert sel.at["gone", "selected_by"] == DEFAULT_NO_BACKTEST
    assert sel.at["gone", "reason"] == "default: no in-stock day in the backtest"
    assert _fc(res, "gone")["yhat"].mean() == pytest.approx(8, rel=0.2)
    assert sel.at["other", "reason"] == "backtest"
