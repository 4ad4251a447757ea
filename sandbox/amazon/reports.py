"""SP-API Reports 2021-06-30: GET_SALES_AND_TRAFFIC_REPORT (gzip JSON),
GET_MERCHANT_LISTINGS_ALL_DATA and the flat-file orders reports (gzip tab-separated,
``order_reports``), their lifecycle and their documents.

Faults (``sandbox.wire``): ``report_fatal`` / ``report_cancelled`` on a createReport request
make that report end FATAL / CANCELLED; ``expire_document_url`` on a getReportDocument request
hands out a URL that has already expired."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import io
import itertools
import json
import re
import secrets
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from flask import Response, g, request

from sandbox.amazon.accounts import _Account, _SalesIndex
from sandbox.amazon.common import (
    API,
    LOCAL_ZONE,
    REGION,
    US,
    SpApiError,
    _hex_id,
    _invalid,
    _json,
    _us,
    _z,
)
from sandbox.amazon.context import SpApi
from sandbox.amazon.order_reports import (
    ORDER_REPORT_TYPES,
    orders_document,
    orders_report_has_data,
)

REPORT_QUEUE_S = 2.0  # realistic seconds in IN_QUEUE, divided by the profile's multiplier
REPORT_PROCESSING_S = 3.0  # ... and in IN_PROGRESS
DOCUMENT_URL_TTL_S = 300
LISTINGS_COLUMNS = (
    "item-name", "item-description", "listing-id", "seller-sku", "price", "quantity",
    "open-date", "image-url", "item-is-marketplace", "product-id-type", "zshop-shipping-fee",
    "item-note", "item-condition", "zshop-category1", "zshop-browse-path",
    "zshop-storefront-feature", "asin1", "asin2", "asin3", "will-ship-internationally",
    "expedited-shipping", "zshop-boldface", "product-id", "bid-for-featured-placement",
    "add-delete", "pending-quantity", "fulfillment-channel", "merchant-shipping-group", "status",
)  # fmt: skip
SALES_TRAFFIC = "GET_SALES_AND_TRAFFIC_REPORT"
MERCHANT_LISTINGS = "GET_MERCHANT_LISTINGS_ALL_DATA"


@dataclass
class _Report:
    report_id: str
    account: str
    report_type: str
    marketplaces: list[str]
    start: datetime | None
    end: datetime | None
    options: dict[str, str]
    created_at: datetime  # sandbox clock: the data the report shows is as of this moment
    created_mono: float
    has_data: bool
    document_id: str = ""
    forced: str | None = None  # FATAL / CANCELLED by an injected fault

    def status(self, multiplier: float) -> tuple[str, float | None, float | None]:
        """(processingStatus, processing start, processing end) in monotonic seconds."""
        queued = self.created_mono + REPORT_QUEUE_S / multiplier
        done = queued + REPORT_PROCESSING_S / multiplier
        now = time.monotonic()
        if now < queued:
            return "IN_QUEUE", None, None
        if now < done:
            return "IN_PROGRESS", queued, None
        if self.forced:
            return self.forced, queued, done
        return ("DONE" if self.has_data else "CANCELLED"), queued, done


class _Reports:
    """The reports created so far, by id, and their documents."""

    def __init__(self) -> None:
        self._reports: dict[str, _Report] = {}
        self._documents: dict[str, _Report] = {}
        self._ids = itertools.count(50_000_000_000 + secrets.randbelow(10**9))
        self._lock = threading.Lock()

    def add(self, report: _Report) -> None:
        with self._lock:
            self._reports[report.report_id] = report
            self._documents[report.document_id] = report

    def new_id(self) -> str:
        with self._lock:
            return str(next(self._ids))

    def get(self, report_id: str) -> _Report | None:
        with self._lock:
            return self._reports.get(report_id)

    def by_document(self, document_id: str) -> _Report | None:
        with self._lock:
            return self._documents.get(document_id)


def _sales_traffic_document(acct: _Account, report: _Report) -> dict:
    """GET_SALES_AND_TRAFFIC_REPORT with DAY granularity over the report's range."""
    assert report.start is not None and report.end is not None
    index, as_of = acct.sales_index, _us(report.created_at)
    marketplace = report.marketplaces[0]
    cur = acct.currency[marketplace]
    by_date, by_asin = [], defaultdict(_AsinTotals)
    granularity = report.options.get("asinGranularity", "PARENT")
    for day in _days(report.start, report.end):
        ordered = [ln for ln in index.ordered.get((marketplace, day), []) if ln[4] <= as_of]
        shipped = [
            ln
            for ln in index.shipped.get((marketplace, day), [])
            if ln[5] is not None and ln[5] <= as_of
        ]
        traffic = index.traffic.get((marketplace, day), []) if day < _as_of_date(as_of) else []
        by_date.append(
            _by_date_entry(
                day, ordered, shipped, traffic, _refunded_units(acct, marketplace, day, as_of), cur
            )
        )
        for ln in ordered:
            by_asin[_asin_key(index, marketplace, ln[1], granularity)].add_sale(ln)
        for t in traffic:
            by_asin[_asin_key(index, marketplace, t[0], granularity)].add_traffic(t)
    total_sessions = sum(t.sessions for t in by_asin.values()) or 1
    total_views = sum(t.page_views for t in by_asin.values()) or 1
    return {
        "reportSpecification": {
            "reportType": SALES_TRAFFIC,
            "reportOptions": report.options,
            "dataStartTime": report.start.date().isoformat(),
            "dataEndTime": report.end.date().isoformat(),
            "marketplaceIds": [marketplace],
        },
        "salesAndTrafficByDate": by_date,
        "salesAndTrafficByAsin": [
            t.entry(key, cur, total_sessions, total_views) for key, t in sorted(by_asin.items())
        ],
    }


def _as_of_date(as_of_us: int) -> date:
    """The day a report created at ``as_of_us`` is still in (its traffic is not final yet)."""
    return datetime.fromtimestamp(as_of_us / US, UTC).date()


def _days(start: datetime, end: datetime) -> list[date]:
    first, last = start.date(), end.date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _refunded_units(acct: _Account, marketplace: str, day: date, as_of: int) -> int:
    """Units refunded on ``day`` in ``marketplace``, counting refunds visible at ``as_of``."""
    return sum(qty for at, qty in acct.refunds_by_day().get((marketplace, day), ()) if at <= as_of)


def _asin_key(index: _SalesIndex, marketplace: str, product_id: int,
              granularity: str) -> tuple[str, str | None, str | None]:  # fmt: skip
    sku, asin, parent = index.listing.get((marketplace, product_id), (str(product_id), "", ""))
    if granularity == "PARENT":
        return parent, None, None
    if granularity == "CHILD":
        return parent, asin, None
    return parent, asin, sku


@dataclass
class _AsinTotals:
    units: int = 0
    sales: float = 0.0
    items: int = 0
    sessions: int = 0
    browser_sessions: int = 0
    mobile_sessions: int = 0
    page_views: int = 0
    buy_box_weighted: float = 0.0

    def add_sale(self, line: tuple) -> None:
        self.units += line[2]
        self.sales += line[2] * line[3]
        self.items += 1

    def add_traffic(self, t: tuple) -> None:
        _, sessions, views, browser, mobile, buy_box = t
        self.sessions += sessions
        self.browser_sessions += browser
        self.mobile_sessions += mobile
        self.page_views += views
        self.buy_box_weighted += buy_box * views

    def entry(self, key: tuple, cur: str, total_sessions: int, total_views: int) -> dict:
        parent, child, sku = key
        browser_views = _browser_share(self.page_views, self.browser_sessions, self.sessions)
        entry: dict[str, Any] = {"parentAsin": parent}
        if child is not None:
            entry["childAsin"] = child
        if sku is not None:
            entry["sku"] = sku
        entry["salesByAsin"] = {
            "unitsOrdered": self.units,
            "unitsOrderedB2B": 0,
            "orderedProductSales": {"amount": round(self.sales, 2), "currencyCode": cur},
            "orderedProductSalesB2B": {"amount": 0.0, "currencyCode": cur},
            "totalOrderItems": self.items,
            "totalOrderItemsB2B": 0,
        }
        entry["trafficByAsin"] = {
            "browserSessions": self.browser_sessions,
            "mobileAppSessions": self.mobile_sessions,
            "sessions": self.sessions,
            "browserSessionPercentage": _pct(self.browser_sessions, total_sessions),
            "mobileAppSessionPercentage": _pct(self.mobile_sessions, total_sessions),
            "sessionPercentage": _pct(self.sessions, total_sessions),
            "browserPageViews": browser_views,
            "mobileAppPageViews": self.page_views - browser_views,
            "pageViews": self.page_views,
            "browserPageViewsPercentage": _pct(browser_views, total_views),
            "mobileAppPageViewsPercentage": _pct(self.page_views - browser_views, total_views),
            "pageViewsPercentage": _pct(self.page_views, total_views),
            "buyBoxPercentage": round(self.buy_box_weighted / self.page_views, 2)
            if self.page_views
            else 0.0,
            "unitSessionPercentage": _pct(self.units, self.sessions),
        }
        return entry


def _pct(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def _browser_share(views: int, browser_sessions: int, sessions: int) -> int:
    return round(views * browser_sessions / sessions) if sessions else 0


def _by_date_entry(day: date, ordered: list[tuple], shipped: list[tuple], traffic: list[tuple],
                   units_refunded: int, cur: str) -> dict:  # fmt: skip
    units = sum(ln[2] for ln in ordered)
    sales = round(sum(ln[2] * ln[3] for ln in ordered), 2)
    items = len(ordered)
    sessions = sum(t[1] for t in traffic)
    views = sum(t[2] for t in traffic)
    browser = sum(t[3] for t in traffic)
    browser_views = _browser_share(views, browser, sessions)

    def money(amount: float) -> dict:
        return {"amount": round(amount, 2), "currencyCode": cur}

    return {
        "date": day.isoformat(),
        "salesByDate": {
            "orderedProductSales": money(sales),
            "unitsOrdered": units,
            "totalOrderItems": items,
            "averageSalesPerOrderItem": money(sales / items if items else 0.0),
            "averageUnitsPerOrderItem": round(units / items, 2) if items else 0.0,
            "averageSellingPrice": money(sales / units if units else 0.0),
            "unitsRefunded": units_refunded,
            "refundRate": _pct(units_refunded, units),
            "claimsGranted": 0,
            "claimsAmount": money(0.0),
            "shippedProductSales": money(sum(ln[2] * ln[3] for ln in shipped)),
            "unitsShipped": sum(ln[2] for ln in shipped),
            "ordersShipped": len({ln[0] for ln in shipped}),
        },
        "trafficByDate": {
            "browserPageViews": browser_views,
            "mobileAppPageViews": views - browser_views,
            "pageViews": views,
            "browserSessions": browser,
            "mobileAppSessions": sessions - browser,
            "sessions": sessions,
            "buyBoxPercentage": round(sum(t[5] * t[2] for t in traffic) / views, 2)
            if views
            else 0.0,
            "orderItemSessionPercentage": _pct(items, sessions),
            "unitSessionPercentage": _pct(units, sessions),
            "averageOfferCount": len(traffic),
            "averageParentItems": len(traffic),
            "feedbackReceived": 0,
            "negativeFeedbackReceived": 0,
            "receivedNegativeFeedbackRate": 0.0,
        },
    }


def _listings_document(acct: _Account, report: _Report) -> bytes:
    """GET_MERCHANT_LISTINGS_ALL_DATA: tab-separated, header row, one row per listing."""
    b, marketplace = acct.business, report.marketplaces[0]
    now = report.created_at
    listings = (
        b.current_prices(now)
        .filter((pl.col("account") == acct.account) & (pl.col("marketplace_id") == marketplace))
        .join(
            b.products.select("product_id", "upc", "brand", "category"), on="product_id", how="left"
        )
        .join(
            b.inventory_at(now)
            .filter(pl.col("location_id") == marketplace)
            .select("product_id", "available"),
            on="product_id",
            how="left",
        )
        .sort("channel_sku")
    )
    zone = ZoneInfo(LOCAL_ZONE[acct.country[marketplace]])
    north_america = REGION[marketplace] == "NA"
    out = io.StringIO()
    out.write("\t".join(LISTINGS_COLUMNS) + "\n")
    for r in listings.iter_rows(named=True):
        afn = r["fulfillment"] == "AFN"
        opened = datetime.combine(r["listed_from"], datetime.min.time(), UTC) + timedelta(
            seconds=(r["product_id"] * 7919) % 86_400
        )
        local = opened.astimezone(zone)
        values = {
            "item-name": r["title"],
            "item-description": f"{r['title']} from {r['brand']} ({r['category']}).",
            "listing-id": f"{r['listed_from']:%m%d}{_hex_id(marketplace, r['product_id'], 7)}",
            "seller-sku": r["channel_sku"],
            "price": f"{r['price']:.2f}",
            "quantity": "" if afn else str(int(r["available"] or 0)),
            "open-date": f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}",
            "item-is-marketplace": "y",
            "product-id-type": "3" if north_america else "4",
            "item-condition": "11",
            "asin1": r["channel_item_id"],
            "product-id": r["upc"] if north_america else "0" + r["upc"],
            "pending-quantity": "0",
            "fulfillment-channel": f"AMAZON_{REGION[marketplace]}" if afn else "DEFAULT",
            "merchant-shipping-group": "Migrated Template",
            "status": "Active" if r["is_active"] else "Inactive",
        }
        out.write("\t".join(_flat(values.get(c, "")) for c in LISTINGS_COLUMNS) + "\n")
    return out.getvalue().encode("utf-8")


def _flat(value: str) -> str:
    """Flat files have no quoting: tabs and line breaks inside a value become spaces."""
    return re.sub(r"[\t\r\n]+", " ", value)


def register_reports(api: SpApi) -> None:
    """The Reports 2021-06-30 operations and the documents' presigned-style URLs."""
    reports = _Reports()
    register_report_lifecycle(api, reports)
    register_report_documents(api, reports)


def register_report_lifecycle(api: SpApi, reports: _Reports) -> None:
    """``createReport`` and ``getReport``: IN_QUEUE -> IN_PROGRESS -> DONE (or CANCELLED)."""
    blueprint, state, operation = api.blueprint, api.state, api.operation
    check_marketplaces, multiplier = api.check_marketplaces, api.multiplier

    @blueprint.post("/reports/2021-06-30/reports")
    @operation("createReport")
    def create_report(acct: _Account) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise _invalid("The request body must be a JSON object.")
        report_type = body.get("reportType")
        if report_type not in (SALES_TRAFFIC, MERCHANT_LISTINGS, *ORDER_REPORT_TYPES):
            raise _invalid(
                "Invalid Input", f"reportType {report_type!r} is not supported by the sandbox"
            )
        ids = body.get("marketplaceIds")
        if not isinstance(ids, list) or not ids or not all(isinstance(m, str) for m in ids):
            raise _invalid("marketplaceIds must be a non-empty list of marketplace ids.")
        check_marketplaces(acct, ids, "marketplaceIds")
        if len(ids) != 1 and report_type not in ORDER_REPORT_TYPES:
            raise _invalid(f"{report_type} accepts exactly one marketplace.")
        options = body.get("reportOptions") or {}
        if not isinstance(options, dict) or not all(isinstance(v, str) for v in options.values()):
            raise _invalid("reportOptions must map strings to strings.")
        start, end = _report_range(body, report_type)
        now = state.now()
        if report_type == SALES_TRAFFIC:
            check_sales_traffic_options(options)
            assert start is not None and end is not None
            end = min(end, now)
            has_data = start < end and sales_data_exists(acct, ids[0], start, end, now)
        else:
            has_data = True
        report = _Report(
            reports.new_id(),
            acct.account,
            report_type,
            ids,
            start,
            end,
            options,
            now,
            time.monotonic(),
            has_data,
            forced={"report_fatal": "FATAL", "report_cancelled": "CANCELLED"}.get(
                getattr(getattr(g, "fault", None), "kind", "")
            ),
        )
        if report_type in ORDER_REPORT_TYPES:
            report.has_data = orders_report_has_data(acct, report)
        report.document_id = (
            f"amzn1.spdoc.1.4.{REGION[ids[0]].lower()}.{uuid.uuid4()}.T{secrets.randbelow(10**14)}"
        )
        reports.add(report)
        return _json({"reportId": report.report_id}, 202)

    def check_sales_traffic_options(options: dict) -> None:
        if options.get("dateGranularity", "DAY") != "DAY":
            raise _invalid("Invalid Input", "the sandbox only produces dateGranularity DAY")
        if options.get("asinGranularity", "PARENT") not in ("PARENT", "CHILD", "SKU"):
            raise _invalid("Invalid Input", "asinGranularity must be PARENT, CHILD or SKU")

    def sales_data_exists(acct: _Account, marketplace: str, start: datetime, end: datetime,
                          now: datetime) -> bool:  # fmt: skip
        index, now_us = acct.sales_index, _us(now)
        for day in _days(start, end):
            if any(ln[4] <= now_us for ln in index.ordered.get((marketplace, day), [])):
                return True
            if day < now.date() and index.traffic.get((marketplace, day)):
                return True
        return False

    def own_report(acct: _Account, report_id: str) -> _Report:
        report = reports.get(report_id)
        if report is None or report.account != acct.account:
            raise SpApiError(404, "NotFound", "Report not found.", f"reportId {report_id}")
        return report

    @blueprint.get("/reports/2021-06-30/reports/<report_id>")
    @operation("getReport")
    def get_report(acct: _Account, report_id: str) -> Response:
        report = own_report(acct, report_id)
        status, started, finished = report.status(multiplier())

        def wall(mono: float) -> str:
            return _z(_us(report.created_at) + int((mono - report.created_mono) * US))

        body: dict[str, Any] = {
            "reportId": report.report_id,
            "reportType": report.report_type,
            "marketplaceIds": report.marketplaces,
            "createdTime": _z(_us(report.created_at)),
            "processingStatus": status,
        }
        if report.start is not None and report.end is not None:
            body["dataStartTime"], body["dataEndTime"] = (
                _z(_us(report.start)),
                _z(_us(report.end)),
            )
        if started is not None:
            body["processingStartTime"] = wall(started)
        if finished is not None:
            body["processingEndTime"] = wall(finished)
        if status == "DONE":
            body["reportDocumentId"] = report.document_id
        return _json(body)


def register_report_documents(api: SpApi, reports: _Reports) -> None:
    """``getReportDocument`` and the download behind its presigned-style URL."""
    blueprint, state, operation = api.blueprint, api.state, api.operation
    account_data, multiplier = api.account_data, api.multiplier
    url_key = secrets.token_bytes(16)

    @blueprint.get("/reports/2021-06-30/documents/<document_id>")
    @operation("getReportDocument")
    def get_report_document(acct: _Account, document_id: str) -> Response:
        report = reports.by_document(document_id)
        if (
            report is None
            or report.account != acct.account
            or report.status(multiplier())[0] != "DONE"
        ):
            raise SpApiError(
                404, "NotFound", "Report document not found.", f"reportDocumentId {document_id}"
            )
        issued_at = state.now().timestamp()
        if getattr(getattr(g, "fault", None), "kind", "") == "expire_document_url":
            issued_at -= DOCUMENT_URL_TTL_S + 60
        issued = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(issued_at))
        signature = sign(document_id, issued)
        url = (
            f"{request.host_url}{API}/_documents/{document_id}?X-Amz-Algorithm="
            f"AWS4-HMAC-SHA256&X-Amz-Date={issued}&X-Amz-Expires={DOCUMENT_URL_TTL_S}"
            f"&X-Amz-SignedHeaders=host&X-Amz-Signature={signature}"
        )
        return _json({"reportDocumentId": document_id, "url": url, "compressionAlgorithm": "GZIP"})

    def sign(document_id: str, issued: str) -> str:
        return hmac.new(url_key, f"{document_id}|{issued}".encode(), hashlib.sha256).hexdigest()

    @blueprint.get("/_documents/<document_id>")
    def download_document(document_id: str) -> Response:
        """The presigned-style URL: no SP-API headers, S3-style XML errors."""
        issued = request.args.get("X-Amz-Date", "")
        given = request.args.get("X-Amz-Signature", "")
        report = reports.by_document(document_id)
        if report is None or not hmac.compare_digest(sign(document_id, issued), given):
            return _s3_error(
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        issued_at = datetime.strptime(issued, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        if state.now() > issued_at + timedelta(seconds=DOCUMENT_URL_TTL_S):
            return _s3_error("AccessDenied", "Request has expired")
        acct = account_data(report.account)
        if report.report_type == SALES_TRAFFIC:
            content = json.dumps(
                _sales_traffic_document(acct, report), separators=(",", ":")
            ).encode()
        elif report.report_type in ORDER_REPORT_TYPES:
            content = orders_document(acct, report)
        else:
            content = _listings_document(acct, report)
        return Response(
            gzip.compress(content, compresslevel=5), 200, mimetype="application/octet-stream"
        )


def _report_range(body: dict, report_type: str) -> tuple[datetime | None, datetime | None]:
    """dataStartTime/dataEndTime (required for sales & traffic and the orders reports, ignored
    for listings)."""
    if report_type == MERCHANT_LISTINGS:
        return None, None
    bounds = []
    for name in ("dataStartTime", "dataEndTime"):
        value = body.get(name)
        if not isinstance(value, str):
            raise _invalid(f"{name} is required for {report_type}.")
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _invalid(f"{name}: {value!r} is not an ISO 8601 date-time.") from None
        bounds.append(
            moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        )
    if bounds[1] < bounds[0]:
        raise _invalid("dataEndTime must not be before dataStartTime.")
    return bounds[0], bounds[1]


def _s3_error(code: str, message: str) -> Response:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
        f"<Message>{message}</Message><RequestId>{uuid.uuid4().hex[:16].upper()}"
        "</RequestId></Error>"
    )
    return Response(body, 403, mimetype="application/xml")
