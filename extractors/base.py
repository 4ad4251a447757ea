"""Types shared by every extractor: request windows, extraction results, entity specs.

Nothing here knows about a channel, HTTP or Dagster.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

import pyarrow as pa

# Column types every raw entity uses: UTC timestamps, and money as exact decimals.
TS = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(18, 4)
_MONEY_STEP = Decimal("0.0001")
_MONEY_LIMIT = Decimal(10) ** 14  # what decimal128(18, 4) can hold


@dataclass(frozen=True)
class Window:
    """A half-open UTC time window [start, end) that an extraction asks the API for."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("Window bounds must be timezone-aware (UTC)")
        if self.end <= self.start:
            raise ValueError(f"empty window: {self.start.isoformat()} .. {self.end.isoformat()}")

    @classmethod
    def for_days(cls, first: date, last: date) -> Window:
        """The window covering whole UTC days first..last (both included)."""
        return cls(
            datetime.combine(first, time(), UTC),
            datetime.combine(last + timedelta(days=1), time(), UTC),
        )

    def days(self) -> list[date]:
        """The UTC calendar days this window touches (the lake partitions it owns)."""
        first = self.start.astimezone(UTC).date()
        last = (self.end.astimezone(UTC) - timedelta(microseconds=1)).date()
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]

    def split(self, max_days: int) -> Iterator[Window]:
        """Consecutive sub-windows of at most ``max_days`` days each."""
        start = self.start
        while start < self.end:
            end = min(start + timedelta(days=max_days), self.end)
            yield Window(start, end)
            start = end

    def contains(self, moment: datetime) -> bool:
        """Whether ``moment`` is in the window (start included, end excluded)."""
        return self.start <= moment < self.end

    def clamp_end(self, latest: datetime) -> Window:
        """The same window with its end no later than ``latest`` (APIs refuse future bounds)."""
        return Window(self.start, min(self.end, latest)) if latest > self.start else self

    def __str__(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


class RecordError(ValueError):
    """A single API record that cannot be parsed into its entity's schema.

    Raised by a channel's parse functions; the extraction puts the record in quarantine
    with this message as the reason instead of dropping it.
    """


@dataclass(frozen=True)
class EntitySpec:
    """One raw entity of a channel: its Arrow schema, key and the column it is partitioned by.

    ``partition_by`` names a timestamp or date column whose UTC day picks the lake partition;
    ``None`` means a snapshot entity, partitioned by the day the snapshot was taken.
    """

    name: str
    schema: pa.Schema
    key: tuple[str, ...]
    partition_by: str | None


@dataclass
class Quarantined:
    """A record that could not be parsed, with the reason and the raw payload."""

    entity: str
    reason: str
    record: str  # the raw record as JSON text
    partition_date: date | None = None

    @classmethod
    def of(cls, entity: str, reason: str, record: object, partition_date: date | None = None):
        return cls(entity, reason, json.dumps(record, default=str, sort_keys=True), partition_date)


@dataclass
class CallStats:
    """What an extraction cost in calls; ends up as Dagster materialization metadata."""

    requests: int = 0
    pages: int = 0
    retries: int = 0
    throttled: int = 0
    token_refreshes: int = 0
    bytes_received: int = 0
    reports_requested: int = 0  # Amazon reports and Shopify bulk operations started
    wait_seconds: float = 0.0

    def as_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)


@dataclass
class ExtractResult:
    """Rows per entity (already typed for that entity's schema), quarantine and call stats."""

    rows: dict[str, list[dict]] = field(default_factory=dict)
    quarantine: list[Quarantined] = field(default_factory=list)
    stats: CallStats = field(default_factory=CallStats)
    api_version: str = ""
    notes: list[str] = field(default_factory=list)  # e.g. "window older than the API keeps"

    def add(self, entity: str, row: dict) -> None:
        self.rows.setdefault(entity, []).append(row)

    def reject(self, entity: str, reason: str, record: object) -> None:
        self.quarantine.append(Quarantined.of(entity, reason, record))


def column(name: str, type_: pa.DataType, nullable: bool = True) -> pa.Field:
    """A raw entity's column (key columns are ``nullable=False``)."""
    return pa.field(name, type_, nullable=nullable)


def to_money(value: object, name: str, required: bool = False) -> Decimal | None:
    """An API amount (decimal string or JSON number) as an exact Decimal with 4 places.

    Empty is None (or a RecordError naming the field when ``required``); anything that is
    not a finite number that fits the MONEY column is a RecordError, never a silent 0.
    """
    if value is None or value == "":
        if required:
            raise RecordError(f"{name}: required amount is missing")
        return None
    if isinstance(value, bool):
        raise RecordError(f"{name}: not a number: {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise RecordError(f"{name}: not a number: {value!r}") from None
    if not number.is_finite() or abs(number) >= _MONEY_LIMIT:
        raise RecordError(f"{name}: not a usable amount: {value!r}")
    return number.quantize(_MONEY_STEP, rounding=ROUND_HALF_EVEN)


def parse_iso(value: str | None) -> datetime | None:
    """ISO 8601 (with Z or an offset) to an aware UTC datetime; None stays None."""
    if value in (None, ""):
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise RecordError(f"timestamp without a time zone: {value!r}")
    return parsed.astimezone(UTC)


def iso_z(moment: datetime) -> str:
    """An aware datetime as ISO 8601 UTC with a Z suffix, second precision."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Stream:
    """One extraction a channel offers: the call sequence behind one or more raw entities.

    ``incremental`` streams take a Window (the lake's daily partitions, by the entity's
    ``partition_by`` column); snapshot streams read the current state and land in the
    partition of the day the snapshot is taken. ``cadence`` is how often sellers sync it.
    """

    name: str
    entities: tuple[EntitySpec, ...]
    incremental: bool
    cadence: str  # "hourly" | "every_30_minutes" | "every_6_hours" | "daily"
    description: str = ""
