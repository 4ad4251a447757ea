"""Raw-layer assets: one multi-asset per (connection, stream), one asset per raw entity.

Incremental streams are daily-partitioned by the UTC day of the entity's update/post time and
load any partition range in a single run (``BackfillPolicy.single_run``): a two-year backfill
is one run and one pass over the API, not 730. Snapshot streams (inventory, catalog) are
unpartitioned: each materialization lands the current state in today's lake partition.
Every materialization reports rows, bytes, window, pages, retries and throttling, and runs
the entity's Great Expectations suite as a blocking check in the same step.
"""

from datetime import date

import dagster as dg

from extractors.base import EntitySpec, Stream
from extractors.registry import AnyConnection, streams_for
from extractors.runner import StreamRun, run_stream
from orchestration.config import ChannelHouseConfig
from orchestration.lib.keys import raw_asset_key
from orchestration.lib.quality import CHECK_NAME, run_suite
from orchestration.lib.resources import connection_resource_key


def daily_partitions(config: ChannelHouseConfig) -> dg.DailyPartitionsDefinition:
    # end_offset=1: today's partition exists, so hourly syncs can land today's updates.
    return dg.DailyPartitionsDefinition(
        start_date=config.sync.history_start.isoformat(), end_offset=1
    )


def _days(context: dg.AssetExecutionContext) -> list[date] | None:
    """The UTC days of the run's partition or partition range (None when unpartitioned)."""
    if context.assets_def.partitions_def is None:
        return None
    return [date.fromisoformat(k) for k in context.partition_keys]


def _metadata(run: StreamRun, spec: EntitySpec) -> dict[str, dg.MetadataValue]:
    files = [w for w in run.writes if w.entity == spec.name]
    # In a ranged (backfill) run Dagster copies this metadata onto every partition's
    # materialization, so the figures are the run's totals; the per-partition row count that
    # Dagster charts is only given when the run covers one partition.
    meta: dict[str, object] = {
        "rows": run.rows(spec.name),
        "partitions_in_run": len(run.days),
        "bytes": run.bytes(spec.name),
        "partitions_written": len(files),
        "window": str(run.window) if run.window else "snapshot",
        "requests": run.stats.requests,
        "pages": run.stats.pages,
        "retries": run.stats.retries,
        "throttled": run.stats.throttled,
        "token_refreshes": run.stats.token_refreshes,
        "wait_seconds": round(run.stats.wait_seconds, 2),
        "quarantined_records": run.quarantined,
        "extract_seconds": round(run.seconds, 2),
    }
    if len(run.days) == 1:
        meta["dagster/row_count"] = run.rows(spec.name)
    if files:
        meta["path"] = dg.MetadataValue.path(str(files[-1].path.parent.parent))
    if run.notes:
        meta["notes"] = dg.MetadataValue.md("\n".join(f"- {n}" for n in run.notes))
    return meta


def _stream_asset(
    config: ChannelHouseConfig,
    conn: AnyConnection,
    stream: Stream,
    partitions: dg.DailyPartitionsDefinition,
    retry_policy: dg.RetryPolicy | None,
) -> dg.AssetsDefinition:
    specs = [
        dg.AssetSpec(
            key=raw_asset_key(conn.name, spec.name),
            description=f"{conn.channel} {spec.name} of connection {conn.name}, as the API "
            f"returns it ({stream.description or stream.name}). Key: "
            f"{', '.join(spec.key)}; partitioned by "
            f"{spec.partition_by or 'snapshot day'} (UTC).",
            group_name=f"raw_{conn.channel}",
            kinds={"parquet", conn.channel},
            tags={"channel": conn.channel, "connection": conn.name, "cadence": stream.cadence},
            metadata={
                "key": list(spec.key),
                "partition_by": spec.partition_by or "snapshot",
                "columns": dg.MetadataValue.table_schema(
                    dg.TableSchema(
                        columns=[dg.TableColumn(f.name, str(f.type)) for f in spec.schema]
                    )
                ),
            },
        )
        for spec in stream.entities
    ]
    check_specs = [
        dg.AssetCheckSpec(
            CHECK_NAME,
            asset=raw_asset_key(conn.name, spec.name),
            blocking=True,
            description=f"Great Expectations suite raw.{conn.channel}.{spec.name}",
        )
        for spec in stream.entities
    ]
    api_key = connection_resource_key(conn.name)

    @dg.multi_asset(
        name=f"{conn.name}__{stream.name}",
        specs=specs,
        check_specs=check_specs,
        partitions_def=partitions if stream.incremental else None,
        backfill_policy=dg.BackfillPolicy.single_run() if stream.incremental else None,
        required_resource_keys={"lake", api_key},
        retry_policy=retry_policy,
        op_tags={"channel": conn.channel, "connection": conn.name},
    )
    def _extract(context: dg.AssetExecutionContext):
        lake = context.resources.lake
        extractor = getattr(context.resources, api_key).extractor(conn, config.sandbox.url)
        run = run_stream(extractor, stream.name, lake.root, days=_days(context))
        context.log.info(
            f"{conn.name}/{stream.name}: {sum(w.rows for w in run.writes)} rows in "
            f"{len(run.days)} day(s), {run.stats.requests} requests, {run.stats.retries} "
            f"retries, {run.quarantined} quarantined, {run.seconds:.1f}s"
        )
        for note in run.notes:
            context.log.warning(f"{conn.name}/{stream.name}: {note}")
        for spec in stream.entities:
            key = raw_asset_key(conn.name, spec.name)
            yield dg.MaterializeResult(asset_key=key, metadata=_metadata(run, spec))
            files = [w.path for w in run.writes if w.entity == spec.name]
            yield run_suite(conn.channel, spec, files, asset_key=key)

    return _extract


def ingest_assets(
    config: ChannelHouseConfig, retry_policy: dg.RetryPolicy | None = None
) -> list[dg.AssetsDefinition]:
    partitions = daily_partitions(config)
    return [
        _stream_asset(config, conn, stream, partitions, retry_policy)
        for conn in config.connections
        for stream in streams_for(conn.channel).values()
    ]
