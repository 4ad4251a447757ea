"""High-risk order alerts (alerting.risk): one per flagged recent order, severity by score."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from alerting import AlertRuleSettings, build_candidates
from alerting.candidates import CANDIDATE_SCHEMA, alert_id
from alerting.risk import high_risk_order_alerts

NOW = datetime(2026, 3, 21, 8, tzinfo=UTC)


def _scores() -> pl.DataFrame:
    rows = [
        ("shop:1", 92.5, True, NOW - timedelta(hours=5), "4 earlier orders cancelled"),
        ("shop:2", 61.0, True, NOW - timedelta(days=2), ""),
        ("shop:3", 70.0, True, NOW - timedelta(days=4), "old"),  # outside 3 days
        ("shop:4", 20.0, False, NOW - timedelta(hours=1), ""),  # not flagged
        ("shop:5", 99.0, True, NOW + timedelta(hours=1), "later"),  # after now
    ]
    return pl.DataFrame(
        [
            {
                "order_id": oid, "channel": "shopify", "connection_name": "shop",
                "customer_id": "cus_1", "ordered_at": at, "net_amount_base": 120.0,
                "risk_score": score, "rule_score": score, "anomaly_score": 50.0,
                "is_high_risk": flagged, "reasons": reasons,
            }
            for oid, score, flagged, at, reasons in rows
        ]
    )  # fmt: skip


def test_one_alert_per_recent_flagged_order():
    got = high_risk_order_alerts(_scores(), AlertRuleSettings(), NOW)
    assert got.schema == pl.Schema(CANDIDATE_SCHEMA)
    rows = {r["entity_id"]: r for r in got.iter_rows(named=True)}
    assert set(rows) == {"shop:1", "shop:2"}
    one = rows["shop:1"]
    assert one["alert_id"] == alert_id("high_risk_orders", "order", "shop:1")
    assert one["severity"] == "critical" and rows["shop:2"]["severity"] == "warning"
    assert one["message"] == (
        "Order shop:1 on shopify (shop): risk 92/100 — 4 earlier orders cancelled"
    )
    assert rows["shop:2"]["message"].endswith("risk 61/100 — an unusual order")
    assert one["impact_base"] == 120.0
    assert json.loads(one["metrics"])["risk_score"] == 92.5


def test_thresholds_come_from_the_rule_settings():
    settings = AlertRuleSettings(high_risk_lookback_days=5, high_risk_critical_score=60)
    got = high_risk_order_alerts(_scores(), settings, NOW)
    assert sorted(got["entity_id"]) == ["shop:1", "shop:2", "shop:3"]
    assert set(got["severity"]) == {"critical"}
    with pytest.raises(ValueError, match="less than or equal to 100"):
        AlertRuleSettings(high_risk_critical_score=150)


def test_the_warehouse_time_zone_and_naive_times_compare_as_utc():
    scores = _scores()
    for times in (
        pl.col("ordered_at").dt.convert_time_zone("Etc/UTC"),  # as DuckDB answers
        pl.col("ordered_at").dt.replace_time_zone(None),
    ):
        got = high_risk_order_alerts(scores.with_columns(times), AlertRuleSettings(), NOW)
        assert sorted(got["entity_id"]) == ["shop:1", "shop:2"]


def test_build_candidates_includes_high_risk_orders_and_tolerates_no_scores():
    got = build_candidates(NOW, order_risk=_scores())
    assert set(got["alert_type"]) == {"high_risk_orders"}
    assert build_candidates(NOW, order_risk=None).is_empty()
    assert high_risk_order_alerts(_scores().head(0), AlertRuleSettings(), NOW).is_empty()
