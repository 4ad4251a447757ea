"""Amazon order history in bulk: the flat-file orders reports of the Reports API.

A window longer than the connection's ``bulk_history_days`` (a first sync, a backfill) is
loaded from GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL, one report per
``bulk_report_days`` of the window, instead of getOrders plus one getOrderItems per order
(getOrderItems allows 0.5 requests/s: two years of a small seller is a day of calls; the
reports are a few dozen calls). BY_LAST_UPDATE, because the lake partitions orders by their
last update, like the getOrders ``LastUpdatedAfter`` path this replaces: an order lands on the
day it last changed whichever path fetched it.

The orders reports ignore ``marketplaceIds`` and hold every marketplace of the seller's region
(amzn/selling-partner-api-models#1859, #2209): one report per chunk covers all of the
connection's marketplaces, each row's marketplace is its ``sales-channel`` (the file has no
marketplace id), and rows of marketplaces the connection does not list (or ``Non-Amazon``
multi-channel orders) are left out with a note. Amazon refuses a range over 30 days (issue
#2591 there; not in the reference docs: UNCONFIRMED), hence chunks of at most 30 days.

The file is one row per order item with 32 columns and neither OrderItemId, buyer e-mail nor
OrderTotal: rows land in the same ``orders`` / ``order_items`` tables with those columns null
(``order_total_amount`` is the sum of the item amounts, as Amazon computes the OrderTotal), and
the warehouse keys an Amazon order line by (order, seller SKU) in both paths. An order whose
rows cannot all be read goes to quarantine whole, with the reason, so no order lands with
part of its lines.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal

from extractors.amazon.client import _flat_file, _Report
from extractors.amazon.marketplaces import MARKETPLACE_BY_NAME
from extractors.amazon.parse import _count, _flag, _text, _timestamp
from extractors.amazon.settings import AmazonConnection
from extractors.base import ExtractResult, RecordError, Window, iso_z, to_money

BY_LAST_UPDATE = "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL"
FULFILLMENT = {"Amazon": "AFN", "Merchant": "MFN"}
# the file's status words -> the Orders API's OrderStatus (the lake keeps the API's spelling)
ORDER_STATUS = {"Cancelled": "Canceled"}
ITEM_AMOUNTS = (
    ("item_price", "item-price"),
    ("item_tax", "item-tax"),
    ("shipping_price", "shipping-price"),
    ("shipping_tax", "shipping-tax"),
    ("promotion_discount", "item-promotion-discount"),
)
# order total = what the buyer pays: the charges minus the promotions
TOTAL_PLUS = ("item-price", "item-tax", "shipping-price", "shipping-tax", "gift-wrap-price",
              "gift-wrap-tax")  # fmt: skip
TOTAL_MINUS = ("item-promotion-discount", "ship-promotion-discount")


def uses_bulk(conn: AmazonConnection, window: Window) -> bool:
    """Whether an orders window is long enough for the reports (a first sync, a backfill)."""
    days = (window.end - window.start).total_seconds() / 86_400
    return conn.bulk_history_days is not None and days > conn.bulk_history_days


def order_reports(marketplaces: list[str], window: Window, chunk_days: int) -> list[_Report]:
    """One report per chunk of the window, for all the marketplaces (comma-separated)."""
    ids = ",".join(marketplaces)
    return [_Report(BY_LAST_UPDATE, ids, window=chunk) for chunk in window.split(chunk_days)]


def report_body(report: _Report) -> dict:
    assert report.window is not None
    return {
        "reportType": report.report_type,
        "marketplaceIds": report.marketplace_id.split(","),
        "dataStartTime": iso_z(report.window.start),
        "dataEndTime": iso_z(report.window.end),
    }


def decode(data: bytes) -> list[dict[str, str]]:
    return _flat_file(data, required="amazon-order-id")


def add_report_rows(result: ExtractResult, report: _Report, rows: list[dict],
                    window: Window, seen: set[str], skipped: Counter[str]) -> None:  # fmt: skip
    """The ``orders`` and ``order_items`` rows of one report's file, orders last updated in
    ``window`` only, each order once (``seen``: a chunk boundary can repeat one); orders of
    other sales channels are counted in ``skipped``."""
    wanted = set(report.marketplace_id.split(","))
    by_order: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_order[row.get("amazon-order-id") or ""].append(row)
    for order_id, order_rows in by_order.items():
        channel = order_rows[0].get("sales-channel") or ""
        if MARKETPLACE_BY_NAME.get(channel) not in wanted:
            skipped[channel or "(no sales-channel)"] += 1
            continue
        try:
            order, items = parse_flat_order(order_rows, MARKETPLACE_BY_NAME[channel])
        except RecordError as exc:
            result.reject("orders", f"{report.describe()}: {exc}", order_rows)
            continue
        if order_id in seen or not window.contains(order["last_updated_at"]):
            continue
        seen.add(order_id)
        result.add("orders", order)
        for item in items:
            result.add("order_items", item)


def parse_flat_order(rows: list[dict], marketplace_id: str) -> tuple[dict, list[dict]]:
    """The rows of one order in a flat-file orders report -> its orders row and item rows."""
    first = rows[0]
    status = _text(first, "order-status", True)
    assert status is not None
    channel = _text(first, "fulfillment-channel")
    if channel is not None and channel not in FULFILLMENT:
        raise RecordError(f"fulfillment-channel: expected Amazon or Merchant, got {channel!r}")
    order = {
        "amazon_order_id": _text(first, "amazon-order-id", True),
        "marketplace_id": marketplace_id,
        "purchased_at": _timestamp(first, "purchase-date", True),
        "last_updated_at": _timestamp(first, "last-updated-date", True),
        "order_status": ORDER_STATUS.get(status, status),
        "fulfillment_channel": FULFILLMENT.get(channel or ""),
        "sales_channel": _text(first, "sales-channel"),
        "shipment_service_level_category": _text(first, "ship-service-level"),
        "is_business_order": _flag(first, "is-business-order"),
        "ship_city": _text(first, "ship-city"),
        "ship_state": _text(first, "ship-state"),
        "ship_postal_code": _text(first, "ship-postal-code"),
        "ship_country": _text(first, "ship-country"),
    }
    items, skus = [], set()
    total: Decimal | None = Decimal(0)
    shipped = unshipped = 0
    for n, row in enumerate(rows, 1):
        try:
            item = _item(row, order)
        except RecordError as exc:
            raise RecordError(f"row {n} of order {order['amazon_order_id']}: {exc}") from None
        if item["seller_sku"] in skus:
            raise RecordError(
                f"SKU {item['seller_sku']} appears twice in order {order['amazon_order_id']}: "
                "Amazon merges an order's units of one SKU into one item, and order lines "
                "are keyed by (order, SKU)"
            )
        skus.add(item["seller_sku"])
        items.append(item)
        if row.get("item-status") == "Shipped":
            shipped += item["quantity_ordered"]
        elif row.get("item-status") in ("Unshipped", "Pending"):
            unshipped += item["quantity_ordered"]
        if total is not None and item["item_price"] is not None:
            total += sum(_amount(row, c) for c in TOTAL_PLUS)
            total -= sum(_amount(row, c) for c in TOTAL_MINUS)
        else:
            total = None  # a Pending order's items have no prices yet
    order |= {
        "order_total_amount": total,
        # as getOrders: a Pending order has no OrderTotal, so no currency either
        "order_total_currency": _text(first, "currency") if total is not None else None,
        "number_of_items_shipped": shipped,
        "number_of_items_unshipped": unshipped,
    }
    return {**_ORDER_NULLS, **order}, items


# Orders columns the flat file does not carry: null in bulk rows (DECISIONS.md)
_ORDER_NULLS = dict.fromkeys(
    ("order_type", "payment_method", "is_prime", "is_premium_order", "buyer_email",
     "earliest_ship_at", "latest_ship_at"),
)  # fmt: skip


def _item(row: dict, order: dict) -> dict:
    quantity = _count(row, "quantity", True)
    promotions = _text(row, "promotion-ids")
    return {
        "amazon_order_id": order["amazon_order_id"],
        "order_item_id": None,  # the file has none; the warehouse keys lines by SKU
        "order_last_updated_at": order["last_updated_at"],
        "marketplace_id": order["marketplace_id"],
        "order_status": order["order_status"],
        "asin": _text(row, "asin", True),
        "seller_sku": _text(row, "sku", True),
        "title": _text(row, "product-name"),
        "quantity_ordered": quantity,
        "quantity_shipped": quantity if row.get("item-status") == "Shipped" else 0,
        **{column: to_money(row.get(name), name) for column, name in ITEM_AMOUNTS},
        "currency": _text(row, "currency") if row.get("item-price") else None,
        "promotion_ids": [p for p in promotions.split(",") if p] if promotions else None,
        "condition_id": None,
        "is_gift": None,
    }


def _amount(row: dict, name: str) -> Decimal:
    return to_money(row.get(name), name) or Decimal(0)
