"""The flat-file orders reports of Reports 2021-06-30 (reference A.4):
GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL and ..._BY_ORDER_DATE_GENERAL.

Tab-separated, a header row, one row per order item, the 32 documented columns in their order,
dates like ``2017-06-17T08:04:21+00:00``, ``fulfillment-channel`` written Amazon/Merchant and
the statuses as words (``Cancelled``, not the Orders API's ``Canceled``). The rows come from
the same per-account data the Orders API serves (``_Account.orders_at`` and ``items``), as of
the moment the report was created: a Pending order's items have no prices, as in getOrderItems.
The file has no OrderItemId, no buyer e-mail, no OrderTotal and no marketplace id: as the real
reports do (amzn/selling-partner-api-models#1859, #2209), a report holds the orders of every
marketplace of the account whatever its ``marketplaceIds``, told apart by ``sales-channel``.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

import polars as pl

from sandbox.amazon.common import SALES_CHANNEL, US, _us
from sandbox.business import PENDING_FOR

if TYPE_CHECKING:
    from sandbox.amazon.accounts import _Account

BY_LAST_UPDATE = "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL"
BY_ORDER_DATE = "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL"
ORDER_REPORT_TYPES = (BY_LAST_UPDATE, BY_ORDER_DATE)
ORDERS_COLUMNS = (
    "amazon-order-id", "merchant-order-id", "purchase-date", "last-updated-date", "order-status",
    "fulfillment-channel", "sales-channel", "order-channel", "url", "ship-service-level",
    "product-name", "sku", "asin", "item-status", "quantity", "currency", "item-price",
    "item-tax", "shipping-price", "shipping-tax", "gift-wrap-price", "gift-wrap-tax",
    "item-promotion-discount", "ship-promotion-discount", "ship-city", "ship-state",
    "ship-postal-code", "ship-country", "promotion-ids", "is-business-order",
    "purchase-order-number", "price-designation",
)  # fmt: skip
# the business's order status -> the file's order-status / item-status words
FILE_STATUS = {
    "pending": ("Pending", "Unshipped"),
    "unshipped": ("Unshipped", "Unshipped"),
    "shipped": ("Shipped", "Shipped"),
    "delivered": ("Shipped", "Shipped"),
    "cancelled": ("Cancelled", "Cancelled"),
}
PENDING_US = PENDING_FOR // timedelta(microseconds=1)


class _Report(Protocol):
    """What an orders report needs of ``reports._Report`` (which imports this module)."""

    report_type: str
    start: datetime | None
    end: datetime | None
    created_at: datetime


def report_orders(acct: _Account, report: _Report) -> pl.DataFrame:
    """The orders a flat-file orders report covers, as of its creation, in file order."""
    assert report.start is not None and report.end is not None
    by = "last_updated_at" if report.report_type == BY_LAST_UPDATE else "purchased_at"
    seconds = pl.col(by).dt.epoch("us") // US * US
    return (
        acct.orders_at(report.created_at)
        .filter(seconds.is_between(_us(report.start), _us(report.end)))
        .sort(by, "channel_order_id")
    )


def orders_report_has_data(acct: _Account, report: _Report) -> bool:
    return not report_orders(acct, report).is_empty()


def orders_document(acct: _Account, report: _Report) -> bytes:
    """The report's tab-separated document (UTF-8)."""
    now_us = _us(report.created_at)
    out = io.StringIO()
    out.write("\t".join(ORDERS_COLUMNS) + "\n")
    for order in report_orders(acct, report).iter_rows(named=True):
        entry = acct.items[order["channel_order_id"]]
        for item in entry.items:
            values = _row(order, item, pending=now_us - entry.purchased_us < PENDING_US)
            out.write("\t".join(values.get(c, "") for c in ORDERS_COLUMNS) + "\n")
    return out.getvalue().encode("utf-8")


def _row(order: dict, item: dict, pending: bool) -> dict[str, str]:
    order_status, item_status = FILE_STATUS[order["status"]]
    row = {
        "amazon-order-id": order["channel_order_id"],
        "merchant-order-id": order["channel_order_id"],
        "purchase-date": _file_time(order["purchased_at"]),
        "last-updated-date": _file_time(order["last_updated_at"]),
        "order-status": order_status,
        "fulfillment-channel": "Amazon" if order["fulfillment"] == "AFN" else "Merchant",
        "sales-channel": SALES_CHANNEL[order["marketplace_id"]],
        "ship-service-level": order["service_level"],
        "product-name": " ".join(str(item["Title"]).split()),  # no tabs or breaks in a value
        "sku": item["SellerSKU"],
        "asin": item["ASIN"],
        "item-status": item_status,
        "quantity": str(item["QuantityOrdered"]),
        "currency": order["currency"],
        "is-business-order": "true" if order["is_business"] else "false",
    }
    if not pending:
        for column, wire in (
            ("item-price", "ItemPrice"),
            ("item-tax", "ItemTax"),
            ("shipping-price", "ShippingPrice"),
            ("shipping-tax", "ShippingTax"),
            ("item-promotion-discount", "PromotionDiscount"),
        ):
            row[column] = item[wire]["Amount"]
        row["ship-promotion-discount"] = "0.00"
        row["promotion-ids"] = ",".join(item.get("PromotionIds") or [])
    if order_status != "Pending":  # as getOrders: no address while the order is Pending
        row |= {
            "ship-city": order["ship_city"],
            "ship-state": order["ship_state"],
            "ship-postal-code": order["ship_postal_code"],
            "ship-country": order["country"],
        }
    return row


def _file_time(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()
