"""models_ml.churn on hand-made customers with known answers (issue 15)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from models_ml.churn import (
    CHURN_SCHEMA,
    EVALUATION_SCHEMA,
    InsufficientDataError,
    churn_features,
    churn_scores,
    evaluate,
)
from models_ml.settings import ChurnSettings

START = date(2023, 1, 1)
END = date(2025, 6, 30)
SILENT = 1  # the customer silent for a year


def _orders(seed: int = 0) -> pl.DataFrame:
    """400 regulars who buy every 20-40 days until some quit (a quit date drawn per customer),
    plus customer 1, who bought monthly in 2023 and has been silent since mid-2024."""
    rng = np.random.default_rng(seed)
    rows = []
    span = (END - START).days
    for c in range(2, 402):
        day = int(rng.integers(0, 200))
        quit_day = int(rng.integers(100, span + 400))  # some never quit within the data
        gap = int(rng.integers(20, 40))
        channel = ("shopify", "amazon")[c % 2]
        while day <= min(quit_day, span):
            rows.append((c, START + timedelta(days=day), float(rng.uniform(20, 80)), channel))
            day += gap + int(rng.integers(-5, 6))
    rows += [(SILENT, START + timedelta(days=30 * m), 50.0, "shopify") for m in range(18)]
    return pl.DataFrame(
        rows, schema=["customer_id", "order_date", "amount", "channel"], orient="row"
    ).with_columns(pl.col("customer_id").cast(pl.String))


def test_a_customer_silent_for_a_year_scores_high_churn() -> None:
    orders = _orders()
    assert orders.filter(pl.col("customer_id") == str(SILENT))[
        "order_date"
    ].max() < END - timedelta(days=365)
    result = churn_scores(orders, ChurnSettings(), end=END)
    table = result.customer_churn
    assert table.schema == pl.Schema(CHURN_SCHEMA)
    silent = table.filter(pl.col("customer_id") == str(SILENT)).row(0, named=True)
    assert silent["p_churn_bgnbd"] > 0.9 and silent["p_churn_gradient_boosting"] > 0.9
    assert silent["risk_decile"] <= 3 and silent["p_alive"] < 0.1
    # a regular who bought last week scores low
    recent = (
        orders.group_by("customer_id")
        .agg(pl.col("order_date").max(), pl.len())
        .filter((pl.col("order_date") >= END - timedelta(days=7)) & (pl.col("len") >= 10))
    )["customer_id"]
    active = table.filter(pl.col("customer_id").is_in(recent.implode()))
    assert active.height > 10 and active["p_churn"].median() < 0.2
    assert table["model"].unique().to_list() == [result.model]


def test_time_split_evaluation_side_by_side() -> None:
    evaluation = evaluate(_orders(), END, ChurnSettings())
    assert evaluation.schema == pl.Schema(EVALUATION_SCHEMA)
    totals = evaluation.filter(pl.col("bucket") == "total")
    assert set(totals["model"]) == {"bgnbd", "gradient_boosting"}
    assert (totals["auc"] > 0.75).all(), totals
    assert (totals["top_decile_lift"] > 1.0).all()
    assert evaluation.filter("is_chosen")["model"].n_unique() == 1
    chosen = totals.filter("is_chosen")["auc"][0]
    assert chosen == totals["auc"].max()
    deciles = evaluation.filter(pl.col("bucket") != "total")
    assert deciles.group_by("model").len()["len"].to_list() == [10, 10]
    # a forced model is used whatever the scores
    forced = evaluate(_orders(), END, ChurnSettings(model="bgnbd"))
    assert forced.filter("is_chosen")["model"].unique().to_list() == ["bgnbd"]


def test_features_see_nothing_after_the_cutoff() -> None:
    orders = _orders()
    cutoff = END - timedelta(days=180)
    later = pl.DataFrame(
        {
            "customer_id": [str(SILENT), "5", "999"],
            "order_date": [cutoff + timedelta(days=1)] * 3,
            "amount": [1000.0] * 3,
            "channel": ["walmart"] * 3,
        }
    )
    a = churn_features(orders, cutoff, channels=["amazon", "shopify"])
    b = churn_features(pl.concat([orders, later]), cutoff, channels=["amazon", "shopify"])
    assert_frame_equal(a, b)  # float sums may differ in the last bit (summation order)


def test_activity_features_and_short_history() -> None:
    orders = _orders()
    activity = pl.DataFrame(
        {
            "customer_id": ["2", "2", "3"],
            "activity_date": [END, END - timedelta(days=200), END],
            "views": [3, 5, 1],
            "cart_adds": [1, 0, 2],
        }
    )
    f = churn_features(orders, END, activity)
    two = f.filter(pl.col("customer_id") == "2").row(0, named=True)
    assert two["views_90"] == 3 and two["cart_adds_90"] == 1
    assert f.filter(pl.col("customer_id") == "4")["views_90"][0] == 0
    short = orders.filter(pl.col("order_date") > END - timedelta(days=100))
    with pytest.raises(InsufficientDataError, match="days of orders"):
        churn_scores(short, ChurnSettings(), end=END)
    with pytest.raises(ValueError, match="lack the columns"):
        churn_features(orders.drop("amount"), END)
