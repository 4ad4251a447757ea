"""The raw lake writer: partition layout, atomic replacement, quarantine, stray rows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from extractors import lake
from extractors.base import EntitySpec, Quarantined, Window

SPEC = EntitySpec(
    name="orders",
    schema=pa.schema(
        [
            pa.field("order_id", pa.string(), nullable=False),
            pa.field("updated_at", pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field("units", pa.int64()),
        ]
    ),
    key=("order_id",),
    partition_by="updated_at",
)
DAYS = [date(2025, 3, 1), date(2025, 3, 2), date(2025, 3, 3)]


def _stamp() -> lake.Stamp:
    return lake.Stamp.new("shopify", "shop_a", "2025-10", Window.for_days(DAYS[0], DAYS[-1]))


def _row(order_id: str, day: int, hour: int = 12, units: int = 1) -> dict:
    return {
        "order_id": order_id,
        "updated_at": datetime(2025, 3, day, hour, tzinfo=UTC),
        "units": units,
    }


def test_rows_land_in_their_day_sorted_with_stamps_and_empty_days_written(tmp_path):
    rows = [_row("b", 1), _row("a", 1), _row("c", 3, 23)]
    writes = lake.write_entity(tmp_path, SPEC, rows, _stamp(), DAYS)
    assert [(w.day, w.rows) for w in writes] == [(DAYS[0], 2), (DAYS[1], 0), (DAYS[2], 1)]
    first = pq.read_table(writes[0].path)
    assert writes[0].path == (
        tmp_path
        / "raw/channel=shopify/connection=shop_a/entity=orders"
        / "date=2025-03-01/part-0.parquet"
    )
    assert first.column("order_id").to_pylist() == ["a", "b"]
    assert set(first.column("_connection").to_pylist()) == {"shop_a"}
    assert first.schema == lake.lake_schema(SPEC)
    # each partition records the slice of the request window that covers it
    assert first.column("_window_start")[0].as_py() == datetime(2025, 3, 1, tzinfo=UTC)
    assert first.column("_window_end")[0].as_py() == datetime(2025, 3, 2, tzinfo=UTC)
    assert pq.read_table(writes[1].path).num_rows == 0  # the empty day is a real, empty file


def test_rewrite_replaces_exactly_the_partition(tmp_path):
    lake.write_entity(tmp_path, SPEC, [_row("a", 1), _row("b", 2)], _stamp(), DAYS[:2])
    lake.write_entity(tmp_path, SPEC, [_row("z", 2, units=5)], _stamp(), DAYS[1:2])
    day1 = lake.read_partition(tmp_path, "shopify", "shop_a", "orders", DAYS[0])
    day2 = lake.read_partition(tmp_path, "shopify", "shop_a", "orders", DAYS[1])
    assert day1.column("order_id").to_pylist() == ["a"]
    assert day2.column("order_id").to_pylist() == ["z"]
    assert not lake.find_temporary_files(tmp_path)


def test_a_row_outside_the_owned_days_is_refused(tmp_path):
    with pytest.raises(ValueError, match="outside the extraction's partitions"):
        lake.write_entity(tmp_path, SPEC, [_row("a", 9)], _stamp(), DAYS)


def test_snapshot_entities_land_in_the_snapshot_day(tmp_path):
    spec = EntitySpec(
        "inventory", pa.schema([pa.field("sku", pa.string(), nullable=False)]), ("sku",), None
    )
    writes = lake.write_entity(tmp_path, spec, [{"sku": "x"}], _stamp(), [date(2025, 3, 9)])
    assert writes[0].path.parent.name == "date=2025-03-09"


def test_quarantine_is_replaced_per_partition(tmp_path):
    bad = Quarantined.of("orders", "updated_at: not a timestamp", {"id": 1}, DAYS[0])
    lake.write_quarantine(tmp_path, [bad], _stamp(), DAYS, ["orders"])
    path = lake.partition_path(tmp_path, "shopify", "shop_a", "orders", DAYS[0], "quarantine")
    table = pq.read_table(path)
    assert table.column("reason").to_pylist() == ["updated_at: not a timestamp"]
    assert table.column("record").to_pylist() == ['{"id": 1}']
    lake.write_quarantine(tmp_path, [], _stamp(), DAYS, ["orders"])  # clean re-run
    assert not path.exists()


WRITER = textwrap.dedent("""
    import sys, time
    from datetime import date
    import pyarrow.parquet as pq
    from extractors import lake
    from tests.extractors.test_lake import SPEC, _row, _stamp, DAYS
    real = pq.write_table
    def slow_write(table, where, **kw):
        real(table, where, **kw)
        print("WRITTEN", where, flush=True)
        time.sleep(60)          # killed here: the file is complete but not yet renamed
    lake.pq.write_table = slow_write
    lake.write_entity(sys.argv[1], SPEC, [_row("new", 1)], _stamp(), DAYS[:1])
""")


def test_a_killed_writer_leaves_the_old_partition_and_no_visible_partial_file(tmp_path):
    lake.write_entity(tmp_path, SPEC, [_row("old", 1)], _stamp(), DAYS[:1])
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
    )
    line = proc.stdout.readline()
    assert line.startswith("WRITTEN"), line
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    visible = list((tmp_path / "raw").rglob("*.parquet"))
    assert len(visible) == 1
    assert pq.read_table(visible[0]).column("order_id").to_pylist() == ["old"]
    assert len(lake.find_temporary_files(tmp_path)) == 1  # the leftover is hidden, not a .parquet
    started = time.monotonic()
    lake.write_entity(tmp_path, SPEC, [_row("new", 1)], _stamp(), DAYS[:1])  # the re-run
    assert time.monotonic() - started < 10
    assert pq.read_table(visible[0]).column("order_id").to_pylist() == ["new"]
