"""High-risk orders (issue 17): ``analytics.order_risk`` -> alert candidates of the type
``high_risk_orders``, one per order the risk score flags (``is_high_risk``) placed within the
last ``high_risk_lookback_days`` days: an order to check (and hold) before it ships. The alert
resolves by itself once the order is older. Severity: critical at ``high_risk_critical_score``
or above, else warning.

Input contract (columns read): order_id, channel, connection_name, customer_id, ordered_at,
net_amount_base, risk_score, rule_score, anomaly_score, is_high_risk, reasons. Entity ``order``
keyed by order_id; impact = the order's net amount in the base currency.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from alerting.candidates import _candidate, _frame
from alerting.settings import AlertRuleSettings

__all__ = ["high_risk_order_alerts"]


def _message(r: dict) -> str:
    reasons = r.get("reasons") or "an unusual order"
    return (
        f"Order {r['order_id']} on {r.get('channel')} ({r.get('connection_name')}): risk "
        f"{float(r['risk_score']):.0f}/100 — {reasons}"
    )


def high_risk_order_alerts(
    order_risk: pl.DataFrame | None, settings: AlertRuleSettings, now: datetime
) -> pl.DataFrame:
    """high_risk_orders candidates (none without scores)."""
    if order_risk is None or order_risk.is_empty():
        return _frame([])
    since = now - timedelta(days=settings.high_risk_lookback_days)
    ordered_at = pl.col("ordered_at")
    zone = order_risk.schema["ordered_at"].time_zone  # DuckDB answers Etc/UTC
    ordered_at = ordered_at.dt.replace_time_zone("UTC") if zone is None else ordered_at
    recent = order_risk.with_columns(ordered_at.dt.convert_time_zone("UTC")).filter(
        pl.col("is_high_risk") & (pl.col("ordered_at") > since) & (pl.col("ordered_at") <= now)
    )
    rows = []
    for r in recent.to_dicts():
        score = float(r["risk_score"])
        critical = score >= settings.high_risk_critical_score
        metrics = {
            k: r.get(k)
            for k in (
                "risk_score", "rule_score", "anomaly_score", "ordered_at", "customer_id",
                "net_amount_base", "reasons",
            )
            if r.get(k) is not None
        }  # fmt: skip
        amount = r.get("net_amount_base")
        rows.append(
            _candidate(
                "high_risk_orders",
                "critical" if critical else "warning",
                "order",
                r["order_id"],
                _message(r),
                metrics,
                now,
                r.get("channel"),
                r.get("connection_name"),
                impact=None if amount is None else float(amount),
            )
        )
    return _frame(rows)
