"""The settings of one Walmart Marketplace connection (a seller account, US marketplace)."""

from __future__ import annotations

from typing import ClassVar, Literal

from extractors.settings import _Connection


class WalmartConnection(_Connection):
    REQUIRED_SECRETS: ClassVar[tuple[str, ...]] = ("client_id", "client_secret")
    channel: Literal["walmart"]
    marketplace: Literal["US"] = "US"

    def base_url(self, sandbox_url: str) -> str:
        if self.uses_sandbox:
            return f"{sandbox_url}/walmart"
        return self.endpoint or "https://marketplace.walmartapis.com"
