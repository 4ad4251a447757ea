"""Shared by the alerting tests (test_alerting_*.py): the fixed clock, the default rule
settings, and hand-made alert candidates."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import polars as pl

from alerting import (
    CANDIDATE_SCHEMA,
    AlertRuleSettings,
)
from alerting.rules import alert_id

NOW = datetime(2024, 3, 11, 12, 0, tzinfo=UTC)
RULES = AlertRuleSettings()


def _cand(
    aid_key: str,
    severity: str,
    value: int,
    alert_type: str = "low_stock",
    impact: float | None = None,
) -> dict:
    return {
        "alert_id": alert_id(alert_type, "stock_location", aid_key),
        "alert_type": alert_type,
        "severity": severity,
        "entity_type": "stock_location",
        "entity_id": aid_key,
        "channel": "amazon",
        "connection_name": "amazon_eu",
        "metrics": json.dumps({"days_of_cover": value}),
        "message": f"{aid_key}: {value} days of cover",
        "detected_at": NOW,
        "impact_base": impact,
    }


def _cands(*rows: dict) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=CANDIDATE_SCHEMA, orient="row")
