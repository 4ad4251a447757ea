"""The raw lake: immutable, hive-partitioned Parquet, one file per partition, written atomically.

Layout (under ``<data dir>/raw``)::

    channel=<channel>/connection=<connection>/entity=<entity>/date=<YYYY-MM-DD>/part-0.parquet

A partition is the unit of (re)extraction: writing it again replaces exactly that file, by
writing a temporary file next to it and ``os.replace``-ing it into place, so a reader (or a
killed writer) never sees half a file. Rows are sorted by the entity key, so the same API
answer always produces the same data. Records that could not be parsed land in
``<data dir>/quarantine`` with the same layout, with the reason next to the raw record.
"""

from __future__ import annotations

import os
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from extractors.base import EntitySpec, Quarantined, Window

PART_FILE = "part-0.parquet"
TMP_SUFFIX = ".tmp"

META_FIELDS = [
    pa.field("_channel", pa.string(), nullable=False),
    pa.field("_connection", pa.string(), nullable=False),
    pa.field("_extracted_at", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("_extraction_id", pa.string(), nullable=False),
    pa.field("_api_version", pa.string(), nullable=False),
    pa.field("_window_start", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("_window_end", pa.timestamp("us", tz="UTC"), nullable=False),
]
# Stamps that differ between two runs of the same extraction by design.
RUN_STAMPS = ("_extracted_at", "_extraction_id")

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("entity", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("record", pa.string(), nullable=False),
        *META_FIELDS,
    ]
)


@dataclass(frozen=True)
class Stamp:
    """Extraction metadata stamped on every row of one extraction."""

    channel: str
    connection: str
    api_version: str
    window: Window
    extracted_at: datetime
    extraction_id: str

    @classmethod
    def new(cls, channel: str, connection: str, api_version: str, window: Window) -> Stamp:
        return cls(channel, connection, api_version, window, datetime.now(UTC), uuid.uuid4().hex)

    def columns(self, n: int, day: date | None = None) -> dict[str, pa.Array]:
        """The stamp as columns of ``n`` rows. With ``day``, the window is the part of the
        request window that covers that partition, so a partition's content does not depend
        on whether it was extracted alone or as part of a longer backfill."""
        start, end = self.window.start, self.window.end
        if day is not None:
            start = max(start, datetime.combine(day, time(), UTC))
            end = min(end, datetime.combine(day + timedelta(days=1), time(), UTC))
        values = {
            "_channel": self.channel,
            "_connection": self.connection,
            "_extracted_at": self.extracted_at,
            "_extraction_id": self.extraction_id,
            "_api_version": self.api_version,
            "_window_start": start,
            "_window_end": end,
        }
        return {f.name: pa.array([values[f.name]] * n, f.type) for f in META_FIELDS}


@dataclass(frozen=True)
class PartitionWrite:
    entity: str
    day: date
    path: Path
    rows: int
    bytes: int


def entity_path(root: Path, channel: str, connection: str, entity: str, area: str = "raw") -> Path:
    """The folder of one connection's entity, holding its ``date=<day>`` partitions."""
    return (
        Path(root) / area / f"channel={channel}" / f"connection={connection}" / f"entity={entity}"
    )


def partition_path(
    root: Path, channel: str, connection: str, entity: str, day: date, area: str = "raw"
) -> Path:
    return (
        entity_path(root, channel, connection, entity, area) / f"date={day.isoformat()}" / PART_FILE
    )


def lake_schema(spec: EntitySpec) -> pa.Schema:
    return pa.schema([*spec.schema, *META_FIELDS])


def atomic_write(table: pa.Table, path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}{TMP_SUFFIX}")
    try:
        pq.write_table(table, tmp, compression="zstd", write_statistics=True)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path.stat().st_size


def _partition_day(value: object, entity: str, column: str) -> date:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date()
    if isinstance(value, date):
        return value
    raise ValueError(f"{entity}: partition column {column!r} holds {value!r}, not a date/time")


def write_entity(
    root: Path, spec: EntitySpec, rows: list[dict], stamp: Stamp, days: Iterable[date]
) -> list[PartitionWrite]:
    """Write ``rows`` of one entity into their daily partitions.

    Every day in ``days`` (the partitions this extraction owns) is written, with an empty
    file when no row falls on it, so that re-running a partition whose data disappeared
    replaces the old file instead of leaving it behind. A row whose partition day is not
    among ``days`` is a bug in the extractor's window logic and raises.
    """
    by_day: dict[date, list[dict]] = defaultdict(list)
    owned = sorted(set(days))
    snapshot_day = owned[-1] if spec.partition_by is None else None
    for row in rows:
        day = snapshot_day or _partition_day(row[spec.partition_by], spec.name, spec.partition_by)
        by_day[day].append(row)
    stray = set(by_day) - set(owned)
    if stray:
        raise ValueError(
            f"{spec.name}: rows fall on days outside the extraction's partitions: "
            f"{sorted(stray)[:3]}"
        )
    writes = []
    schema = lake_schema(spec)
    for day in owned:
        day_rows = sorted(
            by_day.get(day, []),
            key=lambda r: tuple(("" if r[k] is None else r[k]) for k in spec.key),
        )
        data = pa.Table.from_pylist(day_rows, schema=spec.schema)
        day_stamp = stamp.columns(len(day_rows), day if spec.partition_by else None)
        for name, column in day_stamp.items():
            data = data.append_column(schema.field(name), column)
        path = partition_path(root, stamp.channel, stamp.connection, spec.name, day)
        size = atomic_write(data, path)
        writes.append(PartitionWrite(spec.name, day, path, len(day_rows), size))
    return writes


def write_quarantine(
    root: Path,
    records: list[Quarantined],
    stamp: Stamp,
    days: Iterable[date],
    entities: Iterable[str],
) -> list[PartitionWrite]:
    """Replace the quarantine partitions of this extraction's entities and days.

    Records without a day of their own go to the extraction's last day. A partition that held
    quarantined records in an earlier run and has none now loses its old file, so the
    quarantine always describes the latest extraction of each partition.
    """
    owned = sorted(set(days))
    grouped: dict[tuple[str, date], list[Quarantined]] = defaultdict(list)
    for rec in records:
        day = rec.partition_date if rec.partition_date in owned else owned[-1]
        grouped[(rec.entity, day)].append(rec)
    writes = []
    for entity in sorted(set(entities) | {e for e, _ in grouped}):
        for day in owned:
            path = partition_path(root, stamp.channel, stamp.connection, entity, day, "quarantine")
            recs = sorted(grouped.get((entity, day), []), key=lambda r: (r.reason, r.record))
            if not recs:
                path.unlink(missing_ok=True)
                continue
            data = pa.table(
                {
                    "entity": pa.array([r.entity for r in recs], pa.string()),
                    "reason": pa.array([r.reason for r in recs], pa.string()),
                    "record": pa.array([r.record for r in recs], pa.string()),
                    **stamp.columns(len(recs)),
                },
                schema=QUARANTINE_SCHEMA,
            )
            writes.append(PartitionWrite(entity, day, path, len(recs), atomic_write(data, path)))
    return writes


def read_partition(root: Path, channel: str, connection: str, entity: str, day: date) -> pa.Table:
    return pq.read_table(partition_path(root, channel, connection, entity, day))


def find_temporary_files(root: Path) -> list[Path]:
    """Leftovers of killed writers (never visible as ``*.parquet``); safe to delete."""
    return sorted(Path(root).rglob(f"*{TMP_SUFFIX}"))


CADENCE_HOURS = {"hourly": 1, "every_30_minutes": 0.5, "every_6_hours": 6, "daily": 24}


def lake_freshness(root: Path, entities: Iterable[tuple[str, str, str, str]]):
    """Per ``(connection, channel, entity, cadence)``: the newest raw partition day and write
    time in the lake at ``root``, with the cadence (in hours) the entity is synced at: what
    stale_data alerts compare with. A polars frame, one row per entity, None where the lake
    has no partition of it yet."""
    import polars as pl

    rows = []
    for connection, channel, entity, cadence in entities:
        folder = entity_path(root, channel, connection, entity)
        parts = sorted(folder.glob("date=*/*.parquet")) if folder.exists() else []
        rows.append(
            {
                "connection_name": connection,
                "entity": entity,
                "channel": channel,
                "last_partition_date": (
                    date.fromisoformat(parts[-1].parent.name.removeprefix("date="))
                    if parts
                    else None
                ),
                "last_extracted_at": (
                    datetime.fromtimestamp(max(p.stat().st_mtime for p in parts), UTC)
                    if parts
                    else None
                ),
                "expected_cadence_hours": float(CADENCE_HOURS[cadence]),
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "connection_name": pl.String,
            "entity": pl.String,
            "channel": pl.String,
            "last_partition_date": pl.Date,
            "last_extracted_at": pl.Datetime("us", "UTC"),
            "expected_cadence_hours": pl.Float64,
        },
    )
