"""Tenant folders for the tests: small sandbox sellers whose secrets carry their prefix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from orchestration.tenants import tenant_prefix
from sandbox.server import sandbox_environment


def tenant_raw(name: str, data_dir: Path, port: int, history_days: int = 20, **extra) -> dict:
    """One Shopify store on the sandbox at ``port``, the token in ``<NAME>__SHOPIFY_TOKEN``."""
    start = (datetime.now(UTC) - timedelta(days=history_days)).date()
    return {
        "data_dir": str(data_dir),
        "sync": {"history_start": start.isoformat(), "daily_days": 3, "lookback_days": 1},
        "sandbox": {"port": port},
        "fx": {"source": "none"},
        "connections": [
            {
                "name": "shopify_us",
                "channel": "shopify",
                "shop": "channelhouse-demo",
                "endpoint": "sandbox",
                "secrets": {"access_token": f"{tenant_prefix(name)}SHOPIFY_TOKEN"},
            }
        ],
        **extra,
    }


def write_tenant(folder: Path, name: str, raw: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def tenant_secrets(name: str, salt: str | None = None) -> dict[str, str]:
    """The deployment's variables of tenant ``name``: the sandbox's token and a salt."""
    prefix = tenant_prefix(name)
    return {
        f"{prefix}SHOPIFY_TOKEN": sandbox_environment()["SHOPIFY_US_ACCESS_TOKEN"],
        f"{prefix}CHANNELHOUSE_HASH_SALT": salt or f"salt-of-{name}-7f3a",
    }
