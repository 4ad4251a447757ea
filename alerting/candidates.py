"""The candidate rows every alert rule returns (CANDIDATE_SCHEMA, see ``alerting.rules``) and
their stable ids; shared by the rule modules (``rules``, ``watch``)."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import date, datetime
from typing import Any

import polars as pl

CANDIDATE_SCHEMA: dict[str, pl.DataType] = {
    "alert_id": pl.String(),
    "alert_type": pl.String(),
    "severity": pl.String(),
    "entity_type": pl.String(),
    "entity_id": pl.String(),
    "channel": pl.String(),
    "connection_name": pl.String(),
    "metrics": pl.String(),
    "message": pl.String(),
    "detected_at": pl.Datetime("us", "UTC"),
    "impact_base": pl.Float64(),
}

SEVERITY_RANK = {"info": 1, "warning": 2, "critical": 3}


def alert_id(alert_type: str, entity_type: str, entity_id: str) -> str:
    """Stable id of a condition: a hash of its type and entity key, never of its numbers."""
    return hashlib.sha256(f"{alert_type}|{entity_type}|{entity_id}".encode()).hexdigest()[:16]


def _num(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 4)
    if isinstance(value, (int, bool, str)):
        return value
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return round(float(value), 4)  # Decimal


def _candidate(
    alert_type: str,
    severity: str,
    entity_type: str,
    entity_id: str,
    message: str,
    metrics: dict[str, Any],
    now: datetime,
    channel: str | None = None,
    connection_name: str | None = None,
    impact: float | None = None,
) -> dict[str, Any]:
    return {
        "alert_id": alert_id(alert_type, entity_type, entity_id),
        "alert_type": alert_type,
        "severity": severity,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "channel": channel,
        "connection_name": connection_name,
        "metrics": json.dumps({k: _num(v) for k, v in metrics.items()}, sort_keys=True),
        "message": message,
        "detected_at": now,
        "impact_base": impact,
    }


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=CANDIDATE_SCHEMA, orient="row").sort("alert_id")
