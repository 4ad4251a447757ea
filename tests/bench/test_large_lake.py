"""The large bench's generator at a tiny size: its lake has the extractors' layout and Arrow
schemas, appending a day leaves the earlier days alone, and dbt builds every model and test
on it with the Dagster step's arguments (so `make bench SCALE=large` cannot rot)."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pyarrow.parquet as pq

from bench.large_dbt import dbt_settings, run_dbt
from bench.large_lake import Shape, write_days
from extractors import fx
from extractors.amazon import schemas as amazon
from extractors.lake import entity_path, lake_schema
from extractors.shopify import schemas as shopify
from extractors.walmart import schemas as walmart

SHAPE = Shape(order_lines=6_000, days=40, products=60, end=date(2026, 3, 31))


def _specs():
    for stream in amazon.STREAMS.values():
        for spec in stream.entities:
            yield "amazon", spec
    for spec in shopify.ENTITIES.values():
        yield "shopify", spec
    for spec in walmart.ENTITIES.values():
        yield "walmart", spec
    yield fx.CHANNEL, fx.FX_RATES


def test_tiny_large_business_builds(tmp_path):
    counts = write_days(tmp_path, SHAPE, SHAPE.start, SHAPE.end)
    assert counts["walmart.order_lines"] > 0 and counts["shopify.refund_lines"] > 0

    # every file in the layout and with the exact schema the lake writer gives the entity
    written = 0
    for channel, spec in _specs():
        files = sorted(
            tmp_path.glob(
                f"raw/channel={channel}/connection=*/entity={spec.name}/date=*/part-0.parquet"
            )
        )
        if spec.name.startswith(("sales_traffic", "review_")):
            # traffic reports and Customer Feedback topics are not generated: their marts
            # build empty (the reviews marts read the inbox's review files, not generated either)
            assert not files
            continue
        assert files, f"{channel}.{spec.name} has no files"
        expected = [(f.name, f.type) for f in lake_schema(spec)]
        for path in files[:3]:  # names and types (DuckDB marks every column nullable)
            assert [(f.name, f.type) for f in pq.read_schema(path)] == expected, path
        written += len(files)
    folder = entity_path(tmp_path, "walmart", "walmart_us", "orders")
    days = sorted(p.name for p in folder.glob("date=*"))
    assert days[0] == f"date={SHAPE.start}" and days[-1] == f"date={SHAPE.end}"

    warehouse = tmp_path / "warehouse.duckdb"
    full = run_dbt(
        tmp_path, warehouse, dbt_settings(tmp_path, SHAPE.end + timedelta(days=1), True), True
    )
    assert full.ok, full.failures

    # the daily append writes only the new day; the incremental build takes it in
    before = {p: p.stat().st_mtime_ns for p in tmp_path.glob("raw/**/*.parquet")}
    day = SHAPE.end + timedelta(days=1)
    write_days(tmp_path, SHAPE, day, day)
    after = {p: p.stat().st_mtime_ns for p in tmp_path.glob("raw/**/*.parquet")}
    changed = {p for p in after if before.get(p) != after[p]}
    assert changed and all(f"date={day}" in str(p) for p in changed)
    incremental = run_dbt(
        tmp_path, warehouse, dbt_settings(tmp_path, day + timedelta(days=1), False), False
    )
    assert incremental.ok, incremental.failures
    with duckdb.connect(str(warehouse), read_only=True) as con:
        in_marts = dict(
            con.execute(
                "select channel, count(*) from core.fct_order_lines group by all"
            ).fetchall()
        )
        (refunds,) = con.execute("select count(*) from core.fct_refunds").fetchone()
        in_lake = {
            channel: con.execute(
                f"select count(distinct (connection, {key})) from read_parquet("
                f"'{tmp_path}/raw/channel={channel}/*/entity={entity}/*/*.parquet', "
                "hive_partitioning = true)"
            ).fetchone()[0]
            for channel, entity, key in (
                ("amazon", "order_items", "amazon_order_id, order_item_id"),
                ("shopify", "order_lines", "shopify_order_id, line_item_id"),
                ("walmart", "order_lines", "purchase_order_id, line_number"),
            )
        }
    assert in_marts == in_lake  # every generated line once, its latest version
    assert refunds > 0
