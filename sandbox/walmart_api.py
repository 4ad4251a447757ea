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

import binascii
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import polars as pl
from flask import Blueprint, Response, jsonify, request

from sandbox.walmart.common import (
    API,
    DEFAULT_CREATED_DAYS,
    MAX_ORDERS_PER_QUERY,
    ORDER_STATUSES,
    PARTNER_ID,
    SELLER_ID,
    TOKEN_TTL_S,
    VISIBLE_DAYS,
    _bad_param,
    _decode_cursor,
    _encode_cursor,
    _epoch_ms,
    _order_error,
    _parse_date,
    _unauthorized,
)
from sandbox.walmart.gateway import Gateway
from sandbox.walmart.views import (
    _inventory_document,
    _inventory_frame,
    _item_document,
    _items_frame,
    _OrderBook,
    order_document,
)
from sandbox.wire import SANDBOX_CREDENTIALS, ChannelWire, SandboxState


def create_blueprint(state: SandboxState) -> tuple[Blueprint, ChannelWire]:
    """The Walmart routes over ``state``, and how Walmart answers the generic faults."""
    api = Gateway(state, Blueprint(API, __name__, url_prefix=f"/{API}"))
    register_token(api)
    register_orders(api)
    register_catalog(api)
    return api.blueprint, ChannelWire(throttled=api.throttled, server_error=api.server_error)


def register_token(api: Gateway) -> None:
    """``POST /v3/token``: 15-minute access tokens for the sandbox's Basic credentials."""
    blueprint, state, required_headers, take = (
        api.blueprint,
        api.state,
        api.required_headers,
        api.take,
    )
    by_credentials = {
        (c["client_id"], c["client_secret"]): a
        for a, c in SANDBOX_CREDENTIALS.items()
        if a.startswith(API)
    }

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


def register_orders(api: Gateway) -> None:
    """``GET /v3/orders`` (getAllOrders)."""
    blueprint, state, views, gateway = api.blueprint, api.state, api.views, api.gateway

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


def register_catalog(api: Gateway) -> None:
    """``GET /v3/items`` (getAllItems) and ``GET /v3/inventories``."""
    blueprint, state, views, gateway = api.blueprint, api.state, api.views, api.gateway

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
