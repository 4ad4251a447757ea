"""The settings of one Shopify connection (one shop, Admin GraphQL API)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from extractors.settings import _Connection


class ShopifyConnection(_Connection):
    REQUIRED_SECRETS: ClassVar[tuple[str, ...]] = ("access_token",)
    channel: Literal["shopify"]
    shop: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="the <shop>.myshopify.com name")
    api_version: str = Field("2025-10", pattern=r"^(\d{4}-(01|04|07|10)|unstable)$")
    bulk_history_days: int = Field(
        90,
        ge=1,
        description="an orders window longer than this many days (the first sync, a long "
        "backfill) is read with one bulk operation instead of paginated queries",
    )

    def base_url(self, sandbox_url: str) -> str:
        if self.uses_sandbox:
            root = f"{sandbox_url}/shopify/{self.shop}"
        else:
            root = self.endpoint or f"https://{self.shop}.myshopify.com"
        return f"{root}/admin/api/{self.api_version}/graphql.json"
