"""Price and availability watch (issue 16): ``analytics.price_and_stock_events`` -> alert
candidates of the types ``price_drop``, ``back_in_stock`` and ``new_listing``.

The listings in the warehouse are the seller's own, where a price drop or a restock is the
seller's own doing and an alert about it is noise: every type is off by default
(``AlertRuleSettings.price_watch_types``) and has its own severity
(``price_watch_severity``). A price drop to the lowest price of the last 30 days says so.

Input contract (columns read): event_type, event_date, channel, connection_name, listing_id,
product_id, previous_price, price, currency, price_change_pct, lowest_price_30d,
is_lowest_price_30d, available_quantity. One candidate per event, current while the event is at
most ``price_watch_days`` old; entity ``price_and_stock_event`` keyed by the event's type,
connection, listing (or product) and day.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from alerting.candidates import _candidate, _frame
from alerting.settings import AlertRuleSettings

__all__ = ["price_watch_alerts"]


def _message(r: dict) -> str:
    what = r.get("product_id") or r.get("listing_id")
    where = f"{r.get('channel')} ({r.get('connection_name')})"
    if r["event_type"] == "price_drop":
        low = " — the lowest price in 30 days" if r.get("is_lowest_price_30d") else ""
        return (
            f"{what} on {where}: price dropped from {float(r['previous_price']):,.2f} to "
            f"{float(r['price']):,.2f} {r.get('currency') or ''} "
            f"({100 * r['price_change_pct']:+.1f}%) on {r['event_date']}{low}"
        )
    if r["event_type"] == "back_in_stock":
        return f"{what} on {where}: back in stock on {r['event_date']} ({r['available_quantity']} units)"
    return (
        f"{what} on {where}: new listing on {r['event_date']} at "
        f"{float(r['price']):,.2f} {r.get('currency') or ''}"
    )


def price_watch_alerts(
    events: pl.DataFrame | None, settings: AlertRuleSettings, now: datetime
) -> pl.DataFrame:
    """price_drop / back_in_stock / new_listing candidates for the enabled types."""
    wanted = set(settings.price_watch_types)
    if events is None or events.is_empty() or not wanted:
        return _frame([])
    since = now.date() - timedelta(days=settings.price_watch_days)
    recent = events.filter(
        pl.col("event_type").is_in(sorted(wanted))
        & (pl.col("event_date") > since)
        & (pl.col("event_date") <= now.date())
    )
    rows = []
    for r in recent.to_dicts():
        key = (
            f"{r['event_type']}:{r.get('connection_name')}:"
            f"{r.get('listing_id') or r.get('product_id')}:{r['event_date']}"
        )
        metrics = {
            k: r.get(k)
            for k in (
                "event_date", "previous_price", "price", "currency", "price_change_pct",
                "lowest_price_30d", "is_lowest_price_30d", "available_quantity",
            )
            if r.get(k) is not None
        }  # fmt: skip
        rows.append(
            _candidate(
                r["event_type"],
                settings.price_watch_severity.get(r["event_type"], "info"),
                "price_and_stock_event",
                key,
                _message(r),
                metrics,
                now,
                r.get("channel"),
                r.get("connection_name"),
            )
        )
    return _frame(rows)
