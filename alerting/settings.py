"""Alerting settings (pydantic), ready to embed in channelhouse.yml under ``alerting:``.

Secrets are never values here: only the NAMES of the environment variables that hold them
(the webhook URL is a secret too: whoever has it can post into the channel).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

PRICE_WATCH_TYPES = ("price_drop", "back_in_stock", "new_listing")


class AlertRuleSettings(BaseModel):
    """Thresholds of the rules (alerting.rules) and their severities."""

    model_config = ConfigDict(extra="forbid")

    low_stock_days: float = Field(14, gt=0, description="low_stock when days of cover < this.")
    low_stock_warning_days: float = Field(
        7, gt=0, description="low_stock is warning (else info) when cover < this."
    )
    stockout_critical_days: float = Field(
        7, ge=0, description="stockout_imminent is critical (else warning) when cover <= this."
    )
    reorder_now_severity: str = Field("warning", description="Severity of reorder_now.")
    anomaly_critical_score: float = Field(
        6.0, gt=0, description="sales_anomaly is critical (else warning) at score >= this."
    )
    anomaly_lookback_days: int = Field(
        1, ge=1, description="An anomaly on one of a series' last N scored days is current."
    )
    price_change_days: int = Field(7, ge=1, description="price_change for versions this recent.")
    price_change_warning_pct: float = Field(
        20.0, ge=0, description="price_change is warning (else info) when |change %| >= this."
    )
    stale_grace_hours: float = Field(6.0, ge=0, description="Grace after the expected cadence.")
    stale_critical_factor: float = Field(
        3.0, ge=1, description="stale_data is critical when age > factor x (cadence + grace)."
    )
    account_health_severity: str = Field("critical", description="Severity of a breach.")
    trending_severity: str = Field("warning", description="Severity of trending_product.")
    price_watch_types: list[str] = Field(
        default_factory=list,
        description="Price-watch alert types to raise (price_drop, back_in_stock, new_listing); "
        "none by default: on a seller's own listings they are noise.",
    )
    price_watch_severity: dict[str, str] = Field(
        default_factory=lambda: {
            "price_drop": "info",
            "back_in_stock": "info",
            "new_listing": "info",
        },
        description="Severity per price-watch alert type.",
    )
    price_watch_days: int = Field(7, ge=1, description="Price-watch events this recent alert.")
    high_risk_lookback_days: int = Field(
        3, ge=1, description="high_risk_orders for flagged orders placed this many days back."
    )
    high_risk_critical_score: float = Field(
        80.0, gt=0, le=100, description="high_risk_orders is critical (else warning) from this."
    )
    # review alerts (alerting.trust)
    review_alert_days: int = Field(
        7, ge=1, description="review_burst / rating_drop on review days this recent."
    )
    review_burst_min_reviews: int = Field(
        8, ge=1, description="review_burst needs at least this many reviews in 7 days ..."
    )
    review_burst_velocity: float = Field(
        5.0, gt=1, description="... this many times what the listing's sales lead to expect ..."
    )
    review_burst_new_share: float = Field(
        0.5, ge=0, le=1, description="... and at least this share by new, unverified reviewers."
    )
    rating_drop_min_reviews: int = Field(
        5, ge=1, description="rating_drop needs at least this many reviews in 7 days ..."
    )
    rating_drop_stars: float = Field(
        1.5,
        gt=0,
        le=4,
        description="... and a 7-day average this many stars below the 90 days before.",
    )
    rating_drop_floor: float = Field(
        2.0,
        ge=1,
        le=5,
        description="... (no reviews in those 90 days: a 7-day average at most this).",
    )
    suspicious_listing_max_trust: float = Field(
        50, gt=0, le=100, description="suspicious_listing when the trust score is below this ..."
    )
    suspicious_listing_min_reviews: int = Field(
        3, ge=1, description="... and at least this many of its reviews are suspicious."
    )
    review_burst_severity: Literal["info", "warning", "critical"] = "warning"
    rating_drop_severity: Literal["info", "warning", "critical"] = "warning"
    suspicious_listing_severity: Literal["info", "warning", "critical"] = "warning"

    @field_validator("price_watch_types")
    @classmethod
    def _watch_types(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(PRICE_WATCH_TYPES))
        if unknown:
            raise ValueError(f"unknown price-watch alert types {unknown}: use {PRICE_WATCH_TYPES}")
        return value

    @field_validator("price_watch_severity")
    @classmethod
    def _watch_severity(cls, value: dict[str, str]) -> dict[str, str]:
        for kind, severity in value.items():
            if kind not in PRICE_WATCH_TYPES or severity not in ("info", "warning", "critical"):
                raise ValueError(
                    f"price_watch_severity: {kind}: {severity} (types {PRICE_WATCH_TYPES}, "
                    "severities info, warning, critical)"
                )
        return value


class WebhookSettings(BaseModel):
    """Slack-compatible incoming webhook; the URL comes from the environment."""

    model_config = ConfigDict(extra="forbid")

    url_env: str = Field("CHANNELHOUSE_ALERT_WEBHOOK_URL", description="Env var with the URL.")
    timeout_seconds: float = Field(10.0, gt=0)


class EmailSettings(BaseModel):
    """SMTP e-mail; credentials come from the environment (both optional: no login)."""

    model_config = ConfigDict(extra="forbid")

    host: str
    port: int = 587
    starttls: bool = True
    sender: str
    recipients: list[str] = Field(min_length=1)
    username_env: str | None = Field(None, description="Env var with the SMTP user name.")
    password_env: str | None = Field(None, description="Env var with the SMTP password.")
    timeout_seconds: float = Field(10.0, gt=0)
    ca_file: str | None = Field(
        None,
        description="PEM file of a private CA (or a self-signed server certificate): STARTTLS "
        "then trusts only it; default: the system trust store.",
    )


class DeliverySettings(BaseModel):
    """Where alerts go; no channel configured means nothing is sent (and nothing logged)."""

    model_config = ConfigDict(extra="forbid")

    webhook: WebhookSettings | None = None
    email: EmailSettings | None = None
    attempts_per_run: int = Field(3, ge=1, description="Tries within one run (tenacity).")
    retry_wait_seconds: float = Field(
        1.0, ge=0, description="First backoff wait within a run (doubles, capped at 30 s)."
    )
    max_alerts_per_message: int = Field(
        15, ge=1, description="Alerts listed in detail in a digest; the rest as counts."
    )
    min_severity: str = Field(
        "warning", description="Do not send alerts below this severity (info stays in the table)."
    )


class AlertingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: AlertRuleSettings = AlertRuleSettings()
    delivery: DeliverySettings = DeliverySettings()


AUDIENCES = ("churn_risk", "win_back", "vip", "cross_sell", "abandoned_cart")


class AudienceSettings(BaseModel):
    """Audiences that act _(issue 15)_: named customer lists, exported and pushed once per
    member and episode to a webhook (when ``webhook`` is set)."""

    model_config = ConfigDict(extra="forbid")

    enabled: list[str] = Field(
        default_factory=lambda: list(AUDIENCES),
        description="Audiences built: " + ", ".join(AUDIENCES) + ".",
    )
    churn_risk_min: float = Field(0.8, gt=0, lt=1, description="p_churn at least this.")
    churn_risk_min_purchase_days: int = Field(2, ge=1, description="Repeat customers only.")
    win_back_max_p_alive: float = Field(0.5, gt=0, lt=1, description="p_alive below this ...")
    win_back_min_value_quantile: float = Field(
        0.75, ge=0, lt=1, description="... and lifetime spend in this top share (can't lose)."
    )
    vip_top_share: float = Field(0.05, gt=0, lt=1, description="Top share by predicted value.")
    cross_sell_days: int = Field(30, ge=1, description="Bought within this many days.")
    cross_sell_products: int = Field(3, ge=1, le=10, description="Recommendations carried.")
    abandoned_cart_days: int = Field(
        7, ge=1, description="Carts abandoned within this many days of the data's last day."
    )
    abandoned_cart_min_value: float = Field(
        0.0, ge=0, description="Carts worth at least this (base currency)."
    )
    webhook: WebhookSettings | None = None
    batch_size: int = Field(100, ge=1, le=10_000, description="Members per webhook message.")
    attempts_per_run: int = Field(3, ge=1)
    retry_wait_seconds: float = Field(1.0, ge=0)

    @field_validator("enabled")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = set(value) - set(AUDIENCES)
        if unknown:
            raise ValueError(
                f"unknown audiences {sorted(unknown)}; choose from {', '.join(AUDIENCES)}"
            )
        return value
