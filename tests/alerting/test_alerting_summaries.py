"""Incident summaries (alerting.summaries): per-type templates over the alert's numbers, a
generic fallback, one-line registration, and the summary column of the alerts table."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from alerting import merge_alerts
from alerting.rules import build_candidates
from alerting.state import ALERTS_SCHEMA
from alerting.summaries import SUMMARY_TEMPLATES, summarize
from tests.alerting.alerting_helpers import NOW, _cand, _cands

STARTED = datetime(2026, 3, 20, 6, 30, tzinfo=UTC)


def _alert(alert_type: str, metrics: dict, message: str = "msg", **extra) -> dict:
    return {
        "alert_type": alert_type,
        "entity_id": "shop:1001",
        "severity": "warning",
        "metrics": json.dumps(metrics),
        "message": message,
        "episode": 1,
        "episode_started_at": STARTED,
        "impact_base": None,
        **extra,
    }


def test_high_risk_order_summary():
    alert = _alert(
        "high_risk_orders",
        {"risk_score": 87.4, "net_amount_base": 1234.5, "reasons": "3 earlier orders cancelled"},
    )
    assert summarize(alert) == (
        "Order shop:1001 looks risky: 3 earlier orders cancelled. "
        "Open since 2026-03-20 06:30 UTC. Risk 87/100, 1,234.50 at stake. "
        "Check hold the order before it ships; look at the buyer's other orders, e-mail and "
        "address, and the payment."
    )


def test_stock_summary_with_escalation_and_reopening():
    alert = _alert(
        "stockout_imminent",
        {"min_days_of_cover": 3.2, "lead_time_days": 28, "revenue_at_risk_base": 4200.0,
         "locations": 2, "suggested_order_quantity": 120},
        message="MUG at Amazon.de FBA: 3 days of cover",
        episode=2, severity="critical", previous_severity="warning",
        severity_changed_at=datetime(2026, 3, 21, tzinfo=UTC),
    )  # fmt: skip
    assert summarize(alert) == (
        "MUG at Amazon.de FBA: 3 days of cover. Open since 2026-03-20 06:30 UTC (reopened, "
        "episode 2); warning -> critical on 2026-03-21. 3 days of stock cover, against a lead "
        "time of 28 days, 4,200 of revenue at risk, 2 location(s) affected. Check open purchase "
        "orders and inbound shipments; order about 120 units if nothing is on the way."
    )


def test_account_health_summary():
    alert = _alert(
        "account_health",
        {"rate": 0.031, "threshold": 0.025, "iso_week": "2026-W11", "orders": 412},
        message="amazon_na cancellation rate 3.1% in 2026-W11",
    )
    assert summarize(alert) == (
        "amazon_na cancellation rate 3.1% in 2026-W11. Open since 2026-03-20 06:30 UTC. "
        "3.1% against the marketplace's limit of 2.5%, week 2026-W11, 412 orders. Check the "
        "orders behind the rate before the marketplace acts on the account."
    )


@pytest.mark.parametrize(
    ("alert_type", "metrics", "expected"),
    [
        ("sales_anomaly", {"y": 50, "baseline": 200, "change_pct": -75, "ds": "2026-03-19"},
         "50 against a usual 200, -75%, on 2026-03-19."),
        ("trending_product", {"recent_total": 90, "previous_total": 30, "growth_pct": 200},
         "90 in the recent window vs 30 before, up 200%."),
        ("price_change", {"old_price": 20, "new_price": 25, "change_pct": 25, "currency": "USD"},
         "20.00 -> 25.00 USD, +25.0%."),
        ("stale_data", {"age_hours": 30, "allowed_hours": 12}, "Last data 30 hours ago, 12 hours allowed."),
        ("stale_data", {"age_hours": None}, "No data ever landed."),
        ("price_drop", {"price_change_pct": -0.28, "is_lowest_price_30d": True},
         "-28.0%, the lowest price in 30 days."),
        ("back_in_stock", {"available_quantity": 7}, "7 units available."),
        ("review_burst", {"reviews_7d": 12, "expected_reviews_7d": 0.8,
                          "new_reviewer_share_7d": 0.75},
         "12 reviews in 7 days, against about 0.8 its sales lead to expect, 75% by new, "
         "unverified reviewers."),
        ("rating_drop", {"avg_rating_7d": 1.6, "avg_rating_prior_90d": 4.4, "reviews_7d": 9},
         "Average 1.60 stars over 7 days, from 4.40 in the 90 days before, 9 reviews."),
        ("suspicious_listing", {"trust_score": 31, "suspicious_reviews": 14, "reviews": 40},
         "Trust 31/100, 14 of 40 reviews suspicious."),
    ],
)  # fmt: skip
def test_every_type_says_how_big_and_what_to_check(alert_type, metrics, expected):
    text = summarize(_alert(alert_type, metrics))
    assert text.startswith("msg. Open since 2026-03-20 06:30 UTC. ")
    assert expected in text and " Check " in text


def test_unknown_types_get_the_generic_summary_and_registering_is_one_line(monkeypatch):
    alert = _alert(
        "loyalty_points", {"reviews": 40}, message="40 five-star reviews", impact_base=900.0
    )
    assert summarize(alert) == (
        "40 five-star reviews. Open since 2026-03-20 06:30 UTC. 900 at stake. "
        "Check the numbers behind the alert (metrics)."
    )
    monkeypatch.setitem(
        SUMMARY_TEMPLATES,
        "loyalty_points",
        lambda a: (None, f"{a['metrics']['reviews']} reviews in a day", "the reviewers"),
    )
    assert summarize(alert).endswith("40 reviews in a day. Check the reviewers.")


def test_every_templated_type_survives_empty_metrics():
    for alert_type in SUMMARY_TEMPLATES:
        text = summarize(_alert(alert_type, {}))
        assert "Open since 2026-03-20 06:30 UTC." in text and "Check " in text


def test_open_alerts_get_a_summary_and_an_older_table_without_the_column_merges():
    first = merge_alerts(None, _cands(_cand("A", "warning", 9), _cand("B", "critical", 2)), NOW)
    assert first.schema == pl.Schema(ALERTS_SCHEMA)
    assert first["summary"].str.contains(f"Open since {NOW:%Y-%m-%d %H:%M} UTC").all()
    # a table stored before the summary column existed
    old = first.drop("summary")
    later = NOW + timedelta(days=1)
    merged = merge_alerts(old, _cands(_cand("A", "critical", 3)), later)
    by_id = {r["entity_id"]: r for r in merged.iter_rows(named=True)}
    assert "warning -> critical" in by_id["A"]["summary"]
    assert by_id["B"]["status"] == "resolved" and by_id["B"]["summary"] is None
    # once resolved, an alert keeps the summary it had while open
    kept = merge_alerts(first, _cands(_cand("A", "warning", 9)), later)
    resolved = kept.filter(pl.col("entity_id") == "B").row(0, named=True)
    assert resolved["status"] == "resolved"
    assert resolved["summary"] == first.filter(pl.col("entity_id") == "B")["summary"][0]


def test_high_risk_order_alerts_reach_the_table_with_their_summary():
    scores = pl.DataFrame(
        [{"order_id": "shop:9", "channel": "shopify", "connection_name": "shop",
          "customer_id": "c", "ordered_at": NOW - timedelta(hours=2), "net_amount_base": 80.0,
          "risk_score": 85.0, "rule_score": 80.0, "anomaly_score": 99.0, "is_high_risk": True,
          "reasons": "2 earlier orders cancelled"}]
    )  # fmt: skip
    alerts = merge_alerts(None, build_candidates(NOW, order_risk=scores), NOW)
    [summary] = alerts["summary"].to_list()
    assert summary.startswith("Order shop:9 looks risky: 2 earlier orders cancelled. Open since")
    assert "Risk 85/100, 80.00 at stake." in summary
