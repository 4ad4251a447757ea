"""Ingest: the raw layer (one multi-asset per connection and stream, the initial-sync history
assets of the incremental streams, plus the reference exchange rates), its Great
Expectations checks, and the sync jobs and schedules."""

import dagster as dg

from orchestration.config import ChannelHouseConfig
from orchestration.defs.ingest.history import history_assets
from orchestration.defs.ingest.jobs import ingest_jobs_and_schedules
from orchestration.defs.ingest.raw import daily_partitions, ingest_assets
from orchestration.defs.ingest.reference import reference_assets
from orchestration.lib.keys import FX_RATES_KEY, raw_asset_key
from orchestration.lib.resources import connection_resources, lake_resource

__all__ = [
    "FX_RATES_KEY",
    "daily_partitions",
    "defs",
    "history_assets",
    "ingest_assets",
    "ingest_jobs_and_schedules",
    "raw_asset_key",
    "reference_assets",
]


def defs(config: ChannelHouseConfig, retry_policy: dg.RetryPolicy | None = None) -> dg.Definitions:
    """The raw assets (each step retried by ``retry_policy``), their jobs and schedules, the
    lake and one ``<connection>_api`` resource per connection."""
    assets = ingest_assets(config, retry_policy=retry_policy)
    assets += reference_assets(config, retry_policy=retry_policy)
    history = history_assets(config, retry_policy=retry_policy)
    jobs, schedules = ingest_jobs_and_schedules(config, assets, daily_partitions(config), history)
    return dg.Definitions(
        assets=assets + history,
        jobs=jobs,
        schedules=schedules,
        resources={"lake": lake_resource(str(config.data_dir)), **connection_resources(config)},
    )
