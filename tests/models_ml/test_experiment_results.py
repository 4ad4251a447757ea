"""The per-unit outcome table -> experiment results and decisions (models_ml.experiment_results)."""

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from models_ml.experiment_results import RESULT_SCHEMA, UNIT_COLUMNS, experiment_results
from models_ml.experiments import delta_ratio_test, two_proportion_ztest
from models_ml.settings import ExperimentSettings

START = date(2026, 3, 2)


def _units(exp_id, n_control, n_treatment, p_c, p_t, days=21, seed=0, mixed=0):
    """Per-unit rows: conversion p, one order of ~50 when converted, pre-period revenue."""
    rng = np.random.default_rng(seed)
    rows = []
    for variant, n, p in (("control", n_control, p_c), ("treatment", n_treatment, p_t)):
        conv = rng.random(n) < p
        pre = rng.gamma(1.0, 20.0, n) * (rng.random(n) < 0.3)
        revenue = np.where(conv, rng.gamma(5.0, 10.0, n) + 0.5 * pre, 0.0)
        for i in range(n):
            rows.append(
                {
                    "experiment_id": exp_id,
                    "variant": variant,
                    "unit_id": f"{variant}-{i}",
                    "exposure_date": START + timedelta(days=int(rng.integers(days))),
                    "is_multi_variant": bool(i < mixed),
                    "converted": bool(conv[i]),
                    "added_to_cart": bool(conv[i] or rng.random() < 0.2),
                    "orders": int(conv[i]),
                    "revenue": float(revenue[i]),
                    "pre_orders": int(pre[i] > 0),
                    "pre_revenue": float(pre[i]),
                }
            )
    return pl.DataFrame(rows)


def _by(res, variant, metric):
    return res.filter((pl.col("variant") == variant) & (pl.col("metric") == metric)).row(
        0, named=True
    )


def test_lift_null_and_srm_decisions():
    units = pl.concat(
        [
            _units("lift", 12000, 12000, 0.05, 0.065, seed=1),
            _units("null", 6000, 6000, 0.05, 0.05, seed=2),
            _units("srm", 6000, 5400, 0.05, 0.05, seed=3),
        ]
    )
    res = experiment_results(units, ExperimentSettings(), as_of=START + timedelta(days=27))
    assert res.schema == pl.Schema(RESULT_SCHEMA)
    assert res.height == 3 * 2 * 5  # experiment × variant × metric
    lift = _by(res, "treatment", "conversion_rate")
    assert lift["experiment_id"] == "lift"
    lift = res.filter(
        (pl.col("experiment_id") == "lift")
        & (pl.col("variant") == "treatment")
        & (pl.col("metric") == "conversion_rate")
    ).row(0, named=True)
    assert lift["decision"] == "ship" and lift["always_valid_p_value"] < 0.05
    assert lift["rel_lift_ci_low"] < 0.3 < lift["rel_lift_ci_high"]
    null = res.filter((pl.col("experiment_id") == "null") & ~pl.col("is_control"))
    assert set(null["decision"]) == {"dont_ship"}  # 28 days, nothing significant
    srm = res.filter(pl.col("experiment_id") == "srm")
    assert srm["is_srm"].all() and set(srm["decision"]) == {"invalid"}
    assert srm["srm_p_value"][0] < 0.001
    # the conversion row equals the z test on the same counts
    c = units.filter((pl.col("experiment_id") == "lift") & (pl.col("variant") == "control"))
    t = units.filter((pl.col("experiment_id") == "lift") & (pl.col("variant") == "treatment"))
    z = two_proportion_ztest(c["converted"].sum(), c.height, t["converted"].sum(), t.height)
    assert lift["p_value"] == pytest.approx(z.p_value)
    assert lift["abs_lift_ci_low"] == pytest.approx(z.abs_lift_ci_low)
    aov = res.filter(
        (pl.col("experiment_id") == "lift")
        & (pl.col("variant") == "treatment")
        & (pl.col("metric") == "aov")
    ).row(0, named=True)
    d = delta_ratio_test(
        c["revenue"].to_numpy(), c["orders"].to_numpy(), t["revenue"].to_numpy(),
        t["orders"].to_numpy(),
    )  # fmt: skip
    assert aov["p_value"] == pytest.approx(d.p_value) and aov["test"] == "delta_ratio_z"
    rpu = res.filter(
        (pl.col("experiment_id") == "lift")
        & (pl.col("variant") == "treatment")
        & (pl.col("metric") == "revenue_per_unit")
    ).row(0, named=True)
    assert rpu["test"] == "welch_t_cuped" and rpu["variance_reduction"] > 0
    shares = res.filter(
        (pl.col("experiment_id") == "lift") & (pl.col("metric") == "conversion_rate")
    )
    assert shares["thompson_share"].sum() == pytest.approx(1.0)
    assert shares.filter(pl.col("variant") == "treatment")["thompson_share"][0] > 0.95


def test_keep_running_while_young_and_small():
    units = _units("young", 150, 150, 0.05, 0.05, days=3, seed=4)
    res = experiment_results(units, as_of=START + timedelta(days=3))
    assert set(res.filter(~pl.col("is_control"))["decision"]) == {"keep_running"}
    assert res["days_running"][0] == 4


def test_multi_variant_units_excluded_and_invalid_when_many():
    units = _units("mixed", 3000, 3000, 0.05, 0.05, seed=5, mixed=100)
    res = experiment_results(units, ExperimentSettings(max_mixed_share=0.01))
    row = _by(res, "control", "conversion_rate")
    assert row["units"] == 2900 and row["multi_variant_units"] == 200
    assert set(res["decision"]) == {"invalid"}
    tolerant = experiment_results(units, ExperimentSettings(max_mixed_share=0.05))
    assert "invalid" not in set(tolerant["decision"].drop_nulls())


def test_planned_weights_and_fixed_horizon_rule():
    units = _units("split", 2000, 8000, 0.05, 0.05, seed=6)
    even = experiment_results(units)
    assert set(even["decision"]) == {"invalid"}  # a 20/80 split read as 50/50
    planned = ExperimentSettings(weights={"split": {"control": 0.2, "treatment": 0.8}})
    res = experiment_results(units, planned)
    assert not res["is_srm"].any()
    fixed = ExperimentSettings(sequential=False, primary_metric="add_to_cart_rate")
    assert fixed.primary_metric == "add_to_cart_rate"
    assert experiment_results(units, fixed).height == 10


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match=r"lack the columns \['pre_orders'"):
        experiment_results(_units("x", 10, 10, 0.1, 0.1).drop("pre_orders", "pre_revenue"))
    with pytest.raises(ValueError, match="primary_metric must be one of"):
        ExperimentSettings(primary_metric="bounce_rate")
    assert experiment_results(pl.DataFrame(schema=UNIT_COLUMNS)).height == 0
