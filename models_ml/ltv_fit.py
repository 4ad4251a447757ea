"""The BG/NBD and Gamma-Gamma models behind :mod:`models_ml.ltv`: log-likelihoods, maximum
likelihood fits (with how the optimisation went) and the conditional expectations the scores
use. Arrays in, arrays out; :mod:`models_ml.ltv` builds the RFM summary and the tables."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize, special


class InsufficientDataError(ValueError):
    """Too few customers (or repeat customers) to fit a model."""


# --------------------------------------------------------------------------------------------
# Fitting helpers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FitInfo:
    """How an optimisation went (log-likelihood at the optimum, convergence, effort)."""

    log_likelihood: float
    n_customers: int
    converged: bool
    message: str
    iterations: int
    n_function_evals: int
    method: str
    fit_seconds: float


def _minimise(neg_ll: Any, start: np.ndarray, n_customers: int) -> tuple[np.ndarray, FitInfo]:
    """Minimise a negative total log-likelihood over log-parameters.

    L-BFGS-B first (bounded log-parameters keep the search away from overflow); if it does not
    report success, Nelder-Mead from its end point; the better of the two is kept.
    """
    started = time.perf_counter()
    bounds = [(-12.0, 12.0)] * len(start)

    def scaled(theta: np.ndarray) -> float:
        value = neg_ll(theta) / n_customers
        return float(value) if np.isfinite(value) else 1e10

    best = optimize.minimize(scaled, start, method="L-BFGS-B", bounds=bounds)
    method = "L-BFGS-B"
    iterations, evals = int(best.nit), int(best.nfev)
    if not best.success:
        retry = optimize.minimize(
            scaled,
            best.x,
            method="Nelder-Mead",
            bounds=bounds,
            options={"maxiter": 4000, "xatol": 1e-7, "fatol": 1e-10},
        )
        iterations += int(retry.nit)
        evals += int(retry.nfev)
        method = "L-BFGS-B+Nelder-Mead"
        if retry.fun <= best.fun:
            best = retry
    info = FitInfo(
        log_likelihood=-float(best.fun) * n_customers,
        n_customers=n_customers,
        converged=bool(best.success),
        message=str(best.message),
        iterations=iterations,
        n_function_evals=evals,
        method=method,
        fit_seconds=time.perf_counter() - started,
    )
    return np.asarray(best.x), info


def _arrays(*columns: Any) -> list[np.ndarray]:
    return [np.asarray(c, dtype=float) for c in columns]


# --------------------------------------------------------------------------------------------
# BG/NBD
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BgNbdFit:
    """Fitted BG/NBD parameters (time unit = the unit of recency/T it was fitted on)."""

    r: float
    alpha: float
    a: float
    b: float
    info: FitInfo | None = field(default=None, repr=False)

    @property
    def params(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}


def bgnbd_log_likelihood(
    frequency: Any, recency: Any, t: Any, r: float, alpha: float, a: float, b: float
) -> np.ndarray:
    """Per-customer BG/NBD log-likelihood, Fader, Hardie & Lee (2005) eq. (6)."""
    x, t_x, big_t = _arrays(frequency, recency, t)
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = special.betaln(a, b + x) - special.betaln(a, b)
    a3 = -(r + x) * np.log(alpha + big_t)
    repeat = x > 0
    a4 = np.full_like(x, -np.inf)
    a4[repeat] = (
        np.log(a) - np.log(b + x[repeat] - 1.0) - (r + x[repeat]) * np.log(alpha + t_x[repeat])
    )
    return a1 + a2 + np.logaddexp(a3, a4)


def fit_bgnbd(frequency: Any, recency: Any, t: Any) -> BgNbdFit:
    """Maximum-likelihood BG/NBD fit over log(r, alpha, a, b)."""
    x, t_x, big_t = _arrays(frequency, recency, t)
    if len(x) == 0:
        raise InsufficientDataError("no customers to fit BG/NBD on")
    if np.any(t_x > big_t) or np.any(x < 0) or np.any((x == 0) & (t_x != 0)):
        raise ValueError("inconsistent RFM data: need recency <= T and recency 0 when frequency 0")

    # Customers with the same (x, t_x, T) share a likelihood term: fit on the distinct rows,
    # weighted by their count (daily data has far fewer distinct rows than customers).
    rows, counts = np.unique(np.column_stack([x, t_x, big_t]), axis=0, return_counts=True)
    ux, ut_x, ut = (np.ascontiguousarray(rows[:, i]) for i in range(3))
    weights = counts.astype(float)

    def neg_ll(theta: np.ndarray) -> float:
        r, alpha, a, b = np.exp(theta)
        return -float(np.sum(weights * bgnbd_log_likelihood(ux, ut_x, ut, r, alpha, a, b)))

    # Start: r = a = b = 1 and alpha = mean T / 10 (alpha carries the time unit).
    start = np.log([1.0, max(float(np.mean(big_t)) / 10.0, 1e-3), 1.0, 1.0])
    theta, info = _minimise(neg_ll, start, len(x))
    r, alpha, a, b = (float(v) for v in np.exp(theta))
    return BgNbdFit(r=r, alpha=alpha, a=a, b=b, info=info)


def bgnbd_p_alive(frequency: Any, recency: Any, t: Any, fit: BgNbdFit) -> np.ndarray:
    """P(customer still alive | x, t_x, T); 1 for customers with no repeat purchase."""
    x, t_x, big_t = _arrays(frequency, recency, t)
    log_ratio = np.zeros_like(x)
    repeat = x > 0
    log_ratio[repeat] = (
        np.log(fit.a)
        - np.log(fit.b + x[repeat] - 1.0)
        + (fit.r + x[repeat])
        * (np.log(fit.alpha + big_t[repeat]) - np.log(fit.alpha + t_x[repeat]))
    )
    p = np.ones_like(x)
    p[repeat] = special.expit(-log_ratio[repeat])
    return p


def bgnbd_conditional_expected_purchases(
    horizon: float, frequency: Any, recency: Any, t: Any, fit: BgNbdFit
) -> np.ndarray:
    """E[Y(horizon) | x, t_x, T]: expected repeat purchases in the next ``horizon`` (eq. 10)."""
    x, t_x, big_t = _arrays(frequency, recency, t)
    r, alpha, a, b = fit.r, fit.alpha, fit.a, fit.b
    horizon = float(horizon)
    if horizon <= 0:
        return np.zeros_like(x)
    z = horizon / (alpha + big_t + horizon)
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1.0, z)
    head = (a + b + x - 1.0) / (a - 1.0)
    tail = 1.0 - np.exp((r + x) * (np.log(alpha + big_t) - np.log(alpha + big_t + horizon))) * hyp
    return head * tail * bgnbd_p_alive(x, t_x, big_t, fit)


# --------------------------------------------------------------------------------------------
# Gamma-Gamma
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GammaGammaFit:
    """Fitted Gamma-Gamma spend parameters."""

    p: float
    q: float
    v: float
    info: FitInfo | None = field(default=None, repr=False)

    @property
    def params(self) -> dict[str, float]:
        return {"p": self.p, "q": self.q, "v": self.v}

    @property
    def population_mean_spend(self) -> float:
        """E[Z] = p v / (q - 1) (infinite when q <= 1)."""
        return self.p * self.v / (self.q - 1.0) if self.q > 1.0 else float("inf")


def gamma_gamma_log_likelihood(
    frequency: Any, monetary_value: Any, p: float, q: float, v: float
) -> np.ndarray:
    """Per-customer log-likelihood of the mean repeat spend (customers with frequency > 0)."""
    x, m = _arrays(frequency, monetary_value)
    px = p * x
    return (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(v)
        + (px - 1.0) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(x * m + v)
    )


def fit_gamma_gamma(frequency: Any, monetary_value: Any) -> GammaGammaFit:
    """Maximum-likelihood Gamma-Gamma fit over log(p, q, v), on customers with frequency > 0."""
    x, m = _arrays(frequency, monetary_value)
    keep = (x > 0) & (m > 0)
    x, m = x[keep], m[keep]
    if len(x) == 0:
        raise InsufficientDataError("no repeat customers to fit Gamma-Gamma on")

    def neg_ll(theta: np.ndarray) -> float:
        p, q, v = np.exp(theta)
        return -float(np.sum(gamma_gamma_log_likelihood(x, m, p, q, v)))

    start = np.log([1.0, 2.0, float(np.mean(m))])
    theta, info = _minimise(neg_ll, start, len(x))
    p, q, v = (float(val) for val in np.exp(theta))
    return GammaGammaFit(p=p, q=q, v=v, info=info)


def gamma_gamma_conditional_expected_spend(
    frequency: Any, monetary_value: Any, fit: GammaGammaFit
) -> np.ndarray:
    """E[Z | x, m] = (p (v + x m)) / (p x + q - 1); the population mean when x = 0."""
    x, m = _arrays(frequency, monetary_value)
    m = np.where(x > 0, m, 0.0)
    return fit.p * (fit.v + x * m) / (fit.p * x + fit.q - 1.0)
