"""models_ml.anomaly: weekly seasonality is no anomaly; spikes, drops and trends are found."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from models_ml.anomaly import (
    ANOMALY_SCHEMA,
    TRENDING_SCHEMA,
    AnomalySettings,
    TrendingSettings,
    build_daily_series,
    detect_trending,
    score_anomalies,
)

START = date(2024, 1, 1)  # a Monday
PATTERN = [100.0, 120.0, 110.0, 90.0, 150.0, 300.0, 250.0]  # strong weekend peak


def _days(n: int) -> list[date]:
    return [START + timedelta(days=i) for i in range(n)]


def _weekly(n: int = 140, noise: float = 5.0, seed: int = 7, uid: str = "revenue|channel|amazon"):
    rng = np.random.default_rng(seed)
    days = _days(n)
    y = [PATTERN[d.weekday()] + rng.normal(0, noise) for d in days]
    return pl.DataFrame({"unique_id": uid, "ds": days, "y": y})


def test_regular_weekly_pattern_is_no_anomaly():
    for seed in range(5):
        out = score_anomalies(_weekly(seed=seed))
        assert out.schema == pl.Schema(ANOMALY_SCHEMA)
        assert out.filter(pl.col("is_anomaly")).height == 0
        scored = out.filter(pl.col("baseline").is_not_null())
        assert scored.height > 100
        # the baseline follows the weekday: Saturday's baseline is near 300, Monday's near 100
        sat = scored.filter(pl.col("ds").dt.weekday() == 6)["baseline"].mean()
        mon = scored.filter(pl.col("ds").dt.weekday() == 1)["baseline"].mean()
        assert sat == pytest.approx(300, abs=10) and mon == pytest.approx(100, abs=10)


def test_exact_pattern_mad_zero_is_guarded():
    """A perfectly regular series has MAD 0: no division by zero, no anomaly."""
    out = score_anomalies(_weekly(noise=0.0))
    assert out.filter(pl.col("is_anomaly")).height == 0
    assert out["robust_z"].drop_nulls().abs().max() == 0
    assert out["baseline_scale"].drop_nulls().min() >= 1.0


def test_intermittent_count_series_is_no_anomaly():
    """Units of a slow product (Poisson 0.4 a day, MAD 0 on most weekdays): the std fallback and
    the Poisson floor keep single sales from being anomalies; a burst of 12 units is one."""
    days = _days(140)
    for seed in range(6):
        units = np.random.default_rng(seed).poisson(0.4, 140).astype(float)
        hist = pl.DataFrame({"unique_id": "u", "metric": "units", "ds": days, "y": units})
        assert score_anomalies(hist).filter(pl.col("is_anomaly")).height == 0
        units[120] = 12.0
        burst = score_anomalies(hist.with_columns(pl.Series("y", units)))
        assert burst.filter(pl.col("is_anomaly"))["ds"].to_list() == [days[120]]
    # without the metric column (no Poisson floor) the same series is still scored
    plain = score_anomalies(hist.drop("metric"))
    assert plain["robust_z"].null_count() < plain.height


def test_injected_spike_and_drop_found_with_direction():
    hist = _weekly()
    y = hist["y"].to_list()
    spike_day, drop_day = 100, 124  # a Wednesday ~110 -> 330; a Saturday ~300 -> 60
    y[spike_day] *= 3
    y[drop_day] *= 0.2
    out = score_anomalies(hist.with_columns(pl.Series("y", y)))
    found = out.filter(pl.col("is_anomaly")).sort("ds")
    assert found["ds"].to_list() == [_days(140)[spike_day], _days(140)[drop_day]]
    assert found["direction"].to_list() == ["spike", "drop"]
    assert found["robust_z"][0] > 3.5 and found["robust_z"][1] < -3.5
    # a Saturday peak of 300 is normal, the same 300 on a Wednesday would not be
    assert found["score"].min() >= 3.5


def test_weekday_value_on_another_weekday_is_anomalous():
    hist = _weekly()
    y = hist["y"].to_list()
    y[121] = 300.0  # a Tuesday with a Saturday's sales
    out = score_anomalies(hist.with_columns(pl.Series("y", y)))
    assert out.filter(pl.col("is_anomaly"))["ds"].to_list() == [_days(140)[121]]


def test_forecast_interval_path():
    hist = _weekly()
    y = hist["y"].to_list()
    y[130] *= 3
    y[131] *= 3
    hist = hist.with_columns(pl.Series("y", y))
    days = _days(140)
    # a forecast that expected the first spike (a promotion) but not the second
    fc = pl.DataFrame(
        {
            "unique_id": "revenue|channel|amazon",
            "ds": days[126:],
            "yhat": [PATTERN[d.weekday()] for d in days[126:]],
        }
    ).with_columns(
        (pl.col("yhat") * 0.8).alias("yhat_lo_95"), (pl.col("yhat") * 1.2).alias("yhat_hi_95")
    )
    fc = fc.with_columns(
        pl.when(pl.col("ds") == days[130])
        .then(pl.col("yhat") * 3.5)
        .otherwise(pl.col("yhat_hi_95"))
        .alias("yhat_hi_95")
    )
    out = score_anomalies(hist, fc)
    row130 = out.filter(pl.col("ds") == days[130]).row(0, named=True)
    row131 = out.filter(pl.col("ds") == days[131]).row(0, named=True)
    assert row130["outside_interval"] is False and row130["is_anomaly"] is False
    assert row130["robust_z"] > 3.5  # the baseline alone would have flagged it
    assert row131["outside_interval"] is True and row131["is_anomaly"] is True
    assert out.filter(pl.col("ds") < days[126])["outside_interval"].null_count() == 126
    # without agreement required, the baseline alone decides
    loose = score_anomalies(hist, fc, AnomalySettings(require_interval_agreement=False))
    assert loose.filter(pl.col("ds") == days[130])["is_anomaly"].item() is True
    # short history, no baseline: the interval alone decides
    short = hist.filter(pl.col("ds") >= days[126])
    only_fc = score_anomalies(short, fc)
    assert only_fc["baseline"].null_count() == only_fc.height
    assert only_fc.filter(pl.col("is_anomaly"))["ds"].to_list() == [days[131]]
    assert only_fc.filter(pl.col("ds") == days[131])["direction"].item() == "spike"


def test_missing_days_count_as_zero_and_last_days_filter():
    hist = _weekly(n=70).filter(pl.col("ds") != _days(70)[66])  # no sales row that Thursday
    out = score_anomalies(hist, settings=AnomalySettings(score_last_days=7))
    assert out.height == 7
    gap = out.filter(pl.col("ds") == _days(70)[66]).row(0, named=True)
    assert gap["y"] == 0 and gap["is_anomaly"] is True and gap["direction"] == "drop"


def _daily_sales(units_recent: int, units_previous: int, product: str) -> list[dict]:
    end = START + timedelta(days=27)
    rows = []
    for i in range(28):
        d = end - timedelta(days=i)
        total = units_recent if i < 14 else units_previous
        per_day = total // 14 + (1 if i % 14 < total % 14 else 0)
        rows.append(
            {
                "sales_date": d,
                "channel": "amazon",
                "product_id": product,
                "units": per_day,
                "gross_revenue_base": per_day * 10.0,
                "discounts_base": 0.0,
            }
        )
    return rows


def test_trending_with_volume_guard_and_build_series():
    sales = pl.DataFrame(
        _daily_sales(60, 20, "CH-1")  # +200% on real volume: trending
        + _daily_sales(3, 1, "CH-2")  # +200% on 4 units: guarded
        + _daily_sales(22, 20, "CH-3")  # +10%: no trend
    )
    series = build_daily_series(sales, product_ids=["CH-1", "CH-2", "CH-3"])
    assert set(series["unique_id"].unique()) >= {"units|product|CH-1", "revenue|channel|amazon"}
    units = series.filter(pl.col("metric") == "units")
    out = detect_trending(units, TrendingSettings(recent_days=14, min_recent_volume=20))
    assert out.schema == pl.Schema(TRENDING_SCHEMA)
    by_id = {r["unique_id"]: r for r in out.to_dicts()}
    ch1 = by_id["units|product|CH-1"]
    assert ch1["is_trending_up"] is True
    assert ch1["recent_total"] == 60 and ch1["previous_total"] == 20
    assert ch1["growth_pct"] == pytest.approx(200.0) and ch1["p_value"] < 0.001
    assert ch1["entity_type"] == "product" and ch1["entity_id"] == "CH-1"
    assert by_id["units|product|CH-2"]["is_trending_up"] is False
    assert by_id["units|product|CH-2"]["growth_pct"] == pytest.approx(200.0)
    assert by_id["units|product|CH-3"]["is_trending_up"] is False
    # the guard is what stops CH-2: without it the growth passes, the significance test not
    no_guard = detect_trending(units, TrendingSettings(min_recent_volume=0))
    assert no_guard.filter(pl.col("unique_id") == "units|product|CH-2")["p_value"].item() > 0.01
    # revenue per channel = gross - discounts summed over products
    rev = series.filter(pl.col("unique_id") == "revenue|channel|amazon").sort("ds")
    assert rev["y"].sum() == pytest.approx((60 + 20 + 3 + 1 + 22 + 20) * 10.0)


def test_trending_time_decay_sees_a_ramp_the_window_sums_miss():
    """Two products with the same units in both windows (7 recent, 7 previous): STEADY sells
    one a day, RAMP sold all 7 of its recent units on the window's last day. The window sums
    (and the test) cannot tell them apart; the decayed score ranks RAMP first, and a steady
    seller's decay_ratio is exactly 1 (hand-computed: sum of 0.5^(a/7), a = 0..13)."""
    end = START + timedelta(days=13)
    days = [end - timedelta(days=i) for i in range(14)]
    steady = [{"unique_id": "units|product|STEADY", "ds": d, "y": 1.0} for d in days]
    ramp = [{"unique_id": "units|product|RAMP", "ds": d, "y": 1.0} for d in days[7:]]
    ramp.append({"unique_id": "units|product|RAMP", "ds": end, "y": 7.0})
    out = detect_trending(pl.DataFrame(steady + ramp), TrendingSettings(recent_days=7))
    by = {r["unique_id"].split("|")[-1]: r for r in out.to_dicts()}
    for r in by.values():
        assert (r["recent_total"], r["previous_total"]) == (7, 7)
    assert by["STEADY"]["decay_ratio"] == pytest.approx(1.0)
    weights = [0.5 ** (a / 7) for a in range(14)]
    assert by["STEADY"]["decayed_units"] == pytest.approx(sum(weights))
    assert by["RAMP"]["decayed_units"] == pytest.approx(7 + sum(weights[7:]))
    assert by["RAMP"]["decay_ratio"] == pytest.approx((7 + sum(weights[7:])) / sum(weights))
    assert by["RAMP"]["trend_rank"] == 1 and by["STEADY"]["trend_rank"] == 2
    # a shorter half-life discounts the previous window harder
    fast = detect_trending(
        pl.DataFrame(steady + ramp), TrendingSettings(recent_days=7, half_life_days=1)
    )
    assert (
        fast.filter(pl.col("unique_id").str.ends_with("RAMP"))["decay_ratio"].item()
        > by["RAMP"]["decay_ratio"]
    )
