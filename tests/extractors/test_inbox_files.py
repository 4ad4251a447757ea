"""The inbox's files: scan (what is waiting, what is skipped, clock skew), whole files refused
with their reasons, the orders folder named like an API connection, idempotent re-imports, the
archive, and import_all."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from extractors.inbox import (
    import_all,
    scan,
)
from extractors.inbox.files import MAX_FUTURE_MTIME_SECONDS, MIN_AGE_SECONDS
from tests.extractors.inbox_helpers import (
    API_CONNECTIONS,
    FIXTURES,
    NOW,
    STAMP,
    drop,
    drop_mapping,
    import_one,
    lake_rows,
)


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
