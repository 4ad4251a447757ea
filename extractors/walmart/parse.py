"""Walmart Marketplace API documents (orders, items, inventory) -> lake rows.

Each helper names the field it could not read (a RecordError quarantines the record).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from extractors.base import (
    RecordError,
    to_money,
)

# How far along its lifecycle a line status is; the furthest one is the line's status.
STATUS_RANK = {
    "Created": 0,
    "Acknowledged": 1,
    "Shipped": 2,
    "Delivered": 3,
    "Cancelled": 4,
    "Refund": 5,
}


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
