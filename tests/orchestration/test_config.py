"""Configuration: the demo file validates; bad input names the field; secrets name their variable."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from orchestration.config import (
    ConfigError,
    MissingSecretError,
    load_config,
    parse_config,
    resolve_secrets,
)
from tests.conftest import sandbox_config_dict

ROOT = Path(__file__).resolve().parents[2]


def test_demo_config_is_valid_and_has_two_connections_per_big_channel():
    config = load_config(ROOT / "channelhouse.yml")
    channels = [c.channel for c in config.connections]
    assert channels.count("amazon") == 2 and channels.count("shopify") == 2
    assert all(c.uses_sandbox for c in config.connections)
    assert config.connection("amazon_eu").base_url("http://h:1") == "http://h:1/amazon"
    assert config.connection("shopify_eu").base_url("http://h:1") == (
        "http://h:1/shopify/channelhouse-eu/admin/api/2025-10/graphql.json"
    )


def test_the_example_shapes_validate_a_shopify_only_and_a_file_only_seller(monkeypatch):
    monkeypatch.delenv("CHANNELHOUSE_DATA_DIR", raising=False)
    shopify = load_config(ROOT / "deploy" / "examples" / "shopify-only.yml")
    assert [c.channel for c in shopify.connections] == ["shopify"]
    files = load_config(ROOT / "deploy" / "examples" / "files-only.yml")
    assert files.connections == [] and files.uses_sandbox  # the demo's exchange rates
    assert shopify.data_dir != files.data_dir != load_config(ROOT / "channelhouse.yml").data_dir


def test_no_connection_at_all_is_a_valid_deployment():
    raw = sandbox_config_dict("data")
    raw["connections"] = []
    raw["fx"] = {"source": "none"}
    config = parse_config(raw)
    assert config.connections == [] and not config.uses_sandbox


def test_env_example_lists_every_secret_the_demo_config_names():
    config = load_config(ROOT / "channelhouse.yml")
    documented = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    needed = {var for conn in config.connections for var in conn.secrets.values()}
    assert needed <= documented


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda r: r.update(base_currency="usd"), "base_currency: String should match pattern"),
        (
            lambda r: r.update(reporting_timezone="Mars/Olympus"),
            "reporting_timezone: unknown IANA time zone 'Mars/Olympus'",
        ),
        (
            lambda r: r["connections"][0].update(marketplaces=["ATVPDKIKX0DER", "NOPE"]),
            "connections[0] (amazon_na).marketplaces[1]: unknown marketplace id 'NOPE'",
        ),
        (
            lambda r: r["connections"][0].update(marketplaces=["A1PA6795UKMFR9"]),
            "is in region 'eu', not 'na'",
        ),
        (
            lambda r: r["connections"][2]["secrets"].pop("access_token"),
            "connections[2] (shopify_us).secrets: shopify connection needs environment variable "
            "names for access_token",
        ),
        (
            lambda r: r["connections"][4]["secrets"].update(client_secret="s3cr3t-value!"),
            "is not an environment variable name",
        ),
        (
            lambda r: r["connections"][3].update(name="shopify_us"),
            "connections[3].name: duplicate connection name 'shopify_us'",
        ),
        (lambda r: r["connections"][1].update(channel="ebay"), "connections[1] (amazon_eu)"),
        (
            lambda r: r["connections"][0].update(endpoint="ftp://x"),
            "connections[0] (amazon_na).endpoint: must be 'sandbox' or an http(s) URL",
        ),
        (lambda r: r.pop("sync"), "sync: Field required"),
        (
            lambda r: r["sync"].update(daily_days=1, lookback_days=2),
            "sync.lookback_days: 2 reaches before the daily window (daily_days 1)",
        ),
        (lambda r: r.update(colour="blue"), "colour: Extra inputs are not permitted"),
        (
            lambda r: r.update(analytics={"abc_cumulative_shares": [0.95, 0.8]}),
            "analytics.abc_cumulative_shares: must be two increasing positive numbers",
        ),
        (
            lambda r: r.update(analytics={"inventory_by_product": {"SKU-1": {"service_level": 2}}}),
            "analytics.inventory_by_product.SKU-1.service_level: Input should be less than or "
            "equal to 0.999",
        ),
        (
            lambda r: r.update(analytics={"marketplace_fees": {"etsy": {"percent": 0.065}}}),
            "analytics.marketplace_fees.etsy.percent: Extra inputs are not permitted",
        ),
    ],
)
def test_bad_config_names_the_field(mutate, expected):
    raw = sandbox_config_dict("data")
    mutate(raw)
    with pytest.raises(ConfigError) as err:
        parse_config(raw, "channelhouse.yml")
    assert expected in str(err.value)
    assert str(err.value).startswith("invalid configuration:")


def test_the_daily_window_and_the_history_split_the_synced_days():
    """The daily partitions cover ``daily_days`` before today; the initial sync the days
    before them (none when the history is shorter); a history run's range may be any past
    range, not one ending in the future."""
    from orchestration.defs.ingest.history import HistoryRange, history_days

    today = date(2026, 3, 10)
    config = parse_config({"sync": {"history_start": "2025-01-01"}}, "t")
    assert config.sync.daily_days == 35
    assert config.sync.daily_start(today) == date(2026, 2, 3)
    assert config.sync.history_range(today) == (date(2025, 1, 1), date(2026, 2, 2))
    days = history_days(config, HistoryRange(), today)
    assert (days[0], days[-1], len(days)) == (date(2025, 1, 1), date(2026, 2, 2), 398)
    some = history_days(config, HistoryRange(start="2025-06-30", end="2025-07-01"), today)
    assert some == [date(2025, 6, 30), date(2025, 7, 1)]
    with pytest.raises(ValueError, match="end 2026-03-11 is in the future"):
        history_days(config, HistoryRange(end="2026-03-11"), today)
    short = parse_config({"sync": {"history_start": "2026-03-01"}}, "t")
    assert short.sync.daily_start(today) == date(2026, 3, 1)
    assert history_days(short, HistoryRange(), today) == []


def test_missing_or_broken_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("connections: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_missing_secret_names_the_variable(monkeypatch):
    config = parse_config(sandbox_config_dict("data"))
    conn = config.connection("walmart_us")
    monkeypatch.setenv("WALMART_US_CLIENT_ID", "id")
    monkeypatch.delenv("WALMART_US_CLIENT_SECRET", raising=False)
    with pytest.raises(MissingSecretError) as err:
        resolve_secrets(conn)
    assert "WALMART_US_CLIENT_SECRET" in str(err.value) and "walmart_us" in str(err.value)
    monkeypatch.setenv("WALMART_US_CLIENT_SECRET", "sec")
    assert resolve_secrets(conn) == {"client_id": "id", "client_secret": "sec"}


def test_data_dir_env_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("CHANNELHOUSE_DATA_DIR", str(tmp_path))
    assert parse_config(sandbox_config_dict("data")).data_dir == tmp_path


def test_analytics_section_becomes_the_dbt_variables():
    raw = sandbox_config_dict("data")
    raw["analytics"] = {
        "analysis_date": "2026-06-30",
        "inventory": {"lead_time_days": 21},
        "inventory_by_category": {"Kitchen": {"lead_time_days": 45}},
        "marketplace_fees": {"etsy": {"percent_of_revenue": 0.065, "fixed_per_order": 0.2}},
    }
    variables = parse_config(raw).analytics.dbt_vars()
    assert variables["analysis_date"] == "2026-06-30"
    assert variables["inventory_defaults"] == {
        "lead_time_days": 21,
        "service_level": 0.95,
        "review_period_days": 7,
    }
    # an override carries only what it sets; the rest cascades from the defaults in dbt
    assert variables["inventory_by_category"] == {"Kitchen": {"lead_time_days": 45}}
    assert variables["marketplace_fees"] == {
        "etsy": {"percent_of_revenue": 0.065, "fixed_per_order": 0.2, "currency": "USD"}
    }
    assert variables["abc_cumulative_shares"] == [0.8, 0.95]
    # the demo file and the dbt project's defaults say the same
    import yaml

    project = yaml.safe_load((ROOT / "dbt_project" / "dbt_project.yml").read_text())["vars"]
    demo = load_config(ROOT / "channelhouse.yml").analytics.dbt_vars()
    for name, value in demo.items():
        assert project[name] == value, name
