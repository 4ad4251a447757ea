"""CLV models: reference numbers on CDNOW, likelihood vs numerical integration, synthetic recovery,
RFM summary edge cases, the scoring and holdout frames."""

from __future__ import annotations

import math
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from pydantic import ValidationError
from scipy import integrate, special

from models_ml.ltv import (
    DIAGNOSTICS_SCHEMA,
    HOLDOUT_SCHEMA,
    PARAMETERS_SCHEMA,
    BgNbdFit,
    InsufficientDataError,
    LtvSettings,
    bgnbd_conditional_expected_purchases,
    bgnbd_log_likelihood,
    bgnbd_p_alive,
    fit_bgnbd,
    fit_gamma_gamma,
    gamma_gamma_conditional_expected_spend,
    holdout_check,
    ltv_scores,
    rfm_summary,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ltv"


# --------------------------------------------------------------------------------------------
# CDNOW reference (lifetimes datasets, MIT; numbers from the BG/NBD paper and lifetimes' docs)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cdnow() -> pl.DataFrame:
    return pl.read_csv(FIXTURES / "cdnow_customers_summary_with_transactions.csv")


@pytest.fixture(scope="module")
def cdnow_bgnbd(cdnow: pl.DataFrame) -> BgNbdFit:
    return fit_bgnbd(cdnow["x"], cdnow["t_x"], cdnow["T"])


def test_cdnow_fixture_is_the_published_sample(cdnow: pl.DataFrame) -> None:
    # 2,357 customers, 946 repeaters, 2,457 repeat purchases (paper); mean repeat spend 35.0786
    # (lifetimes Quickstart) — guards the copied file against transcription damage.
    assert cdnow.height == 2357
    assert (cdnow["x"] > 0).sum() == 946
    assert cdnow["x"].sum() == 2457
    assert cdnow.filter(pl.col("x") > 0)["zbar"].mean() == pytest.approx(35.078551797, abs=1e-6)


def test_bgnbd_matches_published_cdnow_parameters(cdnow_bgnbd: BgNbdFit) -> None:
    # Fader, Hardie & Lee (2005): r=0.243, alpha=4.414, a=0.793, b=2.426, LL=-9582.4.
    published = {"r": 0.2426, "alpha": 4.4136, "a": 0.7929, "b": 2.4259}
    for name, value in published.items():
        assert getattr(cdnow_bgnbd, name) == pytest.approx(value, rel=2e-3), name
    assert cdnow_bgnbd.info.log_likelihood == pytest.approx(-9582.4, abs=0.1)
    assert cdnow_bgnbd.info.converged
    assert cdnow_bgnbd.info.n_customers == 2357


def test_bgnbd_conditional_expectation_matches_lifetimes_quickstart(
    cdnow: pl.DataFrame, cdnow_bgnbd: BgNbdFit
) -> None:
    # lifetimes docs/Quickstart.md, t=1 week, the five best customers.
    documented = {509: 0.424877, 841: 0.474738, 1981: 0.486526, 157: 0.662396, 1516: 0.710623}
    expected = bgnbd_conditional_expected_purchases(
        1, cdnow["x"], cdnow["t_x"], cdnow["T"], cdnow_bgnbd
    )
    for customer, value in documented.items():
        assert expected[customer - 1] == pytest.approx(value, rel=2e-4), customer
    assert set(np.argsort(expected)[-5:] + 1) == set(documented)


def test_gamma_gamma_matches_lifetimes_quickstart(
    cdnow: pl.DataFrame, cdnow_bgnbd: BgNbdFit
) -> None:
    ggf = fit_gamma_gamma(cdnow["x"], cdnow["zbar"])
    assert ggf.info.n_customers == 946
    for name, value in {"p": 6.25, "q": 3.74, "v": 15.45}.items():
        assert getattr(ggf, name) == pytest.approx(value, abs=0.006), name
    spend = gamma_gamma_conditional_expected_spend(cdnow["x"], cdnow["zbar"], ggf)
    documented = [24.658619, 18.911489, 35.170981, 35.170981, 35.170981]
    documented += [71.462843, 18.911489, 35.170981, 27.282408, 35.170981]
    np.testing.assert_allclose(spend[:10], documented, rtol=2e-5)
    assert spend.mean() == pytest.approx(35.2529588256, rel=2e-5)
    # Non-repeaters get the population mean p v / (q - 1).
    assert spend[2] == pytest.approx(ggf.population_mean_spend, rel=1e-12)

    # lifetimes' customer_lifetime_value example: 12 steps of 30 periods, 1 % per step.
    x, t_x, big_t = (cdnow[c].to_numpy()[:10] for c in ("x", "t_x", "T"))
    clv, previous = np.zeros(10), np.zeros(10)
    for end in range(30, 361, 30):
        cumulative = bgnbd_conditional_expected_purchases(end, x, t_x, big_t, cdnow_bgnbd)
        clv += spend[:10] * (cumulative - previous) / 1.01 ** (end / 30)
        previous = cumulative
    documented_clv = [140.096211, 18.943467, 38.180574, 38.180574, 38.180574]
    documented_clv += [1003.868107, 28.109683, 38.180574, 167.418216, 38.180574]
    np.testing.assert_allclose(clv, documented_clv, rtol=5e-4)


# --------------------------------------------------------------------------------------------
# Likelihood against direct numerical integration of the model
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("x", "t_x", "big_t"), [(0, 0.0, 20.0), (1, 3.5, 12.0), (4, 9.0, 10.0)])
def test_bgnbd_likelihood_equals_integral_over_lambda_and_p(
    x: int, t_x: float, big_t: float
) -> None:
    """Eq. (6) against integrating L(x, t_x, T | lambda, p) over the gamma and beta mixing laws."""
    r, alpha, a, b = 1.5, 3.0, 1.4, 2.2
    log_norm = r * math.log(alpha) - math.lgamma(r) - special.betaln(a, b)

    def integrand(p: float, lam: float) -> float:
        given = (1 - p) ** x * lam**x * math.exp(-lam * big_t)
        if x > 0:
            given += p * (1 - p) ** (x - 1) * lam**x * math.exp(-lam * t_x)
        mixing = lam ** (r - 1) * math.exp(-alpha * lam) * p ** (a - 1) * (1 - p) ** (b - 1)
        return given * mixing

    value, _ = integrate.dblquad(integrand, 0, 30, 0, 1, epsabs=1e-13, epsrel=1e-10)
    closed = bgnbd_log_likelihood([x], [t_x], [big_t], r, alpha, a, b)[0]
    assert closed == pytest.approx(math.log(value) + log_norm, abs=1e-6)


# --------------------------------------------------------------------------------------------
# Synthetic data from known parameters
# --------------------------------------------------------------------------------------------


def simulate_bgnbd(
    n: int, r: float, alpha: float, a: float, b: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Repeat purchases after a first purchase at 0; death only right after a repeat purchase."""
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    big_t = rng.uniform(60, 730, n)
    x, t_x, now = np.zeros(n), np.zeros(n), np.zeros(n)
    active = np.ones(n, dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        now[idx] += rng.exponential(1 / lam[idx])
        bought = now[idx] <= big_t[idx]
        hit = idx[bought]
        x[hit] += 1
        t_x[hit] = now[hit]
        died = rng.uniform(size=hit.size) < p[hit]
        active[idx[~bought]] = False
        active[hit[died]] = False
    return x, t_x, big_t


def test_bgnbd_recovers_simulated_parameters() -> None:
    rng = np.random.default_rng(7)
    truth = {"r": 0.6, "alpha": 40.0, "a": 0.8, "b": 2.5}
    x, t_x, big_t = simulate_bgnbd(30_000, **truth, rng=rng)
    fit = fit_bgnbd(x, t_x, big_t)
    assert fit.info.converged
    for name, value in truth.items():
        assert getattr(fit, name) == pytest.approx(value, rel=0.15), name
    assert fit.r / fit.alpha == pytest.approx(truth["r"] / truth["alpha"], rel=0.05)
    at_truth = bgnbd_log_likelihood(x, t_x, big_t, *truth.values()).sum()
    assert fit.info.log_likelihood >= at_truth


def test_gamma_gamma_recovers_simulated_parameters() -> None:
    rng = np.random.default_rng(11)
    p, q, v = 4.0, 3.5, 20.0
    n = 20_000
    x = rng.integers(1, 8, n)
    nu = rng.gamma(q, 1 / v, n)
    m = np.array([rng.gamma(p, 1 / nu_i, k).mean() for nu_i, k in zip(nu, x, strict=True)])
    fit = fit_gamma_gamma(x, m)
    assert fit.p == pytest.approx(p, rel=0.1)
    assert fit.q == pytest.approx(q, rel=0.1)
    assert fit.v == pytest.approx(v, rel=0.15)
    assert fit.population_mean_spend == pytest.approx(p * v / (q - 1), rel=0.05)


def test_p_alive_bounds_and_monotone_in_time_since_last_purchase() -> None:
    fit = BgNbdFit(r=0.5, alpha=30.0, a=0.8, b=2.5)
    recency = np.linspace(0, 300, 31)
    alive = bgnbd_p_alive(np.full(31, 3), recency, np.full(31, 300.0), fit)
    assert np.all((alive >= 0) & (alive <= 1))
    # Larger recency = shorter time since the last purchase = more likely alive.
    assert np.all(np.diff(alive) > 0)
    assert bgnbd_p_alive([0], [0], [300], fit)[0] == 1.0
    # Expected purchases grow with the horizon.
    e90 = bgnbd_conditional_expected_purchases(90, [3], [200], [300], fit)[0]
    e365 = bgnbd_conditional_expected_purchases(365, [3], [200], [300], fit)[0]
    assert 0 < e90 < e365


# --------------------------------------------------------------------------------------------
# RFM summary
# --------------------------------------------------------------------------------------------


def _orders(rows: list[tuple[str | None, str, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "order_date": [date.fromisoformat(r[1]) for r in rows],
            "amount": [r[2] for r in rows],
        }
    )


def test_rfm_summary_definitions_and_exclusions() -> None:
    orders = _orders(
        [
            ("a", "2026-01-01", 10.0),
            ("a", "2026-01-01", 5.0),  # same day: one purchase of 15
            ("a", "2026-01-11", 20.0),
            ("a", "2026-01-21", 40.0),
            ("a", "2026-03-01", 99.0),  # after calibration_end: ignored
            ("b", "2026-01-15", 30.0),  # single purchase
            ("c", "2026-01-20", 0.0),  # zero: dropped
            ("c", "2026-01-25", -5.0),  # negative: dropped
            ("d", "2026-02-10", 12.0),  # first order after calibration_end: not a customer
            (None, "2026-01-05", 8.0),  # no customer: dropped
        ]
    )
    result = rfm_summary(orders, date(2026, 1, 31))
    rows = {row["customer_id"]: row for row in result.customers.to_dicts()}
    assert set(rows) == {"a", "b"}
    assert rows["a"]["frequency"] == 2
    assert rows["a"]["recency_days"] == 20
    assert rows["a"]["t_days"] == 30
    assert rows["a"]["monetary_value"] == pytest.approx(30.0)  # mean of 20 and 40, not 15
    assert (rows["b"]["frequency"], rows["b"]["recency_days"], rows["b"]["t_days"]) == (0, 0, 16)
    assert rows["b"]["monetary_value"] == 0.0
    assert result.n_orders_nonpositive_amount == 2
    assert result.n_orders_null_customer == 1
    assert result.n_orders_after_calibration == 2
    assert result.n_customers_first_order_after_calibration == 1
    assert result.n_orders_used == 5
    assert result.calibration_end == date(2026, 1, 31)


def test_rfm_summary_defaults_to_last_order_and_accepts_pandas() -> None:
    frame = pd.DataFrame(
        {
            "cust": ["a", "a", "b"],
            "when": pd.to_datetime(["2026-01-01 10:00", "2026-01-03 23:59", "2026-01-05 01:00"]),
            "value": [1.0, 2.0, 3.0],
        }
    )
    result = rfm_summary(frame, customer_col="cust", date_col="when", amount_col="value")
    assert result.calibration_end == date(2026, 1, 5)
    a = result.customers.filter(pl.col("customer_id") == "a").row(0, named=True)
    assert (a["frequency"], a["recency_days"], a["t_days"]) == (1, 2, 4)


# --------------------------------------------------------------------------------------------
# Scoring, parameters, diagnostics, holdout
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_orders() -> pl.DataFrame:
    """Daily orders from a BG/NBD + Gamma-Gamma world, 3,000 customers over ~2 years."""
    rng = np.random.default_rng(3)
    n, start = 3000, date(2024, 1, 1)
    lam = rng.gamma(0.7, 1 / 50.0, n)
    p = rng.beta(1.0, 4.0, n)
    nu = rng.gamma(3.0, 1 / 60.0, n)
    first = rng.integers(0, 500, n)
    rows_c, rows_d, rows_a = [], [], []
    for i in range(n):
        day = float(first[i])
        while day < 760:
            rows_c.append(f"c{i:05d}")
            rows_d.append(start + timedelta(days=int(day)))
            rows_a.append(float(rng.gamma(5.0, 1 / nu[i])))
            if day > first[i] and rng.uniform() < p[i]:
                break
            day += 1 + rng.exponential(1 / lam[i])
    return pl.DataFrame({"customer_id": rows_c, "order_date": rows_d, "amount": rows_a})


def test_ltv_scores_frames(synthetic_orders: pl.DataFrame) -> None:
    settings = LtvSettings(calibration_end=date(2025, 12, 31))
    result = ltv_scores(synthetic_orders, settings)
    ltv = result.customer_ltv
    assert ltv.columns == [
        "customer_id",
        "frequency",
        "recency_days",
        "t_days",
        "monetary_value",
        "p_alive",
        "expected_purchases_90d",
        "expected_purchases_365d",
        "expected_avg_spend",
        "expected_value_90d",
        "expected_value_365d",
        "calibration_end",
    ]
    assert ltv["customer_id"].is_unique().all()
    assert ltv["calibration_end"].unique().to_list() == [date(2025, 12, 31)]
    assert ltv.null_count().sum_horizontal().item() == 0
    assert ltv["p_alive"].is_between(0, 1).all()
    assert (ltv["expected_purchases_365d"] >= ltv["expected_purchases_90d"]).all()
    np.testing.assert_allclose(
        ltv["expected_value_365d"], ltv["expected_purchases_365d"] * ltv["expected_avg_spend"]
    )
    single = ltv.filter(pl.col("frequency") == 0)
    assert single.height > 0
    np.testing.assert_allclose(
        single["expected_avg_spend"], result.gamma_gamma.population_mean_spend
    )
    assert (single["p_alive"] == 1.0).all()

    assert dict(result.ltv_parameters.schema) == PARAMETERS_SCHEMA
    assert result.ltv_parameters.select("model", "parameter").rows() == [
        ("bg_nbd", "r"),
        ("bg_nbd", "alpha"),
        ("bg_nbd", "a"),
        ("bg_nbd", "b"),
        ("gamma_gamma", "p"),
        ("gamma_gamma", "q"),
        ("gamma_gamma", "v"),
    ]
    diagnostics = result.ltv_diagnostics
    assert dict(diagnostics.schema) == DIAGNOSTICS_SCHEMA
    assert diagnostics["model"].to_list() == ["bg_nbd", "gamma_gamma"]
    assert diagnostics["converged"].all()
    assert diagnostics["n_customers"].to_list() == [
        ltv.height,
        ltv.filter(pl.col("frequency") > 0).height,
    ]
    # spend is drawn independently of frequency in this world: the diagnostic says so
    corr = diagnostics["frequency_monetary_corr"].to_list()
    repeat = ltv.filter(pl.col("frequency") > 0)
    assert corr[0] is None
    assert corr[1] == pytest.approx(
        np.corrcoef(repeat["frequency"], repeat["monetary_value"])[0, 1]
    )
    assert abs(corr[1]) < 0.1
    # The world has gamma(5, nu) spend with nu ~ gamma(3, 60): p=5, q=3, v=60 in daily units.
    assert result.gamma_gamma.p == pytest.approx(5.0, rel=0.25)


def test_discounting_lowers_value_and_zero_rate_does_not(synthetic_orders: pl.DataFrame) -> None:
    base = ltv_scores(synthetic_orders, LtvSettings(calibration_end=date(2025, 12, 31)))
    discounted = ltv_scores(
        synthetic_orders,
        LtvSettings(calibration_end=date(2025, 12, 31), annual_discount_rate=0.2),
    )
    ratio = (
        discounted.customer_ltv["expected_value_365d"] / base.customer_ltv["expected_value_365d"]
    )
    # Purchases spread over the year, discounted at 20 %: between 1/1.2 and 1/1.2**(30/365).
    assert ratio.min() > 1 / 1.2
    assert ratio.max() < 1 / 1.2 ** (30 / 365)
    assert discounted.customer_ltv["expected_purchases_365d"].equals(
        base.customer_ltv["expected_purchases_365d"]
    )


def test_holdout_check_table(synthetic_orders: pl.DataFrame) -> None:
    table = holdout_check(synthetic_orders, date(2025, 6, 30), date(2025, 12, 31))
    assert dict(table.schema) == HOLDOUT_SCHEMA
    assert table["bucket"].to_list()[-1] == "total"
    assert table["bucket"].to_list()[0] == "0"
    body, total = table.head(-1), table.tail(1).row(0, named=True)
    assert body["n_customers"].sum() == total["n_customers"]
    assert body["actual_purchases"].sum() == pytest.approx(total["actual_purchases"])
    assert body["predicted_purchases"].sum() == pytest.approx(total["predicted_purchases"])
    # Data simulated from the model family: the aggregate forecast is close.
    assert abs(total["error_pct"]) < 15
    # Higher calibration frequency, more predicted holdout purchases per customer.
    per_customer = body["predicted_per_customer"].to_list()
    assert per_customer[0] < per_customer[1] < per_customer[2]


def test_insufficient_data_and_settings_validation() -> None:
    orders = _orders([("a", "2026-01-01", 1.0), ("a", "2026-01-05", 2.0), ("b", "2026-01-02", 3.0)])
    with pytest.raises(InsufficientDataError):
        ltv_scores(orders)
    with pytest.raises(ValidationError):
        LtvSettings(horizons_days=(90, -1))
    with pytest.raises(ValidationError):
        LtvSettings(annual_discount_rate=-0.1)
    with pytest.raises(ValidationError):
        LtvSettings(min_customers=1)
    with pytest.raises(ValueError, match="holdout_end"):
        holdout_check(orders, date(2026, 1, 5), date(2026, 1, 5))


def test_custom_horizons_name_columns(synthetic_orders: pl.DataFrame) -> None:
    settings = LtvSettings(calibration_end=date(2025, 12, 31), horizons_days=(30,))
    ltv = ltv_scores(synthetic_orders, settings).customer_ltv
    assert "expected_purchases_30d" in ltv.columns and "expected_value_30d" in ltv.columns
    assert "expected_purchases_90d" not in ltv.columns
