"""Emulator of the Walmart Marketplace API (US): token, orders, items, inventories.

Routes under ``/walmart`` (reference section C)::

    POST /walmart/v3/token          Basic base64(clientId:clientSecret), grant_type=client_credentials
    GET  /walmart/v3/orders         getAllOrders, list.meta.nextCursor paging
    GET  /walmart/v3/items          getAllItems, offset paging (the cursor never changes)
    GET  /walmart/v3/inventories    multi-node inventory, meta.nextCursor changing per page

What an extractor has to cope with, reproduced here:

* **Gateway checks** on every call: ``WM_SVC.NAME`` and ``WM_QOS.CORRELATION_ID`` (400
  ``INVALID_REQUEST_HEADER.GMP_GATEWAY_API``), ``WM_SEC.ACCESS_TOKEN`` (401
  ``UNAUTHORIZED.GMP_GATEWAY_API``; tokens live 900 s) and ``Accept: application/json``.
  The real API may answer XML without it; this emulator only speaks JSON and answers 406.
  All of Walmart's headers contain ``_``; the sandbox's server (cheroot) passes them through.
* **Token buckets per seller and API**, with ``x-current-token-count`` and
  ``x-next-replenishment-time`` (epoch ms) on every response that reached a bucket (all
  authenticated calls and token grants), and 429
  ``REQUEST_THRESHOLD_VIOLATED.GMP_GATEWAY_API``. Walmart does not publish per-endpoint
  numbers (UNCONFIRMED in the reference), so :data:`RATES` are assumptions.
* **Orders**: only orders placed in the last 180 days are ever returned; ``createdStartDate``
  defaults to 7 days ago even when ``lastModified*`` filters are given (the safe reading of the
  spec's default); at most 20,000 orders per query (``totalCount`` says how many matched);
  no match is a 404 ``CONTENT_NOT_FOUND.GMP_ORDER_API``; dates are ``yyyy-MM-dd`` or
  ``yyyy-MM-ddTHH:mm:ssZ`` (milliseconds are refused, as Walmart does). Errors of the orders
  API use the ``{"errors": {"error": [...]}}`` envelope seen in client code; gateway and
  items errors use ``{"errors": [...]}``.

Emulator definitions (the business does not model these; documented so tests can rely on them):

* A line's ``statusDate`` is the time of its latest status change: Created at purchase,
  Acknowledged 30 minutes later, Shipped, Delivered or Cancelled at those events, and any
  refund of the line. An order's *last modified* time is the maximum line ``statusDate``;
  ``lastModifiedStartDate``/``lastModifiedEndDate`` filter on exactly that (end inclusive).
* A refunded line shows a ``Refund`` status entry with the refunded quantity (after the
  entry for the rest of the quantity) and a ``refund`` object with one negative PRODUCT
  charge per refund. The PRODUCT ``ItemPrice`` charge is the line total (unit price x
  quantity); a discount is a second, negative PRODUCT charge; the order's shipping is a
  SHIPPING charge on line 1. Addresses, phone numbers and tracking numbers are derived
  deterministically from the ids.
* Items are the account's listings live today with their current price; ``limit`` defaults
  to 20, at most 200 (50 with ``includeDetails=true``). Inventories list every ship node of
  the account (the seller node and the WFS node) with ``inputQty`` = on hand,
  ``availToSellQty`` = available and ``reservedQty`` = reserved.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import polars as pl
from flask import Blueprint, Response, g, jsonify, request

from sandbox.wire import SANDBOX_CREDENTIALS, ChannelWire, SandboxState

API = "walmart"
TOKEN_TTL_S = 900
VISIBLE_DAYS = 180
MAX_ORDERS_PER_QUERY = 20_000
DEFAULT_CREATED_DAYS = 7
ACKNOWLEDGE_AFTER = timedelta(minutes=30)
VIEW_TTL = timedelta(seconds=10)
PARTNER_ID, SELLER_ID = "10001234567", "101"

# operation -> (requests per second, burst). ASSUMPTIONS: Walmart's per-endpoint limits are
# not published (reference C.6); these are plausible figures for a single seller.
RATES: dict[str, tuple[float, float]] = {
    "token": (2.0, 10.0),
    "getAllOrders": (20.0, 40.0),
    "getAllItems": (10.0, 20.0),
    "inventories": (5.0, 10.0),
}

ORDER_STATUSES = ("Created", "Acknowledged", "Shipped", "Delivered", "Cancelled")
BUSINESS_STATUS = {
    "pending": "Created",
    "unshipped": "Acknowledged",
    "shipped": "Shipped",
    "delivered": "Delivered",
    "cancelled": "Cancelled",
}
SHIP_NODES = {"WFS": ("WFSFulfilled", "WFS-1"), "SellerFulfilled": ("SellerFulfilled", "100009")}
CARRIERS = ("UPS", "FedEx", "USPS")
ADDRESSES = (  # (city, state, zip prefix)
    ("Edison", "NJ", "088"),
    ("Austin", "TX", "787"),
    ("Columbus", "OH", "432"),
    ("Denver", "CO", "802"),
    ("Tampa", "FL", "336"),
    ("Portland", "OR", "972"),
    ("Raleigh", "NC", "276"),
    ("Phoenix", "AZ", "850"),
    ("Madison", "WI", "537"),
    ("Albany", "NY", "122"),
    ("Fresno", "CA", "937"),
    ("Omaha", "NE", "681"),
)
STREETS = ("Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Park Rd", "Lake St", "Hill Ct")


# -- wire helpers --------------------------------------------------------------------------


def _error_object(
    code: str,
    field: str,
    description: str,
    category: str,
    severity: str = "ERROR",
    info: str | None = None,
) -> dict[str, Any]:
    """Walmart's GatewayError object (reference C.6)."""
    return {
        "code": code,
        "field": field,
        "description": description,
        "info": info or description,
        "severity": severity,
        "category": category,
        "causes": [],
        "errorIdentifiers": {},
    }


def _errors(status: int, *objects: dict[str, Any], nested: bool = False) -> Response:
    """``{"errors": [...]}``, or ``{"errors": {"error": [...]}}`` for the orders API."""
    body = {"errors": {"error": list(objects)}} if nested else {"errors": list(objects)}
    response = jsonify(body)
    response.status_code = status
    return response


def _unauthorized() -> Response:
    return _errors(
        401,
        _error_object(
            "UNAUTHORIZED.GMP_GATEWAY_API",
            "UNAUTHORIZED",
            "Unauthorized",
            "DATA",
            info="Unauthorized token or incorrect authorization header.",
        ),
    )


def _order_error(
    status: int, code: str, field: str, description: str, severity: str = "ERROR"
) -> Response:
    category = "DATA" if status == 404 else "REQUEST"
    return _errors(status, _error_object(code, field, description, category, severity), nested=True)


def _bad_param(field: str, description: str, nested: bool = False) -> Response:
    code = "INVALID_REQUEST.GMP_ORDER_API" if nested else "INVALID_REQUEST_PARAM.GMP_GATEWAY_API"
    return _errors(400, _error_object(code, field, description, "REQUEST"), nested=nested)


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _parse_date(value: str, *, end: bool) -> int:
    """``yyyy-MM-dd`` or ``yyyy-MM-ddTHH:mm:ssZ`` as epoch ms; a bare end date covers its day."""
    if len(value) == 10:
        day = date.fromisoformat(value)
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return _epoch_ms(moment) + (86_400_000 - 1 if end else 0)
    if len(value) != 20 or not value.endswith("Z"):
        raise ValueError(value)
    return _epoch_ms(datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC))


def _digits(seed: str, n: int) -> str:
    """``n`` deterministic digits derived from ``seed`` (addresses, phones, tracking)."""
    out, value = "", zlib.crc32(seed.encode())
    while len(out) < n:
        value = zlib.crc32(str(value).encode() + seed.encode())
        out += f"{value:010d}"
    return out[:n]


def _money(amount: float) -> float:
    return round(float(amount), 2)


# -- the account's data, as the API shows it at one moment --------------------------------


@dataclass
class _OrderBook:
    """One account's orders and lines at ``built_at``, ready to filter per request.

    ``orders`` is sorted newest first (the order Walmart lists them in); times are epoch ms.
    """

    built_at: datetime
    fingerprint: tuple[int, int]
    orders: pl.DataFrame
    lines: pl.DataFrame
    refunds: pl.DataFrame


def _ms(column: str) -> pl.Expr:
    return pl.col(column).dt.epoch("ms")


def _build_order_book(state: SandboxState, account: str, now: datetime) -> _OrderBook:
    """Walmart's view of ``account``'s orders at ``now`` (vectorised; no per-order Python)."""
    business = state.business
    orders = business.orders_view(now).filter(pl.col("account") == account)
    keys = orders.select("order_key")
    refunds = (
        business.refunds_view(now)
        .join(keys, on="order_key", how="semi")
        .with_columns(_ms("refunded_at").alias("refunded_ms"))
    )
    line_refunds = refunds.group_by("order_key", "line_number").agg(
        pl.col("refunded_ms").max().alias("last_refund_ms"),
        pl.col("quantity").sum().alias("refunded_qty"),
    )
    status_ms = (
        pl.when(pl.col("wm_status") == "Created")
        .then(_ms("purchased_at"))
        .when(pl.col("wm_status") == "Acknowledged")
        .then(_ms("purchased_at") + ACKNOWLEDGE_AFTER // timedelta(milliseconds=1))
        .when(pl.col("wm_status") == "Shipped")
        .then(_ms("shipped_at"))
        .when(pl.col("wm_status") == "Delivered")
        .then(_ms("delivered_at"))
        .otherwise(_ms("cancelled_at"))
    )
    orders = orders.with_columns(
        pl.col("status").replace_strict(BUSINESS_STATUS).alias("wm_status"),
    ).with_columns(status_ms.alias("status_ms"))
    titles = (
        business.listings.filter(pl.col("account") == account)
        .select("product_id", pl.col("title").alias("product_name"))
        .unique("product_id")
    )
    lines = (
        business.lines_view(now)
        .join(keys, on="order_key", how="semi")
        .join(titles, on="product_id", how="left")
        .join(line_refunds, on=["order_key", "line_number"], how="left")
        .join(orders.select("order_key", "status_ms", "wm_status"), on="order_key")
        .with_columns(
            pl.max_horizontal("status_ms", pl.col("last_refund_ms").fill_null(0)).alias(
                "status_date_ms"
            ),
            pl.col("refunded_qty").fill_null(0),
            (pl.col("unit_price") * pl.col("quantity")).round(2).alias("gross"),
        )
        .sort("order_key", "line_number")
    )
    per_order = lines.group_by("order_key").agg(
        pl.col("status_date_ms").max().alias("last_modified_ms"),
        (pl.col("gross") - pl.col("discount") + pl.col("tax")).sum().alias("lines_total"),
    )
    customers = business.customers.select("customer_id", "email", "first_name", "last_name")
    orders = (
        orders.join(per_order, on="order_key")
        .join(customers, on="customer_id", how="left")
        .with_columns(
            _ms("purchased_at").alias("order_ms"),
            _ms("shipped_at").alias("shipped_ms"),
            _ms("delivered_at").alias("delivered_ms"),
            (pl.col("lines_total") + pl.col("shipping_price") + pl.col("shipping_tax"))
            .round(2)
            .alias("order_total"),
        )
        .sort(["order_ms", "channel_order_id"], descending=True)
    )
    fingerprint = (id(business.refunds), business.refunds.height)
    return _OrderBook(now, fingerprint, orders, lines, refunds)


def _tracking(po: str, line_number: int, shipped_ms: int) -> dict[str, Any]:
    carrier = CARRIERS[zlib.crc32(po.encode()) % len(CARRIERS)]
    number = "1Z" + _digits(f"{po}-{line_number}", 16)
    return {
        "shipDateTime": shipped_ms,
        "carrierName": {"carrier": carrier},
        "methodCode": "Standard",
        "trackingNumber": number,
        "trackingURL": f"https://www.walmart.com/tracking?tracking_id={number}",
    }


def _line_statuses(order: dict, line: dict) -> list[dict[str, Any]]:
    """The line's status entries: the fulfilment status, then the refunded quantity."""
    quantity, refunded = (
        int(line["quantity"]),
        min(int(line["refunded_qty"]), int(line["quantity"])),
    )
    status = order["wm_status"]
    tracking = (
        _tracking(order["channel_order_id"], line["line_number"], order["shipped_ms"])
        if status in ("Shipped", "Delivered")
        else None
    )
    entries = []
    for name, amount in ((status, quantity - refunded), ("Refund", refunded)):
        if amount <= 0:
            continue
        entry: dict[str, Any] = {
            "status": name,
            "statusQuantity": {"unitOfMeasurement": "EACH", "amount": str(amount)},
        }
        if name == "Cancelled":
            entry["cancellationReason"] = "CUSTOMER_REQUESTED_SELLER_TO_CANCEL"
        if tracking is not None:
            entry["trackingInfo"] = tracking
        entries.append(entry)
    return entries


def _charge(kind: str, name: str, amount: float, tax: float | None) -> dict[str, Any]:
    charge: dict[str, Any] = {
        "chargeType": kind,
        "chargeName": name,
        "chargeAmount": {"currency": "USD", "amount": _money(amount)},
    }
    if tax is not None:
        charge["tax"] = {"taxName": "Tax1", "taxAmount": {"currency": "USD", "amount": _money(tax)}}
    return charge


def _line_document(
    order: dict, line: dict, refunds: list[dict], product_info: bool
) -> dict[str, Any]:
    charges = [_charge("PRODUCT", "ItemPrice", line["gross"], line["tax"])]
    if line["discount"] > 0:
        charges.append(_charge("PRODUCT", "Discount", -line["discount"], None))
    if line["line_number"] == 1 and order["shipping_price"] > 0:
        charges.append(
            _charge("SHIPPING", "Shipping", order["shipping_price"], order["shipping_tax"])
        )
    item: dict[str, Any] = {"productName": line["product_name"], "sku": line["channel_sku"]}
    if product_info:
        item["imageUrl"] = f"https://i5.walmartimages.com/asr/{line['product_id']}.jpeg"
        item["weight"] = {"value": "1", "unit": "Pounds"}
    document: dict[str, Any] = {
        "lineNumber": str(line["line_number"]),
        "item": item,
        "charges": {"charge": charges},
        "orderLineQuantity": {"unitOfMeasurement": "EACH", "amount": str(line["quantity"])},
        "statusDate": line["status_date_ms"],
        "orderLineStatuses": {"orderLineStatus": _line_statuses(order, line)},
        "fulfillment": {
            "fulfillmentOption": "S2H",
            "shipMethod": "VALUE",
            "pickUpDateTime": order["order_ms"] + 2 * 86_400_000,
        },
    }
    if refunds:
        document["refund"] = {
            "refundId": refunds[-1]["refund_id"],
            "refundComments": "",
            "refundCharges": {
                "refundCharge": [
                    {
                        "refundReason": r["reason"],
                        "charge": _charge("PRODUCT", "Item Price", -r["amount"], None),
                    }
                    for r in refunds
                ]
            },
        }
    return document


def order_document(
    order: dict, lines: list[dict], refunds: dict[int, list[dict]], product_info: bool = False
) -> dict[str, Any]:
    """One ``order`` element of getAllOrders, from the order book's rows (reference C.3)."""
    po = order["channel_order_id"]
    city, state, zip_prefix = ADDRESSES[order["customer_id"] % len(ADDRESSES)]
    digits = _digits(str(order["customer_id"]), 14)
    node_type, node_id = SHIP_NODES.get(order["fulfillment"], SHIP_NODES["SellerFulfilled"])
    # ship-by promise: the business ships seller-fulfilled orders 6-72 h after purchase, so
    # about 1.5% ship late (WFS within 40 h)
    days = 2 if node_type == "WFSFulfilled" else 71 / 24
    return {
        "purchaseOrderId": po,
        "customerOrderId": order["channel_order_name"],
        "customerEmailId": order["email"],
        "orderType": "REGULAR",
        "orderDate": order["order_ms"],
        "mart": "Walmart.com",
        "shippingInfo": {
            "phone": digits[:10],
            "estimatedDeliveryDate": order["order_ms"] + round((days + 4) * 86_400_000),
            "estimatedShipDate": order["order_ms"] + round(days * 86_400_000),
            "methodCode": "Value",
            "postalAddress": {
                "name": f"{order['first_name']} {order['last_name']}",
                "address1": f"{int(digits[10:13]) + 1} {STREETS[int(digits[13]) % len(STREETS)]}",
                "address2": None,
                "city": city,
                "state": state,
                "postalCode": zip_prefix + digits[:2],
                "country": "USA",
                "addressType": "RESIDENTIAL",
            },
        },
        "orderLines": {
            "orderLine": [
                _line_document(order, line, refunds.get(line["line_number"], []), product_info)
                for line in lines
            ]
        },
        "shipNode": {"type": node_type, "name": _node_name(node_id), "id": node_id},
        "paymentTypes": ["CREDITCARD"],
        "orderSummary": {
            "totalAmount": {
                "currencyAmount": _money(order["order_total"]),
                "currencyUnit": order["currency"],
            }
        },
    }


def _node_name(node_id: str) -> str:
    return {"WFS-1": "Walmart Fulfillment Services"}.get(node_id, "Seller Warehouse (Edison, NJ)")


# -- the orders query ---------------------------------------------------------------------

ORDER_FILTERS = (
    "createdStartDate",
    "createdEndDate",
    "lastModifiedStartDate",
    "lastModifiedEndDate",
    "status",
    "productInfo",
    "sku",
    "customerOrderId",
    "purchaseOrderId",
)


@dataclass
class _OrdersQuery:
    """A validated getAllOrders request: its filters, page size and offset."""

    filters: dict[str, str]
    limit: int
    offset: int

    @classmethod
    def parse(cls, args: dict[str, str], now: datetime) -> _OrdersQuery | Response:
        filters = {k: args[k] for k in ORDER_FILTERS if args.get(k)}
        if "createdStartDate" not in filters:
            filters["createdStartDate"] = (now - timedelta(days=DEFAULT_CREATED_DAYS)).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
        for name in ORDER_FILTERS[:4]:
            if name in filters:
                try:
                    _parse_date(filters[name], end=name.endswith("EndDate"))
                except ValueError:
                    return _bad_param(
                        name, f"Invalid Date format value: {filters[name]}", nested=True
                    )
        if "status" in filters and filters["status"] not in ORDER_STATUSES:
            return _bad_param("status", f"Invalid status: {filters['status']}", nested=True)
        try:
            limit = int(args.get("limit", 100))
            offset = int(args.get("poIndex", 0))
        except ValueError:
            return _bad_param("limit", "limit and poIndex must be integers", nested=True)
        if not 1 <= limit <= 200:
            return _bad_param("limit", "limit must be between 1 and 200", nested=True)
        if offset < 0:
            return _bad_param("poIndex", "poIndex must not be negative", nested=True)
        return cls(filters, limit, offset)

    def select(self, book: _OrderBook, now: datetime) -> pl.DataFrame:
        """The matching orders, newest first, before the 20,000 cap."""
        f = self.filters
        conditions = [pl.col("order_ms") >= _epoch_ms(now - timedelta(days=VISIBLE_DAYS))]
        bounds = (
            ("createdStartDate", "order_ms", False),
            ("createdEndDate", "order_ms", True),
            ("lastModifiedStartDate", "last_modified_ms", False),
            ("lastModifiedEndDate", "last_modified_ms", True),
        )
        for name, column, end in bounds:
            if name in f:
                bound = _parse_date(f[name], end=end)
                conditions.append(pl.col(column) <= bound if end else pl.col(column) >= bound)
        if "status" in f:
            conditions.append(pl.col("wm_status") == f["status"])
        if "purchaseOrderId" in f:
            conditions.append(pl.col("channel_order_id") == f["purchaseOrderId"])
        if "customerOrderId" in f:
            conditions.append(pl.col("channel_order_name") == f["customerOrderId"])
        orders = book.orders.filter(conditions)
        if "sku" in f:
            with_sku = book.lines.filter(pl.col("channel_sku") == f["sku"]).select("order_key")
            orders = orders.join(with_sku.unique(), on="order_key", how="semi")
        return orders

    def next_cursor(self, total: int) -> str | None:
        """The query string of the next page, carrying the filters, or None at the end."""
        served = min(total, MAX_ORDERS_PER_QUERY)
        if self.offset + self.limit >= served:
            return None
        params = {
            "limit": self.limit,
            "hasMoreElements": "true",
            "soIndex": total,
            "poIndex": self.offset + self.limit,
            "partnerId": PARTNER_ID,
            "sellerId": SELLER_ID,
            **self.filters,
        }
        return "?" + urlencode(params)


# -- the blueprint --------------------------------------------------------------------------


class _Views:
    """Per-account order books and snapshots, rebuilt when stale or when the business changed."""

    def __init__(self, state: SandboxState):
        self.state = state
        self._books: dict[str, _OrderBook] = {}
        self._snapshots: dict[tuple[str, str], tuple[datetime, pl.DataFrame]] = {}
        self._lock = threading.Lock()

    def _fresh(self, built_at: datetime, now: datetime) -> bool:
        return built_at <= now <= built_at + VIEW_TTL

    def orders(self, account: str, now: datetime) -> _OrderBook:
        business = self.state.business
        fingerprint = (id(business.refunds), business.refunds.height)
        with self._lock:
            book = self._books.get(account)
            if (
                book is None
                or book.fingerprint != fingerprint
                or not self._fresh(book.built_at, now)
            ):
                book = self._books[account] = _build_order_book(self.state, account, now)
            return book

    def snapshot(
        self,
        kind: str,
        account: str,
        now: datetime,
        build: Callable[[SandboxState, str, datetime], pl.DataFrame],
    ) -> pl.DataFrame:
        with self._lock:
            cached = self._snapshots.get((kind, account))
            if cached is None or not self._fresh(cached[0], now):
                cached = self._snapshots[(kind, account)] = (now, build(self.state, account, now))
            return cached[1]


def _items_frame(state: SandboxState, account: str, now: datetime) -> pl.DataFrame:
    """The account's live listings with price, identifiers and category, sorted by SKU."""
    products = state.business.products.select("product_id", "upc", "gtin", "category")
    return (
        state.business.current_prices(now)
        .filter(pl.col("account") == account)
        .join(products, on="product_id", how="left")
        .sort("channel_sku")
    )


def _inventory_frame(state: SandboxState, account: str, now: datetime) -> pl.DataFrame:
    """One row per SKU with its ship nodes as a list of structs, sorted by SKU."""
    return (
        state.business.inventory_at(now)
        .filter(pl.col("account") == account)
        .sort("channel_sku", "location_id")
        .group_by("channel_sku", maintain_order=True)
        .agg(pl.struct("location_id", "on_hand", "available", "reserved").alias("nodes"))
    )


def _item_document(row: dict) -> dict[str, Any]:
    active = bool(row["is_active"])
    document: dict[str, Any] = {
        "mart": "WALMART_US",
        "sku": row["channel_sku"],
        "wpid": row["channel_product_id"],
        "upc": row["upc"],
        "gtin": row["gtin"],
        "productName": row["title"],
        "shelf": json.dumps(["Home Page", row["category"]]),
        "productType": row["category"],
        "price": {"currency": row["currency"], "amount": _money(row["price"])},
        "publishedStatus": "PUBLISHED" if active else "UNPUBLISHED",
        "lifecycleStatus": "ACTIVE" if active else "RETIRED",
    }
    if not active:
        document["unpublishedReasons"] = {"reason": ["Item is retired by the seller"]}
    return document


def _inventory_document(row: dict) -> dict[str, Any]:
    def qty(amount: int) -> dict[str, Any]:
        return {"unit": "EACH", "amount": int(amount)}

    return {
        "sku": row["channel_sku"],
        "nodes": [
            {
                "shipNode": n["location_id"],
                "inputQty": qty(n["on_hand"]),
                "availToSellQty": qty(n["available"]),
                "reservedQty": qty(n["reserved"]),
            }
            for n in row["nodes"]
        ],
    }


def _encode_cursor(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def _decode_cursor(value: str) -> dict[str, Any]:
    padded = value + "=" * (-len(value) % 4)
    payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
    if not isinstance(payload, dict):
        raise ValueError("cursor is not an object")
    return payload


def create_blueprint(state: SandboxState) -> tuple[Blueprint, ChannelWire]:
    """The Walmart routes over ``state``, and how Walmart answers the generic faults."""
    blueprint = Blueprint(API, __name__, url_prefix=f"/{API}")
    views = _Views(state)
    by_credentials = {
        (c["client_id"], c["client_secret"]): a
        for a, c in SANDBOX_CREDENTIALS.items()
        if a.startswith(API)
    }
    operation_of_view = {
        "token": "token",
        "orders": "getAllOrders",
        "items": "getAllItems",
        "inventories": "inventories",
    }

    def rate_of(operation: str) -> tuple[float, float]:
        return RATES[operation]

    def throttled_response(replenish_in_s: float, remaining: float = 0.0) -> Response:
        response = _errors(
            429,
            _error_object(
                "REQUEST_THRESHOLD_VIOLATED.GMP_GATEWAY_API",
                "REQUEST_THRESHOLD_VIOLATED",
                "Request threshold violated",
                "REQUEST",
                info="The number of requests exceeded the allowed limit.",
            ),
        )
        g.walmart_limits = (remaining, time.time() + replenish_in_s)
        return response

    def throttled() -> Response:
        """A forced throttle: empty bucket, refilled after one token's time at its rate."""
        view = (request.endpoint or "").rsplit(".", 1)[-1]
        rate = rate_of(operation_of_view.get(view, "getAllOrders"))[0] * state.limits.multiplier
        return throttled_response(1.0 / rate)

    def server_error(status: int) -> Response:
        return _errors(
            status,
            _error_object(
                "SYSTEM_ERROR.GMP_GATEWAY_API", "SYSTEM_ERROR", "Internal server error", "SYSTEM"
            ),
        )

    def required_headers() -> Response | None:
        for name in ("WM_SVC.NAME", "WM_QOS.CORRELATION_ID"):
            if not request.headers.get(name):
                return _errors(
                    400,
                    _error_object(
                        "INVALID_REQUEST_HEADER.GMP_GATEWAY_API",
                        name,
                        f"Missing or invalid request header {name}",
                        "REQUEST",
                    ),
                )
        if "application/json" not in request.headers.get("Accept", ""):
            return _errors(
                406,
                _error_object(
                    "INVALID_REQUEST_HEADER.GMP_GATEWAY_API",
                    "Accept",
                    "This sandbox answers JSON only: send Accept: application/json (the real API "
                    "may answer XML)",
                    "REQUEST",
                ),
            )
        return None

    def take(account: str, operation: str) -> Response | None:
        rate, burst = rate_of(operation)
        decision = state.limits.take(API, account, operation, rate, burst)
        if not decision.ok:
            return throttled_response(decision.retry_after_s, decision.remaining)
        full = decision.remaining >= decision.capacity - 1e-9
        next_token = 0.0 if full else (1.0 - decision.remaining % 1.0) / decision.limit
        g.walmart_limits = (decision.remaining, time.time() + next_token)
        return None

    def gateway(operation: str) -> tuple[str | None, Response | None]:
        """The caller's account after the header, token and rate checks, or the refusal."""
        refusal = required_headers()
        if refusal is not None:
            return None, refusal
        account = state.tokens.account_for(API, request.headers.get("WM_SEC.ACCESS_TOKEN"))
        if account is None:
            return None, _unauthorized()
        return account, take(account, operation)

    @blueprint.after_request
    def limit_headers(response: Response) -> Response:
        limits = g.pop("walmart_limits", None)
        if limits is not None:
            response.headers["x-current-token-count"] = str(int(limits[0]))
            response.headers["x-next-replenishment-time"] = str(int(limits[1] * 1000))
        return response

    @blueprint.post("/v3/token")
    def token() -> Response:
        refusal = required_headers()
        if refusal is not None:
            return refusal
        auth = request.authorization
        account = None
        if auth is not None and auth.type == "basic":
            account = by_credentials.get((auth.username or "", auth.password or ""))
        if account is None:
            return _unauthorized()
        refusal = take(account, "token")
        if refusal is not None:
            return refusal
        if request.form.get("grant_type") != "client_credentials":
            return _bad_param("grant_type", "grant_type must be client_credentials")
        return jsonify(
            access_token=state.tokens.issue(API, account, TOKEN_TTL_S),
            token_type="Bearer",
            expires_in=TOKEN_TTL_S,
        )

    @blueprint.get("/v3/orders")
    def orders() -> Response:
        account, refusal = gateway("getAllOrders")
        if refusal is not None:
            return refusal
        now = state.now()
        query = _OrdersQuery.parse(request.args.to_dict(), now)
        if isinstance(query, Response):
            return query
        book = views.orders(account, now)
        matched = query.select(book, now)
        total = matched.height
        served = min(total, MAX_ORDERS_PER_QUERY)
        page = matched.slice(query.offset, max(0, min(query.limit, served - query.offset)))
        if page.height == 0:
            return _order_error(
                404,
                "CONTENT_NOT_FOUND.GMP_ORDER_API",
                "data",
                "Failed when called getAllOrders. Orders not found for given search parameters",
                severity="INFO",
            )
        documents = _order_documents(book, page, request.args.get("productInfo") == "true")
        meta: dict[str, Any] = {"totalCount": total, "limit": query.limit}
        cursor = query.next_cursor(total)
        if cursor:
            meta["nextCursor"] = cursor
        return jsonify(list={"meta": meta, "elements": {"order": documents}})

    @blueprint.get("/v3/items")
    def items() -> Response:
        account, refusal = gateway("getAllItems")
        if refusal is not None:
            return refusal
        args = request.args
        cursor = _encode_cursor({"seller": account, "view": "items"})
        if args.get("nextCursor", "*") not in ("*", cursor):
            return _bad_param("nextCursor", "Invalid nextCursor")
        cap = 50 if args.get("includeDetails") == "true" else 200
        try:
            limit, offset = int(args.get("limit", 20)), int(args.get("offset", 0))
        except ValueError:
            return _bad_param("limit", "limit and offset must be integers")
        if not 1 <= limit <= cap or offset < 0:
            return _bad_param("limit", f"limit must be 1..{cap} and offset >= 0")
        frame = views.snapshot("items", account, state.now(), _items_frame)
        if args.get("sku"):
            frame = frame.filter(pl.col("channel_sku") == args["sku"])
        documents = [_item_document(row) for row in frame.to_dicts()]
        for name in ("publishedStatus", "lifecycleStatus"):
            if args.get(name):
                documents = [d for d in documents if d[name] == args[name]]
        return jsonify(
            ItemResponse=documents[offset : offset + limit],
            totalItems=len(documents),
            nextCursor=cursor,
        )

    @blueprint.get("/v3/inventories")
    def inventories() -> Response:
        account, refusal = gateway("inventories")
        if refusal is not None:
            return refusal
        try:
            limit = int(request.args.get("limit", 10))
            offset = (
                _decode_cursor(request.args["nextCursor"])["offset"]
                if request.args.get("nextCursor")
                else 0
            )
        except (ValueError, KeyError, binascii.Error):
            return _bad_param("nextCursor", "Invalid limit or nextCursor")
        if not 1 <= limit <= 50 or not isinstance(offset, int) or offset < 0:
            return _bad_param("limit", "limit must be between 1 and 50")
        frame = views.snapshot("inventories", account, state.now(), _inventory_frame)
        rows = frame.slice(offset, limit).to_dicts()
        meta: dict[str, Any] = {"totalCount": frame.height}
        if offset + limit < frame.height:
            meta["nextCursor"] = _encode_cursor({"offset": offset + limit, "seller": account})
        return jsonify(meta=meta, elements={"inventories": [_inventory_document(r) for r in rows]})

    return blueprint, ChannelWire(throttled=throttled, server_error=server_error)


def _order_documents(
    book: _OrderBook, page: pl.DataFrame, product_info: bool
) -> list[dict[str, Any]]:
    """The page's orders as JSON documents (only the page's lines and refunds are read)."""
    keys = page.select("order_key")
    lines: dict[int, list[dict]] = defaultdict(list)
    for line in book.lines.join(keys, on="order_key", how="semi").to_dicts():
        lines[line["order_key"]].append(line)
    refunds: dict[int, dict[int, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for refund in (
        book.refunds.join(keys, on="order_key", how="semi")
        .sort("refunded_ms", "refund_id")
        .to_dicts()
    ):
        refunds[refund["order_key"]][refund["line_number"]].append(refund)
    return [
        order_document(order, lines[order["order_key"]], refunds[order["order_key"]], product_info)
        for order in page.to_dicts()
    ]
