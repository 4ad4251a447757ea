"""Shared by tests/integration/test_warehouse_files.py: the inbox contract's schemas, an imported file
written straight into the lake as the inbox lands it, and the imports' rows."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from extractors.lake import META_FIELDS

MONEY = pa.decimal128(18, 4)
SOURCE_FIELDS = [pa.field("_source_file", pa.string()), pa.field("_source_row", pa.int64())]
ORDER_LINES = pa.schema(
    [
        pa.field("order_id", pa.string(), nullable=False),
        pa.field("line_id", pa.string(), nullable=False),
        pa.field("customer_id", pa.string()),
        pa.field("customer_email", pa.string()),
        pa.field("ordered_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("updated_at", pa.timestamp("us", tz="UTC")),
        pa.field("order_status", pa.string()),
        pa.field("is_cancelled", pa.bool_(), nullable=False),
        pa.field("sku", pa.string(), nullable=False),
        pa.field("product_name", pa.string()),
        pa.field("gtin", pa.string()),
        pa.field("channel_item_id", pa.string()),
        pa.field("quantity", pa.int64(), nullable=False),
        pa.field("unit_price", MONEY),
        pa.field("gross_amount", MONEY, nullable=False),
        pa.field("discount_amount", MONEY, nullable=False),
        pa.field("shipping_amount", MONEY, nullable=False),
        pa.field("tax_amount", MONEY, nullable=False),
        pa.field("refunded_amount", MONEY, nullable=False),
        pa.field("currency", pa.string(), nullable=False),
        pa.field("storefront_id", pa.string(), nullable=False),
        pa.field("fulfillment_type", pa.string()),
        pa.field("shipped_at", pa.timestamp("us", tz="UTC")),
        pa.field("source_format", pa.string(), nullable=False),
    ]
)
SKU_MAPPINGS = pa.schema(
    [
        pa.field("channel", pa.string()),
        pa.field("connection_name", pa.string()),
        pa.field("listing_sku", pa.string(), nullable=False),
        pa.field("product_sku", pa.string(), nullable=False),
        pa.field("note", pa.string()),
    ]
)
FX_RATES = pa.schema(
    [
        pa.field("rate_date", pa.date32(), nullable=False),
        pa.field("currency", pa.string(), nullable=False),
        pa.field("rate_per_eur", pa.decimal128(18, 6), nullable=False),
        pa.field("source", pa.string()),
    ]
)


def write_import(
    lake: Path,
    channel: str,
    connection: str,
    entity: str,
    schema: pa.Schema,
    rows: list[dict],
    imported_at: datetime,
    source_file: str,
) -> Path:
    """One imported file as the inbox lands it: raw/channel=<channel>/connection=<folder>/
    entity=<entity>/date=<UTC import day>/part-<16 hex of the content's sha256>.parquet."""
    digest = hashlib.sha256(json.dumps(rows, default=str, sort_keys=True).encode()).hexdigest()
    stamp = {
        "_channel": channel,
        "_connection": connection,
        "_extracted_at": imported_at,
        "_extraction_id": f"import-{imported_at:%Y%m%d%H%M%S}",
        "_api_version": f"inbox:test:sha256:{digest[:16]}",
        "_window_start": imported_at,
        "_window_end": imported_at,
    }
    full = pa.schema([*schema, *META_FIELDS, *(SOURCE_FIELDS if channel == "files" else [])])
    records = [
        {**row, **stamp, "_source_file": source_file, "_source_row": i}
        for i, row in enumerate(rows, start=1)
    ]
    path = (
        lake
        / "raw"
        / f"channel={channel}"
        / f"connection={connection}"
        / f"entity={entity}"
        / f"date={imported_at.date().isoformat()}"
        / f"part-{digest[:16]}.parquet"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(records, schema=full), path)
    return path


def line(order_id: str, line_id: str, ordered_at: datetime, sku: str, quantity: int, **values):
    """An order line with the contract's defaults (amounts 0, not cancelled, EUR on etsy)."""
    row = {name: None for name in ORDER_LINES.names}
    money = ("gross_amount", "discount_amount", "shipping_amount", "tax_amount", "refunded_amount")
    row |= {name: Decimal(0) for name in money}
    row |= {
        "order_id": order_id,
        "line_id": line_id,
        "ordered_at": ordered_at,
        "sku": sku,
        "quantity": quantity,
        "is_cancelled": False,
        "currency": "EUR",
        "storefront_id": "etsy",
        "source_format": "mapping",
    }
    row |= {k: Decimal(v) if k in money or k == "unit_price" else v for k, v in values.items()}
    return row


@dataclass(frozen=True)
class Picked:
    """The products the file imports sell and the customer who buys on Etsy too, chosen from
    the build without files."""

    p1: str
    p2: str
    p2_gtin: str
    p3: str
    p3_asin: str
    p4: str
    shopify_customer_id: str
    shopify_email: str


def etsy_exports(
    day_d: datetime, day_d2: datetime, picked: Picked
) -> tuple[list[dict], list[dict]]:
    """The first Etsy export (E1 and E2 on day D, E3 on day D2) and its re-export (a refund on
    E1 line 1, E3 shipped; the cancelled E2 no longer listed)."""
    p1, p2_gtin = picked.p1, picked.p2_gtin
    e1 = dict(customer_email=f"  {picked.shopify_email.upper()} ", order_status="Shipped")
    e1_1 = dict(
        product_name="Widget",
        unit_price="20",
        gross_amount="40",
        discount_amount="4",
        shipping_amount="5",
        tax_amount="7.6",
        shipped_at=day_d + timedelta(hours=20),
    )
    e1_2 = dict(
        product_name="Gift box",
        gtin=p2_gtin.removeprefix("0"),
        unit_price="15",
        gross_amount="15",
        tax_amount="2.85",
        shipped_at=day_d + timedelta(hours=20),
    )
    e3 = dict(customer_email="new.buyer@example.org")
    e3_1 = dict(product_name="Widget", unit_price="20", gross_amount="20")
    e3_2 = dict(
        product_name="Remapped",
        gtin=p2_gtin,
        unit_price="11.11",
        gross_amount="33.33",
        discount_amount="3.33",
    )
    shipped = dict(order_status="Shipped", shipped_at=day_d2 + timedelta(days=1))
    first_export = [
        line("E1", "1", day_d, p1, 2, **e1, **e1_1),
        line("E1", "2", day_d, "ETSY-GIFT-1", 1, **e1, **e1_2),
        line(
            "E2",
            "1",
            day_d + timedelta(hours=1),
            "etsy-odd",
            1,
            customer_id="etsy-cust-7",
            order_status="Cancelled",
            is_cancelled=True,
            gross_amount="30",
            unit_price="30",
        ),
        line("E3", "1", day_d2, p1, 1, order_status="Paid", **e3, **e3_1),
        line("E3", "2", day_d2, "ETSY-REMAP", 3, order_status="Paid", **e3, **e3_2),
    ]
    re_export = [
        line("E1", "1", day_d, p1, 2, **e1, **e1_1, refunded_amount="10"),
        line("E1", "2", day_d, "ETSY-GIFT-1", 1, **e1, **e1_2),
        line("E3", "1", day_d2, p1, 1, **e3, **e3_1, **shipped),
        line("E3", "2", day_d2, "ETSY-REMAP", 3, **e3, **e3_2, **shipped),
    ]
    return first_export, re_export


def write_other_imports(
    lake: Path, picked: Picked, day_d: datetime, day_d2: datetime, t1: datetime, t2: datetime
) -> None:
    """An Amazon all-orders flat file, a SKU-mapping file and two FX files (a full file for
    day D, then a partial correction of USD), as the inbox lands them."""
    flat_file = [
        line(
            "111-0000001-0000001",
            "1",
            day_d2,
            "FLAT-SKU-1",
            1,
            currency="USD",
            storefront_id="Amazon.com",
            channel_item_id=picked.p3_asin,
            unit_price="19.99",
            gross_amount="19.99",
            order_status="Shipped",
            shipped_at=day_d2 + timedelta(days=1),
            fulfillment_type="FBA",
            source_format="amazon_all_orders",
        ),
    ]
    mappings = [
        {
            "channel": "etsy",
            "connection_name": "etsy",
            "listing_sku": "etsy-remap",
            "product_sku": picked.p4.lower(),
            "note": "sold as a bundle",
        },
        {
            "channel": None,
            "connection_name": None,
            "listing_sku": "ETSY-ODD",
            "product_sku": picked.p4,
            "note": None,
        },
    ]
    d = day_d.date()
    fx_first = [  # a full file for day D, then a partial correction of USD
        {"rate_date": d, "currency": "USD", "rate_per_eur": Decimal("1.2"), "source": "inbox"},
        {"rate_date": d, "currency": "GBP", "rate_per_eur": Decimal("0.8"), "source": "inbox"},
    ]
    fx_correction = [
        {"rate_date": d, "currency": "USD", "rate_per_eur": Decimal("1.25"), "source": "inbox"}
    ]
    write_import(
        lake,
        "files",
        "amazon_flat",
        "order_lines",
        ORDER_LINES,
        flat_file,
        t1,
        "archive/orders/amazon_flat/t1__all-orders.txt",
    )
    write_import(
        lake,
        "files",
        "inbox",
        "sku_mappings",
        SKU_MAPPINGS,
        mappings,
        t1,
        "archive/sku_mappings/t1__skus.csv",
    )
    fx = ("reference", "inbox", "fx_rates", FX_RATES)
    write_import(lake, *fx, fx_first, t1, "archive/fx_rates/t1__rates.csv")
    write_import(lake, *fx, fx_correction, t2, "archive/fx_rates/t2__rates.csv")
