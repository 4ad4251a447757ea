"""What each connection uses, and the limits a seller may put on it.

Every stream run (``extractors.runner.run_stream``) appends one record to the lake:
``raw/channel=usage/connection=<c>/entity=stream_runs/date=<UTC day the run started>/runs-<stream>.parquet``
with its API requests, throttled responses, retries, token refreshes, bytes received, reports
or bulk operations requested, rows and bytes landed, quarantined records, seconds and outcome
(``ok``, ``failed`` or ``limit_reached``, with the error). dbt sums them per connection and day
in ``analytics.connection_usage``.

Limits (``limits:`` of a connection, :class:`UsageLimits`): ``requests_per_day`` (UTC day) and
``rows_per_month`` (UTC month), counted from these records. A run starting at or above 80%
of a limit carries a warning note; at 100% it does not start and raises
:class:`UsageLimitReached`; a run that reaches the request limit midway stops at the
request that would exceed it (nothing of it is landed). Step processes running streams of
one connection at the same time each see the records landed before they started, so
together they may pass the request limit by what they use in parallel.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from extractors import lake
from extractors.base import CallStats, EntitySpec

CHANNEL = "usage"
ENTITY = "stream_runs"
WARN_SHARE = 0.8

STREAM_RUNS = EntitySpec(
    ENTITY,
    pa.schema(
        [
            pa.field("run_id", pa.string(), nullable=False),
            pa.field("source_channel", pa.string(), nullable=False),
            pa.field("stream", pa.string(), nullable=False),
            pa.field("started_at", pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field("finished_at", pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field("outcome", pa.string(), nullable=False),
            pa.field("error", pa.string()),
            pa.field("requests", pa.int64(), nullable=False),
            pa.field("pages", pa.int64(), nullable=False),
            pa.field("retries", pa.int64(), nullable=False),
            pa.field("throttled", pa.int64(), nullable=False),
            pa.field("token_refreshes", pa.int64(), nullable=False),
            pa.field("bytes_received", pa.int64(), nullable=False),
            pa.field("reports_requested", pa.int64(), nullable=False),
            pa.field("wait_seconds", pa.float64(), nullable=False),
            pa.field("rows_landed", pa.int64(), nullable=False),
            pa.field("bytes_landed", pa.int64(), nullable=False),
            pa.field("quarantined", pa.int64(), nullable=False),
            pa.field("seconds", pa.float64(), nullable=False),
        ]
    ),
    key=("run_id",),
    partition_by="started_at",
)


class UsageLimits(BaseModel):
    """``limits:`` of a connection; None = no limit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_per_day: int | None = Field(None, ge=1, description="API requests per UTC day")
    rows_per_month: int | None = Field(None, ge=1, description="rows landed per UTC month")


class UsageLimitReached(RuntimeError):
    """A connection's limit stops the sync; the message names the limit and the usage."""


@dataclass(frozen=True)
class Usage:
    """A connection's usage so far: requests today, rows this month (UTC)."""

    requests_today: int
    rows_this_month: int


@dataclass(frozen=True)
class RunRecord:
    stream: str
    channel: str
    started_at: datetime
    finished_at: datetime
    outcome: str
    error: str | None
    stats: CallStats
    rows_landed: int
    bytes_landed: int
    quarantined: int


def _day_folder(root: Path, connection: str, day: date) -> Path:
    return lake.entity_path(root, CHANNEL, connection, ENTITY) / f"date={day.isoformat()}"


def record_run(root: Path, connection: str, record: RunRecord, stamp: lake.Stamp) -> Path:
    """Append ``record`` to the day's file of its stream (read, append, atomic replace, under
    an exclusive lock, so concurrent runs of one stream never lose a record)."""
    folder = _day_folder(root, connection, record.started_at.astimezone(UTC).date())
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"runs-{record.stream}.parquet"
    stats = record.stats
    row = {
        "run_id": stamp.extraction_id,
        "source_channel": record.channel,
        "stream": record.stream,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "outcome": record.outcome,
        "error": record.error,
        "requests": stats.requests,
        "pages": stats.pages,
        "retries": stats.retries,
        "throttled": stats.throttled,
        "token_refreshes": stats.token_refreshes,
        "bytes_received": stats.bytes_received,
        "reports_requested": stats.reports_requested,
        "wait_seconds": float(stats.wait_seconds),
        "rows_landed": record.rows_landed,
        "bytes_landed": record.bytes_landed,
        "quarantined": record.quarantined,
        "seconds": (record.finished_at - record.started_at).total_seconds(),
    }
    table = pa.Table.from_pylist([row], schema=STREAM_RUNS.schema)
    schema = lake.lake_schema(STREAM_RUNS)
    for name, column in stamp.columns(1).items():
        table = table.append_column(schema.field(name), column)
    with (folder / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            table = pa.concat_tables([pq.read_table(path, schema=schema), table])
        lake.atomic_write(table, path)
    return path


def usage_so_far(root: Path, connection: str, now: datetime) -> Usage:
    """Requests of ``now``'s UTC day and rows landed in its UTC month, from the records."""
    now = now.astimezone(UTC)
    base = lake.entity_path(root, CHANNEL, connection, ENTITY)
    month_start = now.date().replace(day=1)
    folders = [
        p
        for p in (sorted(base.glob("date=*")) if base.exists() else [])
        if month_start.isoformat() <= p.name.removeprefix("date=") <= now.date().isoformat()
    ]
    files = [f for folder in folders for f in folder.glob("*.parquet")]
    if not files:
        return Usage(0, 0)
    table = ds.dataset(files, format="parquet").to_table(
        columns=["requests", "rows_landed", "started_at"]
    )
    today = pc.equal(pc.cast(pc.floor_temporal(table["started_at"], unit="day"), pa.date32()),
                     pa.scalar(now.date(), pa.date32()))  # fmt: skip
    requests = pc.sum(pc.filter(table["requests"], today)).as_py() or 0
    rows = pc.sum(table["rows_landed"]).as_py() or 0
    return Usage(int(requests), int(rows))


def check_limits(
    limits: UsageLimits, usage: Usage, connection: str
) -> tuple[int | None, list[str]]:
    """Before a run: (requests left today or None, warnings). Raises UsageLimitReached when a
    limit is used up."""
    warnings = []
    for what, used, limit, period in (
        ("requests_per_day", usage.requests_today, limits.requests_per_day, "today (UTC)"),
        ("rows_per_month", usage.rows_this_month, limits.rows_per_month, "this month (UTC)"),
    ):
        if limit is None:
            continue
        if used >= limit:
            raise UsageLimitReached(
                f"connection {connection!r} reached its limit {what}: {limit:,} ({used:,} "
                f"{period}); the sync stops until the next period or a higher limit in "
                f"channelhouse.yml (connections: {connection}: limits: {what})"
            )
        if used >= WARN_SHARE * limit:
            warnings.append(
                f"connection {connection!r} has used {used / limit:.0%} of its limit {what} "
                f"({used:,} of {limit:,} {period})"
            )
    left = None
    if limits.requests_per_day is not None:
        left = limits.requests_per_day - usage.requests_today
    return left, warnings


class RequestBudget:
    """The requests one run of a connection makes in this process (shared by its clients'
    threads), and how many it may still make (None: no limit); taking one more than it may
    raises UsageLimitReached."""

    def __init__(self, connection: str, left: int | None, limit: int | None):
        self.connection, self.left, self.limit = connection, left, limit
        self.taken = 0
        self._lock = threading.Lock()

    def take(self) -> None:
        with self._lock:
            if self.left is not None and self.taken >= self.left:
                raise UsageLimitReached(
                    f"connection {self.connection!r} reached its limit requests_per_day: "
                    f"{self.limit:,} during this run; the run stopped before landing anything "
                    "(raise the limit in channelhouse.yml or wait for the next UTC day)"
                )
            self.taken += 1


_BUDGETS: dict[str, RequestBudget] = {}
_BUDGETS_LOCK = threading.Lock()


@contextmanager
def counting(budget: RequestBudget) -> Iterator[RequestBudget]:
    """For the block, every API client of the budget's connection takes each request from
    ``budget``."""
    with _BUDGETS_LOCK:
        _BUDGETS[budget.connection] = budget
    try:
        yield budget
    finally:
        with _BUDGETS_LOCK:
            _BUDGETS.pop(budget.connection, None)


def take_request(connection: str) -> None:
    """Called by the HTTP layer before each request."""
    budget = _BUDGETS.get(connection)
    if budget is not None:
        budget.take()
