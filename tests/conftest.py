"""Shared fixtures: one sandbox server for the session, configs pointing at it."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from extractors.config import ChannelHouseConfig, parse_config
from extractors.sandbox.server import SandboxServer, sandbox_environment

TEST_SCALE = 0.3


def free_port() -> int:
    """A loopback TCP port nothing listens on (yet)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """What a real local SMTP server (aiosmtpd) received: parsed messages and envelopes."""

    def __init__(self):
        self.messages: list = []
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):
        from email import message_from_bytes

        self.envelopes.append(envelope)
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    """A plain SMTP server on a free loopback port: (mailbox, port)."""
    from aiosmtpd.controller import Controller

    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


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


DEMO_HISTORY_DAYS = 150
DEMO_SALT = "demo-warehouse-salt-5c1d9e7a3b"


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory, sandbox) -> Iterator[ChannelHouseConfig]:
    """The demo pipeline once per session on a short history (150 days, the test business):
    raw layer, demo inbox files, warehouse, forecasts + LTV and alerts, through the Dagster
    jobs the demo runs. Yields the config; the warehouse is ``config.warehouse_path``.
    Consumers only read it (copy it before writing)."""
    import dagster as dg

    from orchestration.definitions import build_definitions
    from orchestration.demo import write_demo_files
    from orchestration.schedules import partition_range_tags

    mp = pytest.MonkeyPatch()
    for key, value in sandbox_environment().items():
        mp.setenv(key, value)
    mp.setenv("CHANNELHOUSE_HASH_SALT", DEMO_SALT)
    for name in ("CHANNELHOUSE_WAREHOUSE", "CHANNELHOUSE_DATA_DIR"):
        mp.delenv(name, raising=False)
    raw = sandbox_config_dict(
        str(tmp_path_factory.mktemp("demo") / "data"), history_days=DEMO_HISTORY_DAYS
    )
    raw["sandbox"] = {"port": sandbox.port}
    config = parse_config(raw, "demo-test")
    defs = build_definitions(config, retry_policy=None)
    instance = dg.DagsterInstance.ephemeral()
    today = datetime.now(UTC).date().isoformat()
    range_tags = partition_range_tags(config.sync.history_start.isoformat(), today)
    for job in (
        "raw_backfill",
        "raw_snapshots",
        "inbox_import",
        "forecast_retrain",
        "alerts_daily",
    ):
        if job == "inbox_import":
            write_demo_files(config)
        started = time.perf_counter()
        result = defs.resolve_job_def(job).execute_in_process(
            instance=instance,
            raise_on_error=False,
            tags=range_tags if job == "raw_backfill" else None,
        )
        failures = [
            f"{e.step_key}: {e.step_failure_data.error.message.strip()}"
            for e in result.all_events
            if e.is_step_failure
        ]
        assert result.success, f"demo job {job} failed: {failures}"
        print(f"demo job {job}: {time.perf_counter() - started:.1f}s")
    mp.undo()
    yield config
