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

import base64
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import requests

from extractors.base import (
    MONEY,
    TS,
    CallStats,
    EntitySpec,
    ExtractResult,
    RecordError,
    Stream,
    Window,
    column,
    iso_z,
    to_money,
)
from extractors.http import ApiClient, ApiError, RetrySettings, retry_after_seconds
from extractors.walmart.settings import WalmartConnection

API_VERSION = "v3"
SERVICE_NAME = "Walmart Marketplace"
ORDER_VISIBILITY = timedelta(days=180)
MAX_ORDERS_PER_QUERY = 20_000
ORDERS_PAGE_LIMIT = 200  # the documented maximum
ITEMS_PAGE_LIMIT = 200  # the emulator's cap without includeDetails (Airbyte asks for 200)
INVENTORY_PAGE_LIMIT = 50  # the documented maximum
INVENTORY_OPERATION = "getMultiNodeInventoryForAllSkuAndAllShipNodes"
TOKEN_REFRESH_MARGIN_S = 60.0  # tokens live 900 s; renew a minute early

# How far along its lifecycle a line status is; the furthest one is the line's status.
STATUS_RANK = {
    "Created": 0,
    "Acknowledged": 1,
    "Shipped": 2,
    "Delivered": 3,
    "Cancelled": 4,
    "Refund": 5,
}


ORDERS = EntitySpec(
    name="orders",
    schema=pa.schema(
        [
            column("purchase_order_id", pa.string(), False),
            column("customer_order_id", pa.string()),
            column("order_date_at", TS),
            column("last_modified_at", TS, False),
            column("customer_email", pa.string()),
            column("order_type", pa.string()),
            column("ship_node_type", pa.string()),
            column("ship_node_id", pa.string()),
            column("ship_node_name", pa.string()),
            column("order_total", MONEY),
            column("currency", pa.string()),
            column("ship_method_code", pa.string()),
            column("ship_to_state", pa.string()),
            column("ship_to_postal_code", pa.string()),
            column("ship_to_country", pa.string()),
            column("estimated_ship_at", TS),
            column("estimated_delivery_at", TS),
            column("line_count", pa.int64()),
        ]
    ),
    key=("purchase_order_id",),
    partition_by="last_modified_at",
)

ORDER_LINES = EntitySpec(
    name="order_lines",
    schema=pa.schema(
        [
            column("purchase_order_id", pa.string(), False),
            column("line_number", pa.string(), False),
            column("order_last_modified_at", TS, False),
            column("order_date_at", TS),
            column("sku", pa.string()),
            column("product_name", pa.string()),
            column("quantity", pa.int64()),
            column("status", pa.string()),
            column("status_at", TS),
            column("item_price", MONEY),
            column("item_tax", MONEY),
            column("discount", MONEY),
            column("shipping_price", MONEY),
            column("shipping_tax", MONEY),
            column("refunded_quantity", pa.int64()),
            column("refunded_amount", MONEY),  # positive, without tax
            column("refunded_tax", MONEY),
            column("refund_id", pa.string()),
            column("refund_reason", pa.string()),
            column("currency", pa.string()),
            column("shipped_at", TS),
            column("carrier", pa.string()),
            column("tracking_number", pa.string()),
            column("ship_method", pa.string()),
            column("fulfillment_option", pa.string()),
        ]
    ),
    key=("purchase_order_id", "line_number"),
    partition_by="order_last_modified_at",
)

ITEMS = EntitySpec(
    name="items",
    schema=pa.schema(
        [
            column("sku", pa.string(), False),
            column("wpid", pa.string()),
            column("upc", pa.string()),
            column("gtin", pa.string()),
            column("product_name", pa.string()),
            column("shelf", pa.string()),  # JSON array text, as Walmart sends it
            column("product_type", pa.string()),
            column("price", MONEY),
            column("currency", pa.string()),
            column("published_status", pa.string()),
            column("lifecycle_status", pa.string()),
            column("unpublished_reasons", pa.string()),
            column("mart", pa.string()),
        ]
    ),
    key=("sku",),
    partition_by=None,
)

INVENTORY = EntitySpec(
    name="inventory",
    schema=pa.schema(
        [
            column("sku", pa.string(), False),
            column("ship_node", pa.string(), False),
            column("input_qty", pa.int64()),
            column("avail_to_sell_qty", pa.int64()),
            column("reserved_qty", pa.int64()),
        ]
    ),
    key=("sku", "ship_node"),
    partition_by=None,
)

ENTITIES: dict[str, EntitySpec] = {e.name: e for e in (ORDERS, ORDER_LINES, ITEMS, INVENTORY)}

STREAMS: dict[str, Stream] = {
    "orders": Stream(
        "orders",
        (ORDERS, ORDER_LINES),
        incremental=True,
        cadence="hourly",
        description="Purchase orders and their lines by last modification (GET /v3/orders); "
        "only orders from the last 180 days are visible.",
    ),
    "items": Stream(
        "items",
        (ITEMS,),
        incremental=False,
        cadence="every_6_hours",
        description="The seller's catalogue with price and publish status (GET /v3/items).",
    ),
    "inventory": Stream(
        "inventory",
        (INVENTORY,),
        incremental=False,
        cadence="every_30_minutes",
        description="Stock per SKU and ship node (GET /v3/inventories).",
    ),
}


# -- the HTTP client -----------------------------------------------------------------------


class WalmartClient(ApiClient):
    """Walmart's client-credentials token, WM_* headers, throttle waits and error envelopes."""

    def __init__(
        self,
        connection: str,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        retry: RetrySettings | None = None,
    ):
        basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        super().__init__(
            connection, base_url, secrets=(client_id, client_secret, basic), retry=retry
        )
        self._basic = basic
        self._token: str | None = None
        self._token_expires = 0.0  # time.monotonic() deadline

    @staticmethod
    def _service_headers() -> dict[str, str]:
        """Headers every Walmart call needs; a fresh correlation id per attempt."""
        return {
            "WM_SVC.NAME": SERVICE_NAME,
            "WM_QOS.CORRELATION_ID": str(uuid.uuid4()),
            "Accept": "application/json",
        }

    def auth_headers(self) -> dict[str, str]:
        if self._token is None or time.monotonic() >= self._token_expires:
            self.refresh_token()
        return {**self._service_headers(), "WM_SEC.ACCESS_TOKEN": self._token or ""}

    def refresh_token(self) -> None:
        """POST /v3/token with Basic auth; wrong credentials end in an ApiError (401)."""
        body = self.call(
            "POST",
            "/v3/token",
            endpoint="token",
            authenticated=False,
            headers={
                **self._service_headers(),
                "Authorization": f"Basic {self._basic}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
            data={"grant_type": "client_credentials"},
        )
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise ApiError(self.connection, "token", "the token response has no access_token")
        self.redact.add(token)
        self._token = token
        ttl = float(body.get("expires_in") or 900)
        self._token_expires = time.monotonic() + max(0.0, ttl - TOKEN_REFRESH_MARGIN_S)

    def throttle_wait(self, response: requests.Response) -> float | None:
        """Retry-After if given, else until ``x-next-replenishment-time`` (epoch ms)."""
        hint = retry_after_seconds(response)
        if hint is not None:
            return hint
        value = response.headers.get("x-next-replenishment-time") or response.headers.get(
            "x-next-replenish-time"
        )
        try:
            return max(0.0, float(value) / 1000.0 - time.time()) if value else None
        except ValueError:
            return None

    def error_detail(self, response: requests.Response) -> str:
        """``CODE (field): description`` from either error envelope Walmart uses."""
        try:
            errors = response.json().get("errors")
        except (ValueError, AttributeError):
            return response.text[:300]
        if isinstance(errors, dict):  # {"errors": {"error": [...]}} (orders)
            errors = errors.get("error")
        if not isinstance(errors, list) or not errors:
            return response.text[:300]
        return "; ".join(
            f"{e.get('code')} ({e.get('field')}): {e.get('description')}"
            for e in errors
            if isinstance(e, dict)
        )[:300]

    def get_json(self, path: str, endpoint: str, params: dict[str, Any] | None = None) -> Any:
        """One GET page as JSON, numbers with a fraction as Decimal (money never via float)."""
        body = self.call(
            "GET",
            path,
            endpoint=endpoint,
            params=params,
            parse=lambda r: r.json(parse_float=Decimal),
        )
        self.stats.pages += 1
        return body


# -- parsing helpers -----------------------------------------------------------------------


def _get(record: Any, *path: str) -> Any:
    """``record[a][b]...`` or None when any step is missing or not a mapping."""
    for key in path:
        if not isinstance(record, dict):
            return None
        record = record.get(key)
    return record


def _items(record: Any, *path: str) -> list:
    value = _get(record, *path)
    return value if isinstance(value, list) else []


def _required_str(value: Any, name: str) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RecordError(f"{name}: missing")
    if isinstance(value, (dict, list)):
        raise RecordError(f"{name}: not a scalar: {value!r}")
    return str(value)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _epoch_ms(value: Any, name: str, *, required: bool = False) -> datetime | None:
    """Walmart's epoch-millisecond timestamps (int64) as aware UTC datetimes."""
    if value is None:
        if required:
            raise RecordError(f"{name}: missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(f"{name}: not an epoch-millisecond integer: {value!r}")
    try:
        return datetime.fromtimestamp(value / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise RecordError(f"{name}: timestamp out of range: {value!r}") from None


def _quantity(value: Any, name: str) -> int:
    """Walmart sends quantities as strings ("1"); accept integers too."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise RecordError(f"{name}: not a non-negative integer: {value!r}")


# -- orders ------------------------------------------------------------------------------


def _charges(line: dict, where: str) -> dict[str, Decimal]:
    """PRODUCT/SHIPPING charges of a line; negative PRODUCT charges are discounts."""
    sums = dict.fromkeys(
        ("item_price", "item_tax", "discount", "shipping_price", "shipping_tax"), Decimal(0)
    )
    for i, charge in enumerate(_items(line, "charges", "charge")):
        at = f"{where}.charges.charge[{i}]"
        amount = to_money(_get(charge, "chargeAmount", "amount"), f"{at}.chargeAmount.amount")
        if amount is None:
            raise RecordError(f"{at}.chargeAmount.amount: missing")
        tax = to_money(
            _get(charge, "tax", "taxAmount", "amount"), f"{at}.tax.taxAmount.amount"
        ) or Decimal(0)
        kind = _get(charge, "chargeType")
        if kind == "PRODUCT" and amount < 0:
            sums["discount"] -= amount
            sums["item_tax"] += tax
        elif kind == "PRODUCT":
            sums["item_price"] += amount
            sums["item_tax"] += tax
        elif kind == "SHIPPING":
            sums["shipping_price"] += amount
            sums["shipping_tax"] += tax
        else:
            raise RecordError(f"{at}.chargeType: unknown charge type {kind!r}")
    return {k: v for k, v in sums.items()}


def _refund(line: dict, where: str) -> dict[str, Any]:
    """The line's refund charges and their tax as positive sums, and the refund reasons."""
    refund = _get(line, "refund")
    amount_sum, tax_sum, reasons = Decimal(0), Decimal(0), []
    for i, item in enumerate(_items(refund, "refundCharges", "refundCharge")):
        at = f"{where}.refund.refundCharges.refundCharge[{i}]"
        amount = to_money(
            _get(item, "charge", "chargeAmount", "amount"), f"{at}.charge.chargeAmount.amount"
        )
        if amount is None:
            raise RecordError(f"{at}.charge.chargeAmount.amount: missing")
        tax = to_money(
            _get(item, "charge", "tax", "taxAmount", "amount"), f"{at}.charge.tax.taxAmount.amount"
        ) or Decimal(0)
        amount_sum -= amount  # Walmart sends refund charges as negative amounts
        tax_sum -= tax
        reason = _get(item, "refundReason")
        if reason and reason not in reasons:
            reasons.append(str(reason))
    return {
        "refunded_amount": amount_sum,
        "refunded_tax": tax_sum,
        "refund_id": _opt_str(_get(refund, "refundId")),
        "refund_reason": "; ".join(reasons) or None,
    }


def _statuses(line: dict, where: str) -> dict[str, Any]:
    """The line's furthest status, its refunded quantity and the shipment's tracking info."""
    status, refunded, tracking = None, 0, None
    for i, entry in enumerate(_items(line, "orderLineStatuses", "orderLineStatus")):
        at = f"{where}.orderLineStatuses.orderLineStatus[{i}]"
        name = _get(entry, "status")
        if name not in STATUS_RANK:
            raise RecordError(f"{at}.status: unknown status {name!r}")
        if status is None or STATUS_RANK[name] > STATUS_RANK[status]:
            status = name
        if name == "Refund":
            refunded += _quantity(
                _get(entry, "statusQuantity", "amount"), f"{at}.statusQuantity.amount"
            )
        if isinstance(entry.get("trackingInfo"), dict):
            tracking = entry["trackingInfo"]
    if status is None:
        raise RecordError(f"{where}.orderLineStatuses: no status")
    return {
        "status": status,
        "refunded_quantity": refunded,
        "shipped_at": _epoch_ms(
            _get(tracking, "shipDateTime"), f"{where}.trackingInfo.shipDateTime"
        ),
        "carrier": _opt_str(
            _get(tracking, "carrierName", "carrier")
            or _get(tracking, "carrierName", "otherCarrier")
        ),
        "tracking_number": _opt_str(_get(tracking, "trackingNumber")),
    }


def parse_order_line(line: Any, where: str) -> dict[str, Any]:
    """One ``orderLine`` as an ``order_lines`` row (without the order-level columns)."""
    if not isinstance(line, dict):
        raise RecordError(f"{where}: not an object")
    charges = _charges(line, where)
    currency = next(
        (_get(c, "chargeAmount", "currency") for c in _items(line, "charges", "charge")), None
    )
    return {
        "line_number": _required_str(line.get("lineNumber"), f"{where}.lineNumber"),
        "sku": _opt_str(_get(line, "item", "sku")),
        "product_name": _opt_str(_get(line, "item", "productName")),
        "quantity": _quantity(
            _get(line, "orderLineQuantity", "amount"), f"{where}.orderLineQuantity.amount"
        ),
        "status_at": _epoch_ms(line.get("statusDate"), f"{where}.statusDate", required=True),
        **charges,
        **_refund(line, where),
        **_statuses(line, where),
        "currency": _opt_str(currency),
        "ship_method": _opt_str(_get(line, "fulfillment", "shipMethod")),
        "fulfillment_option": _opt_str(_get(line, "fulfillment", "fulfillmentOption")),
    }


def parse_order(order: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An ``order`` element as one ``orders`` row and its ``order_lines`` rows.

    The order's last modification is the latest line ``statusDate``; an order without
    lines or with a line that cannot be read is rejected as a whole, because its partition
    (the last modification) would be wrong.
    """
    if not isinstance(order, dict):
        raise RecordError("order: not an object")
    po = _required_str(order.get("purchaseOrderId"), "purchaseOrderId")
    raw_lines = _get(order, "orderLines", "orderLine")
    if not isinstance(raw_lines, list) or not raw_lines:
        raise RecordError("orderLines.orderLine: missing or empty")
    lines = [
        parse_order_line(line, f"orderLines.orderLine[{i}]") for i, line in enumerate(raw_lines)
    ]
    last_modified = max(line["status_at"] for line in lines)
    order_date = _epoch_ms(order.get("orderDate"), "orderDate", required=True)
    shipping = _get(order, "shippingInfo") or {}
    address = _get(shipping, "postalAddress") or {}
    total = _get(order, "orderSummary", "totalAmount") or {}
    row = {
        "purchase_order_id": po,
        "customer_order_id": _opt_str(order.get("customerOrderId")),
        "order_date_at": order_date,
        "last_modified_at": last_modified,
        "customer_email": _opt_str(order.get("customerEmailId")),
        "order_type": _opt_str(order.get("orderType")),
        "ship_node_type": _opt_str(_get(order, "shipNode", "type")),
        "ship_node_id": _opt_str(_get(order, "shipNode", "id")),
        "ship_node_name": _opt_str(_get(order, "shipNode", "name")),
        "order_total": to_money(
            _get(total, "currencyAmount"), "orderSummary.totalAmount.currencyAmount"
        ),
        "currency": _opt_str(_get(total, "currencyUnit") or lines[0]["currency"]),
        "ship_method_code": _opt_str(_get(shipping, "methodCode")),
        "ship_to_state": _opt_str(_get(address, "state")),
        "ship_to_postal_code": _opt_str(_get(address, "postalCode")),
        "ship_to_country": _opt_str(_get(address, "country")),
        "estimated_ship_at": _epoch_ms(
            _get(shipping, "estimatedShipDate"), "shippingInfo.estimatedShipDate"
        ),
        "estimated_delivery_at": _epoch_ms(
            _get(shipping, "estimatedDeliveryDate"), "shippingInfo.estimatedDeliveryDate"
        ),
        "line_count": len(lines),
    }
    for line in lines:
        line.update(
            purchase_order_id=po, order_last_modified_at=last_modified, order_date_at=order_date
        )
    return row, lines


# -- items and inventory -------------------------------------------------------------------


def parse_item(item: Any) -> dict[str, Any]:
    """One ``ItemResponse`` element as an ``items`` row."""
    if not isinstance(item, dict):
        raise RecordError("item: not an object")
    reasons = _get(item, "unpublishedReasons", "reason")
    return {
        "sku": _required_str(item.get("sku"), "sku"),
        "wpid": _opt_str(item.get("wpid")),
        "upc": _opt_str(item.get("upc")),
        "gtin": _opt_str(item.get("gtin")),
        "product_name": _opt_str(item.get("productName")),
        "shelf": _opt_str(item.get("shelf")),
        "product_type": _opt_str(item.get("productType")),
        "price": to_money(_get(item, "price", "amount"), "price.amount"),
        "currency": _opt_str(_get(item, "price", "currency")),
        "published_status": _opt_str(item.get("publishedStatus")),
        "lifecycle_status": _opt_str(item.get("lifecycleStatus")),
        "unpublished_reasons": json.dumps(reasons) if isinstance(reasons, list) else None,
        "mart": _opt_str(item.get("mart")),
    }


def parse_inventory(record: Any) -> list[dict[str, Any]]:
    """One ``inventories`` element (a SKU with its ship nodes) as ``inventory`` rows."""
    if not isinstance(record, dict):
        raise RecordError("inventory: not an object")
    sku = _required_str(record.get("sku"), "sku")
    rows = []
    for i, node in enumerate(_items(record, "nodes")):
        at = f"nodes[{i}]"
        rows.append(
            {
                "sku": sku,
                "ship_node": _required_str(_get(node, "shipNode"), f"{at}.shipNode"),
                **{
                    column: _quantity(_get(node, field, "amount"), f"{at}.{field}.amount")
                    for column, field in (
                        ("input_qty", "inputQty"),
                        ("avail_to_sell_qty", "availToSellQty"),
                        ("reserved_qty", "reservedQty"),
                    )
                },
            }
        )
    return rows


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
            if not window.start <= row["last_modified_at"] < window.end:
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
