"""The warehouse: the dbt project as two dbt multi-assets (core, analytics) with the dbt tests
and the core marts' Great Expectations suites as checks, the daily ``warehouse_build`` job and
its schedule (incremental, and the full build on Sundays), and the ``warehouse`` and ``dbt``
resources."""

from datetime import datetime

import dagster as dg

from orchestration.config import ChannelHouseConfig
from orchestration.defs.warehouse.checks import core_mart_checks
from orchestration.defs.warehouse.dbt import (
    ANALYTICS_SELECTION,
    ANALYTICS_TESTS,
    CORE_SELECTION,
    DBT_STEPS,
    WarehouseBuildConfig,
    dbt_vars,
    run_environment,
    warehouse_dbt_assets,
)
from orchestration.lib.dbt import DBT_DIR, dbt_resource
from orchestration.lib.resources import shared_resources
from orchestration.lib.schedules import WAREHOUSE_WRITER, serving_selection

__all__ = [
    "ANALYTICS_SELECTION",
    "ANALYTICS_TESTS",
    "CORE_SELECTION",
    "DBT_DIR",
    "WarehouseBuildConfig",
    "dbt_vars",
    "defs",
    "run_environment",
    "warehouse_assets",
]

WAREHOUSE_CRON = "0 6 * * *"  # after the daily finance/traffic/exchange-rate sync (05:30)
FULL_BUILD_WEEKDAY = 6  # Sunday (Monday = 0): the weekly full build


def build_schedule(job: dg.JobDefinition) -> dg.ScheduleDefinition:
    """The daily build, STOPPED until a user turns it on: incremental (its tests reconcile the
    last ``warehouse.reconcile_days`` with the lake), and once a week the full build: every
    table rebuilt from the whole lake, every test over the whole history."""

    @dg.schedule(
        job=job,
        name=f"{job.name}_schedule",
        cron_schedule=WAREHOUSE_CRON,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        return dg.RunRequest(run_config=build_run_config(context.scheduled_execution_time))

    return _schedule


def build_run_config(scheduled_at: datetime) -> dict:
    """The run config of the scheduled build at ``scheduled_at``: full on Sundays."""
    full = scheduled_at.weekday() == FULL_BUILD_WEEKDAY
    return {"ops": {step: {"config": {"full_refresh": full}} for step in DBT_STEPS}}


def warehouse_assets(
    config: ChannelHouseConfig,
) -> tuple[list[dg.AssetsDefinition], list[dg.AssetChecksDefinition]]:
    """The two dbt steps and the blocking Great Expectations checks of the core marts."""
    assets = warehouse_dbt_assets(config)
    core = next(a for a in assets if a.op.name == "warehouse_core")
    core_marts = {key.path[-1]: key for key in core.keys if key.path[0] == "core"}
    return assets, [core_mart_checks(core_marts)]


def defs(config: ChannelHouseConfig) -> dg.Definitions:
    """The dbt build with its checks: incremental every morning, full on Sundays; run it by
    hand with ``{"ops": {...: {"config": {"full_refresh": true}}}}`` to rebuild from scratch.
    The serving assets (the BI copy / publication) run after the build in the same run."""
    assets, checks = warehouse_assets(config)
    job = dg.define_asset_job(
        name="warehouse_build",
        selection=dg.AssetSelection.assets(*assets)
        | dg.AssetSelection.checks(*checks)
        | serving_selection(),
        description="dbt build of the DuckDB warehouse (staging, core, analytics) and its checks.",
        tags=WAREHOUSE_WRITER,
    )
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[job],
        schedules=[build_schedule(job)],
        resources={"warehouse": shared_resources(config)["warehouse"], "dbt": dbt_resource()},
    )
