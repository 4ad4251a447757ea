"""A/B-test statistics: plain numpy/scipy functions over summary numbers or per-unit arrays.

No Dagster, no warehouse. ``models_ml.experiment_results`` applies these to the per-unit
outcome table (``analytics.experiment_units``) and writes the rows of
``analytics.experiment_results``; ``tests/models_ml/test_experiments.py`` checks every function
on hand-computed numbers and against scipy / statsmodels on the same numbers.

Tests and conventions
---------------------
* **Two-proportion z test** (conversion, add-to-cart rate): the p-value uses the pooled
  standard error (statsmodels ``proportions_ztest``), the confidence interval of the absolute
  difference the unpooled one (Wald; statsmodels ``confint_proportions_2indep(method="wald")``).
* **Welch's t** (revenue / orders per unit): unequal variances, Welch–Satterthwaite degrees of
  freedom (``scipy.stats.ttest_ind(equal_var=False)``); the CI uses the same t quantile.
* **Ratio metrics** (AOV = revenue / orders, where the unit of randomisation is the visitor,
  not the order): the delta method on the per-unit numerator and denominator (Deng, Knoblich &
  Lu 2018, "Applying the delta method in metric analytics"), then a z test of the difference.
* **Relative lift** ``treatment / control - 1``: its CI from the delta method on the ratio of
  two independent means, ``Var ≈ V_t / m_c² + m_t² V_c / m_c⁴``.
* **Sample-ratio mismatch**: Pearson chi-square of the units per variant against the planned
  weights (``scipy.stats.chisquare``); a small p-value (default < 0.001) makes the experiment
  invalid — its lifts are not reported as findings.
* **CUPED** (Deng, Xu, Kohavi & Walker 2013): ``y - θ (x - mean x)`` with
  ``θ = cov(y, x) / var(x)`` pooled over all units of the experiment, ``x`` the pre-period
  value of the same metric; the variance falls by ≈ ``ρ²``, the expected difference is unchanged.
* **mSPRT always-valid p-values** (Johari, Pekelis & Walsh 2017, "Always valid inference"):
  for an estimate ``d`` with variance ``V`` and a normal mixture ``N(0, τ²)`` over the effect,
  ``Λ = sqrt(V / (V + τ²)) · exp(τ² d² / (2 V (V + τ²)))`` and ``p_n = min(p_{n-1}, 1 / Λ_n)``.
  Looking at ``p_n`` every day keeps the false-positive rate at or below ``α``.
* **Thompson sampling**: Beta(1 + conversions, 1 + non-conversions) posteriors; the suggested
  allocation is each variant's posterior probability of being the best.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Comparison:
    """Treatment against control for one metric."""

    control_value: float
    treatment_value: float
    abs_lift: float
    abs_lift_ci_low: float
    abs_lift_ci_high: float
    rel_lift: float | None
    rel_lift_ci_low: float | None
    rel_lift_ci_high: float | None
    statistic: float
    p_value: float
    std_error: float
    test: str

    def as_dict(self) -> dict:
        return asdict(self)


def _relative(m_c: float, v_c: float, m_t: float, v_t: float, z: float):
    """Relative lift ``m_t / m_c - 1`` and its delta-method CI (None when control is 0)."""
    if m_c == 0:
        return None, None, None
    rel = m_t / m_c - 1.0
    se = float(np.sqrt(v_t / m_c**2 + m_t**2 * v_c / m_c**4))
    return rel, rel - z * se, rel + z * se


def _finite(x: float) -> float:
    return float(x) if np.isfinite(x) else float("nan")


def two_proportion_ztest(x_c: int, n_c: int, x_t: int, n_t: int, alpha: float = 0.05) -> Comparison:
    """Two-sided z test of ``x_t / n_t - x_c / n_c`` (pooled SE for the test, unpooled CI)."""
    if min(n_c, n_t) <= 0:
        raise ValueError(f"each variant needs units (control {n_c}, treatment {n_t})")
    if not (0 <= x_c <= n_c and 0 <= x_t <= n_t):
        raise ValueError(f"successes must lie in [0, units]: {x_c}/{n_c}, {x_t}/{n_t}")
    p_c, p_t = x_c / n_c, x_t / n_t
    pooled = (x_c + x_t) / (n_c + n_t)
    se_pooled = np.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_t))
    v_c, v_t = p_c * (1 - p_c) / n_c, p_t * (1 - p_t) / n_t
    se = float(np.sqrt(v_c + v_t))
    diff = p_t - p_c
    z_stat = diff / se_pooled if se_pooled > 0 else 0.0
    p_value = float(2 * stats.norm.sf(abs(z_stat)))
    q = float(stats.norm.ppf(1 - alpha / 2))
    rel, lo, hi = _relative(p_c, v_c, p_t, v_t, q)
    return Comparison(
        p_c, p_t, diff, diff - q * se, diff + q * se, rel, lo, hi,
        float(z_stat), p_value, se, "two_proportion_z",
    )  # fmt: skip


def welch_from_stats(
    mean_c: float, var_c: float, n_c: int, mean_t: float, var_t: float, n_t: int,
    alpha: float = 0.05,
) -> Comparison:  # fmt: skip
    """Welch's t test of ``mean_t - mean_c`` from means, sample variances (ddof=1) and sizes."""
    if min(n_c, n_t) < 2:
        raise ValueError(f"Welch's t needs at least 2 units per variant ({n_c}, {n_t})")
    v_c, v_t = var_c / n_c, var_t / n_t
    se = float(np.sqrt(v_c + v_t))
    diff = mean_t - mean_c
    if se == 0:
        t_stat, df, p_value = 0.0, float(n_c + n_t - 2), 1.0 if diff == 0 else 0.0
    else:
        t_stat = diff / se
        df = (v_c + v_t) ** 2 / (v_c**2 / (n_c - 1) + v_t**2 / (n_t - 1))
        p_value = float(2 * stats.t.sf(abs(t_stat), df))
    q = float(stats.t.ppf(1 - alpha / 2, df))
    rel, lo, hi = _relative(mean_c, v_c, mean_t, v_t, q)
    return Comparison(
        mean_c, mean_t, diff, diff - q * se, diff + q * se, rel, lo, hi,
        float(t_stat), p_value, se, "welch_t",
    )  # fmt: skip


def welch_ttest(y_c: np.ndarray, y_t: np.ndarray, alpha: float = 0.05) -> Comparison:
    """Welch's t test on per-unit values."""
    y_c, y_t = np.asarray(y_c, float), np.asarray(y_t, float)
    return welch_from_stats(
        y_c.mean(), y_c.var(ddof=1), y_c.size, y_t.mean(), y_t.var(ddof=1), y_t.size, alpha
    )


def ratio_mean_and_variance(num: np.ndarray, den: np.ndarray) -> tuple[float, float]:
    """``sum(num) / sum(den)`` and its delta-method variance over independent units.

    ``Var(R) ≈ (σ_n² - 2 R σ_nd + R² σ_d²) / (n μ_d²)`` with sample moments (ddof=1).
    """
    num, den = np.asarray(num, float), np.asarray(den, float)
    n = num.size
    if n < 2:
        raise ValueError("a ratio metric needs at least 2 units")
    mu_d = den.mean()
    if mu_d == 0:
        raise ValueError("the ratio's denominator is zero in every unit")
    ratio = num.mean() / mu_d
    cov = np.cov(num, den, ddof=1)
    var = (cov[0, 0] - 2 * ratio * cov[0, 1] + ratio**2 * cov[1, 1]) / (n * mu_d**2)
    return float(ratio), float(max(var, 0.0))


def delta_ratio_test(
    num_c: np.ndarray, den_c: np.ndarray, num_t: np.ndarray, den_t: np.ndarray,
    alpha: float = 0.05,
) -> Comparison:  # fmt: skip
    """z test of a ratio metric (e.g. AOV = revenue / orders per visitor) by the delta method."""
    r_c, v_c = ratio_mean_and_variance(num_c, den_c)
    r_t, v_t = ratio_mean_and_variance(num_t, den_t)
    return _z_comparison(r_c, v_c, r_t, v_t, alpha, "delta_ratio_z")


def _z_comparison(m_c, v_c, m_t, v_t, alpha, test) -> Comparison:
    se = float(np.sqrt(v_c + v_t))
    diff = m_t - m_c
    z_stat = diff / se if se > 0 else 0.0
    p_value = float(2 * stats.norm.sf(abs(z_stat))) if se > 0 else float(diff == 0)
    q = float(stats.norm.ppf(1 - alpha / 2))
    rel, lo, hi = _relative(m_c, v_c, m_t, v_t, q)
    return Comparison(
        m_c, m_t, diff, diff - q * se, diff + q * se, rel, lo, hi,
        float(z_stat), p_value, se, test,
    )  # fmt: skip


def srm_test(counts: list[int] | np.ndarray, weights: list[float] | np.ndarray | None = None):
    """Sample-ratio mismatch: Pearson chi-square of ``counts`` against planned ``weights``.

    Returns ``(chi2, p_value)``; ``weights`` default to an even split and are normalised.
    """
    counts = np.asarray(counts, float)
    if counts.size < 2:
        raise ValueError("a sample-ratio check needs at least two variants")
    w = np.full(counts.size, 1.0) if weights is None else np.asarray(weights, float)
    if w.shape != counts.shape or (w <= 0).any():
        raise ValueError(f"weights {list(w)} must be positive, one per variant")
    expected = counts.sum() * w / w.sum()
    if expected.sum() == 0:
        return 0.0, 1.0
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    return chi2, float(stats.chi2.sf(chi2, counts.size - 1))


def cuped_theta(y: np.ndarray, x: np.ndarray) -> float:
    """``θ = cov(y, x) / var(x)`` (0 when the covariate does not vary)."""
    y, x = np.asarray(y, float), np.asarray(x, float)
    var_x = x.var(ddof=1)
    return float(np.cov(y, x, ddof=1)[0, 1] / var_x) if var_x > 0 else 0.0


def cuped_adjust(y: np.ndarray, x: np.ndarray, theta: float | None = None) -> np.ndarray:
    """CUPED-adjusted outcomes ``y - θ (x - mean x)`` (θ pooled over the units given)."""
    y, x = np.asarray(y, float), np.asarray(x, float)
    theta = cuped_theta(y, x) if theta is None else theta
    return y - theta * (x - x.mean())


def cuped_welch(
    y_c: np.ndarray, x_c: np.ndarray, y_t: np.ndarray, x_t: np.ndarray, alpha: float = 0.05
) -> tuple[Comparison, float]:
    """Welch's t on CUPED-adjusted outcomes, θ pooled over both variants.

    Returns the comparison (its ``control_value``/``treatment_value`` are the raw means, the
    lift and its CI the adjusted ones) and the variance reduction ``1 - Var(adj) / Var(y)``.
    """
    y = np.concatenate([np.asarray(y_c, float), np.asarray(y_t, float)])
    x = np.concatenate([np.asarray(x_c, float), np.asarray(x_t, float)])
    theta = cuped_theta(y, x)
    adj = y - theta * (x - x.mean())
    a_c, a_t = adj[: len(y_c)], adj[len(y_c) :]
    res = welch_ttest(a_c, a_t, alpha)
    reduction = 1 - adj.var(ddof=1) / y.var(ddof=1) if y.var(ddof=1) > 0 else 0.0
    # report the raw means; the relative lift is the adjusted difference over the raw control
    m_c, m_t = float(np.mean(y_c)), float(np.mean(y_t))
    q = (res.abs_lift_ci_high - res.abs_lift) / res.std_error if res.std_error > 0 else 0.0
    rel, lo, hi = (None, None, None)
    if m_c != 0:
        v_c, v_t = a_c.var(ddof=1) / a_c.size, a_t.var(ddof=1) / a_t.size
        rel, lo, hi = _relative(m_c, v_c, m_c + res.abs_lift, v_t, q)
    out = Comparison(
        m_c, m_t, res.abs_lift, res.abs_lift_ci_low, res.abs_lift_ci_high, rel, lo, hi,
        res.statistic, res.p_value, res.std_error, "welch_t_cuped",
    )  # fmt: skip
    return out, float(reduction)


def msprt_lambda(diff: np.ndarray, var: np.ndarray, tau2: float | np.ndarray) -> np.ndarray:
    """Mixture likelihood ratio of the normal mSPRT (H0: effect 0, mixture N(0, τ²)).

    Vectorised: ``diff`` and ``var`` may be arrays of any shape; a zero variance gives 1.
    """
    diff, var = np.asarray(diff, float), np.asarray(var, float)
    tau2 = np.asarray(tau2, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_lam = 0.5 * np.log(var / (var + tau2)) + tau2 * diff**2 / (2 * var * (var + tau2))
    return np.where(var > 0, np.exp(np.minimum(log_lam, 700.0)), 1.0)


def always_valid_pvalues(
    diff: np.ndarray, var: np.ndarray, tau2: float | np.ndarray, axis: int = -1
) -> np.ndarray:
    """Always-valid p-values along ``axis`` (the looks, in time order): running min of 1/Λ."""
    p = np.minimum(1.0, 1.0 / msprt_lambda(diff, var, tau2))
    return np.minimum.accumulate(p, axis=axis)


def always_valid_ci(
    diff: float, var: float, tau2: float, alpha: float = 0.05
) -> tuple[float, float]:
    """The mSPRT confidence interval at one look: effects θ0 with ``Λ(d - θ0) < 1/α``.

    Solving ``Λ = 1/α`` for the centred estimate gives the half-width
    ``sqrt(V (V + τ²) / τ² · (2 log(1/α) - log(V / (V + τ²))))``. (Intersecting over looks
    gives the running interval; this is the one at the current look.)
    """
    if var <= 0:
        return diff, diff
    half = np.sqrt(var * (var + tau2) / tau2 * (2 * np.log(1 / alpha) - np.log(var / (var + tau2))))
    return float(diff - half), float(diff + half)


def thompson_allocation(
    successes: np.ndarray, trials: np.ndarray, draws: int = 20_000, seed: int = 0
) -> np.ndarray:
    """Each variant's posterior probability of having the highest rate (Beta(1+s, 1+f)).

    The suggested traffic share of a Thompson-sampling bandit for the next period.
    """
    s, n = np.asarray(successes, float), np.asarray(trials, float)
    if s.shape != n.shape or (s < 0).any() or (s > n).any():
        raise ValueError("successes must lie in [0, trials], one per variant")
    rng = np.random.default_rng(seed)
    samples = rng.beta(1 + s, 1 + n - s, size=(draws, s.size))
    best = np.bincount(samples.argmax(axis=1), minlength=s.size)
    return best / draws


def prob_beats(s_a: float, n_a: float, s_b: float, n_b: float) -> float:
    """Exact ``P(p_b > p_a)`` for Beta(1+s, 1+n-s) posteriors (numerical integration)."""
    a = stats.beta(1 + s_a, 1 + n_a - s_a)
    b = stats.beta(1 + s_b, 1 + n_b - s_b)
    grid = np.linspace(0, 1, 20_001)
    return float(np.trapezoid(b.pdf(grid) * a.cdf(grid), grid))


__all__ = [
    "Comparison",
    "always_valid_ci",
    "always_valid_pvalues",
    "cuped_adjust",
    "cuped_theta",
    "cuped_welch",
    "delta_ratio_test",
    "msprt_lambda",
    "prob_beats",
    "ratio_mean_and_variance",
    "srm_test",
    "thompson_allocation",
    "two_proportion_ztest",
    "welch_from_stats",
    "welch_ttest",
]
