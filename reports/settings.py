"""Report settings (pydantic), ready to embed in channelhouse.yml under ``reports:``.

Which reports exist, when they run, what they contain and who gets them is configuration:

.. code-block:: yaml

    reports:
      email:                      # optional SMTP server (alerting.settings.EmailSettings)
        host: smtp.example.com
        sender: reports@example.com
        recipients: [team@example.com]      # default recipients of every report
        username_env: CHANNELHOUSE_SMTP_USER
        password_env: CHANNELHOUSE_SMTP_PASSWORD
      definitions:
        - name: weekly_business_review
          cadence: weekly               # daily | weekly | monthly
          time_of_day: "07:00"          # in config.reporting_timezone
          weekday: monday               # weekly only
          formats: [pdf, xlsx, csv]
          extracts: [daily_sales, daily_margin, replenishment_plan, open_alerts]
          recipients: [ceo@example.com] # omit: email.recipients; []: not mailed
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alerting.settings import EmailSettings
from reports.data import EXTRACTS

Cadence = Literal["daily", "weekly", "monthly"]
Format = Literal["pdf", "xlsx", "csv", "parquet"]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[str, ...] = Weekday.__args__  # type: ignore[attr-defined]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class ReportDefinition(BaseModel):
    """One report: its cadence, run time, formats, extracts and recipients."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="File-safe name: lower-case letters, digits, _ and -.")
    title: str | None = Field(None, description="Title on the PDF; default from the name.")
    cadence: Cadence
    time_of_day: str = Field("07:00", description="HH:MM in the reporting time zone.")
    weekday: Weekday = Field("monday", description="Run day of a weekly report.")
    day_of_month: int = Field(1, ge=1, le=28, description="Run day of a monthly report.")
    formats: list[Format] = Field(min_length=1)
    extracts: list[str] = Field(
        default_factory=lambda: ["daily_sales", "daily_margin", "replenishment_plan"],
        description="Marts/queries in the workbook and the extract files (reports.data.EXTRACTS).",
    )
    recipients: list[str] | None = Field(
        None, description="None: the e-mail settings' recipients; []: the report is not mailed."
    )

    @field_validator("name")
    @classmethod
    def _file_safe(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"report name {value!r} is not file-safe: use 1-64 lower-case letters, digits,"
                " '_' or '-', starting with a letter or digit (it names folders and files)"
            )
        return value

    @field_validator("time_of_day")
    @classmethod
    def _time(cls, value: str) -> str:
        if not _TIME.match(value):
            raise ValueError(f"time_of_day {value!r} is not HH:MM (24-hour clock), e.g. '07:00'")
        return value

    @field_validator("formats")
    @classmethod
    def _unique_formats(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"formats {value} list a format twice")
        return value

    @field_validator("extracts")
    @classmethod
    def _known_extracts(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in EXTRACTS]
        if unknown:
            raise ValueError(
                f"unknown mart/extract {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(sorted(EXTRACTS))}"
            )
        if len(set(value)) != len(value):
            raise ValueError(f"extracts {value} list an extract twice")
        return value

    @model_validator(mode="after")
    def _extracts_needed(self) -> ReportDefinition:
        if {"xlsx", "csv", "parquet"} & set(self.formats) and not self.extracts:
            raise ValueError(
                f"report {self.name!r} has xlsx/csv/parquet formats but no extracts; "
                "list the marts to export in 'extracts'"
            )
        return self

    @property
    def hour(self) -> int:
        return int(self.time_of_day[:2])

    @property
    def minute(self) -> int:
        return int(self.time_of_day[3:])

    @property
    def display_title(self) -> str:
        return self.title or self.name.replace("_", " ").replace("-", " ").title()


def default_reports() -> list[ReportDefinition]:
    return [
        ReportDefinition(
            name="weekly_business_review",
            cadence="weekly",
            formats=["pdf", "xlsx", "csv"],
            extracts=["daily_sales", "daily_margin", "replenishment_plan", "open_alerts"],
        ),
        ReportDefinition(
            name="daily_flash",
            cadence="daily",
            formats=["pdf", "csv"],
            extracts=["daily_sales"],
        ),
        ReportDefinition(
            name="monthly_review",
            cadence="monthly",
            formats=["pdf", "xlsx", "parquet"],
            extracts=[
                "daily_sales",
                "daily_margin",
                "order_line_margin",
                "cohort_retention",
                "replenishment_plan",
            ],
        ),
    ]


class ReportsSettings(BaseModel):
    """The ``reports:`` section: report definitions plus the optional SMTP server."""

    model_config = ConfigDict(extra="forbid")

    definitions: list[ReportDefinition] = Field(default_factory=default_reports)
    email: EmailSettings | None = Field(None, description="SMTP server; none: nothing is mailed.")
    top_products: int = Field(10, ge=1, le=50, description="Products in the top/bottom chart.")
    trend_periods: int = Field(13, ge=2, le=60, description="Periods in the revenue chart.")
    duckdb_memory_limit: str | None = Field(
        "512MB",
        pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|KiB|MiB|GiB)$",
        description="DuckDB memory_limit for the report queries (sorts spill to disk beyond "
        "it), so the biggest export's memory stays bounded; None: DuckDB's default (80% RAM).",
    )

    @model_validator(mode="after")
    def _unique_names(self) -> ReportsSettings:
        names = [d.name for d in self.definitions]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"report names must be unique; repeated: {', '.join(duplicates)}")
        if self.email is None:
            mailed = [d.name for d in self.definitions if d.recipients]
            if mailed:
                raise ValueError(
                    f"report(s) {', '.join(mailed)} list recipients but reports.email (the SMTP"
                    " server) is not configured; add reports.email or remove the recipients"
                )
        return self

    def recipients(self, report: ReportDefinition) -> list[str]:
        """Who gets ``report`` (empty: it is not mailed)."""
        if self.email is None:
            return []
        return self.email.recipients if report.recipients is None else report.recipients

    def get(self, name: str) -> ReportDefinition:
        for d in self.definitions:
            if d.name == name:
                return d
        raise KeyError(
            f"no report named {name!r}; configured: {[d.name for d in self.definitions]}"
        )
