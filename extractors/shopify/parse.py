"""Shopify Admin GraphQL nodes -> lake rows; a node of the wrong shape is quarantined,
never a crash of the extraction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from extractors.base import (
    ExtractResult,
    RecordError,
    parse_iso,
    to_money,
)


# --------------------------------------------------------------------------------------------
# record parsing
# --------------------------------------------------------------------------------------------
def _required(node: dict, key: str, field: str) -> Any:
    value = node.get(key)
    if value in (None, ""):
        raise RecordError(f"{field}: required field {key!r} is missing")
    return value


def _timestamp(value: object, field: str, required: bool = False) -> datetime | None:
    if value in (None, ""):
        if required:
            raise RecordError(f"{field}: required timestamp is missing")
        return None
    try:
        return parse_iso(str(value))
    except ValueError as exc:
        raise RecordError(f"{field}: not an ISO 8601 timestamp: {value!r} ({exc})") from None


def _money(node: dict, key: str, field: str, required: bool = False) -> Decimal | None:
    bag = node.get(key)
    amount = ((bag or {}).get("shopMoney") or {}).get("amount") if isinstance(bag, dict) else None
    return to_money(amount, field, required)


def _int(value: object, field: str) -> int:
    if isinstance(value, bool) or value is None:
        raise RecordError(f"{field}: not an integer: {value!r}")
    try:
        return int(str(value))
    except ValueError:
        raise RecordError(f"{field}: not an integer: {value!r}") from None


def _id_of(node: dict, key: str) -> str | None:
    inner = node.get(key)
    return inner.get("id") if isinstance(inner, dict) else None


def parse_order(node: dict) -> dict:
    """An Order node to an ``orders`` row (its lines and refunds are parsed separately)."""
    customer, shipping, billing = (
        node.get(key) if isinstance(node.get(key), dict) else {}
        for key in ("customer", "shippingAddress", "billingAddress")
    )
    return {
        "shopify_order_id": _required(node, "id", "shopify_order_id"),
        "legacy_resource_id": str(_required(node, "legacyResourceId", "legacy_resource_id")),
        "name": node.get("name"),
        "created_at": _timestamp(node.get("createdAt"), "created_at", required=True),
        "updated_at": _timestamp(node.get("updatedAt"), "updated_at", required=True),
        "processed_at": _timestamp(node.get("processedAt"), "processed_at"),
        "cancelled_at": _timestamp(node.get("cancelledAt"), "cancelled_at"),
        "currency": _required(node, "currencyCode", "currency"),
        "financial_status": node.get("displayFinancialStatus"),
        "fulfillment_status": node.get("displayFulfillmentStatus"),
        "total_price": _money(node, "totalPriceSet", "total_price"),
        "subtotal_price": _money(node, "subtotalPriceSet", "subtotal_price"),
        "total_discounts": _money(node, "totalDiscountsSet", "total_discounts"),
        "total_tax": _money(node, "totalTaxSet", "total_tax"),
        "total_shipping": _money(node, "totalShippingPriceSet", "total_shipping"),
        "customer_id": customer.get("id"),
        "customer_email": customer.get("email"),
        "ship_address1": shipping.get("address1"),
        "ship_city": shipping.get("city"),
        "ship_province_code": shipping.get("provinceCode"),
        "ship_postal_code": shipping.get("zip"),
        "ship_country": shipping.get("countryCodeV2"),
        "billing_country": billing.get("countryCodeV2"),
        "billing_matches_shipping": node.get("billingAddressMatchesShippingAddress"),
    }


def parse_line(node: dict, order: dict) -> dict:
    return {
        "shopify_order_id": order["shopify_order_id"],
        "line_item_id": _required(node, "id", "line_item_id"),
        "order_updated_at": order["updated_at"],
        "sku": node.get("sku"),
        "variant_id": _id_of(node, "variant"),
        "product_id": _id_of(node, "product"),
        "quantity": _int(node.get("quantity"), "quantity"),
        "unit_price": _money(node, "originalUnitPriceSet", "unit_price", required=True),
        "total_discount": _money(node, "totalDiscountSet", "total_discount"),
        "currency": order["currency"],
    }


def parse_refund(node: dict, order: dict) -> dict:
    bag = node.get("totalRefundedSet") or {}
    currency = (bag.get("shopMoney") or {}).get("currencyCode") or order["currency"]
    return {
        "refund_id": _required(node, "id", "refund_id"),
        "shopify_order_id": order["shopify_order_id"],
        "order_updated_at": order["updated_at"],
        "created_at": _timestamp(node.get("createdAt"), "created_at"),
        "amount": _money(node, "totalRefundedSet", "amount", required=True),
        "currency": currency,
    }


def parse_refund_line(node: dict, refund: dict) -> dict:
    line_id = _id_of(node, "lineItem")
    if not line_id:
        raise RecordError("line_item_id: required field 'lineItem.id' is missing")
    return {
        "refund_id": refund["refund_id"],
        "line_item_id": line_id,
        "shopify_order_id": refund["shopify_order_id"],
        "order_updated_at": refund["order_updated_at"],
        "quantity": _int(node.get("quantity"), "quantity"),
        "amount": _money(node, "subtotalSet", "amount"),
    }


def parse_product(node: dict) -> dict:
    return {
        "product_id": _required(node, "id", "product_id"),
        "legacy_resource_id": node.get("legacyResourceId"),
        "title": node.get("title"),
        "handle": node.get("handle"),
        "vendor": node.get("vendor"),
        "product_type": node.get("productType"),
        "status": node.get("status"),
        "created_at": _timestamp(node.get("createdAt"), "created_at"),
        "updated_at": _timestamp(node.get("updatedAt"), "updated_at"),
    }


def parse_variant(node: dict, product_id: str, currency: str | None) -> dict:
    return {
        "variant_id": _required(node, "id", "variant_id"),
        "legacy_resource_id": node.get("legacyResourceId"),
        "product_id": product_id,
        "sku": node.get("sku"),
        "title": node.get("title"),
        "barcode": node.get("barcode"),
        "price": to_money(node.get("price"), "price"),
        "currency": currency,
        "inventory_item_id": _id_of(node, "inventoryItem"),
        "created_at": _timestamp(node.get("createdAt"), "created_at"),
        "updated_at": _timestamp(node.get("updatedAt"), "updated_at"),
    }


def parse_level(node: dict, item: dict) -> dict:
    location = node.get("location") if isinstance(node.get("location"), dict) else {}
    quantities = {
        q.get("name"): q.get("quantity")
        for q in node.get("quantities") or []
        if isinstance(q, dict)
    }
    row = {
        "inventory_item_id": _required(item, "id", "inventory_item_id"),
        "location_id": _required(location, "id", "location_id"),
        "variant_id": _id_of(item, "variant"),
        "sku": item.get("sku"),
        "location_name": location.get("name"),
        "updated_at": _timestamp(node.get("updatedAt"), "updated_at"),
    }
    for name in ("available", "on_hand", "committed", "incoming", "reserved"):
        value = quantities.get(name)
        row[name] = None if value is None else _int(value, name)
    return row


def _parsed(
    result: ExtractResult, entity: str, parse_row: Callable[..., dict], raw: object, *context: Any
) -> dict | None:
    """The row parsed from one API node, or None after putting the node in quarantine.

    A node of the wrong shape (a list or a string where an object belongs) is a bad record
    too, never a crash of the whole extraction.
    """
    try:
        if not isinstance(raw, dict):
            raise RecordError(f"{entity}: the record is not a JSON object")
        return parse_row(raw, *context)
    except RecordError as exc:
        reason = str(exc)
    except (AttributeError, TypeError, KeyError) as exc:
        reason = f"{entity}: unexpected record shape ({type(exc).__name__}: {exc})"
    result.reject(entity, reason, raw)
    return None


def _add(
    result: ExtractResult, entity: str, parse_row: Callable[..., dict], raw: object, *context: Any
) -> None:
    row = _parsed(result, entity, parse_row, raw, *context)
    if row is not None:
        result.add(entity, row)
