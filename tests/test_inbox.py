"""The inbox: real files on disk for every kind (orders with a mapping, Amazon and Shopify
exports, events, product costs, SKU mappings, exchange rates) through scan and import into the
lake, refused rows and files with their reasons, idempotent re-imports, the archive; and the
sandbox's demo files (deterministic, one purchase per Shopify order, importable)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from extractors import fx
from extractors.inbox import (
    EVENTS,
    ORDER_LINES,
    ImportResult,
    import_all,
    import_file,
    scan,
)
from extractors.inbox.files import MAX_FUTURE_MTIME_SECONDS, MIN_AGE_SECONDS
from extractors.lake import META_FIELDS, QUARANTINE_SCHEMA
from sandbox import exports
from sandbox.business import Business
from sandbox.shopify.common import CUSTOMER_ID_BASE

FIXTURES = Path(__file__).parent / "fixtures" / "inbox"
NOW = datetime(2026, 1, 10, 12, 0, 0, tzinfo=UTC)
STAMP = "20260110T120000Z"
API_CONNECTIONS = {"amazon_na", "shopify_us", "walmart_us"}
META = {f.name for f in META_FIELDS}
D = Decimal


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def drop(
    data_dir: Path, relative: str, content: bytes | str | None = None, age: float = 10
) -> Path:
    """Put a file into the inbox (a fixture, or ``content``), modified ``age`` seconds ago."""
    target = data_dir / "inbox" / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    if content is None:
        shutil.copyfile(FIXTURES / relative, target)
    elif isinstance(content, str):
        target.write_text(content, encoding="utf-8")
    else:
        target.write_bytes(content)
    moment = time.time() - age
    os.utime(target, (moment, moment))
    return target


def drop_mapping(data_dir: Path, folder: str) -> None:
    drop(data_dir, f"{folder}/mapping.yml")


def import_one(
    data_dir: Path, relative: str, connections: set[str] = API_CONNECTIONS, now: datetime = NOW
) -> ImportResult:
    pending = {p.relative: p for p in scan(data_dir / "inbox")}
    return import_file(pending[relative], data_dir, connections, now=now)


def lake_rows(result: ImportResult) -> list[dict]:
    """The data columns (and _source_row) of the result's lake part, in file order."""
    table = pq.read_table(result.lake_path)
    rows = [
        {k: v for k, v in row.items() if k not in META and k != "_source_file"}
        for row in table.to_pylist()
    ]
    return sorted(rows, key=lambda r: r.get("_source_row", 0))


def quarantine_reasons(result: ImportResult) -> list[str]:
    return pq.read_table(result.quarantine_rows_path).column("reason").to_pylist()


def order_line(**values) -> dict:
    row = {f.name: None for f in ORDER_LINES.schema}
    row.update(
        is_cancelled=False,
        discount_amount=D("0"),
        shipping_amount=D("0"),
        tax_amount=D("0"),
        refunded_amount=D("0"),
    )
    row.update(values)
    return row


def event(line: int, raw_line: str, **values) -> dict:
    row = {f.name: None for f in EVENTS.schema}
    row.update(
        event_id=hashlib.sha256(f"web\n{raw_line}".encode()).hexdigest()[:32],
        channel="shopify",
        storefront_id="web_eu",
        _source_row=line,
    )
    row.update(values)
    return row


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


# ---------------------------------------------------------------------------------------------
# Scan
# ---------------------------------------------------------------------------------------------
def test_scan_lists_waiting_files_and_skips_the_rest(data_dir: Path):
    drop_mapping(data_dir, "orders/etsy")
    drop(data_dir, "orders/etsy/a.csv", "x")
    drop(data_dir, "orders/etsy/b.csv.part", "x")  # a download in progress
    drop(data_dir, "orders/etsy/.c.csv", "x")  # hidden
    drop(data_dir, "orders/etsy/~$d.csv", "x")  # office lock file
    drop(data_dir, "orders/etsy/fresh.csv", "x", age=0)  # still being written
    drop(data_dir, "orders/etsy/deeper/e.csv", "x")
    drop(data_dir, "orders/stray.csv", "x")  # no channel folder: listed, refused at import
    drop(data_dir, "events/web/e.ndjson", "{}")
    drop(data_dir, "product_costs/c.csv", "x")
    drop(data_dir, "fx_rates/r.csv", "x")
    drop(data_dir, "sku_mappings/s.csv", "x")
    drop(data_dir, "archive/orders/etsy/20260101T000000Z__a.csv", "x")
    drop(data_dir, "quarantine/orders/etsy/a.csv", "x")
    drop(data_dir, "somewhere/else.csv", "x")

    found = scan(data_dir / "inbox")
    assert [(p.relative, p.kind, p.folder) for p in found] == [
        ("events/web/e.ndjson", "events", "web"),
        ("fx_rates/r.csv", "fx_rates", None),
        ("orders/etsy/a.csv", "orders", "etsy"),
        ("orders/stray.csv", "orders", None),
        ("product_costs/c.csv", "product_costs", None),
        ("sku_mappings/s.csv", "sku_mappings", None),
    ]
    a = found[2]
    assert (a.entity, a.connection) == ("order_lines", "etsy")
    assert (found[1].entity, found[1].connection) == ("fx_rates", "inbox")
    assert a.size == 1
    assert a.sha256 == hashlib.sha256(b"x").hexdigest()
    assert (
        a.mapping_sha256
        == hashlib.sha256((FIXTURES / "orders/etsy/mapping.yml").read_bytes()).hexdigest()
    )
    assert a.run_key.startswith(f"orders/etsy/a.csv@{a.sha256[:16]}:{a.mapping_sha256[:8]}:")
    # Once it is 2 seconds old, the fresh file is listed too.
    later = [p.relative for p in scan(data_dir / "inbox", now=time.time() + 3)]
    assert "orders/etsy/fresh.csv" in later
    # The run key changes with the folder's mapping (a refused file is retried after a fix).
    (data_dir / "inbox/orders/etsy/mapping.yml").write_text("columns: {}\n")
    again = {p.relative: p for p in scan(data_dir / "inbox")}["orders/etsy/a.csv"]
    assert again.sha256 == a.sha256 and again.run_key != a.run_key


def test_a_file_modified_in_the_future_is_held_only_for_a_clock_skew(data_dir: Path):
    """A modification time a little ahead of the clock (a share's clock) is a file being
    written; far ahead (another clock, a preserved timestamp) the file is complete: it is
    listed rather than held until that time comes."""
    now = time.time()
    drop(data_dir, "orders/etsy/skewed.csv", "x", age=-30)
    drop(data_dir, "orders/etsy/stamped.csv", "x", age=-2 * MAX_FUTURE_MTIME_SECONDS)
    assert [p.relative for p in scan(data_dir / "inbox", now=now)] == ["orders/etsy/stamped.csv"]
    later = [p.relative for p in scan(data_dir / "inbox", now=now + 30 + MIN_AGE_SECONDS + 1)]
    assert later == ["orders/etsy/skewed.csv", "orders/etsy/stamped.csv"]


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


# ---------------------------------------------------------------------------------------------
# Events, product costs, SKU mappings, exchange rates
# ---------------------------------------------------------------------------------------------
def test_events_ndjson_gz_with_nested_keys_funnel_steps_and_refused_lines(data_dir: Path):
    drop_mapping(data_dir, "events/web")
    text = (FIXTURES / "events/web/events.ndjson").read_text()
    drop(data_dir, "events/web/events.ndjson.gz", gzip.compress(text.encode()))
    result = import_one(data_dir, "events/web/events.ndjson.gz")
    assert (result.status, result.rows_written, result.rows_quarantined) == ("imported", 6, 3)
    lines = text.splitlines()
    assert lake_rows(result) == [
        event(
            1,
            lines[0],
            anonymous_id="a1",
            event_name="page_viewed",
            funnel_step="page_view",
            occurred_at=utc(2026, 1, 5, 10),
            referrer="https://www.google.com/",
            page_url="https://shop.example/?utm_source=google&utm_medium=cpc",
            traffic_source="google",
        ),
        event(
            2,
            lines[1],
            anonymous_id="a1",
            event_name="product_viewed",
            funnel_step="product_view",
            occurred_at=utc(2026, 1, 5, 10, 1),
            sku="CH-00010",
            page_url="https://shop.example/products/mug",
        ),
        event(  # a time without offset is Europe/Berlin (the mapping's timezone)
            3,
            lines[2],
            anonymous_id="a1",
            user_id="gid://shopify/Customer/1",
            event_name="product_added_to_cart",
            funnel_step="add_to_cart",
            occurred_at=utc(2026, 1, 5, 10, 2),
            sku="CH-00010",
            quantity=2,
            value=D("40"),
            currency="USD",
        ),
        event(
            4,
            lines[3],
            anonymous_id="a1",
            user_id="gid://shopify/Customer/1",
            event_name="checkout_completed",
            funnel_step="purchase",
            occurred_at=datetime(2026, 1, 5, 10, 5, 0, 250000, tzinfo=UTC),
            value=D("80.61"),
            currency="USD",
            order_id="#1001",
        ),
        event(  # not a funnel event: kept, without a step
            5,
            lines[4],
            anonymous_id="a2",
            event_name="search_submitted",
            occurred_at=utc(2026, 1, 5, 12),
        ),
        event(  # already a step name; +01:00 converted to UTC
            10,
            lines[9],
            anonymous_id="a4",
            event_name="purchase",
            funnel_step="purchase",
            occurred_at=utc(2026, 1, 5, 12),
        ),
    ]
    assert quarantine_reasons(result) == [
        "events/web/events.ndjson.gz, line 8: not valid JSON (Expecting property name enclosed "
        "in double quotes at character 25)",
        "events/web/events.ndjson.gz, line 6: neither an anonymous id nor a user id: the "
        "visitor is unknown",
        "events/web/events.ndjson.gz, line 7: column 'timestamp' (occurred_at): not an ISO 8601 "
        "date/time such as 2026-01-05T14:03:11Z: 'yesterday'",
    ]


def test_events_csv_with_epoch_times_and_mapped_session_and_source(data_dir: Path):
    drop(
        data_dir,
        "events/pos_kiosk/mapping.yml",
        "format: csv\ntimestamp_format: epoch_ms\ncurrency: EUR\ndecimal_comma: true\n"
        "columns: {event_id: id, user_id: member, session_id: visit, event_name: what,\n"
        "  occurred_at: ms, value: amount, traffic_source: campaign}\n"
        "funnel_steps: {Scan: product_view, Pay: purchase}\n",
    )
    drop(
        data_dir,
        "events/pos_kiosk/kiosk.csv",
        "id,member,visit,what,ms,amount,campaign\n"
        "e1,m1,v1,Scan,1767607200000,,flyer\n"
        'e2,m1,v1,pay,1767607260500,"12,50",flyer\n'
        "e3,m2,v2,Scan,soon,,\n",
    )
    result = import_one(data_dir, "events/pos_kiosk/kiosk.csv")
    assert (result.rows_written, result.rows_quarantined) == (2, 1)
    common = dict(
        channel="pos_kiosk",
        storefront_id="pos_kiosk",
        user_id="m1",
        session_id="v1",
        traffic_source="flyer",
        currency="EUR",
    )
    rows = [{k: v for k, v in r.items() if v is not None} for r in lake_rows(result)]
    assert rows == [
        dict(
            event_id="e1",
            event_name="Scan",
            funnel_step="product_view",
            occurred_at=utc(2026, 1, 5, 10),
            _source_row=1,
            **common,
        ),
        dict(
            event_id="e2",
            event_name="pay",
            funnel_step="purchase",
            occurred_at=datetime(2026, 1, 5, 10, 1, 0, 500000, tzinfo=UTC),
            value=D("12.5"),
            _source_row=2,
            **common,
        ),
    ]
    assert quarantine_reasons(result) == [
        "events/pos_kiosk/kiosk.csv, row 3: column 'ms' (occurred_at): not Unix time in "
        "milliseconds: 'soon'"
    ]


def test_events_json_array_without_optional_keys(data_dir: Path):
    drop_mapping(data_dir, "events/web")  # maps userId, properties..., context... too
    drop(
        data_dir,
        "events/web/batch.json",
        '[{"event": "page_viewed", "anonymousId": "a", "timestamp": "2026-01-01T00:00:00Z"},'
        ' {"event": "page_viewed", "anonymousId": "b"}]',
    )
    result = import_one(data_dir, "events/web/batch.json")
    assert (result.rows_written, result.rows_quarantined) == (1, 1)
    assert quarantine_reasons(result) == [
        "events/web/batch.json, item 2: column 'timestamp' (occurred_at): empty, but a value "
        "is required"
    ]


def test_product_costs(data_dir: Path):
    drop(data_dir, "product_costs/costs.csv")
    result = import_one(data_dir, "product_costs/costs.csv")
    assert (result.status, result.connection, result.rows_written) == ("imported", "inbox", 3)
    assert "connection=inbox/entity=product_costs" in result.lake_path.as_posix()
    assert result.archive_path == data_dir / f"inbox/archive/product_costs/{STAMP}__costs.csv"
    assert lake_rows(result) == [
        dict(
            sku="CH-00001",
            unit_cost=D("9.08"),
            currency="USD",
            effective_from=date(2026, 1, 1),
            shipping_cost_per_unit=None,
            _source_row=1,
        ),
        dict(
            sku="CH-00001",
            unit_cost=D("9.50"),
            currency="USD",
            effective_from=date(2026, 6, 1),
            shipping_cost_per_unit=D("1.25"),
            _source_row=2,
        ),
        dict(
            sku="CH-00002",
            unit_cost=D("11.25"),
            currency="EUR",
            effective_from=date(2026, 1, 1),
            shipping_cost_per_unit=None,
            _source_row=3,
        ),
    ]
    conflict = (
        "sku 'CH-00005', effective_from '2026-01-01' is given on rows 6, 7 with different "
        "values; none of them is imported"
    )
    assert quarantine_reasons(result) == [
        "product_costs/costs.csv, row 4: column 'Unit Cost': not a number such as 12.50: 'abc'",
        "product_costs/costs.csv, row 5: column 'Effective From': not a YYYY-MM-DD date: "
        "'01/02/2026'",
        f"product_costs/costs.csv, row 6: {conflict}",
        f"product_costs/costs.csv, row 7: {conflict}",
    ]


def test_sku_mappings(data_dir: Path):
    drop(data_dir, "sku_mappings/mappings.csv")
    result = import_one(data_dir, "sku_mappings/mappings.csv")
    assert lake_rows(result) == [
        dict(
            channel="etsy",
            connection_name="etsy",
            listing_sku="ETSY-KNIFE-1",
            product_sku="CH-00001",
            note="matched by hand",
            _source_row=1,
        ),
        dict(
            channel=None,
            connection_name=None,
            listing_sku="OLD-SKU-9",
            product_sku="CH-00002",
            note=None,
            _source_row=2,
        ),
    ]
    assert quarantine_reasons(result) == [
        "sku_mappings/mappings.csv, row 3: column 'listing_sku': empty, but a value is required"
    ]


def test_fx_rates_land_in_the_reference_channel(data_dir: Path):
    drop(data_dir, "fx_rates/rates.csv")
    result = import_one(data_dir, "fx_rates/rates.csv")
    assert result.status == "imported", result.reason
    assert result.lake_path == (
        data_dir
        / "raw/channel=reference/connection=inbox/entity=fx_rates/date=2026-01-10"
        / f"part-{result.file.digest}.parquet"
    )
    table = pq.read_table(result.lake_path)
    assert table.schema.equals(pa.schema([*fx.FX_RATES.schema, *META_FIELDS]))
    assert table.select(["rate_date", "currency", "rate_per_eur", "source"]).to_pylist() == [
        dict(rate_date=date(2026, 1, 2), currency="USD", rate_per_eur=D("1.0862"), source="inbox"),
        dict(rate_date=date(2026, 1, 5), currency="GBP", rate_per_eur=D("0.8405"), source="inbox"),
        dict(rate_date=date(2026, 1, 5), currency="USD", rate_per_eur=D("1.0877"), source="inbox"),
    ]
    assert set(table.column("_channel").to_pylist()) == {"reference"}
    assert quarantine_reasons(result) == [
        "fx_rates/rates.csv: column 4 header 'XX1' is not a 3-letter upper-case currency code; "
        "its 1 values are not loaded",
        "fx_rates/rates.csv: line 4, column Date: not a YYYY-MM-DD date: '2026-13-01'; row not "
        "loaded",
    ]


# ---------------------------------------------------------------------------------------------
# Whole files refused, re-imports
# ---------------------------------------------------------------------------------------------
BAD_FILES = {
    "no mapping": (
        {"orders/shop/a.csv": "id,when\n1,2026-01-01\n"},
        "orders/shop/a.csv",
        "there is no mapping.yml in this folder, and the file is not an export the importer "
        "recognises by its header.",
    ),
    "mapped column missing": (
        {
            "orders/shop/mapping.yml": "currency: EUR\ncolumns: {order_id: id, ordered_at: when,"
            " sku: sku, quantity: Qty, unit_price: price}\n",
            "orders/shop/a.csv": "id,when,sku,price\n1,2026-01-01,A,1\n",
        },
        "orders/shop/a.csv",
        "mapping.yml maps columns the file does not have: quantity -> 'Qty'. The file's columns "
        "are: 'id', 'when', 'sku', 'price'. Fix the column names under `columns:` in mapping.yml "
        "(or the file's header).",
    ),
    "invalid mapping": (
        {
            "orders/shop/mapping.yml": "timezone: Mars/Olympus\ncolumns: {order_id: id, "
            "ordered_at: when, sku: sku, quantity: q, colour: c}\n",
            "orders/shop/a.csv": "id\n1\n",
        },
        "orders/shop/a.csv",
        "mapping.yml has problems:\n"
        "  - timezone: unknown time zone 'Mars/Olympus'; use an IANA name such as 'UTC', "
        "'Europe/Berlin' or 'America/New_York'\n"
        "  - columns.colour: unknown setting (check the spelling against the documentation)",
    ),
    "not a table": (
        {
            "orders/shop/mapping.yml": "currency: EUR\ncolumns: {order_id: id, ordered_at: when,"
            " sku: sku, quantity: q, unit_price: p}\n",
            "orders/shop/a.csv": "id,when,sku,q,p\n1,2026-01-01,A,1,2,EXTRA,MORE\n",
        },
        "orders/shop/a.csv",
        "the file cannot be read as a table with the ',' delimiter",
    ),
    "nothing usable": (
        {
            "orders/shop/mapping.yml": "currency: EUR\ncolumns: {order_id: id, ordered_at: when,"
            " sku: sku, quantity: q, unit_price: p}\n",
            "orders/shop/a.csv": "id,when,sku,q,p\n1,yesterday,A,1,2\n",
        },
        "orders/shop/a.csv",
        "no row of the file can be imported (1 rows refused):\n  - orders/shop/a.csv, row 1: "
        "column 'when' (ordered_at): not an ISO 8601 date/time such as 2026-01-05T14:03:11Z: "
        "'yesterday'",
    ),
    "events without mapping": (
        {"events/web/e.ndjson": '{"event": "x"}\n'},
        "events/web/e.ndjson",
        "there is no mapping.yml in this folder",
    ),
    "events not json": (
        {
            "events/web/mapping.yml": (FIXTURES / "events/web/mapping.yml").read_text(),
            "events/web/e.ndjson": "hello\nworld\n",
        },
        "events/web/e.ndjson",
        "no line of the file is a JSON object; events files hold one JSON object per line",
    ),
    "costs without a column": (
        {"product_costs/c.csv": "sku,cost\nA,1\n"},
        "product_costs/c.csv",
        "a product costs file needs the columns sku, unit_cost, currency, effective_from "
        "(optional: shipping_cost_per_unit); missing: unit_cost, currency, effective_from. "
        "The file's columns are: 'sku', 'cost'",
    ),
    "rates without a date column": (
        {"fx_rates/r.csv": "Day;USD\n2026-01-01;1.1\n"},
        "fx_rates/r.csv",
        "line 1: no 'Date' column in the header 'Day;USD'",
    ),
    "file outside a channel folder": (
        {"orders/a.csv": "x\n"},
        "orders/a.csv",
        "files in orders/ go into a sub-folder named after their channel, e.g. orders/etsy/a.csv",
    ),
    "empty file": ({"sku_mappings/s.csv": ""}, "sku_mappings/s.csv", "the file is empty"),
    "spreadsheet": (
        {"product_costs/costs.xlsx": "PK"},
        "product_costs/costs.xlsx",
        "spreadsheet workbooks are not read: open it and save (or export) the sheet as CSV",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_file_that_cannot_be_used_is_quarantined_with_a_reason(data_dir: Path, case: str):
    files, relative, problem = BAD_FILES[case]
    for name, content in files.items():
        drop(data_dir, name, content)
    result = import_one(data_dir, relative)
    assert result.status == "quarantined"
    assert problem in result.reason
    target = data_dir / "inbox/quarantine" / relative
    assert result.quarantine_path == target
    assert target.read_text() == files[relative]
    assert not (data_dir / "inbox" / relative).exists()
    reason = target.with_name(target.name + ".reason.txt").read_text()
    assert reason.startswith(f"This file was not imported.\n\nFile:     {relative}\n")
    assert f"Now at:   quarantine/{relative}\n" in reason
    assert problem in reason and "Traceback" not in reason
    assert not (data_dir / "raw").exists()


def test_an_orders_folder_named_like_an_api_connection_is_refused(data_dir: Path):
    drop(
        data_dir,
        "orders/shopify_us/orders_export.csv",
        (FIXTURES / "orders/shopify_csv/orders_export.csv").read_bytes(),
    )
    result = import_one(data_dir, "orders/shopify_us/orders_export.csv")
    assert result.status == "quarantined"
    reason = (
        data_dir / "inbox/quarantine/orders/shopify_us/orders_export.csv.reason.txt"
    ).read_text()
    assert (
        "the folder orders/shopify_us/ has the name of the API connection 'shopify_us' in "
        "channelhouse.yml" in reason
    )
    assert "put the files into a folder with another name (e.g. orders/shopify_us_files/)" in reason
    assert "To retry: put the file into a folder as described above." in reason
    # Without that connection configured, the same folder is an ordinary file channel.
    drop(
        data_dir,
        "orders/shopify_us/orders_export.csv",
        (FIXTURES / "orders/shopify_csv/orders_export.csv").read_bytes(),
    )
    assert import_one(data_dir, "orders/shopify_us/orders_export.csv", connections=set()).ok


def test_reimporting_the_same_file_is_idempotent(data_dir: Path):
    drop_mapping(data_dir, "orders/etsy")
    drop(data_dir, "orders/etsy/sold_items.csv")
    first = import_one(data_dir, "orders/etsy/sold_items.csv")
    # The same content again, a day later and under another name.
    drop(data_dir, "orders/etsy/copy.csv", (FIXTURES / "orders/etsy/sold_items.csv").read_bytes())
    second = import_one(data_dir, "orders/etsy/copy.csv", now=NOW + timedelta(days=1))
    assert second.lake_path == first.lake_path  # the part of the first import, rewritten
    assert second.quarantine_rows_path == first.quarantine_rows_path
    parts = sorted((data_dir / "raw").rglob("*.parquet"))
    assert parts == [first.lake_path]
    assert len(list((data_dir / "quarantine").rglob("*.parquet"))) == 1
    strip = lambda rows: [{k: v for k, v in r.items() if k != "_source_row"} for r in rows]  # noqa: E731
    assert strip(lake_rows(second)) == strip(lake_rows(first))
    assert pq.read_table(second.lake_path).column("_source_file")[0].as_py() == (
        "archive/orders/etsy/20260111T120000Z__copy.csv"
    )
    assert sorted(p.name for p in (data_dir / "inbox/archive/orders/etsy").iterdir()) == [
        f"{STAMP}__sold_items.csv",
        "20260111T120000Z__copy.csv",
    ]


def test_import_all_imports_every_waiting_file(data_dir: Path):
    drop_mapping(data_dir, "orders/etsy")
    drop(data_dir, "orders/etsy/sold_items.csv")
    drop(data_dir, "orders/amazon_flat/all_orders.txt")
    drop(data_dir, "product_costs/costs.csv")
    drop(data_dir, "orders/etsy/half.csv.part", "Order ID;")
    results = import_all(data_dir, API_CONNECTIONS, now=NOW)
    assert [(r.file.relative, r.status) for r in results] == [
        ("orders/amazon_flat/all_orders.txt", "imported"),
        ("orders/etsy/sold_items.csv", "imported"),
        ("product_costs/costs.csv", "imported"),
    ]
    assert results[0].as_metadata()["rows_written"] == 4
    assert (data_dir / "inbox/orders/etsy/half.csv.part").exists()
    assert import_all(data_dir, API_CONNECTIONS, now=NOW) == []
    # The files a scan saw (e.g. by a sensor): one of them gone meanwhile is reported missing.
    drop(data_dir, "sku_mappings/mappings.csv")
    seen = scan(data_dir / "inbox")
    drop(data_dir, "fx_rates/rates.csv")  # arrives after the scan: left for the next run
    seen[0].path.unlink()
    assert [(r.file.relative, r.status) for r in import_all(data_dir, pending=seen)] == [
        ("sku_mappings/mappings.csv", "missing")
    ]


# ---------------------------------------------------------------------------------------------
# The sandbox's demo files
# ---------------------------------------------------------------------------------------------
DEMO_END = date(2025, 3, 1)
DEMO_DAYS = 10


@pytest.fixture(scope="module")
def business() -> Business:
    return Business(seed=11, scale=0.3, end=DEMO_END)


def _shopify_orders(business: Business, start: date, end: date) -> pl.DataFrame:
    return business.orders.filter(
        pl.col("account").is_in(["shopify_us", "shopify_eu"])
        & (pl.col("purchased_at") >= datetime.combine(start, datetime.min.time(), UTC))
        & (pl.col("purchased_at") < datetime.combine(end, datetime.min.time(), UTC))
    )


def test_storefront_events_are_deterministic_and_match_the_shopify_orders(business: Business):
    start, end = DEMO_END - timedelta(days=DEMO_DAYS), DEMO_END
    events = exports.storefront_events(business, start, end)
    assert events.equals(exports.storefront_events(business, start, end))
    assert events["event_id"].n_unique() == events.height
    assert events["occurred_at"].min() >= datetime.combine(start, datetime.min.time(), UTC)
    assert events["occurred_at"].max() < datetime.combine(end, datetime.min.time(), UTC)
    # A day's events do not depend on the period asked for.
    day = start + timedelta(days=4)
    on_day = pl.col("occurred_at").dt.date() == day
    assert events.filter(on_day).equals(
        exports.storefront_events(
            business, day - timedelta(days=2), day + timedelta(days=1)
        ).filter(on_day)
    )
    # One purchase per Shopify order of the period, with its id, value and buyer.
    purchases = events.filter(pl.col("event") == "checkout_completed")
    orders = _shopify_orders(business, start, end)
    assert purchases.height == orders.height > 0
    assert sorted(purchases["order_id"].to_list()) == sorted(
        f"gid://shopify/Order/{i}" for i in orders["channel_order_id"].to_list()
    )
    lines = business.order_lines.join(
        orders.select("order_key", "channel_order_id", "customer_id"), on="order_key"
    )
    expected = (
        lines.group_by("channel_order_id", "customer_id")
        .agg(
            ((pl.col("unit_price") * pl.col("quantity")).round(2) - pl.col("discount"))
            .sum()
            .round(2)
            .alias("value")
        )
        .select(
            pl.format("gid://shopify/Order/{}", "channel_order_id").alias("order_id"),
            pl.format("gid://shopify/Customer/{}", pl.col("customer_id") + CUSTOMER_ID_BASE).alias(
                "user_id"
            ),
            "value",
        )
        .sort("order_id")
    )
    assert purchases.select("order_id", "user_id", "value").sort("order_id").equals(expected)
    # Browsing that does not convert: about 2.5% of sessions buy, carts are abandoned.
    sessions = events.filter(pl.col("event") == "page_viewed").height
    assert 0.015 < purchases.height / sessions < 0.04
    carts = events.filter(pl.col("event") == "product_added_to_cart").height
    assert carts > 2 * purchases.height


def test_demo_inbox_is_written_atomically_reproducibly_and_imports_cleanly(
    business: Business, tmp_path: Path
):
    first = exports.write_demo_inbox(business, tmp_path / "a", days=DEMO_DAYS)
    second = exports.write_demo_inbox(business, tmp_path / "b", days=DEMO_DAYS)
    relative = [p.relative_to(tmp_path / "a") for p in first]
    assert relative == [p.relative_to(tmp_path / "b") for p in second]
    assert all(
        (tmp_path / "a" / r).read_bytes() == (tmp_path / "b" / r).read_bytes() for r in relative
    )
    assert not list((tmp_path / "a").rglob("*.tmp"))
    inbox = tmp_path / "a" / "inbox"
    assert sorted(p.name for p in (inbox / "events/shopify_us").iterdir())[:2] == [
        "mapping.yml",
        f"shopify_us-events-{DEMO_END - timedelta(days=DEMO_DAYS)}.ndjson.gz",
    ]
    first_line = gzip.decompress(
        next((inbox / "events/shopify_us").glob("*.gz")).read_bytes()
    ).split(b"\n")[0]
    assert b'"sessionId"' not in first_line and b'"anonymousId"' in first_line

    for path in inbox.rglob("*"):
        os.utime(path, (time.time() - 10, time.time() - 10))
    results = import_all(tmp_path / "a", API_CONNECTIONS, now=NOW)
    assert {r.status for r in results} == {"imported"}
    assert sum(r.rows_quarantined for r in results) == 0
    by_entity: dict[str, int] = {}
    for r in results:
        by_entity[r.entity] = by_entity.get(r.entity, 0) + r.rows_written
    start = DEMO_END - timedelta(days=DEMO_DAYS)
    assert by_entity["events"] == exports.storefront_events(business, start, DEMO_END).height
    assert by_entity["order_lines"] == exports.etsy_orders(business, start, DEMO_END).height > 0
    costs = exports.product_costs(business, start, DEMO_END)
    assert by_entity["product_costs"] == costs.height
    skus = exports.product_skus(business)
    assert set(costs["sku"]) == set(skus["product_sku"])
    changed = costs.height - skus.height
    assert 0.05 * skus.height < changed < 0.15 * skus.height

    # The events import as the warehouse expects: no session id, a funnel step per pixel event,
    # and visitors who come back after more than 30 minutes.
    events = pl.read_parquet(
        tmp_path / "a/raw/channel=files/connection=*/entity=events/date=*/*.parquet"
    )
    assert events["session_id"].null_count() == events.height
    assert set(events["funnel_step"].drop_nulls()) == {
        "page_view",
        "product_view",
        "add_to_cart",
        "checkout",
        "purchase",
    }
    gaps = (
        events.sort("storefront_id", "anonymous_id", "occurred_at")
        .with_columns(
            pl.col("occurred_at").diff().over("storefront_id", "anonymous_id").alias("gap")
        )
        .filter(pl.col("gap") > timedelta(minutes=30))
    )
    assert gaps.height > 0
    purchases = events.filter(pl.col("funnel_step") == "purchase")
    assert (
        purchases["order_id"].n_unique()
        == purchases.height
        == _shopify_orders(business, start, DEMO_END).height
    )
