"""Seconds per 1,000 series per model family on synthetic demand (``bench/run.py``)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from models_ml.forecast import _prophet_fit_predict, intermittent_models
from models_ml.settings import (
    ForecastSettings,
)

# --------------------------------------------------------------------------- benchmark


def synthetic_series(
    n_series: int, length: int = 730, seed: int = 0, kind: str = "smooth"
) -> pd.DataFrame:
    """Demo-length daily series: ``smooth`` (Poisson around a weekly profile with trend) or
    ``intermittent`` (sparse Poisson). Columns unique_id, ds, y."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2024-01-01", periods=length, freq="D")
    week = np.array([1.0, 0.9, 0.9, 1.0, 1.1, 1.4, 1.3])
    frames = []
    for i in range(n_series):
        if kind == "smooth":
            lam = (
                rng.uniform(3, 30)
                * week[ds.dayofweek]
                * np.linspace(1, rng.uniform(0.8, 1.3), length)
            )
            y = rng.poisson(lam)
        else:
            y = rng.poisson(rng.uniform(1, 4), length) * (
                rng.random(length) < rng.uniform(0.05, 0.4)
            )
        frames.append(pd.DataFrame({"unique_id": f"s{i}", "ds": ds, "y": y.astype(float)}))
    return pd.concat(frames, ignore_index=True)


def benchmark(
    n_series: int = 20,
    length: int = 730,
    n_jobs: int = 2,
    families: Sequence[str] = ("seasonal_naive", "intermittent", "theta", "ets", "prophet"),
    settings: ForecastSettings | None = None,
) -> pd.DataFrame:
    """Seconds per 1,000 series per model family for one fit + ``horizon``-day forecast with
    intervals, on ``n_series`` synthetic series of ``length`` days (``n_jobs`` workers;
    Prophet runs serially). Columns: family, n_series, seconds, seconds_per_1000."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta, SeasonalNaive

    settings = settings or ForecastSettings()
    m, h, levels = settings.season_length, settings.horizon, list(settings.levels)
    smooth = synthetic_series(n_series, length, kind="smooth")
    sparse = synthetic_series(n_series, length, seed=1, kind="intermittent")
    specs = {
        "seasonal_naive": ([SeasonalNaive(season_length=m)], smooth),
        "intermittent": (intermittent_models(settings, conformal=True)[1:], sparse),
        "theta": ([AutoTheta(season_length=m)], smooth),
        "ets": ([AutoETS(season_length=m)], smooth),
        "arima": ([AutoARIMA(season_length=m)], smooth),
    }
    rows = []
    for fam in families:
        t = time.perf_counter()
        if fam == "prophet":
            for _, g in smooth.groupby("unique_id"):
                _prophet_fit_predict(g, h, levels, settings)
        else:
            models, data = specs[fam]
            StatsForecast(models=models, freq="D", n_jobs=n_jobs).forecast(
                df=data, h=h, level=levels
            )
        sec = time.perf_counter() - t
        rows.append((fam, n_series, sec, sec / n_series * 1000))
    return pd.DataFrame(rows, columns=["family", "n_series", "seconds", "seconds_per_1000"])
