"""Order-line exports recognised by their header, without a mapping: the Amazon "All
Orders" report (flat file) and the Shopify orders CSV export.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from extractors.inbox.common import (
    FileRejected,
    Parsed,
    RawTable,
    decode,
    find_column,
    gunzip_if_needed,
    header_line,
    read_delimited,
    shown_names,
)
from extractors.inbox.order_lines import (
    ZERO,
    allocate,
    finish,
    money,
    non_negative,
    positions,
    unit_prices,
)
from extractors.inbox.values import (
    CellError,
    NumberFormat,
    TimestampFormat,
    as_text,
    is_blank,
    parse_currency,
    shown,
)

# ---------------------------------------------------------------------------------------------
# Exports recognised by their header
# ---------------------------------------------------------------------------------------------
AMAZON_REQUIRED = ("amazon-order-id", "purchase-date", "sku", "quantity", "currency", "item-price")
AMAZON_SIGNATURE = {"amazon-order-id", "purchase-date", "sku", "item-price"}
SHOPIFY_REQUIRED = (
    "Name",
    "Created at",
    "Currency",
    "Lineitem quantity",
    "Lineitem price",
    "Lineitem sku",
)
SHOPIFY_SIGNATURE = {"Name", "Created at", "Lineitem quantity", "Lineitem price", "Lineitem sku"}
FULFILLMENT = {"amazon": "FBA", "afn": "FBA", "merchant": "FBM", "mfn": "FBM"}
# The currency of an Amazon marketplace, for Pending lines the report leaves without one.
MARKETPLACE_CURRENCY = {
    "amazon.com": "USD",
    "amazon.ca": "CAD",
    "amazon.com.mx": "MXN",
    "amazon.com.br": "BRL",
    "amazon.co.uk": "GBP",
    "amazon.de": "EUR",
    "amazon.fr": "EUR",
    "amazon.it": "EUR",
    "amazon.es": "EUR",
    "amazon.nl": "EUR",
    "amazon.be": "EUR",
    "amazon.ie": "EUR",
    "amazon.se": "SEK",
    "amazon.pl": "PLN",
    "amazon.com.tr": "TRY",
    "amazon.ae": "AED",
    "amazon.sa": "SAR",
    "amazon.in": "INR",
    "amazon.co.jp": "JPY",
    "amazon.com.au": "AUD",
    "amazon.sg": "SGD",
}


def detect_export(path: Path, data: bytes) -> str | None:
    """``amazon_all_orders`` or ``shopify_orders_csv`` when the header line is one of those
    exports', else None."""
    first = header_line(path, data)
    if first is None:
        return None
    if {c.strip() for c in first.split("\t")} >= AMAZON_SIGNATURE:
        return "amazon_all_orders"
    try:
        header = next(csv.reader(io.StringIO(first)), [])
    except csv.Error:
        return None
    if {c.strip() for c in header} >= SHOPIFY_SIGNATURE:
        return "shopify_orders_csv"
    return None


def _require(raw: RawTable, names: Sequence[str], export: str) -> dict[str, str]:
    found = {}
    missing = []
    for name in names:
        column = find_column(raw.names, name)
        if column is None:
            missing.append(name)
        else:
            found[name] = column
    if missing:
        raise FileRejected(
            f"this looks like {export} but lacks the column(s) {', '.join(map(repr, missing))}; "
            f"its columns are: {shown_names(raw.names)}. Export the full report again, or add a "
            "mapping.yml to the folder."
        )
    return found


def _optional(raw: RawTable, name: str) -> list:
    column = find_column(raw.names, name)
    return raw.columns[column] if column else [None] * raw.rows


def _text_any(path: Path, data: bytes) -> str:
    data = gunzip_if_needed(path, data)
    try:
        return decode(data, "utf-8")
    except FileRejected:
        return decode(data, "cp1252")  # older Seller Central downloads


def parse_amazon_all_orders(path: Path, data: bytes, folder: str, where: str) -> Parsed:
    raw = read_delimited(_text_any(path, data), "\t", quote_char=None)
    if raw.rows == 0:
        raise FileRejected("the Amazon report has a header but no orders")
    found = _require(raw, AMAZON_REQUIRED, "an Amazon 'All Orders' report")
    numbers, times = NumberFormat(), TimestampFormat("iso")
    cells = raw.cells()
    n = raw.rows

    def convert(name: str, parse, required: bool = False) -> list:
        return cells.convert(_optional(raw, name), parse, repr(found.get(name, name)), required)

    def amount(name: str) -> list[Decimal]:
        return [ZERO if v is None else v for v in convert(name, numbers.money)]

    out: dict[str, list[Any]] = {}
    out["order_id"] = convert("amazon-order-id", as_text, required=True)
    out["ordered_at"] = convert("purchase-date", times.parse, required=True)
    out["updated_at"] = convert("last-updated-date", times.parse)
    out["order_status"] = convert("order-status", as_text)
    item_status = convert("item-status", as_text)
    out["is_cancelled"] = [
        (o or "").casefold() == "cancelled" or (s or "").casefold() == "cancelled"
        for o, s in zip(out["order_status"], item_status, strict=True)
    ]
    out["sku"] = convert("sku", as_text, required=True)
    out["product_name"] = convert("product-name", as_text)
    out["channel_item_id"] = convert("asin", as_text)
    out["customer_email"] = convert("buyer-email", as_text)
    out["quantity"] = convert("quantity", non_negative(numbers.integer), required=True)
    out["currency"] = convert("currency", parse_currency)
    # Amazon leaves the currency and amounts empty on Pending orders: take the currency of the
    # order's other lines, else of its marketplace (sales-channel), else of the file; amounts 0.

    known = {o: c for o, c in zip(out["order_id"], out["currency"], strict=True) if c}
    currencies = set(known.values())
    fallback = currencies.pop() if len(currencies) == 1 else None
    channel = convert("sales-channel", as_text)
    for i, c in enumerate(out["currency"]):
        if c is None:
            marketplace = (channel[i] or "").casefold()
            out["currency"][i] = (
                known.get(out["order_id"][i]) or MARKETPLACE_CURRENCY.get(marketplace) or fallback
            )
            if out["currency"][i] is None and i not in cells.problems:
                cells.add(i, f"column {found['currency']!r}: empty and no other line says it")
    price = convert("item-price", numbers.money)  # the line's total, empty on Pending orders
    out["gross_amount"] = [ZERO if p is None else p for p in price]
    out["unit_price"] = unit_prices(price, out["quantity"])
    out["discount_amount"] = [abs(d) for d in amount("item-promotion-discount")]
    out["shipping_amount"] = [
        money(s + g - abs(p))
        for s, g, p in zip(
            amount("shipping-price"),
            amount("gift-wrap-price"),
            amount("ship-promotion-discount"),
            strict=True,
        )
    ]
    out["tax_amount"] = [
        money(a + b + c)
        for a, b, c in zip(
            amount("item-tax"), amount("shipping-tax"), amount("gift-wrap-tax"), strict=True
        )
    ]
    out["refunded_amount"] = [ZERO] * n
    out["storefront_id"] = [c or folder for c in channel]
    fulfillment = convert("fulfillment-channel", as_text)
    out["fulfillment_type"] = [
        None if f is None else FULFILLMENT.get(f.casefold(), f) for f in fulfillment
    ]
    # No order item id in the report: a line is the SKU's rank within its order (by SKU, then
    # file order), stable however Amazon orders the rows of a later report.
    by_order: dict[str, list[int]] = defaultdict(list)
    for i, order in enumerate(out["order_id"]):
        if order is not None:
            by_order[order].append(i)
    line_id: list[str | None] = [None] * n
    for rows in by_order.values():
        ranked = sorted(rows, key=lambda i: (out["sku"][i] or "", i))
        for rank, i in enumerate(ranked, start=1):
            line_id[i] = str(rank)
    out["line_id"] = line_id
    return finish(raw, cells, out, where, "amazon_all_orders")


SHOPIFY_TIMES = (TimestampFormat("%Y-%m-%d %H:%M:%S %z"), TimestampFormat("iso"))


def shopify_time(value: object) -> datetime | None:
    """``2026-01-05 14:03:11 -0500`` (the export's format) or ISO 8601."""
    try:
        return SHOPIFY_TIMES[0].parse(value)
    except CellError:
        try:
            return SHOPIFY_TIMES[1].parse(value)
        except CellError:
            raise CellError(
                f"not a date/time like '2026-01-05 14:03:11 -0500': {shown(value)}"
            ) from None


def parse_shopify_orders(path: Path, data: bytes, folder: str, where: str) -> Parsed:
    raw = read_delimited(_text_any(path, data), ",")
    if raw.rows == 0:
        raise FileRejected("the Shopify export has a header but no orders")
    found = _require(raw, SHOPIFY_REQUIRED, "a Shopify orders export")
    numbers = NumberFormat()
    cells = raw.cells()
    n = raw.rows

    def convert(name: str, parse, required: bool = False, values: list | None = None) -> list:
        column = found.get(name) or find_column(raw.names, name) or name
        values = _optional(raw, name) if values is None else values
        return cells.convert(values, parse, repr(column), required)

    order_ids = convert("Name", as_text, required=True)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, order in enumerate(order_ids):
        if order is not None:
            groups[order].append(i)

    def order_level(name: str) -> list:
        """The order's value (on its first row in the export) on every row of the order."""
        values = _optional(raw, name)
        spread = list(values)
        for rows in groups.values():
            first = next((values[i] for i in rows if not is_blank(values[i])), None)
            for i in rows:
                spread[i] = first
        return spread

    out: dict[str, list[Any]] = {"order_id": order_ids}
    out["line_id"] = [None if p is None else str(p) for p in positions(order_ids)]
    out["customer_email"] = convert("Email", as_text, values=order_level("Email"))
    out["ordered_at"] = convert(
        "Created at", shopify_time, required=True, values=order_level("Created at")
    )
    out["shipped_at"] = convert("Fulfilled at", shopify_time, values=order_level("Fulfilled at"))
    out["order_status"] = convert(
        "Financial Status", as_text, values=order_level("Financial Status")
    )
    cancelled_at = convert("Cancelled at", shopify_time, values=order_level("Cancelled at"))
    out["is_cancelled"] = [c is not None for c in cancelled_at]
    out["currency"] = convert(
        "Currency", parse_currency, required=True, values=order_level("Currency")
    )
    out["sku"] = convert("Lineitem sku", as_text, required=True)
    out["product_name"] = convert("Lineitem name", as_text)
    quantity = convert("Lineitem quantity", non_negative(numbers.integer), required=True)
    price = convert("Lineitem price", non_negative(numbers.money), required=True)
    out["quantity"], out["unit_price"] = quantity, price
    gross = [
        money(p * q) if p is not None and q is not None else None
        for p, q in zip(price, quantity, strict=True)
    ]
    out["gross_amount"] = gross
    totals = {
        name: convert(column, numbers.money, values=order_level(column))
        for name, column in (
            ("shipping_amount", "Shipping"),
            ("tax_amount", "Taxes"),
            ("refunded_amount", "Refunded Amount"),
            ("discount_order", "Discount Amount"),
        )
    }
    has_line_discounts = find_column(raw.names, "Lineitem discount") is not None
    line_discount = convert("Lineitem discount", numbers.money) if has_line_discounts else None

    # A problem on any row of an order (its order-level cells sit on the first row) refuses the
    # whole order, since its amounts are shared over all its lines.
    for rows in groups.values():
        bad = [i for i in rows if i in cells.problems]
        if bad:
            for i in rows:
                if i not in cells.problems:
                    cells.add(
                        i,
                        f"another line of order {order_ids[i]!r} (row "
                        f"{raw.row_numbers[bad[0]]}) cannot be read; the order is not imported",
                    )

    for name in ("shipping_amount", "tax_amount", "refunded_amount", "discount_amount"):
        out[name] = [ZERO] * n
    for rows in groups.values():
        if any(i in cells.problems for i in rows):
            continue
        weights = [gross[i] for i in rows]
        first = rows[0]
        for name in ("shipping_amount", "tax_amount", "refunded_amount"):
            shares = allocate(totals[name][first] or ZERO, weights)
            for i, share in zip(rows, shares, strict=True):
                out[name][i] = share
        line_values = [line_discount[i] for i in rows] if line_discount else []
        if any(v for v in line_values if v is not None):
            for i in rows:
                out["discount_amount"][i] = abs(line_discount[i] or ZERO)
        else:
            shares = allocate(abs(totals["discount_order"][first] or ZERO), weights)
            for i, share in zip(rows, shares, strict=True):
                out["discount_amount"][i] = share
    out["storefront_id"] = [folder] * n
    return finish(raw, cells, out, where, "shopify_orders_csv")
