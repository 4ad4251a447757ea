"""The settings of one Amazon SP-API connection (a seller account in one region)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from extractors.amazon.marketplaces import AMAZON_HOSTS, AMAZON_MARKETPLACES
from extractors.settings import _Connection


class AmazonConnection(_Connection):
    REQUIRED_SECRETS: ClassVar[tuple[str, ...]] = ("client_id", "client_secret", "refresh_token")
    channel: Literal["amazon"]
    region: Literal["na", "eu", "fe"]
    marketplaces: list[str] = Field(min_length=1)
    auth_endpoint: str | None = None
    bulk_history_days: int | None = Field(
        30,
        ge=1,
        description="an orders window longer than this many days (a first sync, a backfill) is "
        "loaded from the flat-file orders reports instead of getOrders + one getOrderItems per "
        "order; null keeps the per-order path for every window (it carries the buyer e-mail "
        "and OrderItemId, which the reports do not)",
    )
    bulk_report_days: int = Field(
        30, ge=1, le=30, description="the date range of each flat-file orders report"
    )

    @model_validator(mode="after")
    def _marketplaces(self):
        for i, mid in enumerate(self.marketplaces):
            if mid not in AMAZON_MARKETPLACES:
                raise ValueError(f"marketplaces[{i}]: unknown marketplace id {mid!r}")
            region = AMAZON_MARKETPLACES[mid][0]
            if region != self.region:
                raise ValueError(
                    f"marketplaces[{i}]: {mid} ({AMAZON_MARKETPLACES[mid][1]}) is in region "
                    f"{region!r}, not {self.region!r}; use one connection per region"
                )
        return self

    def base_url(self, sandbox_url: str) -> str:
        if self.uses_sandbox:
            return f"{sandbox_url}/amazon"
        return self.endpoint or AMAZON_HOSTS[self.region]

    def token_url(self, sandbox_url: str) -> str:
        if self.auth_endpoint:
            return self.auth_endpoint
        if self.uses_sandbox:
            return f"{sandbox_url}/amazon/auth/o2/token"
        return "https://api.amazon.com/auth/o2/token"
