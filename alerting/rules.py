"""Rules: pure functions from mart frames to alert CANDIDATES (one row per current condition).

Every rule returns a polars frame with CANDIDATE_SCHEMA:

    alert_id         sha256(alert_type|entity_type|entity_id)[:16]: STABLE, built from the
                     condition's identity only, never from its numbers, so the same condition
                     on the next run is the same alert
    alert_type       stockout_imminent | low_stock | reorder_now | sales_anomaly |
                     trending_product | price_change | stale_data | account_health |
                     price_drop | back_in_stock | new_listing (alerting.watch, off by default) |
                     high_risk_orders (alerting.risk) |
                     review_burst | rating_drop | suspicious_listing (alerting.trust)
    severity         info | warning | critical (AlertRuleSettings thresholds)
    entity_type      product_stock | sales_series | listing_price | lake_entity | account_metric |
                     review_listing
    entity_id        the key (below)
    channel, connection_name   where known, else NULL
    metrics          JSON object (sorted keys) of the numbers behind the alert
    message          one plain-language sentence
    detected_at      the ``now`` passed in (UTC)
    impact_base      base-currency money at stake where a rule knows it (stock: revenue at risk
                     over the lead time; revenue anomalies: |actual - usual|), else NULL;
                     deliveries list the most severe, then the largest impact first

Input contracts (columns read; extra columns are ignored):

* inventory_health (analytics.inventory_health): inventory_health_id, product_id, channel,
  connection_name, location_id, location_name, location_type, available_quantity, daily_demand,
  days_of_cover, lead_time_days, revenue_at_risk_base (optional).
* replenishment_plan (analytics.replenishment_plan): replenishment_plan_id, product_id, channel,
  connection_name, location_id, location_name, location_type, available_quantity, days_of_cover,
  lead_time_days, replenishment_status, suggested_order_quantity, reorder_by_date.
* anomalies: models_ml.anomaly.score_anomalies output (ANOMALY_SCHEMA).
* trending: models_ml.anomaly.detect_trending output (TRENDING_SCHEMA).
* listing_prices (core.fct_listing_prices): listing_id, product_id, channel, connection_name,
  version_number, price, currency, valid_from.
* freshness (built by the wiring from the raw lake): connection_name, entity, channel (optional),
  last_partition_date (date) and/or last_extracted_at (UTC datetime), expected_cadence_hours.
* account_health (analytics.account_health): channel, connection_name, iso_week,
  week_start_date, is_partial_week, the three rates, thresholds and is_*_breach flags.
* order_risk (analytics.order_risk): see ``alerting.risk``.

Keys and overlaps (decisions):

* Stock conditions are per PRODUCT (entity product_stock, key product_id), across its stock
  locations: a product is one alert, not one per warehouse. Per location: cover below the lead
  time is stockout_imminent, else replenishment status order_now is reorder_now, else cover below
  ``low_stock_days`` is low_stock. The product's alert takes the most urgent kind among its
  locations (stockout_imminent > reorder_now > low_stock), the highest severity of the locations
  of that kind, names the worst one (least cover) and counts the others; metrics list them all
  with the summed suggested order quantity and revenue at risk. A location whose inbound stock
  already covers the lead time (suggested order quantity 0) is stockout_imminent at severity
  info: nothing to order, so nothing to push (the table still shows it).
* sales_anomaly: one per series and direction (``<unique_id>|spike``), current when the series
  has an anomalous day among its last ``anomaly_lookback_days`` scored days; the latest such day
  is described.
* price_change: one per listing price version (``<listing_id>:<version_number>``), current while
  the version started within ``price_change_days`` of ``now``; a later change is a new alert.
* stale_data: one per connection and lake entity. A date partition counts as data up to the end
  of that day (UTC); last_extracted_at wins when both are given. Stale when the age exceeds the
  cadence + ``stale_grace_hours``; never extracted (both NULL) is stale and critical.
* account_health: one per connection and metric (``<connection_name>:<metric>``), current while
  the latest complete (not partial) week of the connection breaches it.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import polars as pl

from alerting.candidates import (
    CANDIDATE_SCHEMA,
    SEVERITY_RANK,
    _candidate,
    _frame,
    alert_id,
)
from alerting.risk import high_risk_order_alerts
from alerting.settings import AlertRuleSettings
from alerting.trust import trust_alerts
from alerting.watch import price_watch_alerts

__all__ = [
    "CANDIDATE_SCHEMA",
    "SEVERITY_RANK",
    "account_health_alerts",
    "alert_id",
    "build_candidates",
    "inventory_alerts",
    "price_change_alerts",
    "sales_anomaly_alerts",
    "stale_data_alerts",
    "trending_alerts",
]


_CHANNEL_LABEL = {"amazon": "Amazon", "shopify": "Shopify", "walmart": "Walmart"}
_METRIC_LABEL = {
    "cancellation_rate": "cancellation rate",
    "late_shipment_rate": "late shipment rate",
    "refund_rate": "refund rate",
}


def _location(row: dict[str, Any]) -> str:
    """ "Amazon.de FBA", "Shopify EU Warehouse (Venlo)", "Walmart Seller ship node 100009"."""
    channel = _CHANNEL_LABEL.get(row.get("channel") or "", row.get("channel") or "")
    name = row.get("location_name")
    if name:
        return name if channel.lower() in name.lower() else f"{channel} {name}".strip()
    return f"{channel} {row.get('location_id')} ({row.get('location_type')})".strip()


def _days(value: float) -> str:
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


_STOCK_KIND_RANK = {"stockout_imminent": 3, "reorder_now": 2, "low_stock": 1}


def _stock_condition(row: dict[str, Any], settings: AlertRuleSettings) -> tuple[str, str] | None:
    """(kind, severity) of one stock location, or None (module docstring)."""
    cover, lead = row.get("days_of_cover"), row.get("lead_time_days")
    if lead is not None and cover < lead:
        if row.get("suggested_order_quantity") == 0:
            return "stockout_imminent", "info"  # stock on its way covers it: nothing to order
        out = (row.get("available_quantity") or 0) <= 0
        critical = cover <= settings.stockout_critical_days or out
        return "stockout_imminent", "critical" if critical else "warning"
    if row.get("replenishment_status") == "order_now":
        return "reorder_now", settings.reorder_now_severity
    if cover < settings.low_stock_days:
        return "low_stock", "warning" if cover < settings.low_stock_warning_days else "info"
    return None


def _stock_locations(
    inventory_health: pl.DataFrame | None,
    replenishment_plan: pl.DataFrame | None,
    settings: AlertRuleSettings,
) -> list[dict[str, Any]]:
    """Every stock location in an alerting condition, one entry each. A location is its
    inventory_health row (with its replenishment_plan row's status and quantities), or its plan
    row alone when inventory_health is not given."""
    plan = {r["replenishment_plan_id"]: r for r in _dicts(replenishment_plan)}
    health = {r["inventory_health_id"]: r for r in _dicts(inventory_health)}
    found: list[dict[str, Any]] = []
    for key in sorted(health.keys() | plan.keys()):
        row = {**plan.get(key, {}), **health.get(key, {})}  # health's numbers win
        if row.get("days_of_cover") is None or (key in health and not row.get("daily_demand")):
            continue  # no demand: no cover to speak of
        condition = _stock_condition(row, settings)
        if condition is None:
            continue
        keep = ("product_id", "channel", "connection_name", "available_quantity", "daily_demand",
                "days_of_cover", "lead_time_days", "suggested_order_quantity", "reorder_by_date")  # fmt: skip
        found.append(
            {
                **{k: row.get(k) for k in keep},
                "kind": condition[0],
                "severity": condition[1],
                "location": _location(row),
                "revenue_at_risk": row.get("revenue_at_risk_base"),
            }
        )
    return found


def _dicts(frame: pl.DataFrame | None) -> list[dict[str, Any]]:
    return frame.to_dicts() if frame is not None else []


def _stock_message(kind: str, product: str, worst: dict[str, Any], n: int, qty: Any) -> str:
    others = f" and {n - 1} other location{'s' if n > 2 else ''}" if n > 1 else ""
    cover = worst["days_of_cover"]
    if kind == "stockout_imminent":
        left = (
            "out of stock"
            if (worst["available_quantity"] or 0) <= 0
            else f"{_days(cover)} days of stock left"
        )
        action = (
            ""
            if qty is None
            else f" — reorder {qty:,} units now"
            if qty > 0
            else " — inbound stock covers it"
        )
        return (
            f"{product} runs out before the next delivery at {worst['location']}{others}: "
            f"{left}, next delivery needs {worst['lead_time_days']} days{action}"
        )
    if kind == "reorder_now":
        when = f" by {worst['reorder_by_date']}" if worst.get("reorder_by_date") else " now"
        amount = f"reorder {qty:,} units{when}" if qty else f"reorder{when}"
        return f"{product} is at its reorder point at {worst['location']}{others} — {amount}"
    return f"{product}: low stock at {worst['location']}{others}, {_days(cover)} days of cover left"


def inventory_alerts(
    inventory_health: pl.DataFrame | None,
    replenishment_plan: pl.DataFrame | None,
    settings: AlertRuleSettings,
    now: datetime,
) -> pl.DataFrame:
    """One stock alert per PRODUCT across its locations (module docstring): the most urgent
    kind of its locations, the highest severity among those, the worst location (least cover)
    in the message, every location of that kind in metrics, revenue at risk as impact."""
    by_product: dict[str, list[dict[str, Any]]] = {}
    for loc in _stock_locations(inventory_health, replenishment_plan, settings):
        by_product.setdefault(loc["product_id"], []).append(loc)
    rows: list[dict[str, Any]] = []
    for product, locations in sorted(by_product.items()):
        kind = max((loc["kind"] for loc in locations), key=_STOCK_KIND_RANK.__getitem__)
        hits = sorted(
            (loc for loc in locations if loc["kind"] == kind),
            key=lambda loc: (loc["days_of_cover"] is None, loc["days_of_cover"] or 0.0),
        )
        quantities = [q for q in (loc["suggested_order_quantity"] for loc in hits) if q is not None]
        qty = sum(quantities) if quantities else None
        risks = [x for x in (loc["revenue_at_risk"] for loc in hits) if x is not None]
        risk = float(sum(risks)) if risks else None
        channels = {loc["channel"] for loc in hits}
        connections = {loc["connection_name"] for loc in hits}
        metrics = {
            "locations": len(hits),
            "min_days_of_cover": hits[0]["days_of_cover"],
            "lead_time_days": hits[0]["lead_time_days"],
            "suggested_order_quantity": qty,
            "revenue_at_risk_base": risk,
            "worst_location": hits[0]["location"],
            "location_detail": "; ".join(
                f"{loc['location']}: {_days(loc['days_of_cover'] or 0.0)} d cover, "
                f"{loc['available_quantity']} available"
                for loc in hits
            ),
        }
        rows.append(
            _candidate(
                kind,
                max((loc["severity"] for loc in hits), key=SEVERITY_RANK.__getitem__),
                "product_stock",
                product,
                _stock_message(kind, product, hits[0], len(hits), qty),
                metrics,
                now,
                channels.pop() if len(channels) == 1 else None,
                connections.pop() if len(connections) == 1 else None,
                impact=risk,
            )
        )
    return _frame(rows)


def _series_label(r: dict[str, Any]) -> tuple[str, str | None]:
    metric = r.get("metric") or "value"
    kind, ent = r.get("entity_type"), r.get("entity_id")
    if kind == "channel":
        return f"{_CHANNEL_LABEL.get(ent, ent)} {metric}", ent
    if kind == "product":
        return f"{ent} {metric}", None
    return f"{r['unique_id']}", None


def sales_anomaly_alerts(
    anomalies: pl.DataFrame | None, settings: AlertRuleSettings, now: datetime
) -> pl.DataFrame:
    """sales_anomaly from score_anomalies output (latest anomalous day per series/direction)."""
    if anomalies is None or anomalies.is_empty():
        return _frame([])
    recent = anomalies.filter(
        pl.col("ds")
        > pl.col("ds").max().over("unique_id") - pl.duration(days=settings.anomaly_lookback_days)
    ).filter(pl.col("is_anomaly"))
    latest = recent.sort("ds").group_by("unique_id", "direction").last().sort("unique_id")
    rows = []
    for r in latest.to_dicts():
        label, channel = _series_label(r)
        score = r.get("score")
        severity = (
            "critical"
            if score is not None and score >= settings.anomaly_critical_score
            else "warning"
        )
        base = r.get("baseline") if r.get("baseline") is not None else r.get("yhat")
        pct = (r["y"] / base - 1) * 100 if base else None
        change = f" ({pct:+.0f}%)" if pct is not None else ""
        message = (
            f"{label} {'spiked' if r['direction'] == 'spike' else 'dropped'} on {r['ds']}: "
            f"{r['y']:,.0f} vs usual {base:,.0f}{change} for that weekday"
            if base is not None
            else f"{label} unusual on {r['ds']}: {r['y']:,.0f}"
        )
        metrics = {
            k: r.get(k)
            for k in ("ds", "y", "baseline", "robust_z", "yhat", "yhat_lo", "yhat_hi", "score")
        }
        metrics["change_pct"] = pct
        rows.append(
            _candidate(
                "sales_anomaly",
                severity,
                "sales_series",
                f"{r['unique_id']}|{r['direction']}",
                message,
                metrics,
                now,
                channel,
                impact=abs(r["y"] - base)
                if base is not None and r.get("metric") == "revenue"
                else None,
            )
        )
    return _frame(rows)


def trending_alerts(
    trending: pl.DataFrame | None, settings: AlertRuleSettings, now: datetime
) -> pl.DataFrame:
    """trending_product from detect_trending output (rows with is_trending_up)."""
    if trending is None or trending.is_empty():
        return _frame([])
    rows = []
    for r in trending.filter(pl.col("is_trending_up")).sort("unique_id").to_dicts():
        label, channel = _series_label(r)
        growth = r.get("growth_pct")
        grown = f"up {growth:.0f}%" if growth is not None else "new demand"
        message = (
            f"{label} trending: {r['recent_total']:,.0f} in the recent window vs "
            f"{r['previous_total']:,.0f} before ({grown})"
        )
        metrics = {
            k: r.get(k)
            for k in ("window_end_date", "recent_total", "previous_total", "growth_pct", "p_value")
        }
        rows.append(
            _candidate(
                "trending_product",
                settings.trending_severity,
                "sales_series",
                r["unique_id"],
                message,
                metrics,
                now,
                channel,
            )
        )
    return _frame(rows)


def price_change_alerts(
    listing_prices: pl.DataFrame | None, settings: AlertRuleSettings, now: datetime
) -> pl.DataFrame:
    """price_change: a listing price version (> 1) that started within price_change_days."""
    if listing_prices is None or listing_prices.is_empty():
        return _frame([])
    prices = listing_prices.sort("listing_id", "version_number").with_columns(
        pl.col("price").cast(pl.Float64),
        pl.col("price").cast(pl.Float64).shift(1).over("listing_id").alias("old_price"),
        pl.col("version_number").shift(1).over("listing_id").alias("_prev_version"),
    )
    since = now.date() - timedelta(days=settings.price_change_days)
    changed = prices.filter(
        (pl.col("version_number") > 1)
        & (pl.col("_prev_version") == pl.col("version_number") - 1)
        & (pl.col("valid_from") > since)
        & (pl.col("valid_from") <= now.date())
    )
    rows = []
    for r in changed.to_dicts():
        old, new = r["old_price"], r["price"]
        pct = (new / old - 1) * 100 if old else None
        severity = (
            "warning"
            if pct is not None and abs(pct) >= settings.price_change_warning_pct
            else "info"
        )
        cur = r.get("currency") or ""
        change = f" ({pct:+.1f}%)" if pct is not None else ""
        message = (
            f"{r.get('product_id') or r['listing_id']} on "
            f"{_CHANNEL_LABEL.get(r.get('channel'), r.get('channel'))} ({r.get('connection_name')}):"
            f" price changed from {old:,.2f} to {new:,.2f} {cur}{change} on {r['valid_from']}"
        )
        metrics = {
            "old_price": old,
            "new_price": new,
            "change_pct": pct,
            "currency": cur,
            "valid_from": r["valid_from"],
            "version_number": r["version_number"],
        }
        rows.append(
            _candidate(
                "price_change",
                severity,
                "listing_price",
                f"{r['listing_id']}:{r['version_number']}",
                message,
                metrics,
                now,
                r.get("channel"),
                r.get("connection_name"),
            )
        )
    return _frame(rows)


def stale_data_alerts(
    freshness: pl.DataFrame | None, settings: AlertRuleSettings, now: datetime
) -> pl.DataFrame:
    """stale_data: a connection/entity whose newest lake data is older than cadence + grace."""
    if freshness is None or freshness.is_empty():
        return _frame([])
    rows = []
    for r in freshness.sort("connection_name", "entity").to_dicts():
        last_at = r.get("last_extracted_at")
        if last_at is None and r.get("last_partition_date") is not None:
            last_at = datetime.combine(r["last_partition_date"] + timedelta(days=1), time(), UTC)
        if last_at is not None and last_at.tzinfo is None:
            last_at = last_at.replace(tzinfo=UTC)
        allowed = float(r["expected_cadence_hours"]) + settings.stale_grace_hours
        key = f"{r['connection_name']}:{r['entity']}"
        where = f"{r['connection_name']} / {r['entity']}"
        if last_at is None:
            age = None
            severity, message = "critical", f"{where}: no data has ever arrived in the lake"
        else:
            age = (now - last_at).total_seconds() / 3600
            if age <= allowed:
                continue
            severity = "critical" if age > settings.stale_critical_factor * allowed else "warning"
            message = (
                f"{where}: newest data is {age:.0f} hours old, expected every "
                f"{float(r['expected_cadence_hours']):g} hours"
            )
        metrics = {
            "age_hours": age,
            "allowed_hours": allowed,
            "last_data_at": last_at,
            "expected_cadence_hours": r["expected_cadence_hours"],
        }
        rows.append(
            _candidate(
                "stale_data",
                severity,
                "lake_entity",
                key,
                message,
                metrics,
                now,
                r.get("channel"),
                r["connection_name"],
            )
        )
    return _frame(rows)


def account_health_alerts(
    account_health: pl.DataFrame | None, settings: AlertRuleSettings, now: datetime
) -> pl.DataFrame:
    """account_health: breached metrics of each connection's latest complete week."""
    if account_health is None or account_health.is_empty():
        return _frame([])
    complete = account_health.filter(~pl.col("is_partial_week").fill_null(False))
    latest = complete.filter(
        pl.col("week_start_date") == pl.col("week_start_date").max().over("connection_name")
    ).sort("connection_name")
    flags = {
        "cancellation_rate": "is_cancellation_breach",
        "late_shipment_rate": "is_late_shipment_breach",
        "refund_rate": "is_refund_breach",
    }
    rows = []
    for r in latest.to_dicts():
        for metric, flag in flags.items():
            if not r.get(flag):
                continue
            rate, limit = r.get(metric), r.get(f"{metric}_threshold")
            message = (
                f"{r['connection_name']} ({_CHANNEL_LABEL.get(r['channel'], r['channel'])}): "
                f"{_METRIC_LABEL[metric]} {rate:.1%} in {r['iso_week']} is above the "
                f"marketplace limit of {limit:.1%}"
            )
            metrics = {
                "rate": rate,
                "threshold": limit,
                "iso_week": r.get("iso_week"),
                "orders": r.get("orders"),
            }
            rows.append(
                _candidate(
                    "account_health",
                    settings.account_health_severity,
                    "account_metric",
                    f"{r['connection_name']}:{metric}",
                    message,
                    metrics,
                    now,
                    r["channel"],
                    r["connection_name"],
                )
            )
    return _frame(rows)


def build_candidates(
    now: datetime,
    settings: AlertRuleSettings | None = None,
    *,
    inventory_health: pl.DataFrame | None = None,
    replenishment_plan: pl.DataFrame | None = None,
    anomalies: pl.DataFrame | None = None,
    trending: pl.DataFrame | None = None,
    listing_prices: pl.DataFrame | None = None,
    freshness: pl.DataFrame | None = None,
    account_health: pl.DataFrame | None = None,
    price_and_stock_events: pl.DataFrame | None = None,
    order_risk: pl.DataFrame | None = None,
    review_daily: pl.DataFrame | None = None,
    listing_trust: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """All rules over the frames given (None = that rule has no input, no candidates)."""
    s = settings or AlertRuleSettings()
    return pl.concat(
        [
            inventory_alerts(inventory_health, replenishment_plan, s, now),
            sales_anomaly_alerts(anomalies, s, now),
            trending_alerts(trending, s, now),
            price_change_alerts(listing_prices, s, now),
            stale_data_alerts(freshness, s, now),
            account_health_alerts(account_health, s, now),
            price_watch_alerts(price_and_stock_events, s, now),
            high_risk_order_alerts(order_risk, s, now),
            trust_alerts(review_daily, listing_trust, s, now),
        ]
    ).sort("alert_type", "alert_id")
