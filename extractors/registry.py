"""Which extractor serves which channel; the one place that knows all three."""

from __future__ import annotations

from importlib import import_module

from extractors.amazon.settings import AmazonConnection
from extractors.base import Stream
from extractors.http import RetrySettings
from extractors.shopify.settings import ShopifyConnection
from extractors.walmart.settings import WalmartConnection

CHANNELS = ("amazon", "shopify", "walmart")

_MODULES = {
    "amazon": ("extractors.amazon", "AmazonExtractor"),
    "shopify": ("extractors.shopify", "ShopifyExtractor"),
    "walmart": ("extractors.walmart", "WalmartExtractor"),
}

AnyConnection = AmazonConnection | ShopifyConnection | WalmartConnection


def streams_for(channel: str) -> dict[str, Stream]:
    """The streams a channel offers (module constant ``STREAMS``)."""
    return import_module(_MODULES[channel][0]).STREAMS


def build_extractor(conn: AnyConnection, secrets: dict[str, str], sandbox_url: str = ""):
    """An extractor for ``conn`` with its secrets (read from the environment by the caller)."""
    module, cls = _MODULES[conn.channel]
    extractor_cls = getattr(import_module(module), cls)
    retry = RetrySettings(**conn.retry.model_dump())
    return extractor_cls(conn, secrets, sandbox_url=sandbox_url, retry=retry)
