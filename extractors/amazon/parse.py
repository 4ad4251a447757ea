"""Amazon SP-API records (JSON objects, report rows, flat-file rows) -> lake rows.

Each helper names the field it could not read (a RecordError quarantines the record).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from extractors.amazon.marketplaces import MARKETPLACE_BY_NAME, MARKETPLACE_CURRENCY
from extractors.base import (
    RecordError,
    parse_iso,
    to_money,
)

# Flat-file product-id-type codes.
PRODUCT_ID_TYPES = {"1": "ASIN", "2": "ISBN", "3": "UPC", "4": "EAN"}
# Time zone abbreviations in flat-file dates ("2024-03-01 10:00:00 PST") -> UTC offset.
TZ_ABBREVIATIONS = {
    "UTC": 0, "GMT": 0, "BST": 1, "CET": 1, "CEST": 2, "MET": 1, "MEST": 2, "PST": -8,
    "PDT": -7, "MST": -7, "MDT": -6, "CST": -6, "CDT": -5, "EST": -5, "EDT": -4, "JST": 9,
}  # fmt: skip


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
        # required: an Amazon order line is keyed by (order, SKU) in the warehouse
        "seller_sku": _text(item, "SellerSKU", True),
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
