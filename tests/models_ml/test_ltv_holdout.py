"""models_ml.ltv_holdout: predicted vs actual revenue per decile of predicted value (issue 15)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from models_ml.ltv_fit import InsufficientDataError
from models_ml.ltv_holdout import VALUE_HOLDOUT_SCHEMA, value_holdout
from models_ml.settings import LtvSettings

START, END = date(2023, 1, 1), date(2025, 6, 30)


def _orders() -> pl.DataFrame:
    """600 customers with a steady rate each (gamma mixed) and a spend level each, some of
    whom stop: close to BG/NBD's own assumptions, so the aggregate must come out close."""
    rng = np.random.default_rng(7)
    rows = []
    span = (END - START).days
    for c in range(600):
        rate = rng.gamma(2.0, 1 / 60)  # purchases per day
        spend = rng.gamma(4.0, 10.0)
        day = int(rng.integers(0, 300))
        stop = day + int(rng.exponential(900))
        while day <= min(stop, span):
            rows.append((str(c), START + timedelta(days=day), spend * rng.uniform(0.8, 1.2)))
            day += max(1, int(rng.exponential(1 / rate)))
    return pl.DataFrame(rows, schema=["customer_id", "order_date", "amount"], orient="row")


def test_deciles_add_up_and_the_aggregate_is_close() -> None:
    table = value_holdout(_orders(), END, LtvSettings())
    assert table.schema == pl.Schema(VALUE_HOLDOUT_SCHEMA)
    assert sorted(table["horizon_days"].unique()) == [90, 365]
    for h in (90, 365):
        rows = table.filter(pl.col("horizon_days") == h)
        deciles = rows.filter(pl.col("bucket") != "total").sort("bucket")
        total = rows.filter(pl.col("bucket") == "total").row(0, named=True)
        assert deciles.height == 10
        assert deciles["n_customers"].sum() == total["n_customers"]
        assert deciles["actual_value"].sum() == pytest.approx(total["actual_value"])
        # decile 1 holds the highest predictions, and (the model ranks well) the most revenue
        assert deciles["predicted_value"].to_list() == sorted(
            deciles["predicted_value"], reverse=True
        )
        assert deciles["actual_value"][0] == deciles["actual_value"].max()
        assert abs(total["error_pct"]) < 20, (h, total)  # the seed's bar, in aggregate
        assert total["calibration_end"] == END - timedelta(days=h)


def test_nothing_after_the_calibration_end_moves_the_predictions() -> None:
    orders = _orders()
    base = value_holdout(orders, END, LtvSettings())
    cut = END - timedelta(days=90)
    more = pl.DataFrame(
        {
            "customer_id": ["1", "2"],
            "order_date": [cut + timedelta(days=5)] * 2,
            "amount": [500.0] * 2,
        }
    )
    changed = value_holdout(pl.concat([orders, more]), END, LtvSettings())
    b, c = (t.filter(pl.col("horizon_days") == 90).sort("bucket") for t in (base, changed))
    # the same fit up to the optimizer's tolerance (row order changes the summation order)
    assert b["predicted_value"].to_list() == pytest.approx(c["predicted_value"].to_list(), rel=1e-4)
    assert c.filter(pl.col("bucket") == "total")["actual_value"][0] == pytest.approx(
        b.filter(pl.col("bucket") == "total")["actual_value"][0] + 1000.0
    )


def test_a_short_history_says_why() -> None:
    short = _orders().filter(pl.col("order_date") > END - timedelta(days=200))
    with pytest.raises(InsufficientDataError, match="no horizon"):
        value_holdout(short, END, LtvSettings())
