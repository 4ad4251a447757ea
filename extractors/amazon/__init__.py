"""Amazon Selling Partner API extractor: orders, financial events, sales & traffic, FBA
inventory, listings and customer-feedback review topics (feedback.py) of one seller account
in one region.

Wire format: ``reference/marketplace-apis.md`` section A. What this module has to work around:

* **Login with Amazon.** Every data call carries an LWA access token in ``x-amz-access-token``;
  the token lives an hour and is renewed a minute early (Amazon's own token cache does the
  same). One token is shared by all worker threads of a connection, and a 403 makes exactly
  one of them fetch a new token: the others see that it changed and simply retry.
* **Per-operation token buckets.** A 429 ``QuotaExceeded`` carries no ``Retry-After``; the
  ``x-amzn-RateLimit-Limit`` header gives the bucket's refill rate, so the wait is one token's
  worth (``1 / rate`` seconds) plus jitter.
* **One getOrderItems call per order.** Items are fetched by a small thread pool while the
  main thread follows getOrders' ``NextToken``, each worker with its own HTTP session and its
  own call statistics (summed at the end, so no counter is shared between threads).
* **Date bounds.** ``*Before`` must be at least two minutes in the past; listFinancialEvents
  silently answers *nothing* for a range over 180 days, so longer windows are split.
* **Reports are asynchronous.** createReport -> getReport until DONE (CANCELLED means "no
  data") -> getReportDocument -> a presigned URL that expires after five minutes, downloaded
  without SP-API headers and gunzipped. All reports of an extraction are created first and then
  polled together in rounds whose pause grows from tens of milliseconds to half a minute, so
  a fast sandbox costs milliseconds and the real API is not hammered.
* **History in bulk.** A window longer than ``bulk_history_days`` loads orders and items from
  the flat-file orders reports instead (``bulk.py``); a FATAL report is requested once more.
* **Pending orders have no prices.** Their items omit every money field; those lines are kept
  with null money (the order comes back with prices on its next update).

Listings' ``product-id`` is the UPC (``product-id-type`` 3) on the North American
marketplaces and the EAN (type 4) in Europe, decoded into ``product_id_type``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

# The package re-exports what callers import from ``extractors.amazon`` (the noqa: F401s).
from extractors.amazon import bulk
from extractors.amazon.client import (
    TOKEN_REFRESH_MARGIN_S,  # noqa: F401
    AmazonClient,
    LwaToken,
    Pacer,
    _Clients,
    _flat_file,
    _json_document,
    _json_object,
    _list_of_objects,
    _payload,
    _Report,
    _unpack,
)
from extractors.amazon.feedback import extract_customer_feedback
from extractors.amazon.marketplaces import MARKETPLACE_BY_NAME, MARKETPLACE_CURRENCY  # noqa: F401
from extractors.amazon.parse import (
    _EVENT_LISTS,
    PRODUCT_ID_TYPES,  # noqa: F401
    TZ_ABBREVIATIONS,  # noqa: F401
    parse_financial_event,
    parse_inventory_summary,
    parse_listing_row,
    parse_order,
    parse_order_item,
    parse_sales_traffic_by_date,
    parse_sales_traffic_by_sku,
)
from extractors.amazon.schemas import (
    FINANCIAL_EVENTS,  # noqa: F401
    INVENTORY_SUMMARIES,  # noqa: F401
    LISTINGS,  # noqa: F401
    ORDER_ITEMS,  # noqa: F401
    ORDERS,  # noqa: F401
    SALES_TRAFFIC_BY_DATE,  # noqa: F401
    SALES_TRAFFIC_BY_SKU,  # noqa: F401
    STREAMS,
)
from extractors.amazon.settings import AmazonConnection
from extractors.base import ExtractResult, RecordError, Window, iso_z
from extractors.http import ApiError, Redactor, RetrySettings, sleep

API_VERSIONS = {
    "orders": "orders/v0",
    "financial_events": "finances/v0",
    "sales_traffic": "reports/2021-06-30",
    "inventory": "fba/inventory/v1",
    "listings": "reports/2021-06-30",
    "customer_feedback": "customerFeedback/2024-06-01",
}
ORDERS_PAGE_SIZE = 100  # the documented maximum
FINANCES_PAGE_SIZE = 100  # the documented maximum
FINANCES_MAX_DAYS = 180  # a longer PostedAfter..PostedBefore range answers nothing at all
FINANCES_SETTLE = timedelta(hours=48)  # events of the last 48 h may still be missing
BEFORE_LAG = timedelta(minutes=2)  # *Before must be at least this far in the past
WORKERS = 4  # getOrderItems / report calls in flight at once, one HTTP session each
REPORT_POLL_FIRST_S = 0.02  # first pause between getReport rounds; doubles each round
REPORT_POLL_MAX_S = 30.0
REPORT_TIMEOUT_S = 3600.0  # a report not finished after this is an error
REPORT_DONE, REPORT_CANCELLED, REPORT_FATAL = "DONE", "CANCELLED", "FATAL"
SALES_TRAFFIC = "GET_SALES_AND_TRAFFIC_REPORT"
MERCHANT_LISTINGS = "GET_MERCHANT_LISTINGS_ALL_DATA"

T = TypeVar("T")


# ---------------------------------------------------------------------------------------------
# The extractor
# ---------------------------------------------------------------------------------------------
class AmazonExtractor:
    """Extracts the streams of one SP-API connection (one seller account, one region)."""

    channel = "amazon"

    def __init__(self, conn: AmazonConnection, secrets: dict[str, str], *,
                 sandbox_url: str = "", retry: RetrySettings | None = None):  # fmt: skip
        missing = [k for k in ("client_id", "client_secret", "refresh_token") if not secrets.get(k)]
        if missing:
            raise ValueError(f"connection {conn.name!r}: missing secrets {', '.join(missing)}")
        self.conn = conn
        self.connection = conn.name
        self.streams = STREAMS
        self.marketplaces = list(conn.marketplaces)
        self.base_url = conn.base_url(sandbox_url)
        self.retry = retry or RetrySettings(**conn.retry.model_dump())
        self._redact = Redactor(secrets.values())
        self._token = LwaToken(
            conn.token_url(sandbox_url),
            secrets["client_id"],
            secrets["client_secret"],
            secrets["refresh_token"],
            self._redact,
        )

    def _clients(self) -> _Clients:
        """Per-thread clients of one extraction, sharing the token and one pacer."""
        pacer = Pacer()
        # The sandbox is on loopback: skip the per-request proxy/netrc lookups of trust_env.
        return _Clients(
            lambda: AmazonClient(
                self.connection,
                self.base_url,
                self._token,
                self._redact,
                pacer,
                retry=self.retry,
                trust_env=not self.conn.uses_sandbox,
            )
        )

    def extract(self, stream: str, window: Window | None) -> ExtractResult:
        """Every row of ``stream``'s entities for ``window`` (incremental) or now (snapshot)."""
        if stream not in self.streams:
            raise ValueError(f"unknown Amazon stream {stream!r}; one of {sorted(self.streams)}")
        if self.streams[stream].incremental and window is None:
            raise ValueError(f"stream {stream!r} is incremental: it needs a window")
        result = ExtractResult(api_version=API_VERSIONS[stream])
        clients = self._clients()
        handler = {
            "orders": self._orders,
            "financial_events": self._financial_events,
            "sales_traffic": self._sales_traffic,
            "inventory": self._inventory,
            "listings": self._listings,
            "customer_feedback": lambda c, w, r: extract_customer_feedback(
                self.marketplaces, c, self._run_reports, r
            ),
        }[stream]
        try:
            handler(clients, window, result)
        finally:
            result.stats = clients.stats()
            clients.close()
        return result

    # -- helpers ------------------------------------------------------------------------------
    def _api_window(self, window: Window, result: ExtractResult) -> Window | None:
        """The window with its end at least two minutes in the past (the API's rule)."""
        latest = datetime.now(UTC) - BEFORE_LAG
        if window.start >= latest:
            result.notes.append(
                f"window {window} starts less than {BEFORE_LAG} ago; nothing to ask the API for yet"
            )
            return None
        clamped = window.clamp_end(latest)
        if clamped.end < window.end:
            result.notes.append(
                f"window end clamped to {iso_z(clamped.end)} (the API refuses "
                f"an end less than {BEFORE_LAG} ago)"
            )
        return clamped

    def _parallel(self, clients: _Clients, fn: Callable[[AmazonClient, T], Any],
                  items: Iterable[T]) -> list[Any]:  # fmt: skip
        """``fn(client, item)`` for every item on the worker pool, results in item order.

        The first failure cancels the calls not yet started and is raised.
        """
        items = list(items)
        if len(items) <= 1:
            return [fn(clients.get(), item) for item in items]
        pool = ThreadPoolExecutor(WORKERS, thread_name_prefix=f"{self.connection}-worker")
        try:
            futures = [pool.submit(lambda it=item: fn(clients.get(), it)) for item in items]
            return [f.result() for f in futures]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    # -- orders -------------------------------------------------------------------------------
    def _orders(self, clients: _Clients, window: Window | None, result: ExtractResult) -> None:
        """getOrders by last update, each order's items fetched on the pool meanwhile (or, for
        a long window, the flat-file orders reports)."""
        assert window is not None
        api_window = self._api_window(window, result)
        if api_window is None:
            return
        if bulk.uses_bulk(self.conn, api_window):
            result.api_version = API_VERSIONS["sales_traffic"]  # the Reports API
            seen: set[str] = set()
            skipped: Counter[str] = Counter()
            reports = bulk.order_reports(self.marketplaces, api_window, self.conn.bulk_report_days)
            for report, rows in self._run_reports(clients, reports, bulk.report_body, bulk.decode):
                bulk.add_report_rows(result, report, rows, window, seen, skipped)
            result.notes += [
                f"{n} orders of {c} are not this connection's" for c, n in skipped.items()
            ]
            return
        params: dict[str, Any] = {
            "MarketplaceIds": ",".join(self.marketplaces),
            "LastUpdatedAfter": iso_z(api_window.start),
            "LastUpdatedBefore": iso_z(api_window.end),
            "MaxResultsPerPage": ORDERS_PAGE_SIZE,
        }
        pool = ThreadPoolExecutor(WORKERS, thread_name_prefix=f"{self.connection}-items")
        pending: list[tuple[dict, Future]] = []
        try:
            for order in self._payload_pages(
                clients.get(), "/orders/v0/orders", "getOrders", params, "Orders"
            ):
                row = self._parse(result, "orders", order, parse_order)
                if row is None or not window.contains(row["last_updated_at"]):
                    continue
                result.add("orders", row)
                pending.append(
                    (row, pool.submit(self._order_items, clients, row["amazon_order_id"]))
                )
            for row, future in pending:
                skus: set[str] = set()
                for item in future.result():
                    item_row = self._parse(
                        result, "order_items", item, lambda i, o=row: parse_order_item(i, o)
                    )
                    if item_row is not None and item_row["seller_sku"] in skus:
                        result.reject("order_items", "SellerSKU repeated in the order: lines "
                                      "are keyed by (order, SKU)", item)  # fmt: skip
                    elif item_row is not None:
                        skus.add(item_row["seller_sku"])
                        result.add("order_items", item_row)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _order_items(self, clients: _Clients, order_id: str) -> list[dict]:
        client = clients.get()
        items: list[dict] = []
        params: dict[str, Any] = {}
        while True:
            body = client.get_page(
                f"/orders/v0/orders/{order_id}/orderItems", "getOrderItems", params
            )
            payload = _payload(body, client, "getOrderItems")
            items += _list_of_objects(
                payload.get("OrderItems"), client, "getOrderItems", "OrderItems"
            )
            token = payload.get("NextToken")
            if not token:
                return items
            params = {"NextToken": token}

    def _payload_pages(self, client: AmazonClient, path: str, endpoint: str,
                       params: dict[str, Any], list_key: str) -> Iterator[dict]:  # fmt: skip
        """Records of a v0 operation that pages by ``payload.NextToken``.

        The filters are sent again with the token, as the Orders API model asks.
        """
        page_params = dict(params)
        while True:
            payload = _payload(client.get_page(path, endpoint, page_params), client, endpoint)
            yield from _list_of_objects(payload.get(list_key), client, endpoint, list_key)
            token = payload.get("NextToken")
            if not token:
                return
            page_params = {**params, "NextToken": token}

    @staticmethod
    def _parse(result: ExtractResult, entity: str, record: object,
               parse: Callable[[dict], T]) -> T | None:  # fmt: skip
        """``parse(record)``, or None after putting the record in quarantine with the reason."""
        if not isinstance(record, dict):
            result.reject(entity, f"expected a JSON object, got {type(record).__name__}", record)
            return None
        try:
            return parse(record)
        except RecordError as exc:
            result.reject(entity, str(exc), record)
            return None

    # -- financial events ---------------------------------------------------------------------
    def _financial_events(self, clients: _Clients, window: Window | None,
                          result: ExtractResult) -> None:  # fmt: skip
        """listFinancialEvents in slices of at most 180 days, every page followed."""
        assert window is not None
        api_window = self._api_window(window, result)
        if api_window is None:
            return
        if api_window.end > datetime.now(UTC) - FINANCES_SETTLE:
            result.notes.append(
                "financial events of the last 48 hours may still be missing; "
                "re-extract those days later"
            )
        ignored: Counter[str] = Counter()
        wanted = set(self.marketplaces)
        client = clients.get()
        for part in api_window.split(FINANCES_MAX_DAYS):
            params = {
                "PostedAfter": iso_z(part.start),
                "PostedBefore": iso_z(part.end),
                "MaxResultsPerPage": FINANCES_PAGE_SIZE,
            }
            for events in self._finance_pages(client, params):
                for list_key, event_type, items_key, amounts in _EVENT_LISTS:
                    for event in _list_of_objects(
                        events.get(list_key), client, "listFinancialEvents", list_key
                    ):
                        rows = self._parse(
                            result,
                            "financial_events",
                            event,
                            lambda e, t=event_type, k=items_key, a=amounts: parse_financial_event(
                                e, t, k, a
                            ),
                        )
                        for row in rows or []:
                            if window.contains(row["posted_at"]) and (
                                row["marketplace_id"] is None or row["marketplace_id"] in wanted
                            ):
                                result.add("financial_events", row)
                for key, value in events.items():
                    if key not in {k for k, *_ in _EVENT_LISTS} and isinstance(value, list):
                        ignored[key] += len(value)
        for key, n in sorted(ignored.items()):
            if n:
                result.notes.append(f"{n} {key} events are not modelled and were not extracted")

    def _finance_pages(self, client: AmazonClient, params: dict[str, Any]) -> Iterator[dict]:
        """The ``FinancialEvents`` object of each page (pages may be empty)."""
        page_params = dict(params)
        while True:
            payload = _payload(
                client.get_page("/finances/v0/financialEvents", "listFinancialEvents", page_params),
                client,
                "listFinancialEvents",
            )
            events = payload.get("FinancialEvents") or {}
            if not isinstance(events, dict):
                raise ApiError(
                    client.connection,
                    "listFinancialEvents",
                    "payload.FinancialEvents is not an object",
                )
            yield events
            token = payload.get("NextToken")
            if not token:
                return
            page_params = {**params, "NextToken": token}

    # -- reports ------------------------------------------------------------------------------
    def _run_reports(self, clients: _Clients, reports: list[_Report],
                     body: Callable[[_Report], dict],
                     decode: Callable[[bytes], Any]) -> list[tuple[_Report, Any]]:  # fmt: skip
        """Create every report, poll them together until finished, download the DONE ones.

        Returns ``(report, decoded document)`` for each DONE report; CANCELLED ones (no data)
        are left out. A FATAL report is requested once more; FATAL again is an error.
        """
        self._parallel(clients, lambda c, r: self._create_report(c, r, body(r)), reports)
        self._await_reports(clients, reports)
        fatal = [r for r in reports if r.status == REPORT_FATAL]
        self._parallel(clients, lambda c, r: self._create_report(c, r, body(r)), fatal)
        self._await_reports(clients, fatal)
        fatal = [r for r in fatal if r.status == REPORT_FATAL]
        if fatal:
            raise ApiError(
                self.connection,
                "getReport",
                f"{fatal[0].describe()} ended FATAL twice"
                + (f" (and {len(fatal) - 1} more)" if len(fatal) > 1 else ""),
            )
        done = [r for r in reports if r.status == REPORT_DONE]
        documents = self._parallel(clients, lambda c, r: self._download(c, r, decode), done)
        return list(zip(done, documents, strict=True))

    def _create_report(self, client: AmazonClient, report: _Report, body: dict) -> None:
        answer = client.call(
            "POST",
            "/reports/2021-06-30/reports",
            endpoint="createReport",
            json=body,
            parse=_json_object,
        )
        report_id = answer.get("reportId")
        if not report_id:
            raise ApiError(self.connection, "createReport", f"no reportId for {report.describe()}")
        client.stats.reports_requested += 1
        report.report_id, report.status = str(report_id), ""

    def _await_reports(self, clients: _Clients, reports: list[_Report]) -> None:
        """Poll getReport in rounds until every report is DONE, CANCELLED or FATAL."""
        pause = REPORT_POLL_FIRST_S
        deadline = time.monotonic() + REPORT_TIMEOUT_S
        finished = (REPORT_DONE, REPORT_CANCELLED, REPORT_FATAL)
        while True:
            waiting = [r for r in reports if r.status not in finished]
            if not waiting:
                return
            self._parallel(clients, self._poll_report, waiting)
            if all(r.status in finished for r in reports):
                return
            if time.monotonic() > deadline:
                late = next(r for r in reports if r.status not in finished)
                raise ApiError(
                    self.connection,
                    "getReport",
                    f"{late.describe()} still {late.status} after {REPORT_TIMEOUT_S:.0f}s",
                )
            sleep(pause)
            pause = min(pause * 2, REPORT_POLL_MAX_S)

    def _poll_report(self, client: AmazonClient, report: _Report) -> None:
        answer = client.call(
            "GET",
            f"/reports/2021-06-30/reports/{report.report_id}",
            endpoint="getReport",
            parse=_json_object,
        )
        status = answer.get("processingStatus")
        if status not in ("IN_QUEUE", "IN_PROGRESS", REPORT_DONE, REPORT_CANCELLED, REPORT_FATAL):
            raise ApiError(
                self.connection,
                "getReport",
                f"{report.describe()}: unknown processingStatus {status!r}",
            )
        report.status = status
        if status == REPORT_DONE:
            report.document_id = answer.get("reportDocumentId")
            if not report.document_id:
                raise ApiError(
                    self.connection,
                    "getReport",
                    f"{report.describe()} is DONE without a reportDocumentId",
                )

    def _download(self, client: AmazonClient, report: _Report,
                  decode: Callable[[bytes], Any]) -> Any:  # fmt: skip
        """getReportDocument, then a plain GET of its presigned URL (asked again once if the
        URL expired before we got to it)."""
        for attempt in (1, 2):
            document = client.call(
                "GET",
                f"/reports/2021-06-30/documents/{report.document_id}",
                endpoint="getReportDocument",
                parse=_json_object,
            )
            url = document.get("url")
            if not url:
                raise ApiError(
                    self.connection,
                    "getReportDocument",
                    f"{report.describe()}: the document has no url",
                )
            gzipped = document.get("compressionAlgorithm") == "GZIP"
            try:
                return client.call(
                    "GET",
                    url,
                    endpoint="report document download",
                    authenticated=False,
                    parse=lambda r, z=gzipped: decode(_unpack(r.content, z)),
                )
            except ApiError as exc:
                if exc.status != 403 or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    # -- sales & traffic ----------------------------------------------------------------------
    def _sales_traffic(self, clients: _Clients, window: Window | None,
                       result: ExtractResult) -> None:  # fmt: skip
        """One GET_SALES_AND_TRAFFIC_REPORT per marketplace and UTC day of the window."""
        assert window is not None
        today = datetime.now(UTC).date()
        days = [d for d in window.days() if d <= today]
        if days and days[-1] == today:
            result.notes.append(f"sales & traffic of {today} is partial until the day is over")
        reports = [_Report(SALES_TRAFFIC, m, d) for m in self.marketplaces for d in days]

        def body(report: _Report) -> dict:
            assert report.day is not None
            start = datetime.combine(report.day, datetime.min.time(), UTC)
            return {
                "reportType": SALES_TRAFFIC,
                "marketplaceIds": [report.marketplace_id],
                "dataStartTime": iso_z(start),
                "dataEndTime": iso_z(start + timedelta(days=1) - timedelta(seconds=1)),
                "reportOptions": {"dateGranularity": "DAY", "asinGranularity": "SKU"},
            }

        for report, document in self._run_reports(clients, reports, body, _json_document):
            assert report.day is not None
            for entry in document.get("salesAndTrafficByDate") or []:
                row = self._parse(
                    result,
                    "sales_traffic_by_date",
                    entry,
                    lambda e, m=report.marketplace_id: parse_sales_traffic_by_date(e, m),
                )
                if row is not None and row["date"] in days:
                    result.add("sales_traffic_by_date", row)
            for entry in document.get("salesAndTrafficByAsin") or []:
                row = self._parse(
                    result,
                    "sales_traffic_by_sku",
                    entry,
                    lambda e, r=report: parse_sales_traffic_by_sku(e, r.marketplace_id, r.day),
                )
                if row is not None:
                    result.add("sales_traffic_by_sku", row)

    # -- inventory ----------------------------------------------------------------------------
    def _inventory(self, clients: _Clients, window: Window | None,
                   result: ExtractResult) -> None:  # fmt: skip
        """getInventorySummaries per marketplace; the token is in the top-level pagination."""
        client = clients.get()
        for marketplace in self.marketplaces:
            params: dict[str, Any] = {
                "granularityType": "Marketplace",
                "granularityId": marketplace,
                "marketplaceIds": marketplace,
                "details": "true",
            }
            while True:
                body = client.get_page(
                    "/fba/inventory/v1/summaries", "getInventorySummaries", params
                )
                payload = _payload(body, client, "getInventorySummaries")
                for summary in _list_of_objects(
                    payload.get("inventorySummaries"),
                    client,
                    "getInventorySummaries",
                    "inventorySummaries",
                ):
                    row = self._parse(
                        result,
                        "inventory_summaries",
                        summary,
                        lambda s, m=marketplace: parse_inventory_summary(s, m),
                    )
                    if row is not None:
                        result.add("inventory_summaries", row)
                token = (body.get("pagination") or {}).get("nextToken")
                if not token:
                    break
                params = {**params, "nextToken": token}

    # -- listings -----------------------------------------------------------------------------
    def _listings(self, clients: _Clients, window: Window | None,
                  result: ExtractResult) -> None:  # fmt: skip
        """One GET_MERCHANT_LISTINGS_ALL_DATA flat file per marketplace."""
        reports = [_Report(MERCHANT_LISTINGS, m) for m in self.marketplaces]

        def body(report: _Report) -> dict:
            return {"reportType": MERCHANT_LISTINGS, "marketplaceIds": [report.marketplace_id]}

        for report, rows in self._run_reports(clients, reports, body, _flat_file):
            for row in rows:
                parsed = self._parse(
                    result,
                    "listings",
                    row,
                    lambda r, m=report.marketplace_id: parse_listing_row(r, m),
                )
                if parsed is not None:
                    result.add("listings", parsed)
