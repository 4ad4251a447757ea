"""Run one stream of one connection into the lake: extract, stamp, write partitions.

This is the whole ingest step, independent of Dagster: the ingest assets call it, and so
do the tests and the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Protocol

from extractors import lake, usage
from extractors.base import CallStats, ExtractResult, Stream, Window

# Every API refuses (or is unreliable for) an end bound closer to now than this.
SAFETY_LAG = timedelta(minutes=2)


class Extractor(Protocol):
    channel: str
    connection: str
    streams: dict[str, Stream]

    def extract(self, stream: str, window: Window | None) -> ExtractResult: ...


@dataclass
class StreamRun:
    """What one stream extraction wrote; becomes materialization metadata."""

    stream: str
    window: Window | None
    days: list[date]
    writes: list[lake.PartitionWrite] = field(default_factory=list)
    quarantined: int = 0
    stats: CallStats = field(default_factory=CallStats)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def rows(self, entity: str) -> int:
        return sum(w.rows for w in self.writes if w.entity == entity)

    def bytes(self, entity: str) -> int:
        return sum(w.bytes for w in self.writes if w.entity == entity)


def run_stream(
    extractor: Extractor,
    stream_name: str,
    lake_root: Path,
    days: list[date] | None = None,
    now: datetime | None = None,
    limits: usage.UsageLimits | None = None,
) -> StreamRun:
    """Extract ``stream_name`` for the given UTC days (incremental) or now (snapshot).

    The window ends no later than now minus ``SAFETY_LAG``; today's partition is therefore
    partial until re-run, and re-running it later replaces it with the fuller answer.
    Every extraction, failed or not, appends its usage record (``extractors.usage``);
    ``limits`` stop it before it starts, or at the request that would pass the day's limit.
    """
    stream = extractor.streams[stream_name]
    now = now or datetime.now(UTC)
    started = datetime.now(UTC)
    if stream.incremental:
        if not days:
            raise ValueError(f"stream {stream_name!r} is incremental: give the days to extract")
        days = sorted(days)
        if days[-1] > now.date():
            raise ValueError(f"cannot extract {days[-1]}: it is in the future (now {now:%F})")
        if (days[-1] - days[0]).days + 1 != len(days):
            raise ValueError("incremental days must be consecutive (one window per run)")
        latest = now - SAFETY_LAG
        if Window.for_days(days[-1], days[-1]).start >= latest:
            # just after midnight: today has nothing the API may be asked for yet
            days = days[:-1]
            if not days:
                return StreamRun(
                    stream_name,
                    None,
                    [],
                    notes=[f"nothing to extract before {latest.isoformat(timespec='seconds')}"],
                )
        window = Window.for_days(days[0], days[-1]).clamp_end(latest)
    else:
        window, days = None, [now.date()]
    stamp_window = window or Window(now - SAFETY_LAG, now)
    connection = extractor.connection
    run = StreamRun(stream_name, window, days)
    api_version, outcome, error = "", "failed", None
    budget = usage.RequestBudget(connection, None, limits and limits.requests_per_day)
    try:
        if limits is not None:  # the month's records are read only when there are limits
            budget.left, run.notes = usage.check_limits(
                limits, usage.usage_so_far(lake_root, connection, started), connection
            )
        with usage.counting(budget):
            result = extractor.extract(stream_name, window)
        api_version, run.stats = result.api_version, result.stats
        run.notes += result.notes
        stamp = lake.Stamp.new(extractor.channel, connection, api_version, stamp_window)
        for spec in stream.entities:
            run.writes += lake.write_entity(
                lake_root, spec, result.rows.get(spec.name, []), stamp, days
            )
        lake.write_quarantine(
            lake_root, result.quarantine, stamp, days, [spec.name for spec in stream.entities]
        )
        run.quarantined = len(result.quarantine)
        outcome = "ok"
    except usage.UsageLimitReached as exc:
        outcome, error = "limit_reached", str(exc)
        raise
    except Exception as exc:  # recorded, then raised as it was
        error = f"{type(exc).__name__}: {exc}"[:2000]
        raise
    finally:
        finished = datetime.now(UTC)
        run.seconds = (finished - started).total_seconds()
        record = usage.RunRecord(
            stream_name, extractor.channel, started, finished, outcome, error,
            run.stats if outcome == "ok" else CallStats(requests=budget.taken),
            sum(w.rows for w in run.writes), sum(w.bytes for w in run.writes), run.quarantined,
        )  # fmt: skip
        usage.record_run(
            lake_root,
            connection,
            record,
            lake.Stamp.new(extractor.channel, connection, api_version, stamp_window),
        )
    return run
