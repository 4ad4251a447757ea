"""Amazon Selling Partner API extractor: orders, financial events, sales & traffic, FBA
inventory and listings of one seller account in one region.

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
* **Pending orders have no prices.** Their items omit every money field; those lines are kept
  with null money (the order comes back with prices on its next update).

Listings' ``product-id`` is the UPC (``product-id-type`` 3) on the North American
marketplaces and the EAN (type 4) in Europe, decoded into ``product_id_type``.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import pyarrow as pa
import requests

from extractors.amazon.marketplaces import MARKETPLACE_BY_NAME, MARKETPLACE_CURRENCY
from extractors.amazon.settings import AmazonConnection
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
    parse_iso,
    to_money,
)
from extractors.http import ApiClient, ApiError, Redactor, RetrySettings, sleep

API_VERSIONS = {
    "orders": "orders/v0",
    "financial_events": "finances/v0",
    "sales_traffic": "reports/2021-06-30",
    "inventory": "fba/inventory/v1",
    "listings": "reports/2021-06-30",
}
ORDERS_PAGE_SIZE = 100  # the documented maximum
FINANCES_PAGE_SIZE = 100  # the documented maximum
FINANCES_MAX_DAYS = 180  # a longer PostedAfter..PostedBefore range answers nothing at all
FINANCES_SETTLE = timedelta(hours=48)  # events of the last 48 h may still be missing
BEFORE_LAG = timedelta(minutes=2)  # *Before must be at least this far in the past
TOKEN_REFRESH_MARGIN_S = 60.0
WORKERS = 4  # getOrderItems / report calls in flight at once, one HTTP session each
REPORT_POLL_FIRST_S = 0.02  # first pause between getReport rounds; doubles each round
REPORT_POLL_MAX_S = 30.0
REPORT_TIMEOUT_S = 3600.0  # a report not finished after this is an error
REPORT_DONE, REPORT_CANCELLED, REPORT_FATAL = "DONE", "CANCELLED", "FATAL"
SALES_TRAFFIC = "GET_SALES_AND_TRAFFIC_REPORT"
MERCHANT_LISTINGS = "GET_MERCHANT_LISTINGS_ALL_DATA"

# Flat-file product-id-type codes.
PRODUCT_ID_TYPES = {"1": "ASIN", "2": "ISBN", "3": "UPC", "4": "EAN"}
# Time zone abbreviations in flat-file dates ("2024-03-01 10:00:00 PST") -> UTC offset.
TZ_ABBREVIATIONS = {
    "UTC": 0, "GMT": 0, "BST": 1, "CET": 1, "CEST": 2, "MET": 1, "MEST": 2, "PST": -8,
    "PDT": -7, "MST": -7, "MDT": -6, "CST": -6, "CDT": -5, "EST": -5, "EDT": -4, "JST": 9,
}  # fmt: skip

T = TypeVar("T")


ORDERS = EntitySpec(
    name="orders",
    schema=pa.schema(
        [
            column("amazon_order_id", pa.string(), False),
            column("marketplace_id", pa.string()),
            column("purchased_at", TS, False),
            column("last_updated_at", TS, False),
            column("order_status", pa.string(), False),
            column("fulfillment_channel", pa.string()),
            column("sales_channel", pa.string()),
            column("order_type", pa.string()),
            column("order_total_amount", MONEY),
            column("order_total_currency", pa.string()),
            column("number_of_items_shipped", pa.int64()),
            column("number_of_items_unshipped", pa.int64()),
            column("payment_method", pa.string()),
            column("shipment_service_level_category", pa.string()),
            column("is_prime", pa.bool_()),
            column("is_business_order", pa.bool_()),
            column("is_premium_order", pa.bool_()),
            column("buyer_email", pa.string()),
            column("ship_city", pa.string()),
            column("ship_state", pa.string()),
            column("ship_postal_code", pa.string()),
            column("ship_country", pa.string()),
            column("earliest_ship_at", TS),
            column("latest_ship_at", TS),
        ]
    ),
    key=("amazon_order_id",),
    partition_by="last_updated_at",
)

ORDER_ITEMS = EntitySpec(
    name="order_items",
    schema=pa.schema(
        [
            column("amazon_order_id", pa.string(), False),
            column("order_item_id", pa.string(), False),
            column("order_last_updated_at", TS, False),
            column("marketplace_id", pa.string()),
            column("order_status", pa.string()),
            column("asin", pa.string(), False),
            column("seller_sku", pa.string()),
            column("title", pa.string()),
            column("quantity_ordered", pa.int64(), False),
            column("quantity_shipped", pa.int64()),
            column("item_price", MONEY),
            column("item_tax", MONEY),
            column("shipping_price", MONEY),
            column("shipping_tax", MONEY),
            column("promotion_discount", MONEY),
            column("currency", pa.string()),
            column("promotion_ids", pa.list_(pa.string())),
            column("condition_id", pa.string()),
            column("is_gift", pa.bool_()),
        ]
    ),
    key=("amazon_order_id", "order_item_id"),
    partition_by="order_last_updated_at",
)

FINANCIAL_EVENTS = EntitySpec(
    name="financial_events",
    schema=pa.schema(
        [
            column("event_type", pa.string(), False),
            column("amazon_order_id", pa.string(), False),
            column("order_item_id", pa.string(), False),
            column("amount_type", pa.string(), False),
            column("amount_name", pa.string(), False),
            column("posted_at", TS, False),
            column("marketplace_name", pa.string()),
            column("marketplace_id", pa.string()),
            column("seller_sku", pa.string()),
            column("quantity", pa.int64()),
            column("amount", MONEY),
            column("currency", pa.string()),
        ]
    ),
    key=(
        "event_type",
        "amazon_order_id",
        "order_item_id",
        "amount_type",
        "amount_name",
        "posted_at",
    ),
    partition_by="posted_at",
)

SALES_TRAFFIC_BY_DATE = EntitySpec(
    name="sales_traffic_by_date",
    schema=pa.schema(
        [
            column("marketplace_id", pa.string(), False),
            column("date", pa.date32(), False),
            column("ordered_product_sales", MONEY),
            column("currency", pa.string()),
            column("units_ordered", pa.int64()),
            column("total_order_items", pa.int64()),
            column("units_refunded", pa.int64()),
            column("units_shipped", pa.int64()),
            column("orders_shipped", pa.int64()),
            column("shipped_product_sales", MONEY),
            column("sessions", pa.int64()),
            column("browser_sessions", pa.int64()),
            column("mobile_app_sessions", pa.int64()),
            column("page_views", pa.int64()),
            column("browser_page_views", pa.int64()),
            column("mobile_app_page_views", pa.int64()),
            column("buy_box_percentage", pa.float64()),
            column("unit_session_percentage", pa.float64()),
            column("order_item_session_percentage", pa.float64()),
        ]
    ),
    key=("marketplace_id", "date"),
    partition_by="date",
)

SALES_TRAFFIC_BY_SKU = EntitySpec(
    name="sales_traffic_by_sku",
    schema=pa.schema(
        [
            column("marketplace_id", pa.string(), False),
            column("date", pa.date32(), False),
            column("sku", pa.string(), False),
            column("parent_asin", pa.string()),
            column("child_asin", pa.string()),
            column("units_ordered", pa.int64()),
            column("ordered_product_sales", MONEY),
            column("currency", pa.string()),
            column("total_order_items", pa.int64()),
            column("sessions", pa.int64()),
            column("browser_sessions", pa.int64()),
            column("mobile_app_sessions", pa.int64()),
            column("page_views", pa.int64()),
            column("buy_box_percentage", pa.float64()),
            column("unit_session_percentage", pa.float64()),
        ]
    ),
    key=("marketplace_id", "date", "sku"),
    partition_by="date",
)

INVENTORY_SUMMARIES = EntitySpec(
    name="inventory_summaries",
    schema=pa.schema(
        [
            column("marketplace_id", pa.string(), False),
            column("seller_sku", pa.string(), False),
            column("asin", pa.string()),
            column("fn_sku", pa.string()),
            column("product_name", pa.string()),
            column("condition", pa.string()),
            column("fulfillable_quantity", pa.int64()),
            column("reserved_quantity", pa.int64()),
            column("inbound_working_quantity", pa.int64()),
            column("inbound_shipped_quantity", pa.int64()),
            column("inbound_receiving_quantity", pa.int64()),
            column("unfulfillable_quantity", pa.int64()),
            column("researching_quantity", pa.int64()),
            column("total_quantity", pa.int64()),
            column("last_updated_at", TS),
        ]
    ),
    key=("marketplace_id", "seller_sku"),
    partition_by=None,
)

LISTINGS = EntitySpec(
    name="listings",
    schema=pa.schema(
        [
            column("marketplace_id", pa.string(), False),
            column("seller_sku", pa.string(), False),
            column("asin", pa.string()),
            column("listing_id", pa.string()),
            column("title", pa.string()),
            column("price", MONEY),
            column("currency", pa.string()),
            column("quantity", pa.int64()),
            column("status", pa.string()),
            column("fulfillment_channel", pa.string()),
            column("open_date", TS),
            column("product_id", pa.string()),
            column("product_id_type", pa.string()),
            column("item_condition", pa.string()),
        ]
    ),
    key=("marketplace_id", "seller_sku"),
    partition_by=None,
)

STREAMS: dict[str, Stream] = {
    "orders": Stream(
        "orders",
        (ORDERS, ORDER_ITEMS),
        incremental=True,
        cadence="hourly",
        description="Orders API v0 getOrders by LastUpdatedAfter/Before + getOrderItems per "
        "order; every update of an order lands in the partition of its update time.",
    ),
    "financial_events": Stream(
        "financial_events",
        (FINANCIAL_EVENTS,),
        incremental=True,
        cadence="daily",
        description="Finances v0 listFinancialEvents: shipment charges, fees and promotions, "
        "refunds; one row per amount, by posting time.",
    ),
    "sales_traffic": Stream(
        "sales_traffic",
        (SALES_TRAFFIC_BY_DATE, SALES_TRAFFIC_BY_SKU),
        incremental=True,
        cadence="daily",
        description="GET_SALES_AND_TRAFFIC_REPORT, one report per marketplace and day "
        "(DAY / SKU granularity).",
    ),
    "inventory": Stream(
        "inventory",
        (INVENTORY_SUMMARIES,),
        incremental=False,
        cadence="every_30_minutes",
        description="FBA Inventory v1 getInventorySummaries per marketplace (FBA stock only).",
    ),
    "listings": Stream(
        "listings",
        (LISTINGS,),
        incremental=False,
        cadence="every_6_hours",
        description="GET_MERCHANT_LISTINGS_ALL_DATA flat file per marketplace.",
    ),
}


# ---------------------------------------------------------------------------------------------
# Record parsing: each helper names the field it could not read
# ---------------------------------------------------------------------------------------------
def _text(record: dict, name: str, required: bool = False) -> str | None:
    value = record.get(name)
    if value is None or value == "":
        if required:
            raise RecordError(f"missing required field {name}")
        return None
    if isinstance(value, (dict, list)):
        raise RecordError(f"{name}: expected text, got {type(value).__name__}")
    return str(value)


def _timestamp(record: dict, name: str, required: bool = False) -> datetime | None:
    value = record.get(name)
    if value is None or value == "":
        if required:
            raise RecordError(f"missing required field {name}")
        return None
    try:
        return parse_iso(str(value))
    except (ValueError, RecordError) as exc:
        raise RecordError(f"{name}: bad timestamp {value!r} ({exc})") from None


def _count(record: dict, name: str, required: bool = False) -> int | None:
    value = record.get(name)
    if value is None or value == "":
        if required:
            raise RecordError(f"missing required field {name}")
        return None
    if isinstance(value, bool):
        raise RecordError(f"{name}: expected a whole number, got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise RecordError(f"{name}: not a number: {value!r}") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise RecordError(f"{name}: expected a whole number, got {value!r}")
    return int(number)


def _decimal(value: object, name: str) -> Decimal:
    """A required money amount (string or JSON number) as an exact Decimal."""
    return to_money(value, name, required=True)


def _money(
    record: dict, name: str, amount_key: str = "Amount", currency_key: str = "CurrencyCode"
) -> tuple[Decimal | None, str | None]:
    """``{"CurrencyCode": .., "Amount": ..}`` (Orders) or its Finances/Reports spellings."""
    value = record.get(name)
    if value is None:
        return None, None
    if not isinstance(value, dict):
        raise RecordError(f"{name}: expected a money object, got {type(value).__name__}")
    return (_decimal(value.get(amount_key), f"{name}.{amount_key}"), _text(value, currency_key))


def _flag(record: dict, name: str) -> bool | None:
    value = record.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise RecordError(f"{name}: expected true/false, got {value!r}")


def _in(window: Window, moment: datetime) -> bool:
    return window.start <= moment < window.end


def parse_order(order: dict) -> dict:
    """One getOrders ``Order`` as an ``orders`` row."""
    total, currency = _money(order, "OrderTotal")
    address = order.get("ShippingAddress") or {}
    buyer = order.get("BuyerInfo") or {}
    if not isinstance(address, dict) or not isinstance(buyer, dict):
        raise RecordError("ShippingAddress/BuyerInfo: expected objects")
    return {
        "amazon_order_id": _text(order, "AmazonOrderId", True),
        "marketplace_id": _text(order, "MarketplaceId"),
        "purchased_at": _timestamp(order, "PurchaseDate", True),
        "last_updated_at": _timestamp(order, "LastUpdateDate", True),
        "order_status": _text(order, "OrderStatus", True),
        "fulfillment_channel": _text(order, "FulfillmentChannel"),
        "sales_channel": _text(order, "SalesChannel"),
        "order_type": _text(order, "OrderType"),
        "order_total_amount": total,
        "order_total_currency": currency,
        "number_of_items_shipped": _count(order, "NumberOfItemsShipped"),
        "number_of_items_unshipped": _count(order, "NumberOfItemsUnshipped"),
        "payment_method": _text(order, "PaymentMethod"),
        "shipment_service_level_category": _text(order, "ShipmentServiceLevelCategory"),
        "is_prime": _flag(order, "IsPrime"),
        "is_business_order": _flag(order, "IsBusinessOrder"),
        "is_premium_order": _flag(order, "IsPremiumOrder"),
        "buyer_email": _text(buyer, "BuyerEmail"),
        "ship_city": _text(address, "City"),
        "ship_state": _text(address, "StateOrRegion"),
        "ship_postal_code": _text(address, "PostalCode"),
        "ship_country": _text(address, "CountryCode"),
        "earliest_ship_at": _timestamp(order, "EarliestShipDate"),
        "latest_ship_at": _timestamp(order, "LatestShipDate"),
    }


def parse_order_item(item: dict, order: dict) -> dict:
    """One getOrderItems ``OrderItem`` as an ``order_items`` row of the (parsed) ``order``."""
    money = {
        column: _money(item, wire)
        for column, wire in (
            ("item_price", "ItemPrice"),
            ("item_tax", "ItemTax"),
            ("shipping_price", "ShippingPrice"),
            ("shipping_tax", "ShippingTax"),
            ("promotion_discount", "PromotionDiscount"),
        )
    }
    currencies = {c for _, c in money.values() if c}
    if len(currencies) > 1:
        raise RecordError(f"money fields in several currencies: {sorted(currencies)}")
    promotions = item.get("PromotionIds")
    if promotions is not None and not isinstance(promotions, list):
        raise RecordError("PromotionIds: expected a list")
    return {
        "amazon_order_id": order["amazon_order_id"],
        "order_item_id": _text(item, "OrderItemId", True),
        "order_last_updated_at": order["last_updated_at"],
        "marketplace_id": order["marketplace_id"],
        "order_status": order["order_status"],
        "asin": _text(item, "ASIN", True),
        "seller_sku": _text(item, "SellerSKU"),
        "title": _text(item, "Title"),
        "quantity_ordered": _count(item, "QuantityOrdered", True),
        "quantity_shipped": _count(item, "QuantityShipped"),
        **{column: amount for column, (amount, _) in money.items()},
        "currency": currencies.pop() if currencies else order["order_total_currency"],
        "promotion_ids": [str(p) for p in promotions] if promotions else None,
        "condition_id": _text(item, "ConditionId"),
        "is_gift": _flag(item, "IsGift"),
    }


# (event list, event_type, item list, [(amount list, amount_type, name key, money key)])
_EVENT_LISTS = (
    ("ShipmentEventList", "Shipment", "ShipmentItemList", (
        ("ItemChargeList", "Charge", "ChargeType", "ChargeAmount"),
        ("ItemFeeList", "Fee", "FeeType", "FeeAmount"),
        ("PromotionList", "Promotion", "PromotionType", "PromotionAmount"))),
    ("RefundEventList", "Refund", "ShipmentItemAdjustmentList", (
        ("ItemChargeAdjustmentList", "Charge", "ChargeType", "ChargeAmount"),
        ("ItemFeeAdjustmentList", "Fee", "FeeType", "FeeAmount"),
        ("PromotionAdjustmentList", "Promotion", "PromotionType", "PromotionAmount"))),
)  # fmt: skip


def parse_financial_event(event: dict, event_type: str, items_key: str,
                          amount_lists: tuple) -> list[dict]:  # fmt: skip
    """One ShipmentEvent/RefundEvent as one row per charge, fee and promotion amount."""
    order_id = _text(event, "AmazonOrderId", True)
    posted_at = _timestamp(event, "PostedDate", True)
    marketplace_name = _text(event, "MarketplaceName")
    items = event.get(items_key)
    if not isinstance(items, list):
        raise RecordError(f"{items_key}: expected a list")
    rows = []
    for i, item in enumerate(items):
        item_id = _text(item, "OrderItemId") or _text(item, "OrderAdjustmentItemId")
        if item_id is None:
            raise RecordError(f"{items_key}[{i}]: missing required field OrderItemId")
        for list_key, amount_type, name_key, money_key in amount_lists:
            for j, entry in enumerate(item.get(list_key) or []):
                where = f"{items_key}[{i}].{list_key}[{j}]"
                try:
                    amount, currency = _money(entry, money_key, "CurrencyAmount")
                    name = _text(entry, name_key, True)
                except RecordError as exc:
                    raise RecordError(f"{where}.{exc}") from None
                if amount is None:
                    raise RecordError(f"{where}: missing required field {money_key}")
                rows.append(
                    {
                        "event_type": event_type,
                        "amazon_order_id": order_id,
                        "order_item_id": item_id,
                        "amount_type": amount_type,
                        "amount_name": name,
                        "posted_at": posted_at,
                        "marketplace_name": marketplace_name,
                        "marketplace_id": MARKETPLACE_BY_NAME.get(marketplace_name or ""),
                        "seller_sku": _text(item, "SellerSKU"),
                        "quantity": _count(item, "QuantityShipped"),
                        "amount": amount,
                        "currency": currency,
                    }
                )
    return rows


def _report_money(record: dict, name: str) -> tuple[Decimal | None, str | None]:
    return _money(record, name, "amount", "currencyCode")


def _percent(record: dict, name: str) -> float | None:
    value = record.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RecordError(f"{name}: not a number: {value!r}")
    return float(value)


def parse_sales_traffic_by_date(entry: dict, marketplace_id: str) -> dict:
    """One ``salesAndTrafficByDate`` entry."""
    sales, traffic = entry.get("salesByDate") or {}, entry.get("trafficByDate") or {}
    ordered, currency = _report_money(sales, "orderedProductSales")
    shipped, shipped_currency = _report_money(sales, "shippedProductSales")
    try:
        day = date.fromisoformat(_text(entry, "date", True) or "")
    except ValueError:
        raise RecordError(f"date: bad date {entry.get('date')!r}") from None
    return {
        "marketplace_id": marketplace_id,
        "date": day,
        "ordered_product_sales": ordered,
        "currency": currency or shipped_currency,
        "units_ordered": _count(sales, "unitsOrdered"),
        "total_order_items": _count(sales, "totalOrderItems"),
        "units_refunded": _count(sales, "unitsRefunded"),
        "units_shipped": _count(sales, "unitsShipped"),
        "orders_shipped": _count(sales, "ordersShipped"),
        "shipped_product_sales": shipped,
        "sessions": _count(traffic, "sessions"),
        "browser_sessions": _count(traffic, "browserSessions"),
        "mobile_app_sessions": _count(traffic, "mobileAppSessions"),
        "page_views": _count(traffic, "pageViews"),
        "browser_page_views": _count(traffic, "browserPageViews"),
        "mobile_app_page_views": _count(traffic, "mobileAppPageViews"),
        "buy_box_percentage": _percent(traffic, "buyBoxPercentage"),
        "unit_session_percentage": _percent(traffic, "unitSessionPercentage"),
        "order_item_session_percentage": _percent(traffic, "orderItemSessionPercentage"),
    }


def parse_sales_traffic_by_sku(entry: dict, marketplace_id: str, day: date) -> dict:
    """One ``salesAndTrafficByAsin`` entry of a one-day, SKU-granularity report."""
    sales, traffic = entry.get("salesByAsin") or {}, entry.get("trafficByAsin") or {}
    ordered, currency = _report_money(sales, "orderedProductSales")
    return {
        "marketplace_id": marketplace_id,
        "date": day,
        "sku": _text(entry, "sku", True),
        "parent_asin": _text(entry, "parentAsin"),
        "child_asin": _text(entry, "childAsin"),
        "units_ordered": _count(sales, "unitsOrdered"),
        "ordered_product_sales": ordered,
        "currency": currency,
        "total_order_items": _count(sales, "totalOrderItems"),
        "sessions": _count(traffic, "sessions"),
        "browser_sessions": _count(traffic, "browserSessions"),
        "mobile_app_sessions": _count(traffic, "mobileAppSessions"),
        "page_views": _count(traffic, "pageViews"),
        "buy_box_percentage": _percent(traffic, "buyBoxPercentage"),
        "unit_session_percentage": _percent(traffic, "unitSessionPercentage"),
    }


def parse_inventory_summary(summary: dict, marketplace_id: str) -> dict:
    """One getInventorySummaries ``InventorySummary`` (with ``details=true``)."""
    details = summary.get("inventoryDetails") or {}
    reserved = details.get("reservedQuantity") or {}
    unfulfillable = details.get("unfulfillableQuantity") or {}
    researching = details.get("researchingQuantity") or {}
    return {
        "marketplace_id": marketplace_id,
        "seller_sku": _text(summary, "sellerSku", True),
        "asin": _text(summary, "asin"),
        "fn_sku": _text(summary, "fnSku"),
        "product_name": _text(summary, "productName"),
        "condition": _text(summary, "condition"),
        "fulfillable_quantity": _count(details, "fulfillableQuantity"),
        "reserved_quantity": _count(reserved, "totalReservedQuantity"),
        "inbound_working_quantity": _count(details, "inboundWorkingQuantity"),
        "inbound_shipped_quantity": _count(details, "inboundShippedQuantity"),
        "inbound_receiving_quantity": _count(details, "inboundReceivingQuantity"),
        "unfulfillable_quantity": _count(unfulfillable, "totalUnfulfillableQuantity"),
        "researching_quantity": _count(researching, "totalResearchingQuantity"),
        "total_quantity": _count(summary, "totalQuantity"),
        "last_updated_at": _timestamp(summary, "lastUpdatedTime"),
    }


def _flat_file_time(value: str | None, name: str) -> datetime | None:
    """``2024-03-01 10:00:00 PST`` (the zone as an abbreviation) or ISO 8601."""
    if not value:
        return None
    text = value.strip()
    parts = text.rsplit(" ", 1)
    if len(parts) == 2 and parts[1] in TZ_ABBREVIATIONS:
        try:
            local = datetime.fromisoformat(parts[0].replace("/", "-"))
        except ValueError:
            raise RecordError(f"{name}: bad date {value!r}") from None
        offset = timedelta(hours=TZ_ABBREVIATIONS[parts[1]])
        return (local - offset).replace(tzinfo=UTC)
    try:
        return parse_iso(text)
    except (ValueError, RecordError):
        raise RecordError(f"{name}: bad date {value!r}") from None


def parse_listing_row(row: dict, marketplace_id: str) -> dict:
    """One row of the GET_MERCHANT_LISTINGS_ALL_DATA flat file."""
    price = row.get("price")
    channel = _text(row, "fulfillment-channel") or ""
    quantity = _count(row, "quantity")
    return {
        "marketplace_id": marketplace_id,
        "seller_sku": _text(row, "seller-sku", True),
        "asin": _text(row, "asin1"),
        "listing_id": _text(row, "listing-id"),
        "title": _text(row, "item-name"),
        "price": _decimal(price, "price") if price not in (None, "") else None,
        "currency": MARKETPLACE_CURRENCY.get(marketplace_id),
        "quantity": quantity,
        "status": _text(row, "status"),
        # DEFAULT is merchant fulfilled; AMAZON_NA / AMAZON_EU / ... are FBA.
        "fulfillment_channel": "AFN" if channel.upper().startswith("AMAZON") else "MFN",
        "open_date": _flat_file_time(row.get("open-date"), "open-date"),
        "product_id": _text(row, "product-id"),
        "product_id_type": PRODUCT_ID_TYPES.get(
            row.get("product-id-type") or "", row.get("product-id-type") or None
        ),
        "item_condition": _text(row, "item-condition"),
    }


# ---------------------------------------------------------------------------------------------
# HTTP: the LWA token and the SP-API client
# ---------------------------------------------------------------------------------------------
class LwaToken:
    """The connection's LWA access token, shared by every worker thread's client.

    Fetched on first use and again a minute before it expires; ``invalidate`` after a 403
    only drops the token that was refused, so when several workers see the same 403 just one
    of them fetches a new token.
    """

    def __init__(self, url: str, client_id: str, client_secret: str, refresh_token: str,
                 redact: Redactor):  # fmt: skip
        self.url = url
        self._form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
            "client_secret": client_secret,
        }
        self._redact = redact
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0

    def current(self, client: AmazonClient) -> str:
        with self._lock:
            if self._token is None or time.monotonic() >= self._renew_at:
                self._fetch(client)
            assert self._token is not None
            return self._token

    def invalidate(self, refused: str | None) -> None:
        with self._lock:
            if refused is not None and refused == self._token:
                self._token = None

    def _fetch(self, client: AmazonClient) -> None:
        body = client.call(
            "POST", self.url, endpoint="LWA token", authenticated=False, data=self._form
        )
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise ApiError(client.connection, "LWA token", "the response has no access_token")
        self._redact.add(token)
        expires_in = float(body.get("expires_in") or 3600)
        self._token = token
        self._renew_at = time.monotonic() + max(0.0, expires_in - TOKEN_REFRESH_MARGIN_S)


class Pacer:
    """Spaces the calls of an operation over all worker threads once Amazon throttled it.

    Until the first 429 nothing is held back (the bucket's burst is there to be used). After
    it, calls of that operation leave one per ``1 / x-amzn-RateLimit-Limit`` seconds, so the
    workers share the bucket's refill instead of each burning retry attempts on 429s.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._interval: dict[str, float] = {}
        self._next: dict[str, float] = {}

    def throttled(self, operation: str, rate: float) -> None:
        with self._lock:
            self._interval[operation] = 1.0 / rate
            self._next[operation] = max(
                self._next.get(operation, 0.0), time.monotonic() + 1.0 / rate
            )

    def hold(self, operation: str) -> float:
        """Wait for the operation's next slot; returns the seconds waited."""
        with self._lock:
            interval = self._interval.get(operation)
            if interval is None:
                return 0.0
            now = time.monotonic()
            slot = max(now, self._next[operation])
            self._next[operation] = slot + interval
        sleep(slot - now)
        return slot - now


class AmazonClient(ApiClient):
    """SP-API calls of one thread: the LWA token header, Amazon's throttle and error formats."""

    def __init__(self, connection: str, base_url: str, token: LwaToken, redact: Redactor,
                 pacer: Pacer, *, retry: RetrySettings, trust_env: bool = True):  # fmt: skip
        session = requests.Session()
        session.trust_env = trust_env
        super().__init__(connection, base_url, retry=retry, session=session)
        self.redact = redact  # shared: access tokens join it as they are issued
        self.token = token
        self.pacer = pacer
        self._sent: str | None = None
        self._operation = ""

    def call(self, method: str, path: str, *, endpoint: str, **kwargs: Any) -> Any:
        """ApiClient.call, remembering the operation for the pacer (the LWA token fetch can
        run inside another call, hence the restore)."""
        outer, self._operation = self._operation, endpoint
        try:
            return super().call(method, path, endpoint=endpoint, **kwargs)
        finally:
            self._operation = outer

    def auth_headers(self) -> dict[str, str]:
        """Runs right before every attempt: the pacer holds a throttled operation back here."""
        self.stats.wait_seconds += self.pacer.hold(self._operation)
        self._sent = self.token.current(self)
        return {
            "x-amz-access-token": self._sent,
            "x-amz-date": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
        }

    def refresh_token(self) -> None:
        self.token.invalidate(self._sent)

    def throttle_wait(self, response: requests.Response) -> float | None:
        """Amazon sends no Retry-After: the bucket's refill rate (``x-amzn-RateLimit-Limit``)
        says one token takes ``1 / rate`` seconds. The pacer waits that long before the retry
        (and spaces the other workers' calls), so only the jitter is left to wait here."""
        try:
            rate = float(response.headers.get("x-amzn-RateLimit-Limit", ""))
        except ValueError:
            return None
        if not rate > 0:
            return None
        if 1.0 / rate > self.retry.max_throttle_wait_s:
            return 1.0 / rate  # the base class refuses to wait that long
        self.pacer.throttled(self._operation, rate)
        return 0.0

    def error_detail(self, response: requests.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return response.text[:300]
        if isinstance(body, dict) and isinstance(body.get("errors"), list):
            return "; ".join(
                f"{e.get('code')}: {e.get('message')}"
                + (f" ({e['details']})" if e.get("details") else "")
                for e in body["errors"]
                if isinstance(e, dict)
            )[:500]
        if isinstance(body, dict) and "error" in body:  # LWA
            return f"{body.get('error')}: {body.get('error_description', '')}"[:300]
        return response.text[:300]

    def get_page(self, path: str, endpoint: str, params: dict[str, Any] | None = None) -> dict:
        """One page of a paginated operation (counted in ``stats.pages``)."""
        body = self.call("GET", path, endpoint=endpoint, params=params, parse=_json_object)
        self.stats.pages += 1
        return body


def _json_object(response: requests.Response) -> dict:
    body = response.json()
    if not isinstance(body, dict):
        raise ValueError(f"expected a JSON object, got {type(body).__name__}")
    return body


class _Clients:
    """One AmazonClient per thread (a requests.Session must not be shared between threads)."""

    def __init__(self, make: Callable[[], AmazonClient]):
        self._make = make
        self._local = threading.local()
        self._all: list[AmazonClient] = []
        self._lock = threading.Lock()

    def get(self) -> AmazonClient:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._make()
            with self._lock:
                self._all.append(client)
        return client

    def stats(self) -> CallStats:
        total = CallStats()
        with self._lock:
            for client in self._all:
                for name, value in client.stats.as_dict().items():
                    setattr(total, name, getattr(total, name) + value)
        return total

    def close(self) -> None:
        with self._lock:
            for client in self._all:
                client.session.close()


@dataclass
class _Report:
    """One report of an extraction, from createReport to its document."""

    report_type: str
    marketplace_id: str
    day: date | None = None
    report_id: str = ""
    status: str = ""
    document_id: str | None = None

    def describe(self) -> str:
        return (
            f"report {self.report_id or '(not created)'} ({self.report_type}, "
            f"{self.marketplace_id}{', ' + self.day.isoformat() if self.day else ''})"
        )


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
        """getOrders by last update, each order's items fetched on the pool meanwhile."""
        assert window is not None
        api_window = self._api_window(window, result)
        if api_window is None:
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
                if row is None or not _in(window, row["last_updated_at"]):
                    continue
                result.add("orders", row)
                pending.append(
                    (row, pool.submit(self._order_items, clients, row["amazon_order_id"]))
                )
            for row, future in pending:
                for item in future.result():
                    item_row = self._parse(
                        result, "order_items", item, lambda i, o=row: parse_order_item(i, o)
                    )
                    if item_row is not None:
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
                            if _in(window, row["posted_at"]) and (
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
        are left out.
        """
        self._parallel(clients, lambda c, r: self._create_report(c, r, body(r)), reports)
        self._await_reports(clients, reports)
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
        report.report_id = str(report_id)

    def _await_reports(self, clients: _Clients, reports: list[_Report]) -> None:
        """Poll getReport in rounds until every report is DONE, CANCELLED or FATAL."""
        pause = REPORT_POLL_FIRST_S
        deadline = time.monotonic() + REPORT_TIMEOUT_S
        while True:
            waiting = [r for r in reports if r.status not in (REPORT_DONE, REPORT_CANCELLED)]
            if not waiting:
                return
            self._parallel(clients, self._poll_report, waiting)
            fatal = [r for r in reports if r.status == REPORT_FATAL]
            if fatal:
                raise ApiError(
                    self.connection,
                    "getReport",
                    f"{fatal[0].describe()} ended FATAL"
                    + (f" (and {len(fatal) - 1} more)" if len(fatal) > 1 else ""),
                )
            if all(r.status in (REPORT_DONE, REPORT_CANCELLED) for r in reports):
                return
            if time.monotonic() > deadline:
                late = next(r for r in reports if r.status not in (REPORT_DONE, REPORT_CANCELLED))
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


# ---------------------------------------------------------------------------------------------
# Response helpers
# ---------------------------------------------------------------------------------------------
def _payload(body: dict, client: AmazonClient, endpoint: str) -> dict:
    payload = body.get("payload")
    if not isinstance(payload, dict):
        raise ApiError(client.connection, endpoint, "the response has no payload object")
    return payload


def _list_of_objects(value: object, client: AmazonClient, endpoint: str, name: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ApiError(client.connection, endpoint, f"{name} is not a list")
    return value


def _unpack(content: bytes, gzipped: bool) -> bytes:
    """The document's bytes; a cut-off gzip stream is a ValueError (so the download is
    retried like any other unreadable body)."""
    if not gzipped:
        return content
    try:
        return gzip.decompress(content)
    except (EOFError, OSError, zlib.error) as exc:
        raise ValueError(f"corrupt gzip document ({type(exc).__name__})") from None


def _json_document(data: bytes) -> dict:
    document = json.loads(data)
    if not isinstance(document, dict):
        raise ValueError("the report document is not a JSON object")
    return document


def _flat_file(data: bytes) -> list[dict[str, str]]:
    """A tab-separated report with a header row. UTF-8, else Amazon's Western default Cp1252."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    if not reader.fieldnames or "seller-sku" not in reader.fieldnames:
        raise ValueError("the flat file has no seller-sku column (truncated?)")
    return [dict(row) for row in reader]
