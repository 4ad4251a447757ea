"""Experiment results: the per-unit outcome table -> one row per experiment × variant × metric.

Input: one row per experiment × unit (``analytics.experiment_units``) with the columns of
:data:`UNIT_COLUMNS`; units exposed to two variants come flagged (``is_multi_variant``) and are
excluded here, only counted. Output (:data:`RESULT_SCHEMA`): the control row carries the units
and value of each metric; each treatment row its lift against control with 95% CIs, the
fixed-horizon p-value, the always-valid (mSPRT) p-value over daily looks, the sample-ratio
check, the Thompson-sampling share and the decision from :class:`ExperimentSettings`.

Daily looks: the look on day ``d`` holds the units first exposed on or before ``d`` with their
outcomes (over the attribution window the dbt model applied). The statistics themselves are in
:mod:`models_ml.experiments`.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from models_ml.experiments import (
    Comparison,
    always_valid_pvalues,
    cuped_welch,
    delta_ratio_test,
    srm_test,
    thompson_allocation,
    two_proportion_ztest,
    welch_ttest,
)
from models_ml.settings import EXPERIMENT_METRICS, ExperimentSettings

__all__ = [
    "EXPERIMENT_METRICS",
    "RESULT_SCHEMA",
    "UNIT_COLUMNS",
    "ExperimentSettings",
    "experiment_results",
]

UNIT_COLUMNS = {
    "experiment_id": pl.String,
    "variant": pl.String,
    "unit_id": pl.String,
    "exposure_date": pl.Date,
    "is_multi_variant": pl.Boolean,
    "converted": pl.Boolean,
    "added_to_cart": pl.Boolean,
    "orders": pl.Int64,
    "revenue": pl.Float64,
    "pre_orders": pl.Int64,
    "pre_revenue": pl.Float64,
}

RESULT_SCHEMA = {
    "experiment_id": pl.String,
    "variant": pl.String,
    "is_control": pl.Boolean,
    "metric": pl.String,
    "units": pl.Int64,
    "value": pl.Float64,
    "control_value": pl.Float64,
    "abs_lift": pl.Float64,
    "abs_lift_ci_low": pl.Float64,
    "abs_lift_ci_high": pl.Float64,
    "rel_lift": pl.Float64,
    "rel_lift_ci_low": pl.Float64,
    "rel_lift_ci_high": pl.Float64,
    "p_value": pl.Float64,
    "always_valid_p_value": pl.Float64,
    "test": pl.String,
    "variance_reduction": pl.Float64,
    "srm_p_value": pl.Float64,
    "is_srm": pl.Boolean,
    "multi_variant_units": pl.Int64,
    "thompson_share": pl.Float64,
    "days_running": pl.Int64,
    "first_exposure_date": pl.Date,
    "last_exposure_date": pl.Date,
    "decision": pl.String,
}

DECISIONS = ("ship", "dont_ship", "keep_running", "invalid")
_PROPORTIONS = {"conversion_rate": "converted", "add_to_cart_rate": "added_to_cart"}
_MEANS = {
    "revenue_per_unit": ("revenue", "pre_revenue"),
    "orders_per_unit": ("orders", "pre_orders"),
}


def _check_columns(units: pl.DataFrame) -> None:
    missing = sorted(set(UNIT_COLUMNS) - set(units.columns))
    if missing:
        raise ValueError(f"the experiment units lack the columns {missing}")


def compare(
    metric: str, c: pl.DataFrame, t: pl.DataFrame, settings: ExperimentSettings
) -> tuple[Comparison, float | None]:
    """One metric, treatment ``t`` against control ``c`` (per-unit frames)."""
    alpha = settings.alpha
    if metric in _PROPORTIONS:
        col = _PROPORTIONS[metric]
        return (
            two_proportion_ztest(
                int(c[col].sum()), c.height, int(t[col].sum()), t.height, alpha=alpha
            ),
            None,
        )
    if metric in _MEANS:
        y, x = _MEANS[metric]
        y_c, y_t = c[y].cast(pl.Float64).to_numpy(), t[y].cast(pl.Float64).to_numpy()
        if settings.cuped:
            x_c = c[x].cast(pl.Float64).fill_null(0).to_numpy()
            x_t = t[x].cast(pl.Float64).fill_null(0).to_numpy()
            if np.concatenate([x_c, x_t]).var() > 0:
                return cuped_welch(y_c, x_c, y_t, x_t, alpha=alpha)
        return welch_ttest(y_c, y_t, alpha=alpha), None
    if metric == "aov":
        return (
            delta_ratio_test(
                c["revenue"].to_numpy(), c["orders"].cast(pl.Float64).to_numpy(),
                t["revenue"].to_numpy(), t["orders"].cast(pl.Float64).to_numpy(), alpha=alpha,
            ),
            None,
        )  # fmt: skip
    raise ValueError(f"unknown experiment metric {metric!r}")


def _safe_compare(metric, c, t, settings):
    try:
        return compare(metric, c, t, settings)
    except ValueError:
        return None, None  # too few units, or no orders for AOV yet


def _always_valid(
    metric: str, c: pl.DataFrame, t: pl.DataFrame, days: list[date], settings: ExperimentSettings
) -> float | None:
    """mSPRT p-value after daily looks (cumulative units by first exposure)."""
    diffs, variances, tau2 = [], [], []
    for day in days:
        res, _ = _safe_compare(
            metric,
            c.filter(pl.col("exposure_date") <= day),
            t.filter(pl.col("exposure_date") <= day),
            settings,
        )
        if res is None or not np.isfinite(res.std_error):
            continue
        diffs.append(res.abs_lift)
        variances.append(res.std_error**2)
        tau2.append((settings.msprt_tau_relative * res.control_value) ** 2 or 1e-12)
    if not diffs:
        return None
    return float(always_valid_pvalues(np.array(diffs), np.array(variances), np.array(tau2))[-1])


def _decision(
    res: Comparison | None,
    p_seq: float | None,
    n_min: int,
    days_running: int,
    invalid: bool,
    settings: ExperimentSettings,
) -> str:
    if invalid:
        return "invalid"
    if res is None or n_min < settings.min_units_per_variant:
        return "keep_running"
    p = p_seq if settings.sequential and p_seq is not None else res.p_value
    if p < settings.alpha:
        if res.abs_lift > 0 and (res.rel_lift_ci_low or 0.0) >= settings.min_relative_lift:
            return "ship"
        if res.abs_lift < 0:
            return "dont_ship"
    return "dont_ship" if days_running >= settings.max_days else "keep_running"


def _experiment_rows(
    exp_id: str, units: pl.DataFrame, settings: ExperimentSettings, as_of: date | None
) -> list[dict]:
    mixed = int(units["is_multi_variant"].sum())
    clean = units.filter(~pl.col("is_multi_variant"))
    variants = sorted(clean["variant"].unique().to_list())
    control = settings.control_variant if settings.control_variant in variants else variants[0]
    weights = settings.weights.get(exp_id, {})
    counts = [clean.filter(pl.col("variant") == v).height for v in variants]
    srm_p = (
        srm_test(counts, [weights.get(v, 1.0) for v in variants])[1] if len(variants) > 1 else None
    )
    is_srm = srm_p is not None and srm_p < settings.srm_alpha
    invalid = is_srm or mixed > settings.max_mixed_share * max(units.height, 1)
    first, last = clean["exposure_date"].min(), clean["exposure_date"].max()
    end = as_of or last
    days_running = (end - first).days + 1
    days = sorted(clean["exposure_date"].unique().to_list())
    conv = [clean.filter(pl.col("variant") == v)["converted"].sum() for v in variants]
    share = thompson_allocation(np.array(conv), np.array(counts), draws=settings.thompson_draws)
    c = clean.filter(pl.col("variant") == control)
    base = {
        "experiment_id": exp_id, "srm_p_value": srm_p, "is_srm": is_srm,
        "multi_variant_units": mixed, "days_running": days_running,
        "first_exposure_date": first, "last_exposure_date": last,
    }  # fmt: skip
    rows: list[dict] = []
    for vi, variant in enumerate(variants):
        t = clean.filter(pl.col("variant") == variant)
        decision = None
        for metric in EXPERIMENT_METRICS:
            row = {**base, "variant": variant, "metric": metric, "units": t.height}
            row["thompson_share"] = float(share[vi]) if metric == "conversion_rate" else None
            if variant == control:
                row |= {"is_control": True, "value": _value(metric, t)}
                row["decision"] = "invalid" if invalid else None
                rows.append(row)
                continue
            res, reduction = _safe_compare(metric, c, t, settings)
            p_seq = _always_valid(metric, c, t, days, settings)
            if metric == settings.primary_metric:
                n_min = min(c.height, t.height)
                decision = _decision(res, p_seq, n_min, days_running, invalid, settings)
            row |= {"is_control": False, "value": _value(metric, t)}
            row |= {"always_valid_p_value": p_seq, "variance_reduction": reduction}
            if res is not None:
                row |= {
                    "control_value": res.control_value, "abs_lift": res.abs_lift,
                    "abs_lift_ci_low": res.abs_lift_ci_low,
                    "abs_lift_ci_high": res.abs_lift_ci_high, "rel_lift": res.rel_lift,
                    "rel_lift_ci_low": res.rel_lift_ci_low,
                    "rel_lift_ci_high": res.rel_lift_ci_high, "p_value": res.p_value,
                    "test": res.test,
                }  # fmt: skip
            rows.append(row)
        if variant != control:
            for row in rows[-len(EXPERIMENT_METRICS) :]:
                row["decision"] = decision
    return rows


def _value(metric: str, frame: pl.DataFrame) -> float | None:
    if frame.height == 0:
        return None
    if metric in _PROPORTIONS:
        return float(frame[_PROPORTIONS[metric]].mean())
    if metric in _MEANS:
        return float(frame[_MEANS[metric][0]].cast(pl.Float64).mean())
    orders = frame["orders"].sum()
    return float(frame["revenue"].sum() / orders) if orders else None


def experiment_results(
    units: pl.DataFrame, settings: ExperimentSettings | None = None, as_of: date | None = None
) -> pl.DataFrame:
    """Every experiment × variant × metric (see the module docstring); ``as_of`` is the day
    the results are for (``days_running`` counts to it; default the last exposure day)."""
    settings = settings or ExperimentSettings()
    _check_columns(units)
    units = units.select(list(UNIT_COLUMNS)).cast(UNIT_COLUMNS)
    rows: list[dict] = []
    for exp_id in sorted(units["experiment_id"].unique().to_list()):
        part = units.filter(pl.col("experiment_id") == exp_id)
        if part.filter(~pl.col("is_multi_variant")).height == 0:
            continue
        rows.extend(_experiment_rows(exp_id, part, settings, as_of))
    return pl.DataFrame(rows, schema=RESULT_SCHEMA, orient="row") if rows else _empty()


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=RESULT_SCHEMA)
