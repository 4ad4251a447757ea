"""Which period a report run covers and which partitions the schedules request, in the
reporting time zone (America/New_York), across its edges: a Sunday evening that is already
Monday in UTC, a month or year end that is already the 1st in UTC, the DST switches.

The fixed instants below check the edges on any day; the ``calendar`` tests check the same
rules at the real "now" (and so at the instants tests/integration/test_calendar.py travels to). None of
them needs the sandbox or the demo warehouse."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from orchestration.config import ChannelHouseConfig, parse_config
from orchestration.defs.ingest import (
    daily_partitions,
    ingest_assets,
    ingest_jobs_and_schedules,
    reference_assets,
)
from orchestration.defs.reports import report_definitions
from orchestration.lib.schedules import RANGE_END, RANGE_START
from reports import period_for_partition, period_for_run
from tests.conftest import sandbox_config_dict

TZ = "America/New_York"
CADENCES = ("daily", "weekly", "monthly")


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _config(tmp_path, history_start: date | None = None) -> ChannelHouseConfig:
    raw = sandbox_config_dict(str(tmp_path / "data"))
    assert raw["reporting_timezone"] == TZ
    if history_start is not None:
        raw["sync"]["history_start"] = history_start.isoformat()
    return parse_config(raw, "periods-test")


# ---------------------------------------------------------------- fixed edges (any day)

# (run instant UTC, its New York time, daily / weekly / monthly period labels in New York)
EDGES = [
    # Sunday 20:00 in New York, Monday in UTC: the New York week is not over yet
    ("2027-06-14T00:00:30Z", "Sun 2027-06-13 20:00 EDT", "2027-06-12", "2027-W22", "2027-05"),
    # 30 April, 23:30 in New York, already 1 May in UTC: April is not over yet
    ("2027-05-01T03:30:00Z", "Fri 2027-04-30 23:30 EDT", "2027-04-29", "2027-W16", "2027-03"),
    # New Year's Eve 23:50 in New York, already 2027 in UTC
    ("2027-01-01T04:50:00Z", "Thu 2026-12-31 23:50 EST", "2026-12-30", "2026-W52", "2026-11"),
    # ... ten minutes after midnight in New York: the 31st and December are over
    ("2027-01-01T05:10:00Z", "Fri 2027-01-01 00:10 EST", "2026-12-31", "2026-W52", "2026-12"),
    # the first Monday of 2027: the last complete week is ISO week 53 of 2026
    ("2027-01-04T12:00:00Z", "Mon 2027-01-04 07:00 EST", "2027-01-03", "2026-W53", "2026-12"),
    # spring forward (02:00 EST -> 03:00 EDT on 14 March 2027), shortly after the switch
    ("2027-03-14T07:30:00Z", "Sun 2027-03-14 03:30 EDT", "2027-03-13", "2027-W09", "2027-02"),
    # 00:30 EDT on 15 March: a fixed UTC-5 offset would still say 14 March
    ("2027-03-15T04:30:00Z", "Mon 2027-03-15 00:30 EDT", "2027-03-14", "2027-W10", "2027-02"),
    # fall back (02:00 EDT -> 01:00 EST on 7 November 2027): 01:30 twice
    ("2027-11-07T05:30:00Z", "Sun 2027-11-07 01:30 EDT", "2027-11-06", "2027-W43", "2027-10"),
    ("2027-11-07T06:30:00Z", "Sun 2027-11-07 01:30 EST", "2027-11-06", "2027-W43", "2027-10"),
    # 23:30 EST on 7 November: a fixed UTC-4 offset would already say 8 November
    ("2027-11-08T04:30:00Z", "Sun 2027-11-07 23:30 EST", "2027-11-06", "2027-W43", "2027-10"),
    # spring forward 2026 (8 March)
    ("2026-03-08T07:30:00Z", "Sun 2026-03-08 03:30 EDT", "2026-03-07", "2026-W09", "2026-02"),
]


@pytest.mark.parametrize(("instant", "local", "daily", "weekly", "monthly"), EDGES)
def test_periods_at_the_edges_of_new_york_days(instant, local, daily, weekly, monthly):
    moment = _utc(instant)
    assert f"{moment.astimezone(ZoneInfo(TZ)):%a %Y-%m-%d %H:%M %Z}" == local
    labels = {c: period_for_run(c, moment, TZ).label for c in CADENCES}
    assert labels == {"daily": daily, "weekly": weekly, "monthly": monthly}


def test_a_date_is_a_day_of_the_reporting_time_zone_and_utc_differs_at_the_edges():
    month_end = _utc("2027-05-01T03:30:00Z")
    assert period_for_run("monthly", month_end, TZ) == period_for_run("monthly", date(2027, 4, 30))
    assert period_for_run("monthly", month_end).label == "2027-04"  # UTC: already May
    sunday_evening = _utc("2027-06-14T00:00:30Z")
    assert period_for_run("weekly", sunday_evening).label == "2027-W23"  # UTC: already Monday
    with pytest.raises(ValueError, match="time-zone aware"):
        period_for_run("daily", datetime(2027, 1, 1, 12))


def test_periods_across_the_year_end():
    week53 = period_for_partition("weekly", date(2026, 12, 28))
    assert (week53.end, week53.label, week53.days) == (date(2027, 1, 3), "2026-W53", 7)
    first = period_for_partition("weekly", date(2027, 1, 4))
    assert (first.label, first.previous_start, first.previous_end) == (
        "2027-W01",
        date(2026, 12, 28),
        date(2027, 1, 3),
    )
    january = period_for_partition("monthly", date(2027, 1, 1))
    assert (january.end, january.previous_start, january.previous_end) == (
        date(2027, 1, 31),
        date(2026, 12, 1),
        date(2026, 12, 31),
    )
    new_year = period_for_partition("daily", date(2027, 1, 1))
    assert (new_year.previous_start, new_year.description) == (
        date(2026, 12, 25),
        "Friday 01 Jan 2027 (vs Fri 25 Dec)",
    )
    assert period_for_partition("monthly", date(2027, 3, 1)).days == 31  # DST is no short day
    assert period_for_partition("monthly", date(2028, 2, 1)).days == 29  # leap year


# ---------------------------------------------------------------- schedules vs partitions


def assert_schedules_request_complete_partitions(config: ChannelHouseConfig, moment: datetime):
    """Each report schedule, ticking at ``moment``, requests the partition of the last complete
    period in the reporting time zone; Dagster agrees it exists (is over) and that the next
    period's partition does not yet."""
    _, jobs, schedules = report_definitions(config)
    partitions = {j.name: j.partitions_def for j in jobs}
    assert len(schedules) == 3
    for schedule in schedules:
        assert schedule.execution_timezone == TZ
        report = schedule.name.removeprefix("report_").removesuffix("_schedule")
        cadence = config.reports.get(report).cadence
        period = period_for_run(cadence, moment, TZ)
        with dg.build_schedule_context(scheduled_execution_time=moment) as context:
            request = schedule(context)
        assert isinstance(request, dg.RunRequest), (schedule.name, request)
        assert request.partition_key == period.start.isoformat(), schedule.name
        keys = partitions[schedule.job_name].get_partition_keys(current_time=moment)
        assert keys[-1] == period.start.isoformat(), (schedule.name, keys[-3:])
        assert (period.end + timedelta(days=1)).isoformat() not in keys


@pytest.mark.parametrize("instant", [edge[0] for edge in EDGES])
def test_report_schedules_at_the_edges_request_the_last_complete_partition(tmp_path, instant):
    config = _config(tmp_path, history_start=date(2025, 1, 1))
    assert_schedules_request_complete_partitions(config, _utc(instant))


def test_a_period_before_the_history_is_skipped(tmp_path):
    config = _config(tmp_path, history_start=date(2027, 5, 1))
    _, _, schedules = report_definitions(config)
    monthly = next(s for s in schedules if s.name == "report_monthly_review_schedule")
    with dg.build_schedule_context(scheduled_execution_time=_utc("2027-05-01T11:00:00Z")) as c:
        skipped = monthly(c)
    assert isinstance(skipped, dg.SkipReason)
    assert "before sync.history_start" in skipped.skip_message


# ---------------------------------------------------------------- now (the calendar check)


@pytest.mark.calendar
@pytest.mark.parametrize("cadence", CADENCES)
def test_a_run_now_covers_the_last_complete_period_in_the_reporting_time_zone(cadence):
    now = datetime.now(UTC)
    today = now.astimezone(ZoneInfo(TZ)).date()
    period = period_for_run(cadence, now, TZ)
    assert period == period_for_run(cadence, today) == period_for_partition(cadence, period.start)
    assert period.start <= period.end < today  # complete ...
    following = period_for_partition(cadence, period.end + timedelta(days=1))
    assert following.end >= today  # ... and the last one that is
    if cadence == "daily":
        assert period.start == today - timedelta(days=1)
        assert period.previous_start == period.previous_end == period.start - timedelta(days=7)
        assert period.label == period.start.isoformat()
    elif cadence == "weekly":
        assert (period.start.weekday(), period.end.weekday(), period.days) == (0, 6, 7)
        assert today - period.end <= timedelta(days=7)
        year, week, _ = period.start.isocalendar()
        assert period.label == f"{year}-W{week:02d}"
        assert (following.previous_start, following.previous_end) == (period.start, period.end)
    else:
        assert period.start.day == 1 and period.end + timedelta(days=1) == today.replace(day=1)
        assert period.label == f"{period.start:%Y-%m}"
        assert (following.previous_start, following.previous_end) == (period.start, period.end)
    assert period.previous_end < period.start


@pytest.mark.calendar
def test_report_schedules_now_request_the_last_complete_partition(tmp_path):
    assert_schedules_request_complete_partitions(_config(tmp_path), datetime.now(UTC))


@pytest.mark.calendar
def test_the_hourly_sync_now_requests_today_and_the_lookback_in_utc(tmp_path):
    """Raw partitions are UTC days; today's exists (end_offset=1) so the hourly sync lands
    today's updates, whatever day it is in New York."""
    config = _config(tmp_path)
    now = datetime.now(UTC)
    today = now.date()
    partitions = daily_partitions(config)
    assets = ingest_assets(config, retry_policy=None) + reference_assets(config, retry_policy=None)
    _, schedules = ingest_jobs_and_schedules(config, assets, partitions)
    hourly = next(s for s in schedules if s.name == "sync_hourly_schedule")
    with dg.build_schedule_context(scheduled_execution_time=now) as context:
        request = hourly(context)
    first = today - timedelta(days=config.sync.lookback_days)
    assert (request.tags[RANGE_START], request.tags[RANGE_END]) == (
        first.isoformat(),
        today.isoformat(),
    )
    keys = partitions.get_partition_keys(current_time=now)
    assert keys[-1] == today.isoformat() and first.isoformat() in keys
    # the recent window only (older days load through raw_history)
    assert keys[0] == (today - timedelta(days=config.sync.daily_days)).isoformat()
    assert config.sync.history_start < today - timedelta(days=config.sync.daily_days)
