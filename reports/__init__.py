"""Scheduled business reports (PDF with charts and a plain-language summary, an Excel workbook,
CSV/Parquet extracts), built from the DuckDB warehouse and optionally sent by e-mail.

Plain library: nothing here imports Dagster (the wiring is orchestration/defs/reports/).
Importing the package (or ``reports.settings``, which the config embeds) stays light: the
rendering modules (matplotlib, fpdf2, XlsxWriter) load with ``reports.runner``, where
``build_report``, ``ReportResult`` and ``ReportDeliveryError`` live.
"""

from reports.periods import Period, period_for_partition, period_for_run
from reports.settings import ReportDefinition, ReportsSettings

__all__ = [
    "Period",
    "ReportDefinition",
    "ReportsSettings",
    "period_for_partition",
    "period_for_run",
]
