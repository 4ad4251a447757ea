"""The forecast asset's history of past forecasts, which the anomaly scoring compares with."""

from __future__ import annotations

import pandas as pd

from models_ml.demand_forecast import HISTORY_DAYS_AHEAD, forecast_history


def _run(forecast_date: str, yhat: float) -> pd.DataFrame:
    days = pd.date_range(forecast_date, periods=90)
    rows = [
        {"unique_id": f"{p}|{c}", "product_id": p, "channel": c, "ds": d, "yhat": yhat,
         "yhat_lo_95": yhat - 1, "yhat_hi_95": yhat + 1, "forecast_date": pd.Timestamp(forecast_date)}
        for p, c in (("all", "amazon"), ("all", "all"), ("CH-1", "amazon"))
        for d in days
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_history_keeps_the_totals_first_days_and_replaces_a_rerun():
    first = forecast_history(None, _run("2026-01-01", 10))
    assert set(first["unique_id"]) == {"all|amazon", "all|all"}  # totals only
    assert len(first) == 2 * HISTORY_DAYS_AHEAD
    second = forecast_history(first, _run("2026-01-02", 20))
    assert len(second) == 4 * HISTORY_DAYS_AHEAD
    rerun = forecast_history(second, _run("2026-01-02", 30))  # the same day again
    assert len(rerun) == 4 * HISTORY_DAYS_AHEAD
    latest = rerun[rerun["forecast_date"] == pd.Timestamp("2026-01-02")]
    assert set(latest["yhat"]) == {30}
    assert set(rerun[rerun["forecast_date"] == pd.Timestamp("2026-01-01")]["yhat"]) == {10}
