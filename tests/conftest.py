"""Shared fixtures: one sandbox server for the session, configs pointing at it."""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

import sandbox.business as sandbox_business
from orchestration.config import ChannelHouseConfig, parse_config
from sandbox.business import Business as BusinessModel
from sandbox.server import SandboxServer, sandbox_environment

TEST_SCALE = 0.3

# ``CHANNELHOUSE_TEST_NOW=2027-03-14T06:30:00Z``: the whole test process runs at that instant
# (the clock then ticks on from it), as tests/integration/test_calendar.py does for the ``calendar`` tests.
TEST_NOW_VARIABLE = "CHANNELHOUSE_TEST_NOW"
_travel = None


def parse_test_now(value: str) -> datetime:
    """The instant of ``CHANNELHOUSE_TEST_NOW``: ISO-8601 with a time zone (``...Z``)."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise pytest.UsageError(
            f"{TEST_NOW_VARIABLE}={value!r} is not an ISO-8601 instant"
        ) from exc
    if moment.tzinfo is None:
        raise pytest.UsageError(
            f"{TEST_NOW_VARIABLE}={value!r} needs a time zone, e.g. 2027-03-14T06:30:00Z"
        )
    return moment.astimezone(UTC)


def pytest_configure(config: pytest.Config) -> None:
    """Travel in time before any fixture exists: the session's sandbox simulates its business
    up to ``datetime.now(UTC)`` when it starts."""
    global _travel
    value = os.environ.get(TEST_NOW_VARIABLE)
    if value and _travel is None:
        import time_machine

        _travel = time_machine.travel(parse_test_now(value), tick=True)
        _travel.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    global _travel
    if _travel is not None:
        _travel.stop()
        _travel = None


def pytest_report_header(config: pytest.Config) -> str | None:
    if _travel is not None:
        return f"{TEST_NOW_VARIABLE}: the clock runs from {os.environ[TEST_NOW_VARIABLE]}"
    return None


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


def _demo_business(seed: int = 42, scale: float = 1.0, **kwargs):
    if kwargs:
        return BusinessModel(seed=seed, scale=scale, **kwargs)
    return _cached_business(seed, scale, datetime.now(UTC).date())


@functools.cache
def _cached_business(seed: int, scale: float, end: date):
    return BusinessModel(seed=seed, scale=scale, end=end)


def run_demo_pipeline(
    data_dir: Path, sandbox: SandboxServer, history_days: int, connections: list[str] | None = None
) -> tuple[ChannelHouseConfig, list[tuple[str, bool, float, list[str]]]]:
    """The demo's jobs (orchestration.demo.run_pipeline) in this process on an ephemeral
    instance, with the sandbox's credentials and the demo salt set for the runs only:
    ``connections`` keeps only the named ones of the demo's (None: all; []: a file-only
    seller). Returns the config and (job, succeeded, seconds, failures) per run."""
    import dagster as dg

    from orchestration.demo import run_pipeline

    raw = sandbox_config_dict(str(data_dir), history_days=history_days)
    if connections is not None:
        raw["connections"] = [c for c in raw["connections"] if c["name"] in connections]
    raw["sandbox"] = {"port": sandbox.port}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in sandbox_environment().items():
            mp.setenv(key, value)
        mp.setenv("CHANNELHOUSE_HASH_SALT", DEMO_SALT)
        # the demo's inbox files come from Business(seed, scale) up to today: simulated once
        # per test process, not once per pipeline (it is deterministic and only read)
        mp.setattr(sandbox_business, "Business", _demo_business)
        for name in ("CHANNELHOUSE_WAREHOUSE", "CHANNELHOUSE_DATA_DIR"):
            mp.delenv(name, raising=False)
        config = parse_config(raw, "demo-test")
        runs = run_pipeline(config, 1, instance=dg.DagsterInstance.ephemeral(), in_process=True)
    return config, runs


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory, sandbox) -> Iterator[ChannelHouseConfig]:
    """The demo pipeline once per session on a short history (150 days, the test business):
    raw layer, demo inbox files, warehouse, forecasts + LTV, alerts and last week's report,
    through the Dagster jobs the demo runs. Yields the config; the warehouse is
    ``config.warehouse_path``. Consumers only read it (copy it before writing)."""
    data_dir = tmp_path_factory.mktemp("demo") / "data"
    config, runs = run_demo_pipeline(data_dir, sandbox, DEMO_HISTORY_DAYS)
    for job, ok, seconds, failures in runs:
        assert ok, f"demo job {job} failed: {failures}"
        print(f"demo job {job}: {seconds:.1f}s")
    yield config


def pytest_itemcollected(item: pytest.Item) -> None:
    """`make test` runs on pytest-xdist workers with ``--dist loadgroup``: the tests of a module
    stay on one worker (its module fixtures are built once), and every test that uses the
    session's ``demo_warehouse`` runs on one worker (the fixture is built once per worker).
    A test that names its own ``xdist_group`` (e.g. one per parameter of a module fixture, so
    the parameters spread over the workers) keeps it."""
    if item.get_closest_marker("xdist_group"):
        return
    uses_demo = "demo_warehouse" in getattr(item, "fixturenames", ())
    item.add_marker(
        pytest.mark.xdist_group("demo_warehouse" if uses_demo else item.module.__name__)
    )
