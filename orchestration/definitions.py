"""The single entry point: ``dagster dev`` (workspace.yaml) loads ``defs`` from here.

Everything is built from ``channelhouse.yml`` when Dagster loads the code location (not at
import time): one module per domain adds its assets, and policies that apply to every
asset are set here once.
"""

from __future__ import annotations

import dagster as dg

from extractors.config import ChannelHouseConfig, load_config
from orchestration.assets.alerts import alert_assets
from orchestration.assets.inbox import inbox_import_asset, inbox_job_and_sensor
from orchestration.assets.ingest import daily_partitions, ingest_assets
from orchestration.assets.ml import ml_assets
from orchestration.assets.reference import reference_assets
from orchestration.assets.reports import report_definitions
from orchestration.assets.serving import serving_assets, serving_resources
from orchestration.assets.warehouse import warehouse_definitions
from orchestration.resources import build_resources
from orchestration.schedules import (
    alerts_job_and_schedule,
    forecast_jobs_and_schedules,
    ingest_jobs_and_schedules,
    warehouse_job_and_schedule,
)

# A step that still fails after the HTTP layer's own retries (an API down for minutes) is
# tried again later as a whole; partitions are idempotent, so a retry is always safe.
RETRY_POLICY = dg.RetryPolicy(
    max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


def build_definitions(
    config: ChannelHouseConfig, retry_policy: dg.RetryPolicy | None = RETRY_POLICY
) -> dg.Definitions:
    assets = ingest_assets(config, retry_policy=retry_policy)
    assets += reference_assets(config, retry_policy=retry_policy)
    jobs, schedules = ingest_jobs_and_schedules(config, assets, daily_partitions(config))
    files = inbox_import_asset(config)
    warehouse, checks = warehouse_definitions(config)
    # every job that changes the public marts refreshes what BI tools read, in the same run
    serving = serving_assets(config)
    job, schedule = warehouse_job_and_schedule(warehouse, checks, serving)
    inbox_job, inbox_sensor = inbox_job_and_sensor(config, files, warehouse, checks, serving)
    ml = ml_assets(config)
    ml_jobs, ml_schedules = forecast_jobs_and_schedules(ml, serving)
    alerting = alert_assets(config)
    alerts_job, alerts_schedule = alerts_job_and_schedule(alerting, serving)
    reports, report_jobs, report_schedules = report_definitions(config)
    return dg.Definitions(
        assets=[*assets, files, *warehouse, *ml, *alerting, *serving, *reports],
        asset_checks=checks,
        jobs=[*jobs, job, inbox_job, *ml_jobs, alerts_job, *report_jobs],
        schedules=[*schedules, schedule, *ml_schedules, alerts_schedule, *report_schedules],
        sensors=[inbox_sensor],
        resources={**build_resources(config), **serving_resources(config.serving)},
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(load_config())
