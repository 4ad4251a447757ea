"""Jobs and schedules that sync the raw layer the way sellers sync: orders hourly, inventory
every 30 minutes, catalog every 6 hours, finance, traffic and exchange rates daily.

Incremental jobs re-extract today's partition plus ``sync.lookback_days`` earlier days in one
run (late updates and refunds land in the partition of their update day, so the lookback only
guards against an API's own delay, e.g. Amazon's 48-hour finance lag). ``raw_history`` loads
the days before the daily partitions (the initial sync, or any range given in its run config)
with one materialization per entity; ``raw_backfill`` reloads a range of daily partitions.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg

from extractors import fx
from extractors.registry import streams_for
from orchestration.config import ChannelHouseConfig
from orchestration.lib.schedules import partition_range_tags, stopped_schedule

CRONS = {
    "hourly": "5 * * * *",
    "every_30_minutes": "*/30 * * * *",
    "every_6_hours": "15 */6 * * *",
    "daily": "30 5 * * *",
}


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
    history: list[dg.AssetsDefinition] = (),
):
    """One job per cadence with its schedule, plus the three jobs the demo runs."""
    jobs: list = [
        dg.define_asset_job(
            name="raw_history",
            selection=dg.AssetSelection.assets(*history),
            description="The initial sync: every incremental stream before the daily "
            "partitions (or the range of each step's run config) in one run, one "
            "materialization per entity.",
        )
    ]
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
            description="Every incremental raw stream over a range of the daily partitions, "
            "in one run.",
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
