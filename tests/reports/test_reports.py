"""Scheduled reports against the REAL demo warehouse (shared ``demo_warehouse`` fixture), a
REAL local SMTP server (aiosmtpd) and Dagster's in-process executor."""

from __future__ import annotations

import hashlib
import os
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import openpyxl
import pypdfium2 as pdfium
import pytest
from pydantic import ValidationError

from alerting.settings import EmailSettings
from orchestration.defs.reports import report_asset_key, report_definitions
from orchestration.lib.resources import WarehouseResource
from reports import (
    ReportDefinition,
    ReportsSettings,
    period_for_partition,
    period_for_run,
)
from reports.excel import write_workbook
from reports.runner import ReportDeliveryError, build_report
from tests.conftest import free_port

EXTRACTS = ["daily_sales", "daily_margin", "open_alerts"]


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def warehouse(demo_warehouse, tmp_path_factory) -> Path:
    """A private copy of the demo warehouse (reports only read it; the copy keeps the shared
    one untouched whatever happens)."""
    copy = tmp_path_factory.mktemp("reports_wh") / "warehouse.duckdb"
    shutil.copy(demo_warehouse.warehouse_path, copy)
    return copy


@pytest.fixture(scope="module")
def week(warehouse, demo_warehouse):
    """The last complete ISO week of the demo warehouse, complete by now too (the data runs up
    to today in the reporting time zone: on a Sunday this week is not over yet)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        ((last,),) = con.execute("select max(sales_date) from analytics.daily_sales").fetchall()
    today = datetime.now(ZoneInfo(demo_warehouse.reporting_timezone)).date()
    return period_for_run("weekly", min(last + timedelta(days=1), today))


def _report(**kw) -> ReportDefinition:
    defaults = {
        "name": "wbr",
        "cadence": "weekly",
        "formats": ["pdf", "xlsx", "csv", "parquet"],
        "extracts": EXTRACTS,
    }
    return ReportDefinition(**{**defaults, **kw})


def _email(port: int, **kw) -> EmailSettings:
    return EmailSettings(
        host="127.0.0.1",
        port=port,
        starttls=False,
        sender="reports@example.com",
        recipients=["team@example.com"],
        timeout_seconds=5,
        **kw,
    )


def _digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.iterdir()}


# ---------------------------------------------------------------- settings and periods


def test_settings_defaults_and_clear_validation_errors():
    settings = ReportsSettings()
    by_name = {d.name: d for d in settings.definitions}
    assert by_name["weekly_business_review"].cadence == "weekly"
    assert by_name["weekly_business_review"].formats == ["pdf", "xlsx", "csv"]
    assert by_name["weekly_business_review"].weekday == "monday"
    assert by_name["weekly_business_review"].time_of_day == "07:00"
    assert by_name["daily_flash"].formats == ["pdf", "csv"]
    assert by_name["monthly_review"].formats == ["pdf", "xlsx", "parquet"]
    assert by_name["monthly_review"].day_of_month == 1
    assert settings.recipients(by_name["daily_flash"]) == []  # no SMTP: nobody

    with pytest.raises(ValidationError, match="not file-safe"):
        _report(name="../etc")
    with pytest.raises(ValidationError, match=r"unknown mart/extract 'dialy_sales'.*known: "):
        _report(extracts=["dialy_sales"])
    with pytest.raises(ValidationError, match="HH:MM"):
        _report(time_of_day="7am")
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        _report(colour="blue")
    with pytest.raises(ValidationError, match="Input should be 'pdf', 'xlsx', 'csv' or"):
        _report(formats=["docx"])
    with pytest.raises(ValidationError, match="report names must be unique; repeated: wbr"):
        ReportsSettings(definitions=[_report(), _report()])
    with pytest.raises(ValidationError, match=r"list recipients but reports\.email"):
        ReportsSettings(definitions=[_report(recipients=["a@example.com"])])
    mailed = ReportsSettings(
        definitions=[_report(), _report(name="quiet", recipients=[])], email=_email(25)
    )
    assert mailed.recipients(mailed.get("wbr")) == ["team@example.com"]
    assert mailed.recipients(mailed.get("quiet")) == []


def test_periods_in_the_reporting_time_zone():
    w = period_for_run("weekly", date(2026, 11, 18))  # a Wednesday
    assert (w.start, w.end, w.label) == (date(2026, 11, 9), date(2026, 11, 15), "2026-W46")
    assert (w.previous_start, w.previous_end) == (date(2026, 11, 2), date(2026, 11, 8))
    # Monday 03:00 UTC is still Sunday in Los Angeles: the week before is the last complete one
    monday_utc = datetime(2026, 11, 16, 3, 0, tzinfo=UTC)
    assert period_for_run("weekly", monday_utc, "UTC").label == "2026-W46"
    assert period_for_run("weekly", monday_utc, "America/Los_Angeles").label == "2026-W45"
    d = period_for_run("daily", date(2026, 11, 18))
    assert (d.start, d.end, d.previous_start, d.label) == (
        date(2026, 11, 17),
        date(2026, 11, 17),
        date(2026, 11, 10),
        "2026-11-17",
    )
    m = period_for_run("monthly", date(2026, 1, 5))
    assert (m.start, m.end, m.label) == (date(2025, 12, 1), date(2025, 12, 31), "2025-12")
    assert (m.previous_start, m.previous_end) == (date(2025, 11, 1), date(2025, 11, 30))
    # ISO week years: 2026-12-28 is in 2026-W53
    assert period_for_partition("weekly", date(2026, 12, 28)).label == "2026-W53"
    with pytest.raises(ValueError, match="starts on a Monday"):
        period_for_partition("weekly", date(2026, 11, 10))


# ---------------------------------------------------------------- content


def test_weekly_report_pdf_excel_csv_parquet_match_sql(warehouse, week, tmp_path):
    report = _report()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        result = build_report(con, report, ReportsSettings(definitions=[report]), week, tmp_path)
        # independent SQL totals
        ((net, units),) = con.execute(
            "select sum(net_revenue_base), sum(units) from analytics.daily_sales"
            " where sales_date between ? and ?",
            [week.start, week.end],
        ).fetchall()
        ((orders,),) = con.execute(
            "select count(*) from core.fct_orders where ordered_date between ? and ?"
            " and not is_cancelled",
            [week.start, week.end],
        ).fetchall()
        counts = {
            "daily_sales": con.execute(
                "select count(*) from analytics.daily_sales where sales_date between ? and ?",
                [week.start, week.end],
            ).fetchall()[0][0],
            "daily_margin": con.execute(
                "select count(*) from analytics.daily_margin where margin_date between ? and ?",
                [week.start, week.end],
            ).fetchall()[0][0],
            "open_alerts": con.execute(
                "select count(*) from alerts.alerts where status = 'open'"
            ).fetchall()[0][0],
        }
        columns = {
            name: [r[0] for r in con.execute(f"describe {table}").fetchall()]
            for name, table in [
                ("daily_sales", "analytics.daily_sales"),
                ("daily_margin", "analytics.daily_margin"),
                ("open_alerts", "alerts.alerts"),
            ]
        }
    assert net > 0 and orders > 0 and all(counts.values())

    folder = tmp_path / "wbr" / week.label
    stem = f"wbr_{week.label}"
    assert result.directory == folder
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{stem}.pdf", f"{stem}.xlsx"]
        + [f"{stem}_{n}.{ext}" for n in EXTRACTS for ext in ("csv", "parquet")]
    )

    # summary numbers = SQL numbers
    assert f"Net revenue {float(net):,.0f} USD" in result.summary
    assert f"{orders:,} orders" in result.summary
    assert f"{int(units):,} units sold" in result.summary

    # PDF: pages, a non-blank rendered page, the numbers in its text
    pdf = pdfium.PdfDocument(folder / f"{stem}.pdf")
    assert len(pdf) >= 2
    image = pdf[0].render(scale=1).to_pil().convert("L")
    histogram = image.histogram()
    non_white = sum(histogram[:200]) / (image.width * image.height)
    assert non_white > 0.02, f"page 1 looks blank ({non_white:.1%} ink)"
    text = " ".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    text = " ".join(text.split())
    assert week.label in text
    assert f"{float(net):,.0f}" in text
    assert f"{orders:,} orders" in text
    for caption in (
        "Revenue by channel",
        "Cohort retention",
        "Stock at risk",
        "Forecast vs actual",
        "Top and bottom products",
    ):
        assert caption in text
    second = pdf[1].render(scale=1).to_pil().convert("L")
    assert sum(second.histogram()[:200]) / (second.width * second.height) > 0.02

    # Excel: sheets, headers, row counts, frozen header, autofilter
    wb = openpyxl.load_workbook(folder / f"{stem}.xlsx")
    assert wb.sheetnames == ["About", *EXTRACTS]
    for name in EXTRACTS:
        ws = wb[name]
        header = [c.value for c in ws[1]]
        assert header == columns[name]
        assert ws.max_row - 1 == counts[name] == result.rows[name]
        assert ws.freeze_panes == "A2"
        assert ws.auto_filter.ref is not None and ws.auto_filter.ref.startswith("A1:")
    ws = wb["daily_sales"]
    revenue_col = columns["daily_sales"].index("net_revenue_base") + 1
    xlsx_net = sum(ws.cell(row=r, column=revenue_col).value or 0 for r in range(2, ws.max_row + 1))
    assert xlsx_net == pytest.approx(float(net), abs=0.01)
    assert isinstance(ws.cell(row=2, column=1).value, datetime)  # a real date cell

    # CSV and Parquet: row counts and a sum
    with duckdb.connect() as mem:
        for ext, reader in (("csv", "read_csv"), ("parquet", "read_parquet")):
            for name in EXTRACTS:
                path = folder / f"{stem}_{name}.{ext}"
                ((n,),) = mem.execute(f"select count(*) from {reader}(?)", [str(path)]).fetchall()
                assert n == counts[name], (ext, name)
            path = folder / f"{stem}_daily_sales.{ext}"
            ((total,),) = mem.execute(
                f"select sum(net_revenue_base) from {reader}(?)", [str(path)]
            ).fetchall()
            assert float(total) == pytest.approx(float(net), abs=0.01)


def test_rerun_is_idempotent_and_a_failed_run_keeps_the_previous_files(warehouse, week, tmp_path):
    db = tmp_path / "wh.duckdb"
    shutil.copy(warehouse, db)
    report = _report(formats=["pdf", "xlsx", "csv"])
    settings = ReportsSettings(definitions=[report])
    exports = tmp_path / "exports"
    with duckdb.connect(str(db), read_only=True) as con:
        build_report(con, report, settings, week, exports)
        first = _digests(exports / "wbr" / week.label)
        build_report(con, report, settings, week, exports)
    second = _digests(exports / "wbr" / week.label)
    assert second == first  # same files, same bytes (fixed PDF/xlsx dates)
    assert sorted(p.name for p in (exports / "wbr").iterdir()) == [
        f".{week.label}.lock",
        week.label,
    ]  # no temporary or old folders left

    # a run that fails half way (a mart is gone) leaves the previous files untouched
    with duckdb.connect(str(db)) as con:
        con.execute("drop table analytics.daily_margin")
    with (
        duckdb.connect(str(db), read_only=True) as con,
        pytest.raises(RuntimeError, match=r"no table for extract\(s\) daily_margin"),
    ):
        build_report(con, report, settings, week, exports)
    assert _digests(exports / "wbr" / week.label) == first
    assert sorted(p.name for p in (exports / "wbr").iterdir()) == [
        f".{week.label}.lock",
        week.label,
    ]

    # a crash between the two renames of a swap is repaired by the next run
    target = exports / "wbr" / week.label
    aside = exports / "wbr" / f".{week.label}.old-crash"
    aside.mkdir()
    os.rename(target, aside / "previous")
    report_pdf = _report(name="wbr", formats=["pdf"])
    with duckdb.connect(str(db), read_only=True) as con:
        build_report(con, report_pdf, ReportsSettings(definitions=[report_pdf]), week, exports)
    assert sorted(p.name for p in (exports / "wbr").iterdir()) == [
        f".{week.label}.lock",
        week.label,
    ]
    assert sorted(p.name for p in target.iterdir()) == [f"wbr_{week.label}.pdf"]


def test_young_shop_without_marts_gets_a_report_not_a_crash(tmp_path):
    db = tmp_path / "empty.duckdb"
    duckdb.connect(str(db)).close()
    report = _report(formats=["pdf"], extracts=[])
    period = period_for_run("weekly", date(2026, 11, 18))
    with duckdb.connect(str(db), read_only=True) as con:
        result = build_report(con, report, ReportsSettings(definitions=[report]), period, tmp_path)
    assert result.summary.startswith("No sales were recorded")
    pdf = pdfium.PdfDocument(result.files[f"wbr_{period.label}.pdf"])
    text = " ".join(
        " ".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf))).split()
    )
    assert "No sales were recorded" in text
    # the charts say why they are empty (text inside the chart images: check the PNG renders)
    assert len(pdf) >= 2


def test_excel_row_limit_continues_on_next_sheet(tmp_path):
    period = period_for_run("weekly", date(2026, 11, 18))
    with duckdb.connect() as con:
        rows = write_workbook(
            tmp_path / "big.xlsx",
            con,
            [
                (
                    "a_rather_long_extract_name_over_31_chars",
                    "test",
                    "select range as i from range(250)",
                )
            ],
            title="t",
            period=period,
            max_rows=101,  # header + 100 rows per sheet
        )
    assert rows == {"a_rather_long_extract_name_over_31_chars": 250}
    wb = openpyxl.load_workbook(tmp_path / "big.xlsx")
    assert wb.sheetnames == [
        "About",
        "a_rather_long_extract_name_over",
        "a_rather_long_extract_name_ (2)",
        "a_rather_long_extract_name_ (3)",
    ]
    assert [wb[s].max_row for s in wb.sheetnames[1:]] == [101, 101, 51]
    assert wb.sheetnames[2] in wb["About"]["D5"].value and "sheet limit" in wb["About"]["D5"].value
    assert wb[wb.sheetnames[3]]["A51"].value == 249


# ---------------------------------------------------------------- e-mail


def test_report_is_emailed_with_attachments(warehouse, week, tmp_path, smtp):
    box, port = smtp
    report = _report(formats=["pdf", "xlsx", "csv"], recipients=["ceo@example.com"])
    settings = ReportsSettings(definitions=[report], email=_email(port))
    with duckdb.connect(str(warehouse), read_only=True) as con:
        result = build_report(con, report, settings, week, tmp_path, environ={})
    assert result.emailed_to == ["ceo@example.com"]
    assert len(box.messages) == 1
    assert box.envelopes[0].rcpt_tos == ["ceo@example.com"]
    msg = box.messages[0]
    assert msg["Subject"] == f"Wbr {week.label}"
    parts = list(msg.walk())
    names = sorted(p.get_filename() for p in parts if p.get_filename())
    assert names == [f"wbr_{week.label}.pdf", f"wbr_{week.label}.xlsx"]
    pdf_part = next(p for p in parts if p.get_filename() == f"wbr_{week.label}.pdf")
    assert pdf_part.get_payload(decode=True) == result.files[f"wbr_{week.label}.pdf"].read_bytes()
    body = next(p for p in parts if p.get_content_type() == "text/plain")
    assert result.summary[:60] in " ".join(body.get_payload(decode=True).decode().split())


def test_unreachable_smtp_fails_clearly_and_keeps_the_files(warehouse, week, tmp_path):
    port = free_port()  # nothing listens there
    report = _report(formats=["pdf", "csv"])
    settings = ReportsSettings(
        definitions=[report],
        email=_email(port, username_env="T_SMTP_USER", password_env="T_SMTP_PASS"),
    )
    env = {"T_SMTP_USER": "reporter", "T_SMTP_PASS": "pa55-w0rd-xyz"}
    with (
        duckdb.connect(str(warehouse), read_only=True) as con,
        pytest.raises(ReportDeliveryError) as caught,
    ):
        build_report(con, report, settings, week, tmp_path, environ=env)
    message = str(caught.value)
    assert f"127.0.0.1:{port} failed: ConnectionRefusedError" in message
    assert "the files are written to" in message and "re-run this partition" in message
    assert "pa55-w0rd-xyz" not in message
    folder = tmp_path / "wbr" / week.label
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"wbr_{week.label}.pdf"] + [f"wbr_{week.label}_{n}.csv" for n in EXTRACTS]
    )


# ---------------------------------------------------------------- Dagster


def test_dagster_asset_materializes_a_partition(demo_warehouse, warehouse, week, tmp_path):
    assets, jobs, schedules = report_definitions(demo_warehouse)
    by_key = {a.key: a for a in assets}
    key = report_asset_key("weekly_business_review")
    assert set(by_key) == {
        report_asset_key(n) for n in ("weekly_business_review", "daily_flash", "monthly_review")
    }
    asset = by_key[key]
    deps = set(asset.asset_deps[key])
    assert {
        dg.AssetKey(["analytics", "daily_sales"]),
        dg.AssetKey(["ml", "demand_forecast"]),
        dg.AssetKey(["alerts", "alerts"]),
    } <= deps
    assert sorted(j.name for j in jobs) == [
        "report_daily_flash",
        "report_monthly_review",
        "report_weekly_business_review",
    ]
    weekly_schedule = next(
        s for s in schedules if s.name == "report_weekly_business_review_schedule"
    )
    assert weekly_schedule.cron_schedule == "0 7 * * 1"
    assert weekly_schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    monday = datetime.combine(week.end + timedelta(days=1), datetime.min.time()).replace(
        hour=7, tzinfo=UTC
    )
    with dg.build_schedule_context(scheduled_execution_time=monday) as context:
        request = weekly_schedule(context)
    assert isinstance(request, dg.RunRequest)
    assert request.partition_key == week.start.isoformat()

    resource = WarehouseResource(path=str(warehouse), data_dir=str(tmp_path), hash_salt="x")
    outcome = dg.materialize(
        [asset], partition_key=week.start.isoformat(), resources={"warehouse": resource}
    )
    assert outcome.success
    [materialization] = outcome.asset_materializations_for_node(asset.node_def.name)
    meta = materialization.metadata
    assert meta["period"].value == week.label
    assert meta["summary"].value.startswith("Net revenue ")
    assert "data:image/png;base64," in meta["preview"].value
    folder = tmp_path / "exports" / "weekly_business_review" / week.label
    files = meta["files"].value
    assert files == {p.name: p.stat().st_size for p in folder.iterdir()}
    assert f"weekly_business_review_{week.label}.pdf" in files
