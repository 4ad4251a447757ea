"""Order risk scores on hand-made orders with known answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from pydantic import ValidationError

from models_ml.order_risk import NEUTRAL, OrderRiskSettings, evaluate, score_orders

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _orders(n: int = 40, **special: dict) -> pl.DataFrame:
    """``n`` plain repeat orders of 20.00, then one order per keyword with those features."""
    rows = []
    for i in range(n):
        rows.append({"order_id": f"o{i}", "net_amount_base": 20.0 + i % 5, "is_first_order": False})
    for order_id, features in special.items():
        rows.append(
            {"order_id": order_id, "net_amount_base": 20.0, "is_first_order": False, **features}
        )
    frame = pl.DataFrame(rows, infer_schema_length=None)
    return frame.with_columns(
        pl.lit("shopify").alias("channel"),
        pl.lit("shop").alias("connection_name"),
        pl.format("c-{}", "order_id").alias("customer_id"),
        pl.Series("ordered_at", [T0 + timedelta(hours=i) for i in range(frame.height)]),
        *(
            pl.col(name).cast(pl.Float64)
            if name in frame.columns
            else pl.lit(None, pl.Float64).alias(name)
            for name in NEUTRAL
        ),
    )


def test_rule_points_add_up_and_name_their_reasons():
    features = _orders(
        ring={"email_orders_1h": 3, "email_new_identities_24h": 3, "email_orders_24h": 2},
        refunder={"prior_refunded_orders": 4, "prior_refund_share": 0.8, "prior_orders": 5},
        big={"is_first_order": True, "first_order_value_ratio": 7.25},
        almost={"email_orders_24h": 2, "prior_cancelled_orders": 1, "prior_refunded_orders": 1},
    )
    settings = OrderRiskSettings(anomaly_weight=0)
    scored = score_orders(features, settings).filter(
        pl.col("order_id").is_in(["ring", "refunder", "big", "almost", "o0"])
    )
    got = {r["order_id"]: r for r in scored.iter_rows(named=True)}
    # 35 (1 h velocity) + 35 (new identities); the 24 h rule needs 3
    assert got["ring"]["risk_score"] == 70.0 and got["ring"]["is_high_risk"]
    assert got["ring"]["reasons"] == (
        "3 other orders under the same e-mail in the hour before; "
        "3 new customer ids under the same e-mail in 24 hours"
    )
    assert got["refunder"]["risk_score"] == 60.0
    assert got["refunder"]["reasons"] == "4 earlier orders refunded; 80% of earlier orders refunded"
    assert got["big"]["risk_score"] == 30.0 and not got["big"]["is_high_risk"]
    assert got["big"]["reasons"] == "first order 7.2x the typical first order"
    assert got["almost"]["risk_score"] == 0.0 and got["almost"]["reasons"] == ""
    assert got["o0"]["risk_score"] == 0.0


def test_configured_rules_override_the_defaults():
    features = _orders(big={"is_first_order": True, "first_order_value_ratio": 7.25})
    settings = OrderRiskSettings(
        anomaly_weight=0, threshold=45, rules={"big_first_order": {"threshold": 3, "weight": 45}}
    )
    row = score_orders(features, settings).filter(pl.col("order_id") == "big").row(0, named=True)
    assert row["risk_score"] == 45.0 and row["is_high_risk"]
    off = OrderRiskSettings(
        anomaly_weight=0, rules={"big_first_order": {"threshold": 3, "weight": 0}}
    )
    assert score_orders(features, off).filter(pl.col("order_id") == "big")["risk_score"][0] == 0.0


def test_the_rule_score_is_capped_and_blended_with_the_anomaly_percentile():
    everything = {name: 50.0 for name in NEUTRAL} | {"prior_refund_share": 1.0}
    features = _orders(worst=everything)
    scored = score_orders(features, OrderRiskSettings(anomaly_weight=0.25))
    worst = scored.filter(pl.col("order_id") == "worst").row(0, named=True)
    assert worst["rule_score"] == 100.0
    # the only order unlike the others is the forest's most unusual: percentile 100
    assert worst["anomaly_score"] == 100.0
    assert worst["risk_score"] == 100.0
    assert "isolation forest, top 0.1%" in worst["reasons"]
    plain = scored.filter(pl.col("order_id") != "worst")
    assert plain["rule_score"].max() == 0.0
    assert plain["risk_score"].max() <= 25.0  # the anomaly part alone cannot reach 50
    assert scored.equals(score_orders(features, OrderRiskSettings(anomaly_weight=0.25)))


def test_few_orders_score_by_the_rules_alone():
    features = _orders(n=3, ring={"email_orders_1h": 2})
    scored = score_orders(features, OrderRiskSettings())
    assert scored["anomaly_score"].to_list() == [0.0] * 4
    assert scored.filter(pl.col("order_id") == "ring")["risk_score"][0] == 26.2  # 0.75 x 35


def test_bad_settings_and_inputs_are_clear_errors():
    with pytest.raises(ValidationError, match="unknown order risk rule"):
        OrderRiskSettings(rules={"velocity": {"threshold": 1, "weight": 10}})
    with pytest.raises(ValidationError, match="less than or equal to 100"):
        OrderRiskSettings(rules={"prior_refunds": {"threshold": 1, "weight": 120}})
    with pytest.raises(ValidationError, match="greater than 0"):
        OrderRiskSettings(threshold=0)
    with pytest.raises(ValueError, match=r"lack column\(s\) \['email_orders_1h'\]"):
        score_orders(_orders().drop("email_orders_1h"), OrderRiskSettings())


def test_evaluate_counts_precision_and_recall():
    scored = pl.DataFrame(
        {"order_id": ["a", "b", "c", "d", "e"], "is_high_risk": [True, True, False, True, False]}
    )
    got = evaluate(scored, ["a", "c", "d", "f", "x"])  # f and x are not in the warehouse
    assert got == {
        "orders": 5,
        "fraud_orders": 3,
        "flagged": 3,
        "true_positives": 2,
        "precision": 0.6667,
        "recall": 0.6667,
    }
    assert evaluate(scored.head(0), [])["precision"] == 0.0
