"""The inbox's order files into the lake: orders with a mapping (time zones, decimal commas,
refused rows), Parquet with unit prices, Amazon's all-orders flat file and Shopify's orders
export."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from extractors.inbox import scan
from extractors.lake import QUARANTINE_SCHEMA
from tests.extractors.inbox_helpers import (
    FIXTURES,
    STAMP,
    D,
    drop,
    drop_mapping,
    import_one,
    lake_rows,
    order_line,
    quarantine_reasons,
    utc,
)


# ---------------------------------------------------------------------------------------------
# Orders
# ---------------------------------------------------------------------------------------------
def test_orders_with_mapping_time_zones_decimal_commas_and_refused_rows(data_dir: Path):
    drop_mapping(data_dir, "orders/etsy")
    drop(data_dir, "orders/etsy/sold_items.csv")
    result = import_one(data_dir, "orders/etsy/sold_items.csv")

    assert result.status == "imported", result.reason
    assert (result.rows_written, result.rows_quarantined) == (3, 2)
    digest = result.file.digest
    assert result.lake_path == (
        data_dir
        / "raw/channel=files/connection=etsy/entity=order_lines/date=2026-01-10"
        / f"part-{digest}.parquet"
    )
    base = dict(currency="EUR", storefront_id="etsy", source_format="mapping")
    assert lake_rows(result) == [
        order_line(  # 1.234,50 after a 10,00 discount: gross 1244.50; 14:30 CET = 13:30 UTC
            order_id="1001",
            line_id="1",
            customer_id="B-1",
            ordered_at=utc(2026, 1, 5, 13, 30),
            order_status="Completed",
            sku="CH-00001",
            product_name="Chef's Knife",
            quantity=2,
            unit_price=D("622.25"),
            gross_amount=D("1244.50"),
            discount_amount=D("10"),
            shipping_amount=D("4.95"),
            _source_row=1,
            **base,
        ),
        order_line(
            order_id="1001",
            line_id="2",
            customer_id="B-1",
            ordered_at=utc(2026, 1, 5, 13, 30),
            order_status="Completed",
            sku="CH-00002",
            product_name="Cutting Board",
            quantity=1,
            unit_price=D("20"),
            gross_amount=D("20"),
            _source_row=2,
            **base,
        ),
        order_line(  # summer time: 02:30 CEST = 00:30 UTC
            order_id="1002",
            line_id="1",
            customer_id="B-2",
            ordered_at=utc(2026, 3, 30, 0, 30),
            order_status="Canceled",
            is_cancelled=True,
            sku="CH-00003",
            product_name="Table Lamp",
            quantity=1,
            unit_price=D("15.5"),
            gross_amount=D("15.5"),
            _source_row=3,
            **base,
        ),
    ]
    assert quarantine_reasons(result) == [
        "orders/etsy/sold_items.csv, row 4: column 'Sale Date' (ordered_at): not a date/time in "
        "the format '%d.%m.%Y %H:%M': '31.02.2026 10:00'",
        "orders/etsy/sold_items.csv, row 5: column 'SKU' (sku): empty, but a value is required; "
        "column 'Quantity' (quantity): not a number: 'x'",
    ]
    assert result.quarantine_rows_path == (
        data_dir
        / "quarantine/channel=files/connection=etsy/entity=order_lines/date=2026-01-10"
        / f"part-{digest}.parquet"
    )
    assert pq.read_schema(result.quarantine_rows_path).equals(QUARANTINE_SCHEMA)
    # Stamps and provenance; the file moved to the archive.
    table = pq.read_table(result.lake_path)
    assert table.schema.field("order_id").nullable is False
    assert set(table.column("_channel").to_pylist()) == {"files"}
    assert set(table.column("_connection").to_pylist()) == {"etsy"}
    assert set(table.column("_api_version").to_pylist()) == {f"inbox:mapping:sha256:{digest}"}
    assert set(table.column("_source_file").to_pylist()) == {
        f"archive/orders/etsy/{STAMP}__sold_items.csv"
    }
    assert result.archive_path == data_dir / f"inbox/archive/orders/etsy/{STAMP}__sold_items.csv"
    assert (
        result.archive_path.read_bytes() == (FIXTURES / "orders/etsy/sold_items.csv").read_bytes()
    )
    assert not (data_dir / "inbox/orders/etsy/sold_items.csv").exists()
    assert (data_dir / "inbox/orders/etsy/mapping.yml").exists()
    assert [p.relative for p in scan(data_dir / "inbox")] == []


def test_orders_parquet_with_unit_prices_and_a_currency_column(data_dir: Path):
    drop(
        data_dir,
        "orders/pos/mapping.yml",
        "currency: USD\ntimezone: America/New_York\n"
        "columns: {order_id: receipt, ordered_at: sold_at, sku: item, quantity: qty,\n"
        "  unit_price: price, discount: disc, tax: vat, currency: cur, line_id: pos}\n",
    )
    table = pa.table(
        {
            "receipt": [7, 7, 8],
            "pos": [10, 20, 10],
            "sold_at": [datetime(2026, 7, 1, 9, 0), datetime(2026, 7, 1, 9, 0), None],
            "item": ["A", "B", "C"],
            "qty": [3, 1, 1],
            "price": [2.5, 1.999, 4.0],
            "disc": [0.5, None, 0.0],
            "vat": [0.3, 0.1, 0.0],
            "cur": ["CAD", None, "USD"],
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    drop(data_dir, "orders/pos/day.parquet", buffer.getvalue())
    result = import_one(data_dir, "orders/pos/day.parquet")
    assert (result.status, result.rows_written, result.rows_quarantined) == ("imported", 2, 1)
    base = dict(storefront_id="pos", source_format="mapping", ordered_at=utc(2026, 7, 1, 13))
    assert lake_rows(result) == [
        order_line(
            order_id="7",
            line_id="10",
            sku="A",
            quantity=3,
            unit_price=D("2.5"),
            gross_amount=D("7.5"),
            discount_amount=D("0.5"),
            tax_amount=D("0.3"),
            currency="CAD",
            _source_row=1,
            **base,
        ),
        order_line(  # an empty currency cell takes the mapping's `currency:`
            order_id="7",
            line_id="20",
            sku="B",
            quantity=1,
            unit_price=D("1.999"),
            gross_amount=D("1.999"),
            tax_amount=D("0.1"),
            currency="USD",
            _source_row=2,
            **base,
        ),
    ]
    assert quarantine_reasons(result) == [
        "orders/pos/day.parquet, row 3: column 'sold_at' (ordered_at): empty, but a value is "
        "required"
    ]


def test_amazon_all_orders_flat_file_needs_no_mapping(data_dir: Path):
    drop(data_dir, "orders/amazon_flat/all_orders.txt")
    result = import_one(data_dir, "orders/amazon_flat/all_orders.txt")
    assert (result.status, result.rows_written, result.rows_quarantined) == ("imported", 4, 1)
    assert result.source_format == "amazon_all_orders"
    shipped = dict(
        ordered_at=utc(2026, 1, 5, 14, 3, 11),
        updated_at=utc(2026, 1, 6, 10),
        order_status="Shipped",
        currency="USD",
        storefront_id="Amazon.com",
        fulfillment_type="FBA",
        source_format="amazon_all_orders",
    )
    rows = sorted(lake_rows(result), key=lambda r: (r["order_id"], r["line_id"]))
    assert rows == [
        order_line(  # line ids go by SKU: CH-00001 before CH-00002-FBA whatever the file order
            order_id="111-0000001-0000001",
            line_id="1",
            sku="CH-00001",
            product_name="Cutting Board",
            channel_item_id="B0AAAAAAA2",
            quantity=1,
            unit_price=D("19.99"),
            gross_amount=D("19.99"),
            tax_amount=D("2.00"),
            shipping_amount=D("0"),
            _source_row=2,
            **shipped,
        ),
        order_line(  # item-price is the total of the 2 units; the promotion is a discount
            order_id="111-0000001-0000001",
            line_id="2",
            sku="CH-00002-FBA",
            product_name='Knife 8" Pro',
            channel_item_id="B0AAAAAAA1",
            quantity=2,
            unit_price=D("29.99"),
            gross_amount=D("59.98"),
            discount_amount=D("5.00"),
            tax_amount=D("4.80"),
            _source_row=1,
            **shipped,
        ),
        order_line(  # Pending: no amounts and no currency yet (the marketplace's is taken)
            order_id="113-0000003-0000003",
            line_id="1",
            sku="CH-00004",
            product_name="Ceramic Vase",
            channel_item_id="B0AAAAAAA4",
            quantity=1,
            gross_amount=D("0"),
            ordered_at=utc(2026, 1, 7, 23, 59, 59),
            updated_at=utc(2026, 1, 7, 23, 59, 59),
            order_status="Pending",
            currency="USD",
            storefront_id="Amazon.com",
            fulfillment_type="FBA",
            source_format="amazon_all_orders",
            _source_row=4,
        ),
        order_line(
            order_id="702-0000002-0000002",
            line_id="1",
            sku="CH-00003",
            product_name="Table Lamp",
            channel_item_id="B0AAAAAAA3",
            quantity=0,
            gross_amount=D("0"),
            ordered_at=utc(2026, 1, 6, 13),
            updated_at=utc(2026, 1, 6, 14),
            order_status="Cancelled",
            is_cancelled=True,
            currency="CAD",
            storefront_id="Amazon.ca",
            fulfillment_type="FBM",
            source_format="amazon_all_orders",
            _source_row=3,
        ),
    ]
    assert quarantine_reasons(result) == [
        "orders/amazon_flat/all_orders.txt, row 5: column 'purchase-date': not an ISO 8601 "
        "date/time such as 2026-01-05T14:03:11Z: 'not a date'"
    ]


def test_shopify_orders_export_shares_order_amounts_exactly(data_dir: Path):
    drop(data_dir, "orders/shopify_csv/orders_export.csv")
    result = import_one(data_dir, "orders/shopify_csv/orders_export.csv")
    assert (result.status, result.rows_written, result.rows_quarantined) == ("imported", 4, 2)
    first = dict(
        order_id="#1001",
        customer_email="ann@example.com",
        ordered_at=utc(2026, 1, 5, 19, 3, 11),
        shipped_at=utc(2026, 1, 6, 14),
        order_status="paid",
        currency="USD",
        storefront_id="shopify_csv",
        source_format="shopify_orders_csv",
    )
    # Gross 40 + 40 + 10 = 90: shipping 5.00, taxes 5.61 and the 10.00 discount shared 4:4:1,
    # rounded to the cent, the remainder on the first line.
    assert lake_rows(result) == [
        order_line(
            line_id="1",
            sku="CH-00010",
            product_name="Mug - Black",
            quantity=2,
            unit_price=D("20"),
            gross_amount=D("40"),
            discount_amount=D("4.45"),
            shipping_amount=D("2.22"),
            tax_amount=D("2.50"),
            _source_row=1,
            **first,
        ),
        order_line(
            line_id="2",
            sku="CH-00011",
            product_name="Table Lamp",
            quantity=1,
            unit_price=D("40"),
            gross_amount=D("40"),
            discount_amount=D("4.44"),
            shipping_amount=D("2.22"),
            tax_amount=D("2.49"),
            _source_row=2,
            **first,
        ),
        order_line(
            line_id="3",
            sku="CH-00012",
            product_name="Candle",
            quantity=1,
            unit_price=D("10"),
            gross_amount=D("10"),
            discount_amount=D("1.11"),
            shipping_amount=D("0.56"),
            tax_amount=D("0.62"),
            _source_row=3,
            **first,
        ),
        order_line(  # cancelled and refunded; its Lineitem discount is used as is
            order_id="#1002",
            line_id="1",
            customer_email="bob@example.com",
            ordered_at=utc(2026, 1, 6, 9),
            order_status="refunded",
            is_cancelled=True,
            sku="CH-00013",
            product_name="Vase",
            quantity=1,
            unit_price=D("28"),
            gross_amount=D("28"),
            discount_amount=D("3.00"),
            refunded_amount=D("25.00"),
            currency="USD",
            storefront_id="shopify_csv",
            source_format="shopify_orders_csv",
            _source_row=4,
        ),
    ]
    assert quarantine_reasons(result) == [
        "orders/shopify_csv/orders_export.csv, row 5: another line of order '#1003' (row 6) "
        "cannot be read; the order is not imported",
        "orders/shopify_csv/orders_export.csv, row 6: column 'Lineitem quantity': not a "
        "number: 'two'",
    ]
