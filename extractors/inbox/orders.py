"""Order-line exports (``inbox/orders/<channel>/``) to the ``order_lines`` entity.

Three readers: any CSV/TSV/Parquet described by the folder's ``mapping.yml``
(:class:`OrdersMapping`), and two exports recognised by their header without a mapping: the
Amazon "All Orders" report (flat file) and the Shopify orders CSV export. The rules each reader
applies are in :mod:`extractors.inbox`'s documentation. This module reads the mapped files and
picks the reader; the two exports are in :mod:`extractors.inbox.exports`, what all readers share
in :mod:`extractors.inbox.order_lines`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from extractors.inbox.common import (
    FileRejected,
    Parsed,
    RawTable,
    decode,
    gunzip_if_needed,
    load_mapping,
    mapped_columns,
    read_delimited,
    read_parquet,
)
from extractors.inbox.exports import detect_export, parse_amazon_all_orders, parse_shopify_orders
from extractors.inbox.order_lines import (
    ZERO,
    finish,
    flag_duplicate_lines,
    money,
    non_negative,
    positions,
    unit_prices,
)
from extractors.inbox.settings import FileSettings, Strict, file_format
from extractors.inbox.values import as_text, parse_currency

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
