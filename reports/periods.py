"""Reporting periods in the reporting time zone (the marts' ``*_date`` columns are local).

* weekly:  the previous complete ISO week (Monday-Sunday), compared with the week before;
* daily:   yesterday, compared with the same weekday one week before;
* monthly: the previous calendar month, compared with the month before.

A period is identified by its first day (the Dagster partition key) and labelled
``2026-W46`` / ``2026-11-21`` / ``2026-11`` (the folder name under ``exports/<report>/``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Period:
    cadence: str
    start: date  # first day, inclusive
    end: date  # last day, inclusive
    previous_start: date
    previous_end: date

    @property
    def label(self) -> str:
        if self.cadence == "weekly":
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        if self.cadence == "monthly":
            return self.start.strftime("%Y-%m")
        return self.start.isoformat()

    @property
    def description(self) -> str:
        if self.cadence == "daily":
            return f"{self.start:%A %d %b %Y} (vs {self.previous_start:%a %d %b})"
        if self.cadence == "monthly":
            return f"{self.start:%B %Y} (vs {self.previous_start:%B %Y})"
        return f"week {self.label}: {self.start:%d %b} - {self.end:%d %b %Y} (vs previous week)"

    @property
    def comparison(self) -> str:
        return {"daily": "vs the same day last week", "weekly": "week on week"}.get(
            self.cadence, "month on month"
        )

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def period_for_partition(cadence: str, start: date) -> Period:
    """The period that starts on ``start`` (a partition key's day)."""
    if cadence == "daily":
        return Period(cadence, start, start, start - timedelta(7), start - timedelta(7))
    if cadence == "weekly":
        if start.weekday() != 0:
            raise ValueError(f"a weekly period starts on a Monday, not on {start:%A %Y-%m-%d}")
        return Period(
            cadence, start, start + timedelta(6), start - timedelta(7), start - timedelta(1)
        )
    if cadence == "monthly":
        if start.day != 1:
            raise ValueError(f"a monthly period starts on the 1st, not on {start.isoformat()}")
        end = _add_months(start, 1) - timedelta(1)
        return Period(cadence, start, end, _add_months(start, -1), start - timedelta(1))
    raise ValueError(f"unknown cadence {cadence!r}; use daily, weekly or monthly")


def period_for_run(cadence: str, moment: datetime | date, timezone: str = "UTC") -> Period:
    """The last complete period before ``moment`` (a run time, converted to ``timezone``)."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("period_for_run needs a time-zone aware datetime")
        today = moment.astimezone(ZoneInfo(timezone)).date()
    else:
        today = moment
    if cadence == "daily":
        return period_for_partition(cadence, today - timedelta(1))
    if cadence == "weekly":
        this_monday = today - timedelta(today.weekday())
        return period_for_partition(cadence, this_monday - timedelta(7))
    if cadence == "monthly":
        return period_for_partition(cadence, _add_months(_month_start(today), -1))
    raise ValueError(f"unknown cadence {cadence!r}; use daily, weekly or monthly")
