"""Scheduled business reports (PDF with charts and a plain-language summary, an Excel workbook,
CSV/Parquet extracts), built from the DuckDB warehouse and optionally sent by e-mail.

Plain library: nothing here imports Dagster (the wiring is orchestration/defs/reports/).
Importing the package (or ``reports.settings``, which the config embeds) stays light: the
rendering modules (matplotlib, fpdf2, XlsxWriter) load on first use of ``build_report``.
"""

from reports.periods import Period, period_for_partition, period_for_run
from reports.settings import ReportDefinition, ReportsSettings

__all__ = [
    "Period",
    "ReportDefinition",
    "ReportDeliveryError",
    "ReportResult",
    "ReportsSettings",
    "build_report",
    "period_for_partition",
    "period_for_run",
]


def __getattr__(name: str):
    if name in {"ReportDeliveryError", "ReportResult", "build_report"}:
        from reports import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'reports' has no attribute {name!r}")
