"""The initial sync (history) of each incremental stream: one unpartitioned multi-asset per
(connection, stream), one asset per entity (``raw_history/<connection>/<entity>``).

A run loads any range of days in one extraction and records one materialization per entity,
whatever the range's length (the daily partitions of ``raw/<connection>/<entity>`` would
record one per day). The range is the run config's ``start``/``end``; by default
``sync.history_start`` up to the day before the daily window. The extractor chooses its own
path for a long window (a report, a bulk operation, pages); the lake partitions it writes are
the same as the daily assets', so the warehouse reads both alike.
"""

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pydantic

from extractors.base import EntitySpec, Stream
from extractors.registry import AnyConnection, streams_for
from extractors.runner import StreamRun
from orchestration.config import ChannelHouseConfig
from orchestration.defs.ingest.raw import (
    check_specs,
    entity_metadata,
    extract_and_check,
    run_metadata,
)
from orchestration.lib.keys import raw_history_key
from orchestration.lib.quality import run_suite
from orchestration.lib.resources import connection_resource_key

GROUP = "raw_history"


class HistoryRange(dg.Config):
    """The UTC days to (re)load, both included; empty: the default of the configuration
    (``sync.history_start`` .. the day before the daily partitions start)."""

    start: str | None = None  # YYYY-MM-DD
    end: str | None = None  # YYYY-MM-DD

    @pydantic.field_validator("start", "end")
    @classmethod
    def _iso_date(cls, value: str | None) -> str | None:
        if value is not None:
            date.fromisoformat(value)  # a clear error for anything but YYYY-MM-DD
        return value


def history_days(config: ChannelHouseConfig, run: HistoryRange, today: date) -> list[date]:
    """The days a history run loads (none when the range is empty)."""
    first, last = config.sync.history_range(today)
    first = date.fromisoformat(run.start) if run.start else first
    last = date.fromisoformat(run.end) if run.end else last
    if last >= today + timedelta(days=1):
        raise ValueError(f"end {last} is in the future (today is {today} UTC)")
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def rows_per_month(run: StreamRun, spec: EntitySpec) -> dg.TableMetadataValue:
    months: Counter[str] = Counter()
    for write in run.writes:
        if write.entity == spec.name:
            months[f"{write.day:%Y-%m}"] += write.rows
    return dg.MetadataValue.table(
        records=[dg.TableRecord({"month": m, "rows": n}) for m, n in sorted(months.items())],
        schema=dg.TableSchema(
            columns=[dg.TableColumn("month", "string"), dg.TableColumn("rows", "int")]
        ),
    )


def _metadata(run: StreamRun, spec: EntitySpec) -> dict[str, object]:
    return {
        **run_metadata(run, spec),
        "range": f"{run.days[0]} .. {run.days[-1]}" if run.days else "(empty)",
        "days": len(run.days),
        "rows_per_month": rows_per_month(run, spec),
        "dagster/row_count": run.rows(spec.name),
    }


def _history_asset(
    settings: ChannelHouseConfig,
    conn: AnyConnection,
    stream: Stream,
    retry_policy: dg.RetryPolicy | None,
) -> dg.AssetsDefinition:
    keys = {spec.name: raw_history_key(conn.name, spec.name) for spec in stream.entities}
    specs = [
        dg.AssetSpec(
            key=keys[spec.name],
            description=f"The initial sync of {conn.channel} {spec.name} of connection "
            f"{conn.name}: any range of days (run config start/end; default "
            f"{settings.sync.history_start} up to the daily window) in one run, into the "
            f"same lake partitions as raw/{conn.name}/{spec.name}.",
            group_name=GROUP,
            kinds={"parquet", conn.channel},
            tags={"channel": conn.channel, "connection": conn.name},
            metadata=entity_metadata(spec),
        )
        for spec in stream.entities
    ]

    @dg.multi_asset(
        name=f"{conn.name}__{stream.name}__history",
        specs=specs,
        check_specs=check_specs(conn, keys),
        required_resource_keys={"lake", connection_resource_key(conn.name)},
        retry_policy=retry_policy,
        op_tags={"channel": conn.channel, "connection": conn.name},
    )
    def _history(context: dg.AssetExecutionContext, config: HistoryRange):
        days = history_days(settings, config, datetime.now(UTC).date())
        if days:
            context.log.info(f"{conn.name}/{stream.name}: loading {days[0]} .. {days[-1]}")
            yield from extract_and_check(context, settings, conn, stream, days, keys, _metadata)
            return
        context.log.info(f"{conn.name}/{stream.name}: empty range, nothing to load")
        for spec in stream.entities:
            empty = StreamRun(stream.name, None, [])
            yield dg.MaterializeResult(asset_key=keys[spec.name], metadata=_metadata(empty, spec))
            yield run_suite(conn.channel, spec, [], asset_key=keys[spec.name])

    return _history


def history_assets(
    config: ChannelHouseConfig, retry_policy: dg.RetryPolicy | None = None
) -> list[dg.AssetsDefinition]:
    return [
        _history_asset(config, conn, stream, retry_policy)
        for conn in config.connections
        for stream in streams_for(conn.channel).values()
        if stream.incremental
    ]
