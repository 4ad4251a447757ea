"""Shared by the inbox tests (test_inbox_*.py): the fixture folder, the fixed clock, putting a
file into the inbox, importing it, and reading the lake part and quarantined rows it wrote."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq

from extractors.inbox import (
    EVENTS,
    ORDER_LINES,
    ImportResult,
    import_file,
    scan,
)
from extractors.lake import META_FIELDS

FIXTURES = Path(__file__).parents[1] / "fixtures" / "inbox"
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
