"""Order-line exports (``inbox/orders/<channel>/``) to the ``order_lines`` entity.

Three readers: any CSV/TSV/Parquet described by the folder's ``mapping.yml``
(:class:`OrdersMapping`), and two exports recognised by their header without a mapping: the
Amazon "All Orders" report (flat file) and the Shopify orders CSV export. The rules each reader
applies are in :mod:`extractors.inbox`'s documentation.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from extractors.inbox.common import (
    FileRejected,
    Parsed,
    RawTable,
    decode,
    find_column,
    gunzip_if_needed,
    load_mapping,
    mapped_columns,
    read_delimited,
    read_parquet,
    select_rows,
    shown_names,
)
from extractors.inbox.schemas import ORDER_LINES
from extractors.inbox.settings import FileSettings, Strict, file_format
from extractors.inbox.values import (
    MONEY_STEP,
    CellError,
    Cells,
    NumberFormat,
    TimestampFormat,
    as_text,
    is_blank,
    parse_currency,
    shown,
)

ZERO = Decimal("0.0000")
CENT = Decimal("0.01")
ORDER_FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".txt": "tsv", ".parquet": "parquet"}
ORDER_EXTENSIONS = (".csv", ".tsv", ".tab", ".txt", ".parquet", ".csv.gz", ".tsv.gz", ".txt.gz")

EXAMPLE_MAPPING = """\
    format: csv                  # csv | tsv | parquet (default: from the file name)
    delimiter: ","               # csv/tsv: ',' ';' '|' or tab
    timestamp_format: "%d.%m.%Y %H:%M"   # iso | epoch_s | epoch_ms | a strftime pattern
    timezone: Europe/Berlin      # for times written without an offset
    decimal_comma: true          # 12,50
    currency: EUR                # or map a currency column under columns:
    cancelled_statuses: [Canceled]
    columns:                     # <field>: <the file's column header>
      order_id: Order ID
      ordered_at: Sale Date
      sku: SKU
      quantity: Quantity
      unit_price: Price          # or line_revenue: Item Total
      discount: Discount Amount
      status: Status"""


class OrderColumns(Strict):
    """Which column of the file holds each field (the file's header text)."""

    order_id: str
    line_id: str | None = None
    customer_id: str | None = None
    customer_email: str | None = None
    ordered_at: str
    updated_at: str | None = None
    shipped_at: str | None = None
    sku: str
    product_name: str | None = None
    gtin: str | None = None
    channel_item_id: str | None = None
    quantity: str
    unit_price: str | None = None
    line_revenue: str | None = None
    discount: str | None = None
    shipping: str | None = None
    tax: str | None = None
    refunded_amount: str | None = None
    status: str | None = None
    currency: str | None = None
    storefront_id: str | None = None
    fulfillment_type: str | None = None

    @model_validator(mode="after")
    def _amount(self) -> OrderColumns:
        if self.unit_price is None and self.line_revenue is None:
            raise ValueError(
                "columns: map unit_price (price of one unit) or line_revenue (the line's total "
                "after discounts); one of them is required"
            )
        return self


class OrdersMapping(FileSettings):
    """``inbox/orders/<channel>/mapping.yml``."""

    format: Literal["csv", "tsv", "parquet"] | None = None
    storefront_id: str | None = Field(None, description="default: the folder name")
    cancelled_statuses: list[str] = Field(default_factory=list)
    columns: OrderColumns

    @model_validator(mode="after")
    def _currency_source(self) -> OrdersMapping:
        if self.currency is None and self.columns.currency is None:
            raise ValueError(
                "say which currency the amounts are in: `currency: EUR` for the whole file, or "
                "`columns: currency: <column>`"
            )
        return self


# ---------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------
def money(value: Decimal) -> Decimal:
    return value.quantize(MONEY_STEP, rounding=ROUND_HALF_EVEN)


def allocate(total: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """``total`` shared over lines in proportion to ``weights`` (equal shares when they are all
    0): every line but the first gets its share rounded to the cent, the first line gets the
    remainder, so the shares add up to ``total`` exactly."""
    n = len(weights)
    if n == 0:
        return []
    whole = sum(weights, Decimal(0))
    shares = [total / n] * n if whole == 0 else [total * w / whole for w in weights]
    others = [s.quantize(CENT, rounding=ROUND_HALF_EVEN) for s in shares[1:]]
    return [money(total - sum(others, Decimal(0))), *(money(o) for o in others)]


def positions(keys: Sequence[str | None]) -> list[int | None]:
    """1-based position of each row among the rows with the same key (file order)."""
    seen: dict[str, int] = defaultdict(int)
    out: list[int | None] = []
    for key in keys:
        if key is None:
            out.append(None)
            continue
        seen[key] += 1
        out.append(seen[key])
    return out


def flag_duplicate_lines(cells: Cells, raw: RawTable, order_ids: list, line_ids: list) -> None:
    first: dict[tuple[str, str], int] = {}
    for i, key in enumerate(zip(order_ids, line_ids, strict=True)):
        if key[0] is None or key[1] is None:
            continue
        if key in first:
            cells.add(
                i,
                f"order {key[0]!r} line {key[1]!r} already appears on row "
                f"{raw.row_numbers[first[key]]}; the repeat is not imported",
            )
        else:
            first[key] = i


def unit_prices(gross: list, quantity: list) -> list[Decimal | None]:
    return [
        money(g / q) if g is not None and q not in (None, 0) else None
        for g, q in zip(gross, quantity, strict=True)
    ]


def non_negative(parse):
    def check(value: object):
        result = parse(value)
        if result is not None and result < 0:
            raise CellError(f"must not be negative: {shown(value)}")
        return result

    return check


def finish(
    raw: RawTable,
    cells: Cells,
    columns: dict[str, list[Any]],
    where: str,
    source_format: str,
) -> Parsed:
    """The entity's columns (in schema order) for the good rows, and the refused rows."""
    n = raw.rows
    full = {f.name: columns.get(f.name, [None] * n) for f in ORDER_LINES.schema}
    full["source_format"] = [source_format] * n
    kept, rows, rejected = select_rows(raw, cells, full, where)
    return Parsed(ORDER_LINES.name, source_format, kept, rows, rejected)


# ---------------------------------------------------------------------------------------------
# Files described by mapping.yml
# ---------------------------------------------------------------------------------------------
def read_table(path: Path, data: bytes, settings: FileSettings, fmt: str) -> RawTable:
    """A CSV/TSV/Parquet file as text (or native) columns."""
    if fmt == "parquet":
        return read_parquet(gunzip_if_needed(path, data))
    text = decode(gunzip_if_needed(path, data), settings.encoding)
    delimiter = settings.delimiter or ("\t" if fmt == "tsv" else ",")
    return read_delimited(text, delimiter, settings.header_row)


def parse_mapped_orders(
    path: Path, data: bytes, mapping_path: Path | None, folder: str, where: str
) -> Parsed:
    mapping = load_mapping(mapping_path, OrdersMapping, EXAMPLE_MAPPING)
    fmt = file_format(path, mapping.format, ORDER_FORMATS)
    raw = read_table(path, data, mapping, fmt)
    if raw.rows == 0:
        raise FileRejected("the file has a header but no data rows")
    wanted = {k: v for k, v in mapping.columns.model_dump().items() if v is not None}
    found = mapped_columns(raw, wanted)
    numbers, times = mapping.numbers(), mapping.timestamps()
    cells = raw.cells()
    n = raw.rows

    def cell(setting: str) -> list:
        return raw.columns[found[setting]] if setting in found else [None] * n

    def convert(setting: str, parse, required: bool = False) -> list:
        if setting not in found:
            return [None] * n
        label = f"{found[setting]!r} ({setting})"
        return cells.convert(cell(setting), parse, label, required)

    out: dict[str, list[Any]] = {}
    out["order_id"] = convert("order_id", as_text, required=True)
    if "line_id" in found:
        out["line_id"] = convert("line_id", as_text, required=True)
    else:
        out["line_id"] = [None if p is None else str(p) for p in positions(out["order_id"])]
    for name in ("customer_id", "customer_email", "product_name", "gtin", "channel_item_id"):
        out[name] = convert(name, as_text)
    out["ordered_at"] = convert("ordered_at", times.parse, required=True)
    out["updated_at"] = convert("updated_at", times.parse)
    out["shipped_at"] = convert("shipped_at", times.parse)
    out["sku"] = convert("sku", as_text, required=True)
    quantity = convert("quantity", non_negative(numbers.integer), required=True)
    out["quantity"] = quantity
    unit_price = convert("unit_price", non_negative(numbers.money), required=True)
    by_revenue = "unit_price" not in found  # gross = line_revenue + discount
    line_revenue = convert("line_revenue", numbers.money, required=True) if by_revenue else []
    zero = [ZERO] * n
    amounts = {}
    for setting, name in (
        ("discount", "discount_amount"),
        ("shipping", "shipping_amount"),
        ("tax", "tax_amount"),
        ("refunded_amount", "refunded_amount"),
    ):
        values = convert(setting, numbers.money) if setting in found else zero
        amounts[name] = [ZERO if v is None else v for v in values]
    out.update(amounts)
    if not by_revenue:
        out["unit_price"] = unit_price
        out["gross_amount"] = [
            money(p * q) if p is not None and q is not None else None
            for p, q in zip(unit_price, quantity, strict=True)
        ]
    else:
        out["gross_amount"] = [
            None if r is None else money(r + d)
            for r, d in zip(line_revenue, amounts["discount_amount"], strict=True)
        ]
        out["unit_price"] = unit_prices(out["gross_amount"], quantity)
    status = convert("status", as_text)
    cancelled = {s.strip().casefold() for s in mapping.cancelled_statuses}
    out["order_status"] = status
    out["is_cancelled"] = [s is not None and s.casefold() in cancelled for s in status]
    currency = convert("currency", parse_currency)
    out["currency"] = [c or mapping.currency for c in currency]
    for i, c in enumerate(out["currency"]):
        if c is None and i not in cells.problems:
            cells.add(
                i,
                f"column {found['currency']!r} (currency): empty, and mapping.yml sets no "
                "fixed `currency:`",
            )
    storefront = convert("storefront_id", as_text)
    out["storefront_id"] = [s or mapping.storefront_id or folder for s in storefront]
    out["fulfillment_type"] = convert("fulfillment_type", as_text)
    flag_duplicate_lines(cells, raw, out["order_id"], out["line_id"])
    return finish(raw, cells, out, where, "mapping")


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
    if path.name.lower().endswith(".parquet"):
        return None
    try:
        head = gunzip_if_needed(path, data)[: 1 << 16]
    except FileRejected:
        return None
    first = head.decode("utf-8", errors="replace").lstrip("\ufeff").split("\n", 1)[0].strip("\r")
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


def parse_orders(
    path: Path, data: bytes, mapping_path: Path | None, folder: str, where: str
) -> Parsed:
    """An orders file of ``inbox/orders/<folder>/`` to order lines (see the module docstring)."""
    export = detect_export(path, data)
    if export == "amazon_all_orders":
        return parse_amazon_all_orders(path, data, folder, where)
    if export == "shopify_orders_csv":
        return parse_shopify_orders(path, data, folder, where)
    name = path.name.lower()
    if not name.endswith(ORDER_EXTENSIONS) and not mapping_path:
        raise FileRejected(
            f"{path.name!r} is not a file type the orders inbox reads (CSV, TSV or Parquet, "
            "optionally .gz)"
        )
    return parse_mapped_orders(path, data, mapping_path, folder, where)
