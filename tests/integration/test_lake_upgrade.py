"""A lake written by an older release still builds: inbox files landed before a column was
added to their entity (here the events' experiment and scroll-depth columns) read as NULL in
that column instead of failing the staging model."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from extractors.inbox import import_file, scan
from orchestration.config import parse_config
from tests.conftest import sandbox_config_dict
from tests.integration.test_warehouse import assert_ok, dbt

ADDED_SINCE = ("experiment_id", "variant", "experiment_unit", "scroll_depth")


def drop(data_dir: Path, relative: str, content: str) -> None:
    """A file in the inbox, old enough not to be "still being written"."""
    target = data_dir / "inbox" / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content)
    moment = time.time() - 60
    os.utime(target, (moment, moment))


def test_events_landed_without_the_newer_columns_still_build(tmp_path: Path, monkeypatch):
    for name in ("CHANNELHOUSE_DATA_DIR", "CHANNELHOUSE_WAREHOUSE", "CHANNELHOUSE_HASH_SALT"):
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "data"
    drop(
        data,
        "events/web/mapping.yml",
        "format: csv\ncolumns: {event_id: id, anonymous_id: visitor, event_name: what, "
        "occurred_at: at, page_url: url}\n",
    )
    drop(
        data,
        "events/web/views.csv",
        "id,visitor,what,at,url\n"
        "e1,v1,page_view,2026-01-05T10:00:00Z,/\n"
        "e2,v1,page_view,2026-01-05T10:01:00Z,/products/mug\n",
    )
    (pending,) = [p for p in scan(data / "inbox") if p.relative == "events/web/views.csv"]
    landed = import_file(pending, data, set(), now=datetime.now(UTC)).lake_path
    old = pq.read_table(landed)
    pq.write_table(old.drop_columns(list(ADDED_SINCE)), landed)  # as an older release wrote it
    config = parse_config({**sandbox_config_dict(str(data), 5), "connections": []}, "test")
    warehouse = tmp_path / "w.duckdb"
    result = dbt(
        config, warehouse, tmp_path / "target", "build", "--select", "stg_files__events",
        "--exclude-resource-type", "unit_test", "--indirect-selection", "cautious",
    )  # fmt: skip
    assert_ok(result)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "select event_id, scroll_depth, experiment_id, experiment_variant, experiment_unit "
            "from staging.stg_files__events order by event_id"
        ).fetchall()
    assert rows == [("e1", None, None, None, None), ("e2", None, None, None, None)]
