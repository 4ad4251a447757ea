"""The sandbox's flat-file orders reports over real HTTP: the documented 32 columns, the file's
spellings, both report types' date filters, Pending rows without prices, one item per SKU in
an order, and the report faults (FATAL, CANCELLED, an expired document URL)."""

from __future__ import annotations

import csv
import gzip
import io
import re
import time
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
import requests

from sandbox.amazon import order_reports
from sandbox.amazon.common import OPERATIONS
from sandbox.wire import SANDBOX_CREDENTIALS, Fault

US = "ATVPDKIKX0DER"
FILE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")


def _session(sandbox) -> requests.Session:
    creds = SANDBOX_CREDENTIALS["amazon_na"]
    token = requests.post(
        f"{sandbox.url}/amazon/auth/o2/token", data={"grant_type": "refresh_token", **creds}
    ).json()["access_token"]
    session = requests.Session()
    session.headers["x-amz-access-token"] = token
    return session


def _create(sandbox, session, report_type: str, start: datetime, end: datetime) -> str:
    answer = session.post(
        f"{sandbox.url}/amazon/reports/2021-06-30/reports",
        json={
            "reportType": report_type,
            "marketplaceIds": [US],
            "dataStartTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "dataEndTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    )
    assert answer.status_code == 202, answer.text
    return answer.json()["reportId"]


def _finished(sandbox, session, report_id: str) -> dict:
    for _ in range(200):
        report = session.get(f"{sandbox.url}/amazon/reports/2021-06-30/reports/{report_id}").json()
        if report["processingStatus"] not in ("IN_QUEUE", "IN_PROGRESS"):
            return report
        time.sleep(0.02)
    raise AssertionError(f"report {report_id} never finished")


def _document(sandbox, session, report: dict) -> requests.Response:
    document = session.get(
        f"{sandbox.url}/amazon/reports/2021-06-30/documents/{report['reportDocumentId']}"
    ).json()
    assert document["compressionAlgorithm"] == "GZIP"
    return requests.get(document["url"])


def _rows(sandbox, report_type: str, start: datetime, end: datetime) -> tuple[list, list[dict]]:
    session = _session(sandbox)
    report = _finished(sandbox, session, _create(sandbox, session, report_type, start, end))
    assert report["processingStatus"] == "DONE"
    text = gzip.decompress(_document(sandbox, session, report).content).decode("utf-8")
    lines = text.splitlines()
    assert all(line.count("\t") == 31 for line in lines)  # no value carries a tab
    reader = csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
    return list(reader.fieldnames or []), list(reader)


@pytest.mark.calendar
@pytest.mark.parametrize("report_type", order_reports.ORDER_REPORT_TYPES)
def test_an_orders_report_has_the_documented_columns_and_spellings(sandbox, report_type):
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    start = end - timedelta(days=10)
    header, rows = _rows(sandbox, report_type, start, end)
    assert header == list(order_reports.ORDERS_COLUMNS) and len(header) == 32
    assert len(rows) > 50
    filtered = "last-updated-date" if "LAST_UPDATE" in report_type else "purchase-date"
    for row in rows:
        assert FILE_TIME.match(row["purchase-date"]) and FILE_TIME.match(row["last-updated-date"])
        at = datetime.fromisoformat(row[filtered])
        assert start <= at <= end
        assert row["fulfillment-channel"] in ("Amazon", "Merchant")
        assert row["order-status"] in ("Pending", "Unshipped", "Shipped", "Cancelled")
        # the whole region whatever marketplaceIds says, as the real reports (DECISIONS.md)
        assert (row["sales-channel"], row["currency"]) in (
            ("Amazon.com", "USD"),
            ("Amazon.ca", "CAD"),
        )
        if row["order-status"] == "Pending":
            assert row["item-price"] == "" and row["ship-city"] == ""
        elif row["item-price"]:
            assert re.match(r"^\d+\.\d\d$", row["item-price"])
    assert {r["sales-channel"] for r in rows} == {"Amazon.com", "Amazon.ca"}
    sku_per_order = {(r["amazon-order-id"], r["sku"]) for r in rows}
    assert len(sku_per_order) == len(rows)


def test_pending_items_have_no_prices(sandbox, monkeypatch):
    monkeypatch.setattr(order_reports, "PENDING_US", 10**18)  # every item still unpaid
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    _, rows = _rows(sandbox, order_reports.BY_LAST_UPDATE, end - timedelta(days=3), end)
    assert rows and all(r["item-price"] == r["item-tax"] == r["promotion-ids"] == "" for r in rows)
    assert all(r["quantity"].isdigit() and r["sku"] and r["asin"] for r in rows)


def test_the_business_never_sells_one_sku_twice_in_an_amazon_order(sandbox):
    """Amazon merges an order's units of one SKU into one item; the warehouse keys Amazon
    lines by (order, SKU), so the business must never do otherwise."""
    b = sandbox.state.business
    lines = b.order_lines.join(
        b.orders.filter(pl.col("account").str.starts_with("amazon")).select("order_key"),
        on="order_key",
    )
    assert lines.height > 1000
    assert lines.select("order_key", "channel_sku").n_unique() == lines.height


@pytest.mark.parametrize(("kind", "status"), [("report_fatal", "FATAL"),
                                              ("report_cancelled", "CANCELLED")])  # fmt: skip
def test_a_report_fault_ends_the_report_so(sandbox, kind, status):
    session = _session(sandbox)
    sandbox.state.faults.add(Fault("amazon", kind, 1, path=r"/reports/2021-06-30/reports$"))
    end = datetime.now(UTC) - timedelta(minutes=5)
    report_id = _create(
        sandbox, session, order_reports.BY_LAST_UPDATE, end - timedelta(days=3), end
    )
    report = _finished(sandbox, session, report_id)
    assert report["processingStatus"] == status and "reportDocumentId" not in report


def test_an_expired_document_url_is_refused_as_s3_does(sandbox):
    session = _session(sandbox)
    end = datetime.now(UTC) - timedelta(minutes=5)
    report = _finished(
        sandbox,
        session,
        _create(sandbox, session, order_reports.BY_LAST_UPDATE, end - timedelta(days=3), end),
    )
    sandbox.state.faults.add(Fault("amazon", "expire_document_url", 1, path="/documents/"))
    expired = _document(sandbox, session, report)
    assert expired.status_code == 403 and "Request has expired" in expired.text
    assert _document(sandbox, session, report).status_code == 200


def test_the_reports_operations_have_the_published_limits():
    assert OPERATIONS["createReport"] == (0.0167, 15)
    assert OPERATIONS["getReport"] == (2.0, 15)
    assert OPERATIONS["getReportDocument"] == (0.0167, 15)
