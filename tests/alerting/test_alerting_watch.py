"""Price-watch alerts (alerting.watch): off by default, one per event, configurable severity."""

from datetime import UTC, date, datetime
from decimal import Decimal

import polars as pl
import pytest

from alerting import AlertRuleSettings, build_candidates
from alerting.candidates import CANDIDATE_SCHEMA, alert_id
from alerting.watch import price_watch_alerts

NOW = datetime(2026, 3, 21, 8, tzinfo=UTC)
EVENTS = pl.DataFrame(
    [
        {"event_type": "price_drop", "event_date": date(2026, 3, 20), "channel": "shopify",
         "connection_name": "shopify_us", "listing_id": "L1", "product_id": "MUG",
         "previous_price": Decimal("25"), "price": Decimal("18"), "currency": "USD",
         "price_change_pct": -0.28, "lowest_price_30d": Decimal("20"),
         "is_lowest_price_30d": True, "available_quantity": None},
        {"event_type": "back_in_stock", "event_date": date(2026, 3, 19), "channel": "amazon",
         "connection_name": "amazon_na", "listing_id": None, "product_id": "CUP",
         "previous_price": None, "price": None, "currency": None, "price_change_pct": None,
         "lowest_price_30d": None, "is_lowest_price_30d": None, "available_quantity": 7},
        {"event_type": "new_listing", "event_date": date(2026, 3, 1), "channel": "shopify",
         "connection_name": "shopify_us", "listing_id": "L2", "product_id": "BOWL",
         "previous_price": None, "price": Decimal("10"), "currency": "USD",
         "price_change_pct": None, "lowest_price_30d": None, "is_lowest_price_30d": None,
         "available_quantity": None},
    ]
)  # fmt: skip


def test_off_by_default_for_the_sellers_own_listings():
    assert price_watch_alerts(EVENTS, AlertRuleSettings(), NOW).is_empty()
    assert build_candidates(NOW, price_and_stock_events=EVENTS).is_empty()


def test_enabled_types_give_one_alert_per_recent_event_with_their_severity():
    settings = AlertRuleSettings(
        price_watch_types=["price_drop", "back_in_stock", "new_listing"],
        price_watch_severity={"price_drop": "warning"},
    )
    out = build_candidates(NOW, settings, price_and_stock_events=EVENTS)
    assert out.schema == pl.Schema(CANDIDATE_SCHEMA)
    # the new listing is 20 days old: past price_watch_days (7)
    assert sorted(out["alert_type"]) == ["back_in_stock", "price_drop"]
    drop = out.filter(pl.col("alert_type") == "price_drop").row(0, named=True)
    assert drop["severity"] == "warning"
    assert drop["alert_id"] == alert_id(
        "price_drop", "price_and_stock_event", "price_drop:shopify_us:L1:2026-03-20"
    )
    assert drop["message"] == (
        "MUG on shopify (shopify_us): price dropped from 25.00 to 18.00 USD (-28.0%) on "
        "2026-03-20 — the lowest price in 30 days"
    )
    restock = out.filter(pl.col("alert_type") == "back_in_stock").row(0, named=True)
    assert restock["severity"] == "info" and "7 units" in restock["message"]
    only = AlertRuleSettings(price_watch_types=["back_in_stock"], price_watch_days=30)
    assert price_watch_alerts(EVENTS, only, NOW)["alert_type"].to_list() == ["back_in_stock"]


def test_bad_settings_are_clear_errors():
    with pytest.raises(ValueError, match="unknown price-watch alert types"):
        AlertRuleSettings(price_watch_types=["price_rise"])
    with pytest.raises(ValueError, match="price_watch_severity"):
        AlertRuleSettings(price_watch_severity={"price_drop": "urgent"})
