"""alerting: every rule on hand-made frames (inventory, sales anomalies and trending, price
changes, stale data, account health), stable alert ids, and the candidates they combine into."""

from __future__ import annotations

import json
from datetime import date, timedelta

import polars as pl
import pytest

from alerting import (
    CANDIDATE_SCHEMA,
    AlertRuleSettings,
    build_candidates,
)
from alerting.rules import (
    account_health_alerts,
    alert_id,
    inventory_alerts,
    price_change_alerts,
    sales_anomaly_alerts,
    stale_data_alerts,
    trending_alerts,
)
from models_ml.anomaly import score_anomalies
from tests.alerting.alerting_helpers import (
    NOW,
    RULES,
)

# ---------------------------------------------------------------- rules


def _inventory() -> tuple[pl.DataFrame, pl.DataFrame]:
    base = {
        "channel": "amazon",
        "connection_name": "amazon_eu",
        "location_type": "FBA",
    }
    health = pl.DataFrame(
        [
            # 20 available / 5 a day = 4 days, lead time 28: stockout imminent, critical
            {
                **base,
                "inventory_health_id": "amazon_eu:A1PA6795UKMFR9:CH-00042",
                "product_id": "CH-00042",
                "location_id": "A1PA6795UKMFR9",
                "location_name": "Amazon.de FBA",
                "available_quantity": 20,
                "daily_demand": 5.0,
                "days_of_cover": 4.0,
                "lead_time_days": 28,
            },
            # 10 days of cover, lead time 5: low stock (info: not below 7 days)
            {
                **base,
                "inventory_health_id": "amazon_eu:M:CH-2",
                "product_id": "CH-2",
                "location_id": "M",
                "location_name": "Amazon.fr",
                "available_quantity": 10,
                "daily_demand": 1.0,
                "days_of_cover": 10.0,
                "lead_time_days": 5,
            },
            # plenty of cover but at the reorder point (high variability): reorder_now
            {
                **base,
                "inventory_health_id": "amazon_eu:M:CH-3",
                "product_id": "CH-3",
                "location_id": "M",
                "location_name": "Amazon.fr",
                "available_quantity": 30,
                "daily_demand": 1.0,
                "days_of_cover": 30.0,
                "lead_time_days": 20,
            },
            # no demand: nothing
            {
                **base,
                "inventory_health_id": "amazon_eu:M:CH-4",
                "product_id": "CH-4",
                "location_id": "M",
                "location_name": "Amazon.fr",
                "available_quantity": 0,
                "daily_demand": 0.0,
                "days_of_cover": None,
                "lead_time_days": 20,
            },
        ]
    )
    plan = health.select(
        pl.col("inventory_health_id").alias("replenishment_plan_id"),
        "product_id",
        "channel",
        "connection_name",
        "location_id",
        "location_name",
        "location_type",
        "available_quantity",
        "days_of_cover",
        "lead_time_days",
    ).with_columns(
        pl.Series("replenishment_status", ["order_now", "ok", "order_now", "no_demand"]),
        pl.Series("suggested_order_quantity", [120, 0, 15, 0]),
        pl.Series("reorder_by_date", [date(2024, 3, 11)] * 4),
    )
    return health, plan


def test_inventory_rules():
    health, plan = _inventory()
    out = inventory_alerts(health, plan, RULES, NOW)
    assert out.schema == pl.Schema(CANDIDATE_SCHEMA)
    got = {r["entity_id"]: r for r in out.to_dicts()}
    assert set(got) == {"CH-00042", "CH-2", "CH-3"}
    assert set(out["entity_type"]) == {"product_stock"}
    a = got["CH-00042"]
    assert (a["alert_type"], a["severity"]) == ("stockout_imminent", "critical")
    assert a["message"] == (
        "CH-00042 runs out before the next delivery at Amazon.de FBA: 4.0 days of stock left,"
        " next delivery needs 28 days — reorder 120 units now"
    )
    assert json.loads(a["metrics"])["suggested_order_quantity"] == 120
    assert (a["channel"], a["connection_name"]) == ("amazon", "amazon_eu")
    assert a["detected_at"] == NOW
    assert (got["CH-2"]["alert_type"], got["CH-2"]["severity"]) == ("low_stock", "info")
    assert got["CH-3"]["alert_type"] == "reorder_now"
    assert "reorder 15 units by 2024-03-11" in got["CH-3"]["message"]
    # low stock below 7 days is a warning; with the stricter setting CH-2 is no alert at all
    assert inventory_alerts(health, plan, AlertRuleSettings(low_stock_days=8), NOW).height == 2
    warn = AlertRuleSettings(low_stock_warning_days=11)
    assert "warning" in inventory_alerts(health, None, warn, NOW)["severity"].to_list()


def test_stock_alerts_are_one_per_product_across_locations():
    """A product short at three locations is ONE alert: the most urgent kind wins, the worst
    location is named, the others counted, quantities and revenue at risk summed; a location
    whose inbound stock covers the lead time is not pushed (info)."""
    loc = {"channel": "shopify", "connection_name": "shopify_us", "location_type": "warehouse"}
    rows = [  # (location, available, demand, cover, lead, status, qty, revenue at risk)
        ("NJ", 6, 2.0, 3.0, 14, "order_now", 40, 300.0),
        ("NY", 10, 2.0, 5.0, 14, "order_now", 25, 200.0),
        ("LA", 50, 1.0, 50.0, 14, "order_now", 10, 0.0),  # at its reorder point only
    ]
    health = pl.DataFrame(
        [
            {
                **loc,
                "inventory_health_id": f"shopify_us:{name}:SKU-1",
                "product_id": "SKU-1",
                "location_id": name,
                "location_name": f"Warehouse {name}",
                "available_quantity": avail,
                "daily_demand": demand,
                "days_of_cover": cover,
                "lead_time_days": lead,
                "revenue_at_risk_base": risk,
            }
            for name, avail, demand, cover, lead, _, _, risk in rows
        ]
    )
    plan = health.select(
        pl.col("inventory_health_id").alias("replenishment_plan_id"),
        *(c for c in health.columns if c not in ("inventory_health_id", "revenue_at_risk_base")),
    ).with_columns(
        pl.Series("replenishment_status", [r[5] for r in rows]),
        pl.Series("suggested_order_quantity", [r[6] for r in rows]),
        pl.Series("reorder_by_date", [date(2024, 3, 11)] * 3),
    )
    out = inventory_alerts(health, plan, RULES, NOW)
    assert out.height == 1
    a = out.row(0, named=True)
    assert (a["alert_type"], a["severity"], a["entity_id"]) == (
        "stockout_imminent",
        "critical",  # NJ: 3 days <= stockout_critical_days
        "SKU-1",
    )
    assert a["message"].startswith(
        "SKU-1 runs out before the next delivery at Shopify Warehouse NJ and 1 other location: "
        "3.0 days of stock left"
    )
    assert a["message"].endswith("reorder 65 units now")  # NJ + NY, not LA (reorder point only)
    metrics = json.loads(a["metrics"])
    assert (metrics["locations"], metrics["suggested_order_quantity"]) == (2, 65)
    assert a["impact_base"] == pytest.approx(500.0)
    assert a["alert_id"] == alert_id("stockout_imminent", "product_stock", "SKU-1")
    # inbound stock covers NJ and NY: nothing to order, the alert stays in the table as info
    covered = plan.with_columns(pl.Series("suggested_order_quantity", [0, 0, 10]))
    b = inventory_alerts(health, covered, RULES, NOW).row(0, named=True)
    assert (b["alert_type"], b["severity"]) == ("stockout_imminent", "info")
    assert "inbound stock covers it" in b["message"]


def test_alert_ids_are_stable_and_ignore_numbers():
    health, plan = _inventory()
    first = inventory_alerts(health, plan, RULES, NOW)
    moved = health.with_columns(
        (pl.col("days_of_cover") * 0.5).alias("days_of_cover"),
        (pl.col("available_quantity") // 2).alias("available_quantity"),
    )
    second = inventory_alerts(moved, plan, RULES, NOW + timedelta(days=1))
    key = ["alert_type", "entity_id"]
    same = first.select(*key, "alert_id").join(second.select(*key, "alert_id"), on=key)
    assert same.height == 2  # CH-00042 still imminent, CH-2 still low (CH-3 changed type)
    assert same["alert_id"].to_list() == same["alert_id_right"].to_list()
    assert first["metrics"].to_list() != second["metrics"].to_list()
    assert alert_id("low_stock", "stock_location", "x") == alert_id(
        "low_stock", "stock_location", "x"
    )
    assert alert_id("low_stock", "stock_location", "x") != alert_id(
        "low_stock", "stock_location", "y"
    )
    assert alert_id("low_stock", "stock_location", "x") != alert_id(
        "stockout_imminent", "stock_location", "x"
    )


def test_sales_anomaly_and_trending_rules():
    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(70)]
    y = [100.0 + (i % 7) for i in range(70)]
    y[-1] = 400.0
    hist = pl.DataFrame(
        {
            "unique_id": "revenue|channel|amazon",
            "metric": "revenue",
            "entity_type": "channel",
            "entity_id": "amazon",
            "ds": days,
            "y": y,
        }
    )
    scored = score_anomalies(hist)
    out = sales_anomaly_alerts(scored, RULES, NOW)
    assert out.height == 1
    r = out.row(0, named=True)
    assert (r["alert_type"], r["severity"], r["channel"]) == ("sales_anomaly", "critical", "amazon")
    assert r["entity_id"] == "revenue|channel|amazon|spike"
    assert r["message"].startswith("Amazon revenue spiked on 2024-03-10: 400 vs usual")
    # an anomaly that is not among the last days is not current
    assert sales_anomaly_alerts(scored.filter(pl.col("ds") < days[-1]), RULES, NOW).height == 0
    trending = pl.DataFrame(
        {
            "unique_id": ["units|product|CH-1", "units|product|CH-2"],
            "metric": "units",
            "entity_type": "product",
            "entity_id": ["CH-1", "CH-2"],
            "window_end_date": date(2024, 3, 10),
            "recent_total": [60.0, 3.0],
            "previous_total": [20.0, 1.0],
            "growth_pct": [200.0, 200.0],
            "p_value": [1e-6, 0.3],
            "is_trending_up": [True, False],
        }
    )
    t = trending_alerts(trending, RULES, NOW)
    assert t["entity_id"].to_list() == ["units|product|CH-1"]
    assert t["severity"].item() == "warning" and "up 200%" in t["message"].item()


def test_price_change_rule():
    prices = pl.DataFrame(
        {
            "listing_id": ["L1", "L1", "L2", "L2", "L3"],
            "product_id": ["CH-1", "CH-1", "CH-2", "CH-2", "CH-3"],
            "channel": "shopify",
            "connection_name": "shop",
            "version_number": [1, 2, 1, 2, 1],
            "price": [10.0, 12.5, 5.0, 4.0, 7.0],
            "currency": "EUR",
            "valid_from": [
                date(2024, 1, 1),
                date(2024, 3, 9),
                date(2024, 1, 1),
                date(2024, 2, 1),
                date(2024, 3, 10),
            ],
        }
    )
    out = price_change_alerts(prices, RULES, NOW)
    assert out["entity_id"].to_list() == ["L1:2"]  # L2 changed long ago, L3 never changed
    r = out.row(0, named=True)
    m = json.loads(r["metrics"])
    assert (m["old_price"], m["new_price"], m["change_pct"]) == (10.0, 12.5, 25.0)
    assert r["severity"] == "warning"  # |25%| >= 20%
    assert "from 10.00 to 12.50 EUR (+25.0%)" in r["message"]
    assert price_change_alerts(prices, RULES, NOW + timedelta(days=10)).height == 0


def test_stale_data_rule():
    fresh = pl.DataFrame(
        {
            "connection_name": ["a", "b", "c", "d"],
            "entity": ["orders", "inventory", "orders", "listings"],
            "last_partition_date": [None, date(2024, 3, 8), None, date(2024, 3, 1)],
            "last_extracted_at": [NOW - timedelta(hours=2), None, None, None],
            "expected_cadence_hours": [24.0, 24.0, 24.0, 24.0],
        }
    )
    out = stale_data_alerts(fresh, RULES, NOW)
    got = {r["entity_id"]: r for r in out.to_dicts()}
    assert set(got) == {"b:inventory", "c:orders", "d:listings"}
    # b: data up to the end of 03-08 = 60 h old > 24 + 6 h: warning (critical beyond 90 h)
    assert got["b:inventory"]["severity"] == "warning"
    assert json.loads(got["b:inventory"]["metrics"])["age_hours"] == 60.0
    assert got["c:orders"]["severity"] == "critical"  # never arrived
    assert got["d:listings"]["severity"] == "critical"  # 228 h > 3 x 30 h


def test_account_health_rule_uses_latest_complete_week():
    rows = []
    for week, start, partial, canc, late in (
        ("2024-W09", date(2024, 2, 26), False, False, True),
        ("2024-W10", date(2024, 3, 4), False, True, False),
        ("2024-W11", date(2024, 3, 11), True, False, True),
    ):
        rows.append(
            {
                "channel": "amazon",
                "connection_name": "amazon_eu",
                "iso_week": week,
                "week_start_date": start,
                "is_partial_week": partial,
                "orders": 60,
                "cancellation_rate": 0.1667 if canc else 0.01,
                "cancellation_rate_threshold": 0.1,
                "late_shipment_rate": 0.3 if late else 0.0,
                "late_shipment_rate_threshold": 0.25,
                "refund_rate": 0.02,
                "refund_rate_threshold": None,
                "is_cancellation_breach": canc,
                "is_late_shipment_breach": late,
                "is_refund_breach": False,
            }
        )
    out = account_health_alerts(pl.DataFrame(rows), RULES, NOW)
    assert out["entity_id"].to_list() == ["amazon_eu:cancellation_rate"]
    assert out["severity"].item() == "critical"
    assert out["message"].item() == (
        "amazon_eu (Amazon): cancellation rate 16.7% in 2024-W10 is above the marketplace limit"
        " of 10.0%"
    )


def test_build_candidates_combines_rules():
    health, plan = _inventory()
    out = build_candidates(NOW, inventory_health=health, replenishment_plan=plan)
    assert out.height == 3 and out["alert_id"].is_unique().all()
    assert build_candidates(NOW).height == 0
