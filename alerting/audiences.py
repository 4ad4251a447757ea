"""Audiences that act _(issue 15)_: named customer lists with a reason per member, their
episodes, and their delivery to a webhook exactly once per member and episode.

**Who is in.** ``build_audiences`` reads the churn scores (``ml.customer_churn``), the lifetime
values (``ml.customer_ltv``) and the recommendations (``ml.product_recommendations``):

* ``churn_risk``: repeat customers (``churn_risk_min_purchase_days``) with ``p_churn`` at least
  ``churn_risk_min``;
* ``win_back``: customers you cannot afford to lose whose ``p_alive`` has fallen: ``p_alive``
  below ``win_back_max_p_alive`` and lifetime spend in the top ``1 - win_back_min_value_quantile``;
* ``vip``: the top ``vip_top_share`` by predicted 365-day value, still alive (p_alive ≥ 0.5);
* ``cross_sell``: customers who bought in the last ``cross_sell_days``, with their top
  recommendations;
* ``abandoned_cart``: identified customers whose cart (``analytics.cart_abandonment``) was
  abandoned within ``abandoned_cart_days`` of the data's last day (the churn scores' ``as_of``),
  worth at least ``abandoned_cart_min_value``, and not recovered: no purchase by the visitor
  after it, and no order on any channel on or after the day it was abandoned. The latest such
  cart per customer, with its value and products.

**Episodes.** ``merge_audience_state`` keeps one row per (audience, customer): a customer who
enters starts episode 1; leaving ends it; coming back starts the next one.

**Exactly once, across restarts** (the alert deliveries' pattern): the log has one row per
(audience, customer, episode); ``sent`` rows are never sent again, ``failed`` ones are retried on
the next run. Members go out in JSON batches per audience (``batch_size``), each batch tried up
to ``attempts_per_run`` times. The payload carries the customer id and the channel's customer id
(e-mails stay hashed in the warehouse: a seller maps the id in their ESP). The webhook URL is
read from the environment variable named in the settings, at send time, and never logged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import polars as pl
import requests

from alerting.delivery import DeliveryError, _env, _redact, attempt_outcome, send_with_retry
from alerting.settings import AUDIENCES, AudienceSettings, WebhookSettings

__all__ = [
    "AUDIENCE_LOG_SCHEMA",
    "AUDIENCE_RULES",
    "AUDIENCE_STATE_SCHEMA",
    "MEMBERS_SCHEMA",
    "build_audiences",
    "deliver_audiences",
    "merge_audience_state",
]

# what each audience holds, in a sentence (the asset descriptions)
AUDIENCE_RULES = {
    "churn_risk": "Repeat customers likely to buy nothing within the churn horizon.",
    "win_back": "High-spending customers whose P(alive) has fallen: win them back.",
    "vip": "Champions by predicted 365-day value, still active.",
    "cross_sell": "Recent buyers with their top recommendations (post-purchase cross-sell).",
    "abandoned_cart": "Known customers with a recently abandoned, unrecovered cart: its value "
    "and products.",
}
assert set(AUDIENCE_RULES) == set(AUDIENCES)

_TS = pl.Datetime("us", "UTC")
MEMBERS_SCHEMA = {
    "audience": pl.String,
    "customer_id": pl.String,
    "channel_customer_id": pl.String,
    "reason": pl.String,
}
AUDIENCE_STATE_SCHEMA = {
    **MEMBERS_SCHEMA,
    "episode": pl.Int64,
    "is_member": pl.Boolean,
    "entered_at": _TS,
    "left_at": _TS,
}
AUDIENCE_LOG_SCHEMA = {
    "audience": pl.String,
    "customer_id": pl.String,
    "episode": pl.Int64,
    "status": pl.String,  # sent | failed
    "attempts": pl.Int64,
    "last_error": pl.String,
    "first_attempt_at": _TS,
    "last_attempt_at": _TS,
    "sent_at": _TS,
}
_KEY = ["audience", "customer_id", "episode"]


def _abandoned_carts(
    carts: pl.DataFrame, churn: pl.DataFrame, settings: AudienceSettings
) -> pl.DataFrame:
    known = carts.filter(pl.col("customer_id").is_not_null()).cast({"customer_id": pl.String})
    if known.is_empty():
        return pl.DataFrame(
            schema={"audience": pl.String, "customer_id": pl.String, "reason": pl.String}
        )
    as_of = churn["as_of"].max() if "as_of" in churn.columns and churn.height else None
    as_of = as_of or known["abandoned_date"].max()
    # the customer's last order on any channel, as the churn scores see it
    last_order = (
        churn.select(
            pl.col("customer_id").cast(pl.String),
            (pl.col("as_of") - pl.duration(days=pl.col("days_since_last_purchase"))).alias(
                "last_ordered_date"
            ),
        )
        if {"as_of", "days_since_last_purchase"} <= set(churn.columns)
        else pl.DataFrame(schema={"customer_id": pl.String, "last_ordered_date": pl.Date})
    )
    return (
        known.filter(
            ~pl.col("is_recovered")
            & (pl.col("abandoned_date") > as_of - timedelta(days=settings.abandoned_cart_days))
            & (pl.col("abandoned_date") <= as_of)
            & (pl.col("cart_value_base").cast(pl.Float64) >= settings.abandoned_cart_min_value)
        )
        .join(last_order, on="customer_id", how="left")
        .filter(
            pl.col("last_ordered_date").is_null()
            | (pl.col("last_ordered_date") < pl.col("abandoned_date"))
        )
        .sort("customer_id", "abandoned_at", descending=[False, True])
        .unique("customer_id", keep="first", maintain_order=True)
        .select(
            pl.lit("abandoned_cart").alias("audience"),
            "customer_id",
            pl.format(
                "abandoned a cart of {} items ({}) worth {} on {}, not recovered",
                "item_count",
                pl.col("products").list.join(", "),
                pl.col("cart_value_base").cast(pl.Float64).round(2),
                "abandoned_date",
            ).alias("reason"),
        )
    )


def build_audiences(
    churn: pl.DataFrame,
    ltv: pl.DataFrame,
    recommendations: pl.DataFrame,
    settings: AudienceSettings,
    channel_ids: pl.DataFrame | None = None,
    carts: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Members of every enabled audience (MEMBERS_SCHEMA), one row per audience and customer.

    ``channel_ids`` (optional): customer_id, channel_customer_id (the id the seller's channel
    knows the customer by). ``carts`` (optional): analytics.cart_abandonment (customer_id,
    abandoned_at, abandoned_date, item_count, products, cart_value_base, is_recovered)."""
    parts: list[pl.DataFrame] = []
    on = settings.enabled
    if "abandoned_cart" in on and carts is not None and not carts.is_empty():
        parts.append(_abandoned_carts(carts, churn, settings))
    if "churn_risk" in on and not churn.is_empty():
        parts.append(
            churn.filter(
                (pl.col("p_churn") >= settings.churn_risk_min)
                & (pl.col("purchase_days") >= settings.churn_risk_min_purchase_days)
            ).select(
                pl.lit("churn_risk").alias("audience"),
                "customer_id",
                pl.format(
                    "P(no purchase in {} days) {} ({}), {} purchase days",
                    "horizon_days",
                    pl.col("p_churn").round(2),
                    "model",
                    "purchase_days",
                ).alias("reason"),
            )
        )
    if not ltv.is_empty() and {"win_back", "vip"} & set(on):
        spend = ltv.with_columns(
            lifetime=pl.col("monetary_value") * pl.col("frequency"),
        )
        if "win_back" in on:
            floor = spend["lifetime"].quantile(settings.win_back_min_value_quantile)
            parts.append(
                spend.filter(
                    (pl.col("p_alive") < settings.win_back_max_p_alive)
                    & (pl.col("lifetime") > 0)
                    & (pl.col("lifetime") >= floor)
                ).select(
                    pl.lit("win_back").alias("audience"),
                    "customer_id",
                    pl.format(
                        "p_alive fell to {}; repeat spend {} (top {}%)",
                        pl.col("p_alive").round(2),
                        pl.col("lifetime").round(2),
                        pl.lit(round(100 * (1 - settings.win_back_min_value_quantile))),
                    ).alias("reason"),
                )
            )
        if "vip" in on:
            cut = spend["expected_value_365d"].quantile(1 - settings.vip_top_share)
            parts.append(
                spend.filter(
                    (pl.col("expected_value_365d") >= cut) & (pl.col("p_alive") >= 0.5)
                ).select(
                    pl.lit("vip").alias("audience"),
                    "customer_id",
                    pl.format(
                        "predicted 365-day value {} (top {}%)",
                        pl.col("expected_value_365d").round(2),
                        pl.lit(round(100 * settings.vip_top_share, 1)),
                    ).alias("reason"),
                )
            )
    if "cross_sell" in on and not churn.is_empty() and not recommendations.is_empty():
        recent = churn.filter(pl.col("days_since_last_purchase") < settings.cross_sell_days)
        top = (
            recommendations.filter(pl.col("rank") <= settings.cross_sell_products)
            .sort("customer_id", "rank")
            .group_by("customer_id", maintain_order=True)
            .agg(pl.col("product_id").str.join(", ").alias("products"))
        )
        parts.append(
            recent.join(top, on="customer_id").select(
                pl.lit("cross_sell").alias("audience"),
                "customer_id",
                pl.format(
                    "bought {} days ago; recommended: {}", "days_since_last_purchase", "products"
                ).alias("reason"),
            )
        )
    members = (
        pl.concat([p.cast({"customer_id": pl.String}) for p in parts])
        if parts
        else pl.DataFrame(
            schema={k: v for k, v in MEMBERS_SCHEMA.items() if k != "channel_customer_id"}
        )
    )
    ids = (
        channel_ids.select(pl.col("customer_id").cast(pl.String), "channel_customer_id").unique(
            "customer_id", keep="first"
        )
        if channel_ids is not None
        else pl.DataFrame(schema={"customer_id": pl.String, "channel_customer_id": pl.String})
    )
    return (
        members.join(ids, on="customer_id", how="left")
        .select(list(MEMBERS_SCHEMA))
        .cast(MEMBERS_SCHEMA)
        .unique(["audience", "customer_id"], keep="first")
        .sort("audience", "customer_id")
    )


def merge_audience_state(
    state: pl.DataFrame | None, members: pl.DataFrame, now: datetime
) -> pl.DataFrame:
    """The new state (AUDIENCE_STATE_SCHEMA): entering starts an episode, leaving ends it."""
    old = {
        (r["audience"], r["customer_id"]): r
        for r in (state if state is not None else pl.DataFrame(schema=AUDIENCE_STATE_SCHEMA))
        .select(list(AUDIENCE_STATE_SCHEMA))
        .to_dicts()
    }
    rows: list[dict[str, Any]] = []
    for m in members.select(list(MEMBERS_SCHEMA)).to_dicts():
        prev = old.pop((m["audience"], m["customer_id"]), None)
        if prev is not None and prev["is_member"]:
            rows.append(
                {**prev, "reason": m["reason"], "channel_customer_id": m["channel_customer_id"]}
            )
        else:
            episode = (prev["episode"] + 1) if prev is not None else 1
            rows.append(
                {**m, "episode": episode, "is_member": True, "entered_at": now, "left_at": None}
            )
    for prev in old.values():  # members who left
        rows.append(prev if not prev["is_member"] else {**prev, "is_member": False, "left_at": now})
    return pl.DataFrame(rows, schema=AUDIENCE_STATE_SCHEMA, orient="row").sort(
        "audience", "customer_id"
    )


def _post(cfg: WebhookSettings, payload: Mapping[str, Any], environ: Mapping[str, str]) -> None:
    url = _env(environ, cfg.url_env)
    assert url is not None
    try:
        response = requests.post(url, json=payload, timeout=cfg.timeout_seconds)
    except requests.RequestException as exc:
        raise DeliveryError(_redact(f"{type(exc).__name__}: {exc}", [url])) from None
    if response.status_code >= 300:
        raise DeliveryError(f"HTTP {response.status_code} from the audience webhook")


def _send(
    cfg: WebhookSettings,
    payload: Mapping[str, Any],
    environ: Mapping[str, str],
    settings: AudienceSettings,
) -> tuple[int, str | None]:
    return send_with_retry(lambda body: _post(cfg, body, environ), payload, settings)


def deliver_audiences(
    state: pl.DataFrame,
    log: pl.DataFrame | None,
    settings: AudienceSettings,
    now: datetime,
    environ: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """Send every current member not yet sent for their episode; the new log
    (AUDIENCE_LOG_SCHEMA). No webhook configured: nothing is sent and the log is unchanged."""
    log = (log if log is not None else pl.DataFrame(schema=AUDIENCE_LOG_SCHEMA)).select(
        list(AUDIENCE_LOG_SCHEMA)
    )
    if settings.webhook is None:
        return log
    env = os.environ if environ is None else environ
    sent = log.filter(pl.col("status") == "sent").select(_KEY)
    pending = (
        state.filter("is_member").join(sent, on=_KEY, how="anti").sort("audience", "customer_id")
    )
    previous = {tuple(r[k] for k in _KEY): r for r in log.to_dicts()}
    results: list[dict[str, Any]] = []
    for (audience,), group in pending.group_by(["audience"], maintain_order=True):
        members = group.to_dicts()
        for start in range(0, len(members), settings.batch_size):
            batch: Sequence[dict[str, Any]] = members[start : start + settings.batch_size]
            payload = {
                "audience": audience,
                "sent_at": now.isoformat(),
                "members": [
                    {k: m[k] for k in ("customer_id", "channel_customer_id", "episode", "reason")}
                    for m in batch
                ],
            }
            tries, error = _send(settings.webhook, payload, env, settings)
            for m in batch:
                prev = previous.pop((audience, m["customer_id"], m["episode"]), None)
                results.append(
                    {
                        "audience": audience,
                        "customer_id": m["customer_id"],
                        "episode": m["episode"],
                        **attempt_outcome(prev, tries, error, now),
                    }
                )
    return pl.DataFrame(
        list(previous.values()) + results, schema=AUDIENCE_LOG_SCHEMA, orient="row"
    ).sort(_KEY)
