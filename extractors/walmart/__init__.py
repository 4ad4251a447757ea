"""Walmart Marketplace API (US) extractor: orders, items and inventory of one seller account.

Wire format: ``reference/marketplace-apis.md`` section C. What this module has to work around:

* **Orders are only visible for 180 days** (by order date). A window reaching further back is
  clamped, and the result carries a note naming the first day that can hold data: the lake
  keeps the history the API forgets, so re-extracting an old day would otherwise silently
  replace good data with nothing (the runner writes what we return).
* **Incremental by last modification.** Walmart has no order-level "updated at"; an order's
  *last modified* time is the latest ``statusDate`` of its lines (a line's statusDate moves on
  every status change, refunds included), which is exactly what ``lastModifiedStartDate`` /
  ``lastModifiedEndDate`` filter on. Both entities are partitioned by that moment, so a late
  refund to an old order lands in today's partition and the lake keeps every version.
* **At most 20,000 orders per query**: a window whose first page reports a larger
  ``totalCount`` is halved until each part fits.
* **Pagination differs per API**: orders follow ``list.meta.nextCursor`` (a ready-made query
  string); items page by ``offset`` because their ``nextCursor`` never changes; inventories
  follow a ``meta.nextCursor`` that changes per page.
* **Throttling**: 429 with ``REQUEST_THRESHOLD_VIOLATED``; the wait comes from
  ``Retry-After`` or ``x-next-replenishment-time`` (epoch ms).
* **No orders is a 404** (``CONTENT_NOT_FOUND.GMP_ORDER_API``), not an empty list.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

# The package re-exports what callers import from ``extractors.walmart`` (the noqa: F401s).
from extractors.base import CallStats, ExtractResult, RecordError, Window, iso_z
from extractors.http import ApiError, RetrySettings
from extractors.walmart.client import SERVICE_NAME, TOKEN_REFRESH_MARGIN_S, WalmartClient  # noqa: F401
from extractors.walmart.parse import (
    STATUS_RANK,  # noqa: F401
    _get,
    _items,
    parse_inventory,
    parse_item,
    parse_order,
    parse_order_line,  # noqa: F401
)
from extractors.walmart.schemas import ENTITIES, INVENTORY, ITEMS, ORDER_LINES, ORDERS, STREAMS  # noqa: F401
from extractors.walmart.settings import WalmartConnection

API_VERSION = "v3"
ORDER_VISIBILITY = timedelta(days=180)
MAX_ORDERS_PER_QUERY = 20_000
ORDERS_PAGE_LIMIT = 200  # the documented maximum
ITEMS_PAGE_LIMIT = 200  # the emulator's cap without includeDetails (Airbyte asks for 200)
INVENTORY_PAGE_LIMIT = 50  # the documented maximum
INVENTORY_OPERATION = "getMultiNodeInventoryForAllSkuAndAllShipNodes"


# -- the extractor -------------------------------------------------------------------------


def _ceil_second(moment: datetime) -> datetime:
    """Walmart takes second-precision bounds; round an end bound up so nothing is cut off."""
    floor = moment.replace(microsecond=0)
    return floor if floor == moment else floor + timedelta(seconds=1)


class WalmartExtractor:
    """Extracts one Walmart seller account (one connection) into the raw entities above."""

    channel = "walmart"

    def __init__(
        self,
        conn: WalmartConnection,
        secrets: dict[str, str],
        *,
        sandbox_url: str = "",
        retry: RetrySettings | None = None,
    ):
        self.connection = conn.name
        self.streams = STREAMS
        self.client = WalmartClient(
            conn.name,
            conn.base_url(sandbox_url),
            secrets["client_id"],
            secrets["client_secret"],
            retry=retry or RetrySettings(**conn.retry.model_dump()),
        )

    def extract(self, stream: str, window: Window | None) -> ExtractResult:
        if stream not in self.streams:
            raise KeyError(f"walmart has no stream {stream!r}; one of {sorted(self.streams)}")
        if self.streams[stream].incremental and window is None:
            raise ValueError(f"stream {stream!r} is incremental: give a window")
        self.client.stats = CallStats()
        result = ExtractResult(api_version=API_VERSION)
        if stream == "orders":
            self._extract_orders(window, result)
        elif stream == "items":
            self._extract_items(result)
        else:
            self._extract_inventory(result)
        result.stats = self.client.stats
        return result

    # -- orders --
    def _extract_orders(self, window: Window, result: ExtractResult) -> None:
        """Orders last modified inside ``window``, one (latest) version per order."""
        visible_from = datetime.now(UTC) - ORDER_VISIBILITY
        if window.start < visible_from:
            result.notes.append(
                "Walmart returns only orders from the last 180 days; days before "
                f"{visible_from.date().isoformat()} are empty"
            )
        if window.end <= visible_from:
            return
        query = Window(max(window.start, visible_from.replace(microsecond=0)), window.end)
        latest: dict[str, tuple[dict, list[dict]]] = {}
        for order in self._orders(query):
            try:
                row, lines = parse_order(order)
            except RecordError as exc:
                result.reject("orders", str(exc), order)
                continue
            if not window.contains(row["last_modified_at"]):
                continue  # the API's end bound is inclusive; ours is not
            known = latest.get(row["purchase_order_id"])
            if known is None or known[0]["last_modified_at"] <= row["last_modified_at"]:
                latest[row["purchase_order_id"]] = (row, lines)
        for row, lines in latest.values():
            result.add("orders", row)
            for line in lines:
                result.add("order_lines", line)

    def _orders(self, window: Window) -> Iterator[Any]:
        """Every order element of the window, splitting it while a query exceeds the cap."""
        params = {
            # createdStartDate defaults to 7 days ago: without it, late changes to older
            # orders would be invisible. The visibility limit makes 180 days the widest.
            "createdStartDate": iso_z(datetime.now(UTC) - ORDER_VISIBILITY),
            "lastModifiedStartDate": iso_z(window.start),
            "lastModifiedEndDate": iso_z(_ceil_second(window.end)),
            "limit": ORDERS_PAGE_LIMIT,
        }
        page = self._orders_page("/v3/orders", params)
        total = _get(page, "meta", "totalCount")
        if isinstance(total, int) and total > MAX_ORDERS_PER_QUERY:
            if window.end - window.start <= timedelta(seconds=2):
                raise ApiError(
                    self.connection,
                    "getAllOrders",
                    f"more than {MAX_ORDERS_PER_QUERY} orders modified in {window}",
                )
            middle = (window.start + (window.end - window.start) / 2).replace(microsecond=0)
            yield from self._orders(Window(window.start, middle))
            yield from self._orders(Window(middle, window.end))
            return
        seen: set[str] = set()
        while True:
            yield from _items(page, "elements", "order")
            cursor = _get(page, "meta", "nextCursor")
            if not cursor:
                return
            if cursor in seen:
                raise ApiError(
                    self.connection, "getAllOrders", f"the API repeated the cursor {cursor[:80]!r}"
                )
            seen.add(cursor)
            page = self._orders_page("/v3/orders" + cursor, None)

    def _orders_page(self, path: str, params: dict[str, Any] | None) -> dict:
        """``list`` of one getAllOrders page; Walmart's 404 "no orders" is an empty page."""
        try:
            body = self.client.get_json(path, "getAllOrders", params)
        except ApiError as exc:
            if exc.status == 404 and "CONTENT_NOT_FOUND" in exc.cause:
                return {}
            raise
        page = _get(body, "list")
        if not isinstance(page, dict):
            raise ApiError(self.connection, "getAllOrders", "the response has no 'list' object")
        return page

    # -- items --
    def _extract_items(self, result: ExtractResult) -> None:
        """All items by offset: the items cursor stays the same on every page."""
        by_sku: dict[str, dict] = {}
        offset, cursor = 0, "*"
        while True:
            body = self.client.get_json(
                "/v3/items",
                "getAllItems",
                {"nextCursor": cursor, "offset": offset, "limit": ITEMS_PAGE_LIMIT},
            )
            items = _items(body, "ItemResponse")
            for item in items:
                try:
                    row = parse_item(item)
                except RecordError as exc:
                    result.reject("items", str(exc), item)
                    continue
                by_sku[row["sku"]] = row
            offset += len(items)
            cursor = _get(body, "nextCursor") or cursor
            total = _get(body, "totalItems")
            if not items or (isinstance(total, int) and offset >= total):
                break
        for row in by_sku.values():
            result.add("items", row)

    # -- inventory --
    def _extract_inventory(self, result: ExtractResult) -> None:
        """Stock per SKU and ship node, following the per-page ``meta.nextCursor``."""
        rows: dict[tuple[str, str], dict] = {}
        params: dict[str, Any] = {"limit": INVENTORY_PAGE_LIMIT}
        seen: set[str] = set()
        while True:
            body = self.client.get_json("/v3/inventories", INVENTORY_OPERATION, params)
            for record in _items(body, "elements", "inventories"):
                try:
                    parsed = parse_inventory(record)
                except RecordError as exc:
                    result.reject("inventory", str(exc), record)
                    continue
                rows.update({(r["sku"], r["ship_node"]): r for r in parsed})
            cursor = _get(body, "meta", "nextCursor")
            if not cursor:
                break
            if cursor in seen:
                raise ApiError(
                    self.connection,
                    INVENTORY_OPERATION,
                    f"the API repeated the cursor {cursor[:80]!r}",
                )
            seen.add(cursor)
            params = {"limit": INVENTORY_PAGE_LIMIT, "nextCursor": cursor}
        for row in rows.values():
            result.add("inventory", row)
