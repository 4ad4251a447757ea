"""Raw-layer assets: one multi-asset per (connection, stream), one asset per raw entity.

Incremental streams are daily-partitioned by the UTC day of the entity's update/post time, for
the recent window only (``sync.daily_days`` back from today, a rolling start): the UI shows
each recent day's freshness, and a range of them loads in a single run
(``BackfillPolicy.single_run``). Older days load through the history assets
(``orchestration.defs.ingest.history``, one materialization per entity for any range), which
these depend on. Snapshot streams (inventory, catalog) are unpartitioned: each
materialization lands the current state in today's lake partition. Every materialization
reports rows, bytes, window, pages, retries and throttling, and runs the entity's Great
Expectations suite as a blocking check in the same step.
"""

from datetime import UTC, date, datetime

import dagster as dg

from extractors.base import EntitySpec, Stream
from extractors.registry import AnyConnection, streams_for
from extractors.runner import StreamRun
from extractors.usage import UsageLimitReached
from orchestration.config import ChannelHouseConfig
from orchestration.defs.ingest.progress import extract_with_progress
from orchestration.lib.keys import raw_asset_key, raw_history_key
from orchestration.lib.quality import CHECK_NAME, run_suite
from orchestration.lib.resources import connection_resource_key


def daily_partitions(
    config: ChannelHouseConfig, today: date | None = None
) -> dg.DailyPartitionsDefinition:
    """The recent window's days, from ``sync.daily_start`` of the day the definitions load.
    end_offset=1: today's partition exists, so hourly syncs can land today's updates."""
    today = today or datetime.now(UTC).date()
    return dg.DailyPartitionsDefinition(
        start_date=config.sync.daily_start(today).isoformat(), end_offset=1
    )


def entity_metadata(spec: EntitySpec) -> dict[str, object]:
    """What every raw asset of an entity shows before it runs: key, partitioning, columns."""
    return {
        "key": list(spec.key),
        "partition_by": spec.partition_by or "snapshot",
        "columns": dg.MetadataValue.table_schema(
            dg.TableSchema(columns=[dg.TableColumn(f.name, str(f.type)) for f in spec.schema])
        ),
    }


def run_metadata(run: StreamRun, spec: EntitySpec) -> dict[str, object]:
    """What one extraction did for an entity (both the daily and the history assets)."""
    files = [w for w in run.writes if w.entity == spec.name]
    meta: dict[str, object] = {
        "rows": run.rows(spec.name),
        "bytes": run.bytes(spec.name),
        "partitions_written": len(files),
        "window": str(run.window) if run.window else "snapshot",
        "requests": run.stats.requests,
        "pages": run.stats.pages,
        "retries": run.stats.retries,
        "throttled": run.stats.throttled,
        "token_refreshes": run.stats.token_refreshes,
        "reports_requested": run.stats.reports_requested,
        "wait_seconds": round(run.stats.wait_seconds, 2),
        "quarantined_records": run.quarantined,
        "extract_seconds": round(run.seconds, 2),
    }
    if files:
        meta["path"] = dg.MetadataValue.path(str(files[-1].path.parent.parent))
    if run.notes:
        meta["notes"] = dg.MetadataValue.md("\n".join(f"- {n}" for n in run.notes))
    return meta


def extract_and_check(
    context: dg.AssetExecutionContext,
    config: ChannelHouseConfig,
    conn: AnyConnection,
    stream: Stream,
    days: list[date] | None,
    keys: dict[str, dg.AssetKey],
    metadata,
):
    """The body of every raw stream asset: extract ``days`` (None: a snapshot) with progress
    in the log, then per entity its materialization (``metadata(run, spec)``) and its Great
    Expectations suite over the files written."""
    extractor = getattr(context.resources, connection_resource_key(conn.name)).extractor(
        conn, config.sandbox.url
    )
    label = f"{conn.name}/{stream.name}"
    try:
        run = extract_with_progress(
            context, label, extractor, stream.name, context.resources.lake.root, days,
            limits=conn.limits,
        )  # fmt: skip
    except UsageLimitReached as exc:  # a retry would only stop again
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    context.log.info(
        f"{label}: {sum(w.rows for w in run.writes)} rows in {len(run.days)} day(s), "
        f"{run.stats.requests} requests, {run.stats.retries} retries, {run.quarantined} "
        f"quarantined, {run.seconds:.1f}s"
    )
    for note in run.notes:
        context.log.warning(f"{label}: {note}")
    for spec in stream.entities:
        yield dg.MaterializeResult(asset_key=keys[spec.name], metadata=metadata(run, spec))
        files = [w.path for w in run.writes if w.entity == spec.name]
        yield run_suite(conn.channel, spec, files, asset_key=keys[spec.name])


def _days(context: dg.AssetExecutionContext) -> list[date] | None:
    """The UTC days of the run's partition or partition range (None when unpartitioned)."""
    if context.assets_def.partitions_def is None:
        return None
    return [date.fromisoformat(k) for k in context.partition_keys]


def _metadata(run: StreamRun, spec: EntitySpec) -> dict[str, object]:
    # In a ranged run Dagster copies this metadata onto every partition's materialization, so
    # the figures are the run's totals; the per-partition row count that Dagster charts is
    # only given when the run covers one partition.
    meta = {**run_metadata(run, spec), "partitions_in_run": len(run.days)}
    if len(run.days) == 1:
        meta["dagster/row_count"] = run.rows(spec.name)
    return meta


def check_specs(conn: AnyConnection, keys: dict[str, dg.AssetKey]) -> list[dg.AssetCheckSpec]:
    """The blocking Great Expectations check of each entity's asset."""
    return [
        dg.AssetCheckSpec(
            CHECK_NAME,
            asset=key,
            blocking=True,
            description=f"Great Expectations suite raw.{conn.channel}.{entity}",
        )
        for entity, key in keys.items()
    ]


def _stream_asset(
    config: ChannelHouseConfig,
    conn: AnyConnection,
    stream: Stream,
    partitions: dg.DailyPartitionsDefinition,
    retry_policy: dg.RetryPolicy | None,
) -> dg.AssetsDefinition:
    keys = {spec.name: raw_asset_key(conn.name, spec.name) for spec in stream.entities}
    specs = [
        dg.AssetSpec(
            key=keys[spec.name],
            description=f"{conn.channel} {spec.name} of connection {conn.name}, as the API "
            f"returns it ({stream.description or stream.name}). Key: "
            f"{', '.join(spec.key)}; partitioned by "
            f"{spec.partition_by or 'snapshot day'} (UTC)"
            + (", the recent days; older ones in raw_history." if stream.incremental else "."),
            # the recent days continue what the initial sync loaded
            deps=[raw_history_key(conn.name, spec.name)] if stream.incremental else None,
            group_name=f"raw_{conn.channel}",
            kinds={"parquet", conn.channel},
            tags={"channel": conn.channel, "connection": conn.name, "cadence": stream.cadence},
            metadata=entity_metadata(spec),
        )
        for spec in stream.entities
    ]

    @dg.multi_asset(
        name=f"{conn.name}__{stream.name}",
        specs=specs,
        check_specs=check_specs(conn, keys),
        partitions_def=partitions if stream.incremental else None,
        backfill_policy=dg.BackfillPolicy.single_run() if stream.incremental else None,
        required_resource_keys={"lake", connection_resource_key(conn.name)},
        retry_policy=retry_policy,
        op_tags={"channel": conn.channel, "connection": conn.name},
    )
    def _extract(context: dg.AssetExecutionContext):
        yield from extract_and_check(context, config, conn, stream, _days(context), keys, _metadata)

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
