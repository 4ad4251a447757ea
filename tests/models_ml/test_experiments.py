"""The A/B-test statistics (models_ml.experiments): hand-computed numbers, the same numbers
through scipy / statsmodels, and simulations (delta-method variance, CUPED, mSPRT peeking)."""

import numpy as np
import pytest
from scipy import stats
from scipy.special import betaln
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from models_ml import experiments as ex

Z975 = 1.959963984540054


def test_two_proportion_by_hand_and_statsmodels():
    res = ex.two_proportion_ztest(100, 1000, 130, 1000)
    # by hand: pooled p = 0.115, SE0 = sqrt(.115 * .885 * (2/1000)) = 0.0142671
    assert res.control_value == 0.1 and res.treatment_value == 0.13
    assert res.abs_lift == pytest.approx(0.03)
    assert res.statistic == pytest.approx(0.03 / np.sqrt(0.115 * 0.885 * 0.002), rel=1e-12)
    assert res.statistic == pytest.approx(2.10274, abs=1e-5)
    assert res.p_value == pytest.approx(0.035488, abs=1e-5)
    se = np.sqrt(0.1 * 0.9 / 1000 + 0.13 * 0.87 / 1000)  # unpooled, 0.0142513
    assert res.abs_lift_ci_low == pytest.approx(0.03 - Z975 * se)
    assert res.abs_lift_ci_high == pytest.approx(0.03 + Z975 * se)
    # relative lift 30%, delta method: sqrt(v_t / .01 + .0169 * v_c / .0001) = 0.162850
    assert res.rel_lift == pytest.approx(0.3)
    rel_se = np.sqrt(0.13 * 0.87 / 1000 / 0.01 + 0.0169 * 0.09 / 1000 / 0.0001)
    assert rel_se == pytest.approx(0.162850, abs=1e-6)
    assert res.rel_lift_ci_low == pytest.approx(0.3 - Z975 * rel_se)
    # statsmodels on the same numbers
    z, p = proportions_ztest([130, 100], [1000, 1000])
    assert res.statistic == pytest.approx(z) and res.p_value == pytest.approx(p)
    low, high = confint_proportions_2indep(130, 1000, 100, 1000, method="wald", compare="diff")
    assert (res.abs_lift_ci_low, res.abs_lift_ci_high) == pytest.approx((low, high))


def test_two_proportion_rejects_bad_counts():
    with pytest.raises(ValueError, match="successes must lie"):
        ex.two_proportion_ztest(11, 10, 1, 10)
    with pytest.raises(ValueError, match="needs units"):
        ex.two_proportion_ztest(0, 0, 1, 10)


def test_welch_by_hand_scipy_and_statsmodels():
    y_c, y_t = np.array([1.0, 2, 3, 4]), np.array([2.0, 4, 6, 8, 10])
    res = ex.welch_ttest(y_c, y_t)
    # by hand: means 2.5 and 6, variances 5/3 and 10; V = 5/12 + 2 = 29/12
    assert res.abs_lift == 3.5
    assert res.std_error == pytest.approx(np.sqrt(29 / 12))
    assert res.statistic == pytest.approx(3.5 / np.sqrt(29 / 12))
    df = (29 / 12) ** 2 / ((5 / 12) ** 2 / 3 + 2**2 / 4)  # Welch–Satterthwaite, 5.5208
    assert df == pytest.approx(5.5208, abs=1e-4)
    assert res.p_value == pytest.approx(2 * stats.t.sf(3.5 / np.sqrt(29 / 12), df))
    sp = stats.ttest_ind(y_t, y_c, equal_var=False)
    assert res.statistic == pytest.approx(sp.statistic) and res.p_value == pytest.approx(sp.pvalue)
    ci = sp.confidence_interval(0.95)
    assert (res.abs_lift_ci_low, res.abs_lift_ci_high) == pytest.approx((ci.low, ci.high))
    sm = CompareMeans(DescrStatsW(y_t), DescrStatsW(y_c)).tconfint_diff(usevar="unequal")
    assert (res.abs_lift_ci_low, res.abs_lift_ci_high) == pytest.approx(sm)
    assert res.rel_lift == pytest.approx(6 / 2.5 - 1)


def test_welch_from_stats_matches_scipy():
    res = ex.welch_from_stats(10.0, 16.0, 200, 11.0, 25.0, 150)
    sp = stats.ttest_ind_from_stats(11.0, 5.0, 150, 10.0, 4.0, 200, equal_var=False)
    assert res.statistic == pytest.approx(sp.statistic) and res.p_value == pytest.approx(sp.pvalue)


def test_delta_ratio_by_hand():
    # revenue [10, 0, 30] over orders [1, 0, 2]: R = 13.33; var_n = 233.33, var_d = 1, cov = 15
    ratio, var = ex.ratio_mean_and_variance([10.0, 0, 30], [1.0, 0, 2])
    assert ratio == pytest.approx(40 / 3)
    assert var == pytest.approx((700 / 3 - 2 * (40 / 3) * 15 + (40 / 3) ** 2) / 3)
    assert var == pytest.approx(3.7037, abs=1e-4)
    with pytest.raises(ValueError, match="denominator is zero"):
        ex.ratio_mean_and_variance([1.0, 2.0], [0.0, 0.0])


def test_delta_ratio_variance_matches_simulation():
    """Over many replications the delta-method variance is the ratio's actual variance."""
    rng = np.random.default_rng(7)
    reps, n = 3000, 400
    orders = rng.poisson(0.3, size=(reps, n)).astype(float)
    revenue = orders * rng.gamma(4.0, 12.5, size=(reps, n))  # AOV ≈ 50
    ratios = revenue.sum(axis=1) / orders.sum(axis=1)
    predicted = np.mean([ex.ratio_mean_and_variance(revenue[i], orders[i])[1] for i in range(200)])
    assert predicted == pytest.approx(ratios.var(ddof=1), rel=0.1)
    # the naive per-order variance (treating orders as independent) would be different
    res = ex.delta_ratio_test(revenue[0], orders[0], revenue[1], orders[1])
    assert res.test == "delta_ratio_z" and 0 <= res.p_value <= 1


def test_srm_by_hand_and_scipy():
    chi2, p = ex.srm_test([5000, 5200])
    assert chi2 == pytest.approx(2 * 100**2 / 5100)  # 3.9216
    assert p == pytest.approx(0.04767, abs=1e-5)
    sp = stats.chisquare([5000, 5200])
    assert (chi2, p) == pytest.approx((sp.statistic, sp.pvalue))
    chi2, p = ex.srm_test([2100, 7900], [0.2, 0.8])  # planned 20/80: expected 2000/8000
    assert chi2 == pytest.approx(100**2 / 2000 + 100**2 / 8000)
    sp = stats.chisquare([2100, 7900], f_exp=[2000, 8000])
    assert p == pytest.approx(sp.pvalue)
    assert ex.srm_test([10_000, 9_000])[1] < 1e-9  # a broken split
    with pytest.raises(ValueError, match="weights"):
        ex.srm_test([1, 2], [1.0, 0.0])


def test_cuped_theta_is_the_ols_slope_and_reduces_variance():
    rng = np.random.default_rng(3)
    n = 20_000
    x = rng.gamma(2.0, 10.0, size=2 * n)  # pre-period revenue
    y = 0.8 * x + rng.normal(0, 8.0, size=2 * n)
    y[n:] += 1.0  # true effect
    assert ex.cuped_theta(y, x) == pytest.approx(np.polyfit(x, y, 1)[0], rel=1e-9)
    plain = ex.welch_ttest(y[:n], y[n:])
    adj, reduction = ex.cuped_welch(y[:n], x[:n], y[n:], x[n:])
    rho2 = np.corrcoef(y, x)[0, 1] ** 2
    assert reduction == pytest.approx(rho2, abs=0.01)
    assert adj.std_error < plain.std_error * np.sqrt(1 - rho2) * 1.02
    assert adj.abs_lift == pytest.approx(1.0, abs=4 * adj.std_error)
    assert adj.control_value == pytest.approx(y[:n].mean())  # raw means reported
    assert adj.test == "welch_t_cuped"
    # a hand example: y = [1, 2, 3], x = [1, 2, 4] -> cov 1.5, var x 2.3333, θ = 0.642857
    assert ex.cuped_theta([1, 2, 3], [1, 2, 4]) == pytest.approx(1.5 / (7 / 3))
    assert ex.cuped_adjust([1, 2, 3], [1, 2, 4]) == pytest.approx(
        [1 - 0.642857 * (1 - 7 / 3), 2 - 0.642857 * (2 - 7 / 3), 3 - 0.642857 * (4 - 7 / 3)],
        abs=1e-5,
    )


def test_msprt_by_hand():
    # d = 0.03, V = 0.0002, τ² = 0.0001: Λ = sqrt(2/3) · exp(0.75) = 1.72852
    lam = ex.msprt_lambda(0.03, 0.0002, 0.0001)
    assert lam == pytest.approx(np.sqrt(2 / 3) * np.exp(0.75))
    assert lam == pytest.approx(1.72852, abs=1e-5)
    p = ex.always_valid_pvalues(np.array([0.03, 0.0, 0.05]), np.array([2e-4, 1e-4, 5e-5]), 1e-4)
    assert p[0] == pytest.approx(1 / lam)
    assert p[1] == p[0]  # running minimum: a later weaker look does not raise it
    assert p[2] < p[1]
    low, high = ex.always_valid_ci(0.03, 0.0002, 0.0001)
    assert ex.msprt_lambda(high - 0.03, 0.0002, 0.0001) == pytest.approx(1 / 0.05)
    assert low == pytest.approx(0.06 - high)
    # the always-valid interval is wider than the fixed-horizon one
    assert high - 0.03 > Z975 * np.sqrt(0.0002)


def _aa_daily_looks(rng, sims, days, per_day, p_c, p_t):
    """Cumulative daily estimates of the difference in conversion and their variances."""
    n = per_day * np.arange(1, days + 1)
    x_c = rng.binomial(per_day, p_c, size=(sims, days)).cumsum(axis=1)
    x_t = rng.binomial(per_day, p_t, size=(sims, days)).cumsum(axis=1)
    r_c, r_t = x_c / n, x_t / n
    var = r_c * (1 - r_c) / n + r_t * (1 - r_t) / n
    return r_t - r_c, var, r_c


def test_msprt_daily_peeking_keeps_false_positives_at_alpha():
    """4000 A/A tests, each looked at daily for 30 days: the always-valid p-value crosses 0.05
    in about 5% or fewer of them; the fixed-horizon p-value looked at daily crosses it far more."""
    rng = np.random.default_rng(2026)
    sims, days = 4000, 30
    diff, var, r_c = _aa_daily_looks(rng, sims, days, per_day=300, p_c=0.05, p_t=0.05)
    tau2 = (0.1 * np.maximum(r_c, 1e-3)) ** 2
    p_seq = ex.always_valid_pvalues(diff, var, tau2, axis=1)
    fpr_seq = (p_seq[:, -1] < 0.05).mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        p_fixed = 2 * stats.norm.sf(np.abs(diff) / np.sqrt(var))
    fpr_naive = (np.nan_to_num(p_fixed, nan=1.0) < 0.05).any(axis=1).mean()
    fpr_last_day = (np.nan_to_num(p_fixed[:, -1], nan=1.0) < 0.05).mean()
    assert fpr_seq <= 0.06  # always valid: at most α (+ simulation noise)
    assert fpr_naive > 0.15  # peeking at the classical test inflates it ~ 3-4x
    assert fpr_last_day == pytest.approx(0.05, abs=0.015)  # one look at the end is fine
    # measured: 0.3% always valid, 28% naive daily peeking, 5.1% one look at the end.
    # It still finds a real 20% lift (5% -> 6%, 18,000 units per arm) most of the time (90%):
    diff, var, r_c = _aa_daily_looks(rng, 1000, days, per_day=600, p_c=0.05, p_t=0.06)
    p_seq = ex.always_valid_pvalues(diff, var, (0.1 * np.maximum(r_c, 1e-3)) ** 2, axis=1)
    assert (p_seq[:, -1] < 0.05).mean() > 0.8


def _prob_b_beats_a_closed_form(a_a, b_a, a_b, b_b):
    """Evan Miller's closed form of P(p_B > p_A) for Beta posteriors with integer a_b."""
    i = np.arange(a_b)
    terms = betaln(a_a + i, b_a + b_b) - np.log(b_b + i) - betaln(1 + i, b_b) - betaln(a_a, b_a)
    return float(np.exp(terms).sum())


def test_thompson_allocation():
    exact = _prob_b_beats_a_closed_form(1 + 40, 1 + 960, 1 + 60, 1 + 940)
    assert ex.prob_beats(40, 1000, 60, 1000) == pytest.approx(exact, abs=1e-6)
    share = ex.thompson_allocation(np.array([40, 60]), np.array([1000, 1000]), draws=200_000)
    assert share.sum() == pytest.approx(1.0)
    assert share[1] == pytest.approx(exact, abs=0.005)
    even = ex.thompson_allocation(np.array([50, 50, 50]), np.array([1000, 1000, 1000]))
    assert even == pytest.approx([1 / 3] * 3, abs=0.02)
    with pytest.raises(ValueError, match="successes"):
        ex.thompson_allocation(np.array([5]), np.array([3]))
