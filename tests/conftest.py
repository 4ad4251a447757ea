"""Shared fixtures: one sandbox server for the session, configs pointing at it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from extractors.config import ChannelHouseConfig, parse_config
from extractors.sandbox.server import SandboxServer, sandbox_environment

TEST_SCALE = 0.3


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    """The sandbox APIs on a free loopback port, small business, 'fast' rate limits."""
    with SandboxServer(port=0, scale=TEST_SCALE, rate_limits="fast") as server:
        yield server


@pytest.fixture(autouse=True)
def _clean_sandbox(request) -> Iterator[None]:
    yield
    if "sandbox" in request.fixturenames:
        server = request.getfixturevalue("sandbox")
        server.state.faults.clear()
        server.state.limits.reset()


@pytest.fixture
def sandbox_env(monkeypatch) -> dict[str, str]:
    """The sandbox credentials in the environment, where the connections look for them."""
    env = sandbox_environment()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def sandbox_config_dict(data_dir: str, history_days: int = 730) -> dict:
    start = (datetime.now(UTC) - timedelta(days=history_days)).date()
    return {
        "data_dir": data_dir,
        "base_currency": "USD",
        "reporting_timezone": "America/New_York",
        "sync": {"history_start": start.isoformat()},
        "connections": [
            {
                "name": "amazon_na",
                "channel": "amazon",
                "region": "na",
                "endpoint": "sandbox",
                "marketplaces": ["ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"],
                "secrets": {
                    "client_id": "AMAZON_NA_CLIENT_ID",
                    "client_secret": "AMAZON_NA_CLIENT_SECRET",
                    "refresh_token": "AMAZON_NA_REFRESH_TOKEN",
                },
            },
            {
                "name": "amazon_eu",
                "channel": "amazon",
                "region": "eu",
                "endpoint": "sandbox",
                "marketplaces": ["A1F83G8C2ARO7P", "A1PA6795UKMFR9", "A13V1IB3VIYZZH"],
                "secrets": {
                    "client_id": "AMAZON_EU_CLIENT_ID",
                    "client_secret": "AMAZON_EU_CLIENT_SECRET",
                    "refresh_token": "AMAZON_EU_REFRESH_TOKEN",
                },
            },
            {
                "name": "shopify_us",
                "channel": "shopify",
                "shop": "channelhouse-demo",
                "endpoint": "sandbox",
                "secrets": {"access_token": "SHOPIFY_US_ACCESS_TOKEN"},
            },
            {
                "name": "shopify_eu",
                "channel": "shopify",
                "shop": "channelhouse-eu",
                "endpoint": "sandbox",
                "secrets": {"access_token": "SHOPIFY_EU_ACCESS_TOKEN"},
            },
            {
                "name": "walmart_us",
                "channel": "walmart",
                "endpoint": "sandbox",
                "secrets": {
                    "client_id": "WALMART_US_CLIENT_ID",
                    "client_secret": "WALMART_US_CLIENT_SECRET",
                },
            },
        ],
    }


@pytest.fixture
def config(tmp_path, sandbox) -> ChannelHouseConfig:
    """A configuration like the demo's, data in a temporary directory, sandbox on its port."""
    raw = sandbox_config_dict(str(tmp_path / "data"))
    raw["sandbox"] = {"port": sandbox.port}
    os.environ.pop("CHANNELHOUSE_DATA_DIR", None)
    return parse_config(raw, "test-config")
