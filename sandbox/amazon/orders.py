"""SP-API Orders v0: ``getOrders`` (Created* or LastUpdated* filters, the two-minute rule on
``*Before``, ``payload.NextToken``) and ``getOrderItems``."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from flask import Response, request

from sandbox.amazon.accounts import _Account
from sandbox.amazon.common import (
    SALES_CHANNEL,
    US,
    SpApiError,
    _invalid,
    _iso_param,
    _json,
    _money,
    _token,
    _untoken,
    _us,
    _z,
)
from sandbox.amazon.context import SpApi
from sandbox.business import PENDING_FOR

ORDERS_MAX_PAGE = 100
ORDER_ITEMS_PAGE_SIZE = 20
ORDER_STATUS = {
    "pending": "Pending",
    "unshipped": "Unshipped",
    "shipped": "Shipped",
    "delivered": "Shipped",
    "cancelled": "Canceled",
}
ORDER_STATUSES = (
    "PendingAvailability",
    "Pending",
    "Unshipped",
    "PartiallyShipped",
    "Shipped",
    "InvoiceUnconfirmed",
    "Canceled",
    "Unfulfillable",
)
ORDER_ID = re.compile(r"^\d{3}-\d{7}-\d{7}$")
MONEY_FIELDS = (
    "ItemPrice",
    "ItemTax",
    "ShippingPrice",
    "ShippingTax",
    "ShippingDiscount",
    "PromotionDiscount",
    "PromotionDiscountTax",
    "PromotionIds",
)


def register_orders(api: SpApi) -> None:
    """``getOrders`` and ``getOrderItems`` on the blueprint."""
    blueprint, state, pages, operation = api.blueprint, api.state, api.pages, api.operation
    marketplaces_param, latest_before = api.marketplaces_param, api.latest_before

    @blueprint.get("/orders/v0/orders")
    @operation("getOrders")
    def get_orders(acct: _Account) -> Response:
        marketplaces = marketplaces_param(acct, "MarketplaceIds")
        token = request.args.get("NextToken")
        query = _untoken(token) if token else new_orders_query(acct, marketplaces)
        if query.get("account") != acct.account or query.get("m") != marketplaces:
            raise _invalid("Invalid NextToken.", "NextToken does not match MarketplaceIds")
        matching = pages.get(
            ("orders", json.dumps(query | {"o": 0}, sort_keys=True)),
            lambda: select_orders(acct, query),
        )
        offset, size = int(query["o"]), int(query["n"])
        page = matching.slice(offset, size)
        payload: dict[str, Any] = {"Orders": [_order_json(r) for r in page.iter_rows(named=True)]}
        if offset + size < matching.height:
            payload["NextToken"] = _token(query | {"o": offset + size})
        payload[f"{query['by']}Before"] = _z(query["before"])
        return _json({"payload": payload})

    def new_orders_query(acct: _Account, marketplaces: list[str]) -> dict:
        created = _iso_param("CreatedAfter"), _iso_param("CreatedBefore")
        updated = _iso_param("LastUpdatedAfter"), _iso_param("LastUpdatedBefore")
        if any(created) and any(updated):
            raise _invalid(
                "CreatedAfter/CreatedBefore cannot be combined with "
                "LastUpdatedAfter/LastUpdatedBefore."
            )
        by, (after, before) = ("Created", created) if any(created) else ("LastUpdated", updated)
        if after is None:
            raise _invalid("Either CreatedAfter or LastUpdatedAfter must be specified.")
        latest = latest_before()
        if before is None:
            before = latest
        elif before > latest:
            raise _invalid(
                f"{by}Before must be a date at least 2 minutes before the time of the request."
            )
        if before < after:
            raise _invalid(f"{by}Before must be later than or equal to {by}After.")
        try:
            size = int(request.args.get("MaxResultsPerPage", ORDERS_MAX_PAGE))
        except ValueError:
            raise _invalid("MaxResultsPerPage must be an integer.") from None
        if not 1 <= size <= ORDERS_MAX_PAGE:
            raise _invalid(f"MaxResultsPerPage must be between 1 and {ORDERS_MAX_PAGE}.")
        statuses = [s for s in request.args.get("OrderStatuses", "").split(",") if s]
        unknown = [s for s in statuses if s not in ORDER_STATUSES]
        channels = [c for c in request.args.get("FulfillmentChannels", "").split(",") if c]
        if unknown or any(c not in ("AFN", "MFN") for c in channels):
            raise _invalid(
                "Invalid OrderStatuses or FulfillmentChannels value.",
                ", ".join(unknown + [c for c in channels if c not in ("AFN", "MFN")]),
            )
        return {
            "account": acct.account,
            "m": marketplaces,
            "by": by,
            "after": _us(after),
            "before": _us(before),
            "as_of": _us(state.now()),
            "s": statuses,
            "f": channels,
            "n": size,
            "o": 0,
        }

    def select_orders(acct: _Account, query: dict) -> pl.DataFrame:
        """The orders a query matches, as of the time of its first page, in a stable order."""
        as_of = datetime.fromtimestamp(query["as_of"] / US, UTC)
        frame = acct.orders_at(as_of).with_columns(
            (pl.col("last_updated_at").dt.epoch("us") // US * US).alias("_updated_us"),
            (pl.col("purchased_at").dt.epoch("us") // US * US).alias("_purchased_us"),
            pl.col("status").replace_strict(ORDER_STATUS).alias("order_status"),
        )
        column = "_updated_us" if query["by"] == "LastUpdated" else "_purchased_us"
        frame = frame.filter(
            pl.col("marketplace_id").is_in(query["m"])
            & pl.col(column).is_between(query["after"], query["before"])
        )
        if query["s"]:
            frame = frame.filter(pl.col("order_status").is_in(query["s"]))
        if query["f"]:
            frame = frame.filter(pl.col("fulfillment").is_in(query["f"]))
        return frame.sort(column, "channel_order_id")

    @blueprint.get("/orders/v0/orders/<order_id>/orderItems")
    @operation("getOrderItems")
    def get_order_items(acct: _Account, order_id: str) -> Response:
        if not ORDER_ID.match(order_id):
            raise _invalid("Invalid Input", f"{order_id!r} is not an AmazonOrderId")
        entry = acct.items.get(order_id)
        now_us = _us(state.now())
        if entry is None or entry.purchased_us > now_us:
            raise SpApiError(404, "NotFound", "Order not found.", f"AmazonOrderId {order_id}")
        offset = 0
        token = request.args.get("NextToken")
        if token:
            data = _untoken(token)
            if data.get("order") != order_id:
                raise _invalid("Invalid NextToken.", "NextToken belongs to another order")
            offset = int(data.get("o", 0))
        pending = now_us - entry.purchased_us < PENDING_FOR // timedelta(microseconds=1)
        shipped = entry.shipped_us is not None and entry.shipped_us <= now_us
        items = [
            _order_item_json(item, pending, shipped)
            for item in entry.items[offset : offset + ORDER_ITEMS_PAGE_SIZE]
        ]
        payload: dict[str, Any] = {"AmazonOrderId": order_id, "OrderItems": items}
        if offset + ORDER_ITEMS_PAGE_SIZE < len(entry.items):
            payload["NextToken"] = _token({"order": order_id, "o": offset + ORDER_ITEMS_PAGE_SIZE})
        return _json({"payload": payload})


def _order_json(row: dict) -> dict:
    """One getOrders ``Order`` from a row of ``_Account.orders_at``."""
    status, cur = row["order_status"], row["currency"]
    purchased = row["_purchased_us"]
    afn = row["fulfillment"] == "AFN"
    units = int(row["units"] or 0)
    shipped = status == "Shipped"
    order: dict[str, Any] = {
        "AmazonOrderId": row["channel_order_id"],
        "SellerOrderId": row["channel_order_id"],
        "PurchaseDate": _z(purchased),
        "LastUpdateDate": _z(row["_updated_us"]),
        "OrderStatus": status,
        "FulfillmentChannel": row["fulfillment"],
        "SalesChannel": SALES_CHANNEL[row["marketplace_id"]],
        "ShipServiceLevel": f"{row['service_level']}Shipping" if afn else "Std Dom",
        "ShipmentServiceLevelCategory": row["service_level"],
    }
    if status != "Pending":
        order["OrderTotal"] = _money(row["order_total"], cur)
    order.update(
        {
            "NumberOfItemsShipped": units if shipped else 0,
            "NumberOfItemsUnshipped": units if status in ("Pending", "Unshipped") else 0,
            "PaymentMethod": "Other",
            "PaymentMethodDetails": ["Standard"],
            "MarketplaceId": row["marketplace_id"],
            "OrderType": "StandardOrder",
            "EarliestShipDate": _z(purchased),
            # the ship-by promise: the business ships MFN orders 6-72 h after purchase, so about
            # 1.5% ship late, a realistic late-shipment rate (FBA ships within 30 h)
            "LatestShipDate": _z(purchased + (48 if afn else 71) * 3_600 * US),
            "IsBusinessOrder": row["is_business"],
            "IsPrime": row["is_prime"],
            "IsPremiumOrder": False,
            "IsGlobalExpressEnabled": False,
            "IsReplacementOrder": False,
            "IsSoldByAB": False,
            "IsISPU": False,
            "IsAccessPointOrder": False,
            "HasRegulatedItems": False,
        }
    )
    if status != "Pending":
        order["BuyerInfo"] = {"BuyerEmail": row["email"]}
        order["ShippingAddress"] = {
            "City": row["ship_city"],
            "StateOrRegion": row["ship_state"],
            "PostalCode": row["ship_postal_code"],
            "CountryCode": row["country"],
        }
    return order


def _order_item_json(item: dict, pending: bool, shipped: bool) -> dict:
    """An order item as served now: no money while pending, shipped quantity once shipped."""
    served = {k: v for k, v in item.items() if not (pending and k in MONEY_FIELDS)}
    served["QuantityShipped"] = item["QuantityOrdered"] if shipped else 0
    return served
