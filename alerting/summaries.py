"""Incident summaries: a few plain-language sentences per OPEN alert — what happened, since
when, how big, what to check — written from a template per alert type and the alert's own
numbers (its ``metrics`` JSON, ``impact_base``, ``episode_started_at``), never by a language
model. Every alert type has its template, the review alerts of ``alerting.trust`` included. ``alerting.state.merge_alerts`` fills the ``summary`` column with it; the digest
(``alerting.delivery``) shows it under each new or escalated alert.

A template takes the alert (a dict of ALERTS_SCHEMA columns, ``metrics`` parsed) and returns
``(what, how_big, what_to_check)``; ``what`` defaults to the alert's message and a part that
is empty is left out. A type without a template gets the generic one (the message, the money
at stake, "the numbers behind the alert"). Another module adds its types in one line each::

    SUMMARY_TEMPLATES["review_burst"] = my_review_burst_template
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

__all__ = ["SUMMARY_TEMPLATES", "Template", "summarize"]

Template = Callable[[Mapping[str, Any]], tuple[str | None, str | None, str | None]]


def _num(m: Mapping[str, Any], key: str) -> float | None:
    value = m.get(key)
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _join(*parts: str | None) -> str:
    return ", ".join(p for p in parts if p)


def _stock(a: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    m = a["metrics"]
    cover, lead = _num(m, "min_days_of_cover"), _num(m, "lead_time_days")
    risk, qty = _num(m, "revenue_at_risk_base"), _num(m, "suggested_order_quantity")
    size = _join(
        f"{cover:.0f} days of stock cover" if cover is not None else None,
        f"against a lead time of {lead:.0f} days" if lead is not None else None,
        f"{risk:,.0f} of revenue at risk" if risk else None,
        f"{m['locations']} location(s) affected" if m.get("locations") else None,
    )
    order = f"; order about {qty:,.0f} units if nothing is on the way" if qty else ""
    return None, size, f"open purchase orders and inbound shipments{order}"


def _sales_anomaly(a: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    m = a["metrics"]
    y, base, pct = _num(m, "y"), _num(m, "baseline"), _num(m, "change_pct")
    size = _join(
        f"{y:,.0f} against a usual {base:,.0f}" if y is not None and base is not None else None,
        f"{pct:+.0f}%" if pct is not None else None,
        f"on {m['ds']}" if m.get("ds") else None,
    )
    check = (
        "listings, prices, stock-outs and tracking on that day; a promotion or an event for a spike"
    )
    return None, size, check


def _trending(a: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    m = a["metrics"]
    recent, before, growth = (
        _num(m, "recent_total"),
        _num(m, "previous_total"),
        _num(m, "growth_pct"),
    )
    size = _join(
        f"{recent:,.0f} in the recent window vs {before:,.0f} before"
        if recent is not None and before is not None
        else None,
        f"up {growth:.0f}%" if growth is not None else None,
    )
    return None, size, "stock cover for the extra demand, and whether the price can hold"


def _price_change(a: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    m = a["metrics"]
    old, new, pct = _num(m, "old_price"), _num(m, "new_price"), _num(m, "change_pct")
    size = _join(
        f"{old:,.2f} -> {new:,.2f} {m.get('currency') or ''}".strip()
        if old is not None and new is not None
        else None,
        f"{pct:+.1f}%" if pct is not None else None,
    )
    return None, size, "that the change was intended (repricer, promotion end) and the margin"


def _stale(a: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    m = a["metrics"]
    age, allowed = _num(m, "age_hours"), _num(m, "allowed_hours")
    size = (
        "no data ever landed"
        if age is None
        else _join(
            f"last data {age:,.0f} hours ago",
            f"{allowed:,.0f} hours allowed" if allowed is not None else None,
        )
    )
    return None, size, "the connection's sync runs in Dagster, its credentials and rate limits"


def _account_health(a: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    m = a["metrics"]
    rate, limit = _num(m, "rate"), _num(m, "threshold")
    size = _join(
        f"{rate:.1%} against the marketplace's limit of {limit:.1%}"
        if rate is not None and limit is not None
        else None,
        f"week {m['iso_week']}" if m.get("iso_week") else None,
        f"{m['orders']} orders" if m.get("orders") is not None else None,
    )
    check = "the orders behind the rate before the marketplace acts on the account"
    return None, size, check


def _price_watch(a: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    m = a["metrics"]
    pct, units = _num(m, "price_change_pct"), m.get("available_quantity")
    size = _join(
        f"{100 * pct:+.1f}%" if pct is not None else None,
        "the lowest price in 30 days" if m.get("is_lowest_price_30d") else None,
        f"{units} units available" if units is not None else None,
    )
    return None, size, "whether it was planned, and the listing's price and stock on the channel"


def _high_risk_order(a: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    m = a["metrics"]
    score, amount = _num(m, "risk_score"), _num(m, "net_amount_base")
    what = f"Order {a['entity_id']} looks risky" + (
        f": {m['reasons']}." if m.get("reasons") else "."
    )
    size = _join(
        f"risk {score:.0f}/100" if score is not None else None,
        f"{amount:,.2f} at stake" if amount is not None else None,
    )
    check = (
        "hold the order before it ships; look at the buyer's other orders, e-mail and "
        "address, and the payment"
    )
    return what, size, check


def _review_burst(a: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    m = a["metrics"]
    n, expected = _num(m, "reviews_7d"), _num(m, "expected_reviews_7d")
    new = _num(m, "new_reviewer_share_7d")
    size = _join(
        f"{n:.0f} reviews in 7 days" if n is not None else None,
        f"against about {expected:.1f} its sales lead to expect" if expected is not None else None,
        f"{100 * new:.0f}% by new, unverified reviewers" if new is not None else None,
    )
    check = (
        "the reviewers' histories and the review texts (copied wording, no purchase); report "
        "fake or incentivised reviews to the marketplace"
    )
    return None, size, check


def _rating_drop(a: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    m = a["metrics"]
    now, before = _num(m, "avg_rating_7d"), _num(m, "avg_rating_prior_90d")
    size = _join(
        f"average {now:.2f} stars over 7 days" if now is not None else None,
        f"from {before:.2f} in the 90 days before" if before is not None else None,
        f"{_num(m, 'reviews_7d'):.0f} reviews" if _num(m, "reviews_7d") is not None else None,
    )
    check = (
        "what the low reviews say (a defect, a bad batch, a listing error) and whether they "
        "come from buyers or from new accounts (a rating attack)"
    )
    return None, size, check


def _suspicious_listing(a: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    m = a["metrics"]
    trust, bad, total = _num(m, "trust_score"), _num(m, "suspicious_reviews"), _num(m, "reviews")
    size = _join(
        f"trust {trust:.0f}/100" if trust is not None else None,
        f"{bad:.0f} of {total:.0f} reviews suspicious"
        if bad is not None and total is not None
        else None,
    )
    return None, size, "the flagged reviews in analytics.listing_trust and their reasons"


def _generic(a: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    impact = a.get("impact_base")
    size = f"{impact:,.0f} at stake" if impact else None
    return None, size, "the numbers behind the alert (metrics)"


SUMMARY_TEMPLATES: dict[str, Template] = {
    "stockout_imminent": _stock,
    "low_stock": _stock,
    "reorder_now": _stock,
    "sales_anomaly": _sales_anomaly,
    "trending_product": _trending,
    "price_change": _price_change,
    "stale_data": _stale,
    "account_health": _account_health,
    "price_drop": _price_watch,
    "back_in_stock": _price_watch,
    "new_listing": _price_watch,
    "high_risk_orders": _high_risk_order,
    "review_burst": _review_burst,
    "rating_drop": _rating_drop,
    "suspicious_listing": _suspicious_listing,
}


def _since(a: Mapping[str, Any]) -> str:
    started: datetime | None = a.get("episode_started_at")
    text = f"Open since {started:%Y-%m-%d %H:%M} UTC" if started else "Open"
    if (a.get("episode") or 1) > 1:
        text += f" (reopened, episode {a['episode']})"
    if a.get("previous_severity") and a.get("severity_changed_at"):
        text += (
            f"; {a['previous_severity']} -> {a['severity']} on {a['severity_changed_at']:%Y-%m-%d}"
        )
    return text + "."


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def summarize(alert: Mapping[str, Any]) -> str:
    """The summary of one alert (a row of the alerts table; ``metrics`` as stored, JSON)."""
    metrics = alert.get("metrics")
    parsed = json.loads(metrics) if isinstance(metrics, str) and metrics else dict(metrics or {})
    row = {**alert, "metrics": parsed}
    template = SUMMARY_TEMPLATES.get(str(alert.get("alert_type")), _generic)
    what, size, check = template(row)
    parts = [_sentence(what or alert.get("message") or str(alert.get("alert_type"))), _since(row)]
    if size:
        parts.append(_sentence(size[0].upper() + size[1:]))
    if check:
        parts.append(_sentence(f"Check {check}"))
    return " ".join(parts)
