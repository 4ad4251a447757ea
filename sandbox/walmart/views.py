"""What the Walmart routes show of one account at one moment: the order book and the order
documents, the items and inventories snapshots, rebuilt when stale."""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from sandbox.walmart.common import (
    ACKNOWLEDGE_AFTER,
    ADDRESSES,
    BUSINESS_STATUS,
    CARRIERS,
    SHIP_NODES,
    STREETS,
    VIEW_TTL,
    _digits,
    _money,
)
from sandbox.wire import SandboxState

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
