"""Jobs and schedules that sync the raw layer the way sellers sync: orders hourly, inventory
every 30 minutes, catalog every 6 hours, finance, traffic and exchange rates daily.

Incremental jobs re-extract today's partition plus ``sync.lookback_days`` earlier days in one
run (late updates and refunds land in the partition of their update day, so the lookback only
guards against an API's own delay, e.g. Amazon's 48-hour finance lag).
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import dagster as dg

from extractors import fx
from extractors.config import ChannelHouseConfig
from extractors.registry import streams_for

CRONS = {
    "hourly": "5 * * * *",
    "every_30_minutes": "*/30 * * * *",
    "every_6_hours": "15 */6 * * *",
    "daily": "30 5 * * *",
}
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def partition_range_tags(first: str, last: str) -> dict[str, str]:
    return {RANGE_START: first, RANGE_END: last}


def stopped_schedule(job, cron: str) -> dg.ScheduleDefinition:
    """A UTC schedule of ``job``, STOPPED until a user turns it on (every schedule here)."""
    return dg.ScheduleDefinition(
        job=job,
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )


def _stream_assets(
    config: ChannelHouseConfig,
    assets: list[dg.AssetsDefinition],
    incremental: bool,
    cadence: str | None = None,
) -> list[dg.AssetsDefinition]:
    wanted = {
        f"{conn.name}__{stream.name}"
        for conn in config.connections
        for stream in streams_for(conn.channel).values()
        if stream.incremental == incremental and cadence in (None, stream.cadence)
    }
    wanted |= {  # reference data (exchange rates) syncs like the snapshot streams
        f"{fx.CHANNEL}__{stream.name}"
        for stream in fx.STREAMS.values()
        if stream.incremental == incremental and cadence in (None, stream.cadence)
    }
    return [a for a in assets if a.node_def.name in wanted]


def _incremental_schedule(job, cron: str, lookback: int) -> dg.ScheduleDefinition:
    @dg.schedule(
        job=job,
        cron_schedule=cron,
        name=f"{job.name}_schedule",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    def _schedule(context: dg.ScheduleEvaluationContext):
        moment = context.scheduled_execution_time or datetime.now(UTC)
        today = moment.astimezone(UTC).date()
        first = today - timedelta(days=lookback)
        return dg.RunRequest(
            run_key=f"{job.name}:{moment.isoformat()}",
            tags=partition_range_tags(first.isoformat(), today.isoformat()),
        )

    return _schedule


def ingest_jobs_and_schedules(
    config: ChannelHouseConfig,
    assets: list[dg.AssetsDefinition],
    partitions: dg.PartitionsDefinition,
):
    """One job per cadence with its schedule, plus the two jobs the demo runs."""
    jobs: list = []
    schedules: list = []
    for cadence, cron in CRONS.items():
        for incremental in (True, False):
            selected = _stream_assets(config, assets, incremental, cadence)
            if not selected:
                continue
            job = dg.define_asset_job(
                name=f"sync_{cadence}" + ("" if incremental else "_snapshots"),
                selection=dg.AssetSelection.assets(*selected),
                partitions_def=partitions if incremental else None,
                description=f"Raw sync, {cadence.replace('_', ' ')}",
            )
            jobs.append(job)
            if incremental:
                schedules.append(_incremental_schedule(job, cron, config.sync.lookback_days))
            else:
                schedules.append(stopped_schedule(job, cron))
    jobs.append(
        dg.define_asset_job(
            name="raw_backfill",
            selection=dg.AssetSelection.assets(*_stream_assets(config, assets, True)),
            partitions_def=partitions,
            description="Every incremental raw stream over a partition range, in one run.",
        )
    )
    jobs.append(
        dg.define_asset_job(
            name="raw_snapshots",
            selection=dg.AssetSelection.assets(*_stream_assets(config, assets, False)),
            description="Every snapshot raw stream (inventory, catalog, exchange rates) now.",
        )
    )
    return jobs, schedules


WAREHOUSE_CRON = "0 6 * * *"  # after the daily finance/traffic/exchange-rate sync (05:30)
# Jobs that write the DuckDB file (one writer at a time): a run coordinator limit on this tag
# (tag_concurrency_limits in dagster.yaml) queues the second instead of failing on the lock.
WAREHOUSE_WRITER = {"channelhouse/warehouse": "writer"}


def warehouse_job_and_schedule(
    assets: list[dg.AssetsDefinition],
    checks: list[dg.AssetChecksDefinition],
    serving: Sequence[dg.AssetsDefinition] = (),
):
    """The dbt build with its checks: incremental every morning; run it by hand with
    ``{"ops": {...: {"config": {"full_refresh": true}}}}`` to rebuild from scratch.
    ``serving`` (the BI copy / publication) runs after the build in the same run."""
    job = dg.define_asset_job(
        name="warehouse_build",
        selection=dg.AssetSelection.assets(*assets, *serving) | dg.AssetSelection.checks(*checks),
        description="dbt build of the DuckDB warehouse (staging, core, analytics) and its checks.",
        tags=WAREHOUSE_WRITER,
    )
    schedule = stopped_schedule(job, WAREHOUSE_CRON)
    return job, schedule


ALERTS_CRON = "30 6 * * *"  # after the warehouse build (06:00)


def alerts_job_and_schedule(
    assets: list[dg.AssetsDefinition], serving: Sequence[dg.AssetsDefinition] = ()
):
    """Sales anomalies and alerts (with their delivery) every morning after the warehouse."""
    job = dg.define_asset_job(
        name="alerts_daily",
        selection=dg.AssetSelection.assets(*assets, *serving),
        description="Score sales anomalies, update the alerts table and send what changed.",
        tags=WAREHOUSE_WRITER,
    )
    schedule = stopped_schedule(job, ALERTS_CRON)
    return job, schedule


FORECAST_RETRAIN_CRON = "0 7 * * 0"  # Sundays, after the warehouse and the alerts
FORECAST_DAILY_CRON = "15 6 * * *"  # every morning after the warehouse build (06:00)


def forecast_jobs_and_schedules(
    assets: list[dg.AssetsDefinition], serving: Sequence[dg.AssetsDefinition] = ()
):
    """Weekly: choose every series' model by backtest; daily: refit the chosen models on the
    newest data (and the lifetime values)."""
    selection = dg.AssetSelection.assets(*assets, *serving)
    jobs, schedules = [], []
    for name, cron, select, what in (
        (
            "forecast_retrain",
            FORECAST_RETRAIN_CRON,
            True,
            "choose models by backtest, then forecast",
        ),
        ("forecast_daily", FORECAST_DAILY_CRON, False, "refit the chosen models and forecast"),
    ):
        job = dg.define_asset_job(
            name=name,
            selection=selection,
            description=f"Demand forecasts ({what}) and customer lifetime values.",
            config={"ops": {"demand_forecast": {"config": {"select_models": select}}}},
            tags=WAREHOUSE_WRITER,
        )
        jobs.append(job)
        schedules.append(stopped_schedule(job, cron))
    return jobs, schedules
