"""Build one report for one period: query, render, write atomically, then e-mail.

**Files.** ``<exports>/<report>/<period label>/<report>_<label>.{pdf,xlsx}`` and
``<report>_<label>_<extract>.{csv,parquet}``.

**Idempotent and atomic.** Everything is written into a fresh temporary folder next to the
target (``.<label>.tmp-*``, same file system), then swapped in with two renames: the old folder
is renamed aside (into ``.<label>.old-*/previous``), the new one renamed into place, the old one deleted.
A reader therefore sees either the complete previous set or the complete new set (for an
instant, between the two renames, no folder), never a half-written file. A run that fails
while writing removes its temporary folder and leaves the previous files untouched; a crash
between the two renames is repaired by the next run (the ``.old-*`` folder is put back).
Runs of the same report/period are serialized by a lock file (``.<label>.lock``).

**E-mail** happens after the swap: if sending fails the files of this run are in place and
``ReportDeliveryError`` says so (re-running rewrites the same files and tries again).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from alerting.delivery import DeliveryError
from reports import charts, data
from reports.excel import write_workbook
from reports.extracts import copy_to
from reports.mail import send_report
from reports.pdf import write_pdf
from reports.periods import Period
from reports.settings import ReportDefinition, ReportsSettings
from reports.summary import kpi_rows, summary_text


class ReportDeliveryError(RuntimeError):
    """The report files were written but the e-mail could not be sent (text redacted)."""


@dataclass
class ReportResult:
    report: str
    period: Period
    directory: Path
    files: dict[str, Path] = field(default_factory=dict)  # file name -> final path
    rows: dict[str, int] = field(default_factory=dict)  # extract -> rows
    summary: str = ""
    summary_numbers: data.Summary | None = None
    preview_png: bytes | None = None
    pages: int = 0
    emailed_to: list[str] = field(default_factory=list)


def _recover(parent: Path, label: str) -> None:
    """Remove leftovers of crashed runs; restore the previous folder if a crash happened
    between the two renames of a swap."""
    target = parent / label
    olds = sorted(parent.glob(f".{label}.old-*"))
    if not target.exists() and olds and (olds[-1] / "previous").is_dir():
        os.rename(olds[-1] / "previous", target)
    for leftover in [*olds, *parent.glob(f".{label}.tmp-*")]:
        shutil.rmtree(leftover, ignore_errors=True)


def _swap_in(tmp: Path, target: Path) -> None:
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.rename(target, old / "previous")
        os.rename(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, target)


def render_files(
    con,
    report: ReportDefinition,
    settings: ReportsSettings,
    period: Period,
    out: Path,
    *,
    base_currency: str,
    timezone: str,
) -> ReportResult:
    """Write the report's files into the folder ``out`` (no swapping, no e-mail)."""
    stem = f"{report.name}_{period.label}"
    result = ReportResult(report.name, period, out)
    numbers = data.summarize(con, period, base_currency)
    result.summary_numbers = numbers
    result.summary = summary_text(numbers, period)
    if "pdf" in report.formats:
        unit = "month" if period.cadence == "monthly" else "week"
        top, bottom = data.product_revenue(con, period, settings.top_products)
        pngs = [
            (
                "Revenue by channel",
                charts.revenue_by_channel_chart(
                    data.revenue_by_channel(con, period, settings.trend_periods),
                    base_currency,
                    unit,
                ),
            ),
            ("Top and bottom products", charts.top_bottom_chart(top, bottom, base_currency)),
            ("Cohort retention", charts.cohort_heatmap(data.cohort_matrix(con))),
            (
                "Stock at risk",
                charts.stock_at_risk_chart(data.stock_at_risk_products(con), base_currency),
            ),
            (
                "Forecast vs actual",
                charts.forecast_chart(data.forecast_series(con, period), period.start, period.end),
            ),
        ]
        result.preview_png = pngs[0][1]
        path = out / f"{stem}.pdf"
        result.pages = write_pdf(
            path,
            title=report.display_title,
            period=period,
            summary=result.summary,
            kpis=kpi_rows(numbers),
            charts=pngs,
            base_currency=base_currency,
            tables=experiment_tables(data.experiments_in_period(con, period))
            + ltv_holdout_tables(data.ltv_value_holdout(con), base_currency),
        )
        result.files[path.name] = path
    queries = [
        (name, data.EXTRACTS[name].description, data.extract_sql(name, period.start, period.end))
        for name in report.extracts
        if all(data.table_exists(con, dep) for dep in data.EXTRACTS[name].deps)
    ]
    missing = [n for n in report.extracts if n not in {q[0] for q in queries}]
    if missing and {"xlsx", "csv", "parquet"} & set(report.formats):
        raise RuntimeError(
            f"report {report.name}: the warehouse has no table for extract(s)"
            f" {', '.join(missing)} ({', '.join(d for n in missing for d in data.EXTRACTS[n].deps)});"
            " build the marts first (dbt) or remove them from the report's extracts"
        )
    if "xlsx" in report.formats:
        path = out / f"{stem}.xlsx"
        result.rows.update(
            write_workbook(
                path, con, queries, title=report.display_title, period=period, timezone=timezone
            )
        )
        result.files[path.name] = path
    for fmt in ("csv", "parquet"):
        if fmt in report.formats:
            for name, _, sql in queries:
                path = out / f"{stem}_{name}.{fmt}"
                result.rows[name] = copy_to(con, sql, path, fmt)
                result.files[path.name] = path
    return result


EXPERIMENT_HEADER = (
    "Experiment", "Variant", "Metric", "Units", "Value", "Control", "Lift (95% CI)", "p", "Decision"
)  # fmt: skip


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1%}"


def experiment_tables(rows: list[dict]) -> list[tuple[str, str, tuple, list[list[str]]]]:
    """The PDF's experiments page: one row per experiment, treatment variant and metric; no
    page when no experiment ran in the period."""
    if not rows:
        return []
    body = [
        [
            r["experiment_id"],
            r["variant"],
            r["metric"].replace("_", " "),
            f"{r['units']:,}",
            "-" if r["value"] is None else f"{r['value']:.4g}",
            "-" if r["control_value"] is None else f"{r['control_value']:.4g}",
            f"{_pct(r['rel_lift'])} ({_pct(r['rel_lift_ci_low'])} to {_pct(r['rel_lift_ci_high'])})",
            "-" if r["always_valid_p_value"] is None else f"{r['always_valid_p_value']:.3f}",
            ("SRM! " if r["is_srm"] else "") + r["decision"].replace("_", " "),
        ]
        for r in rows
    ]
    note = (
        "Experiments with exposures in the period, against control (analytics.experiment_results)."
        " p: the always-valid (mSPRT) p-value, safe to read every day. SRM: the traffic split is"
        " off, so the lift is not to be trusted (the decision is invalid)."
    )
    return [("Experiments", note, EXPERIMENT_HEADER, body)]


LTV_HOLDOUT_HEADER = ("Horizon", "Customers", "Predicted", "Actual", "Error")


def ltv_holdout_tables(
    rows: list[dict], base_currency: str
) -> list[tuple[str, str, tuple, list[list[str]]]]:
    """The PDF's lifetime-value check: per holdout horizon the total, then each decile of
    predicted value; no page when the check has not run."""
    if not rows:
        return []
    body = [
        [
            f"{r['horizon_days']} days, "
            + ("all customers" if r["bucket"] == "total" else r["bucket"].replace("_", " ")),
            f"{r['n_customers']:,}",
            f"{r['predicted_value']:,.0f}",
            f"{r['actual_value']:,.0f}",
            _pct(None if r["error_pct"] is None else r["error_pct"] / 100),
        ]
        for r in rows
    ]
    first = rows[0]
    note = (
        "BG/NBD + Gamma-Gamma fitted on the orders up to each horizon's start, against the "
        f"revenue ({base_currency}) the same customers then brought (ml.ltv_value_holdout; "
        f"the {first['horizon_days']}-day check: fitted to {first['calibration_end']}, "
        f"observed to {first['holdout_end']}). Decile 1 = the highest predicted value. "
        "Error = predicted / actual - 1; the bar is within 20% for all customers."
    )
    return [("Lifetime value vs what happened", note, LTV_HOLDOUT_HEADER, body)]


def limit_memory(con, settings: ReportsSettings) -> None:
    """Apply ``settings.duckdb_memory_limit`` to the connection's DuckDB instance."""
    if settings.duckdb_memory_limit:
        con.execute(f"SET memory_limit = '{settings.duckdb_memory_limit}'")


def build_report(
    con,
    report: ReportDefinition,
    settings: ReportsSettings,
    period: Period,
    exports_dir: Path,
    *,
    base_currency: str = "USD",
    timezone: str = "UTC",
    environ: Mapping[str, str] | None = None,
) -> ReportResult:
    """Write the report's files for ``period`` under ``exports_dir`` (atomically replacing an
    earlier run's), then e-mail them if recipients and SMTP are configured."""
    parent = Path(exports_dir) / report.name
    parent.mkdir(parents=True, exist_ok=True)
    target = parent / period.label
    with open(parent / f".{period.label}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _recover(parent, period.label)
        tmp = Path(tempfile.mkdtemp(prefix=f".{period.label}.tmp-", dir=parent))
        try:
            result = render_files(
                con, report, settings, period, tmp, base_currency=base_currency, timezone=timezone
            )
            os.chmod(tmp, 0o755)
            _swap_in(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    result.directory = target
    result.files = {name: target / name for name in result.files}
    recipients = settings.recipients(report)
    if recipients and settings.email is not None:
        attachments = [p for p in result.files.values() if p.suffix in (".pdf", ".xlsx")]
        try:
            send_report(
                settings.email,
                recipients,
                f"{report.display_title} {period.label}",
                f"{report.display_title}: {period.description}\n\n{result.summary}",
                attachments,
                environ,
            )
        except DeliveryError as exc:
            raise ReportDeliveryError(
                f"report {report.name} {period.label}: the files are written to {target}"
                f" ({', '.join(sorted(result.files))}), but e-mailing them to"
                f" {len(recipients)} recipient(s) via {settings.email.host}:"
                f"{settings.email.port} failed: {exc}. Check reports.email and that the SMTP"
                " server is reachable, then re-run this partition (it rewrites the same"
                " files and sends again)."
            ) from None
        result.emailed_to = list(recipients)
    return result
