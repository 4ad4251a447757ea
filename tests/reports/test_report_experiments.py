"""The weekly report's tables: the experiments page (the experiments that exposed units in the
period, per treatment variant and headline metric, with lift, interval, p-value and decision)
and the lifetime-value check (predicted vs actual revenue per decile of predicted value)."""

from __future__ import annotations

import shutil
from datetime import date

import duckdb
import pypdfium2 as pdfium

from reports import ReportDefinition, ReportsSettings, period_for_run
from reports.data import experiments_in_period, ltv_value_holdout
from reports.runner import build_report, experiment_tables, ltv_holdout_tables

COLUMNS = (
    "experiment_id varchar, variant varchar, is_control boolean, metric varchar, units bigint, "
    "value double, control_value double, rel_lift double, rel_lift_ci_low double, "
    "rel_lift_ci_high double, always_valid_p_value double, is_srm boolean, decision varchar, "
    "first_exposure_date date, last_exposure_date date"
)


def _pdf_text(path) -> str:
    pdf = pdfium.PdfDocument(path)
    return " ".join(
        " ".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf))).split()
    )


def test_only_the_experiments_of_the_period_without_control_rows_are_shown():
    week = period_for_run("weekly", date(2026, 11, 18))  # Mon 2026-11-09 .. Sun 2026-11-15
    con = duckdb.connect()
    con.execute(f"create schema analytics; create table analytics.experiment_results ({COLUMNS})")
    rows = [
        # in the week: the control row and a metric the page does not show are left out
        ("btn", "control", True, "conversion_rate", 1000, 0.05, 0.05, None, None, None, None,
         False, "ship", "2026-11-01", "2026-11-12"),
        ("btn", "treatment", False, "revenue_per_unit", 1010, 2.2, 2.0, 0.1, -0.02, 0.22, 0.2,
         False, "ship", "2026-11-01", "2026-11-12"),
        ("btn", "treatment", False, "conversion_rate", 1010, 0.065, 0.05, 0.3, 0.14, 0.46, 0.004,
         False, "ship", "2026-11-01", "2026-11-12"),
        ("btn", "treatment", False, "orders_per_unit", 1010, 0.07, 0.05, 0.4, 0.1, 0.7, 0.01,
         False, "ship", "2026-11-01", "2026-11-12"),
        # exposures start on the week's last day: shown, flagged SRM
        ("banner", "treatment", False, "conversion_rate", 800, 0.06, 0.05, 0.2, -0.1, 0.5, 0.3,
         True, "invalid", "2026-11-15", "2026-11-20"),
        # ended before the week
        ("old", "treatment", False, "conversion_rate", 500, 0.05, 0.05, 0.0, -0.2, 0.2, 0.9,
         False, "dont_ship", "2026-10-01", "2026-11-08"),
    ]  # fmt: skip
    con.executemany(
        f"insert into analytics.experiment_results values ({', '.join('?' * 15)})", rows
    )
    got = experiments_in_period(con, week)
    assert [(r["experiment_id"], r["metric"]) for r in got] == [
        ("banner", "conversion_rate"),
        ("btn", "conversion_rate"),
        ("btn", "revenue_per_unit"),
    ]
    ((caption, _, header, body),) = experiment_tables(got)
    assert caption == "Experiments" and len(header) == len(body[0])
    assert body[0][-1] == "SRM! invalid"
    assert body[1][6] == "+30.0% (+14.0% to +46.0%)" and body[1][7] == "0.004"
    assert experiment_tables([]) == []
    assert experiments_in_period(duckdb.connect(), week) == []  # no table: no page


def test_the_lifetime_value_check_lists_each_horizon_total_first():
    con = duckdb.connect()
    con.execute(
        "create schema ml; create table ml.ltv_value_holdout (horizon_days integer, "
        "bucket varchar, n_customers bigint, predicted_value double, actual_value double, "
        "error_pct double, calibration_end date, holdout_end date)"
    )
    rows = [
        (365, "decile_02", 40, 900.0, 1000.0, -10.0),
        (90, "decile_10", 40, 50.0, 0.0, None),
        (90, "total", 400, 1200.0, 1000.0, 20.0),
        (90, "decile_01", 40, 700.0, 500.0, 40.0),
        (365, "total", 400, 5200.0, 5000.0, 4.0),
    ]
    con.executemany(
        "insert into ml.ltv_value_holdout values (?, ?, ?, ?, ?, ?, '2025-09-01', '2025-11-30')",
        rows,
    )
    got = ltv_value_holdout(con)
    assert [(r["horizon_days"], r["bucket"]) for r in got] == [
        (90, "total"), (90, "decile_01"), (90, "decile_10"), (365, "total"), (365, "decile_02"),
    ]  # fmt: skip
    ((caption, note, header, body),) = ltv_holdout_tables(got, "EUR")
    assert caption == "Lifetime value vs what happened" and "2025-09-01" in note
    assert body[0] == ["90 days, all customers", "400", "1,200", "1,000", "+20.0%"]
    assert body[2] == ["90 days, decile 10", "40", "50", "0", "-"]  # nothing happened: no ratio
    assert body[4][-1] == "-10.0%" and len(header) == len(body[0])
    assert ltv_holdout_tables([], "EUR") == []
    assert ltv_value_holdout(duckdb.connect()) == []  # not built: no page


def test_the_demo_weekly_report_has_the_experiments_page(demo_warehouse, tmp_path):
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(demo_warehouse.warehouse_path, copy)
    report = ReportDefinition(
        name="wbr", cadence="weekly", title="Weekly business review", formats=["pdf"], extracts=[]
    )
    with duckdb.connect(str(copy), read_only=True) as con:
        ((last,),) = con.execute("select max(sales_date) from analytics.daily_sales").fetchall()
        week = period_for_run("weekly", last)
        ran = {r["experiment_id"] for r in experiments_in_period(con, week)}
        exposed = {
            e for (e,) in con.execute(
                "select distinct experiment_id from analytics.experiment_exposures "
                "where exposure_date between ? and ?", [week.start, week.end],
            ).fetchall()
        }  # fmt: skip
        holdout = ltv_value_holdout(con)
        result = build_report(con, report, ReportsSettings(definitions=[report]), week, tmp_path)
    # the sandbox's experiments that exposed units that week: checkout_button runs through the
    # whole period, product_gallery ended long before its last week; shipping_banner ends 10
    # days before the period's end, so whether it is in depends on the weekday of the run
    assert ran == exposed and "checkout_button" in ran and "product_gallery" not in ran
    text = _pdf_text(result.files[f"wbr_{week.label}.pdf"])
    assert "Experiments" in text and "always-valid" in text
    cells = text.replace(" ", "")  # a table cell may wrap a long id
    for experiment in ran:
        assert experiment in cells
    assert "product_gallery" not in cells
    # the sample-ratio bug of shipping_banner, when it ran that week
    assert ("SRM! invalid" in text) == ("shipping_banner" in ran)
    # the lifetime-value check has a page exactly when the holdout ran
    assert ("Lifetime value vs what happened" in text) == bool(holdout)
