"""The review-trust assets on a small warehouse: they read the matched reviews and the account
health and write analytics.listing_trust and analytics.seller_credibility."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import duckdb

from orchestration.config import parse_config
from orchestration.defs.ml.trust import trust_assets
from orchestration.lib.resources import WarehouseResource
from tests.conftest import sandbox_config_dict


def _warehouse(path: str) -> None:
    con = duckdb.connect(path)
    con.execute("create schema intermediate; create schema analytics")
    con.execute(
        "create table intermediate.int_reviews_matched (review_key varchar, review_listing_id "
        "varchar, connection_name varchar, product_id varchar, reviewer_key varchar, rating "
        "integer, review_text varchar, reviewed_at timestamptz, review_date date, is_verified "
        "boolean)"
    )
    t0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
    rows = [
        (
            f"b{i}",
            "s:s:L",
            "s",
            "p",
            f"new{i}",
            5,
            f"text {i} unique {i * 11}",
            t0 + timedelta(hours=i),
            False,
        )
        for i in range(10)
    ] + [
        (
            f"h{i}",
            "s:s:M",
            "s",
            "q",
            f"old{i}",
            4,
            f"honest {i} words {i * 17}",
            t0 - timedelta(days=i + 5),
            True,
        )
        for i in range(5)
    ]
    con.executemany(
        "insert into intermediate.int_reviews_matched values (?, ?, ?, ?, ?, ?, ?, ?, ?::date, ?)",
        [(*r[:8], r[7].date(), r[8]) for r in rows],
    )
    con.execute(
        "create table analytics.account_health as select 's' as connection_name, "
        "date '2026-02-23' as week_start_date, true as is_any_breach, 0.10 as refund_rate, "
        "0.01 as cancellation_rate"
    )
    con.close()


def test_trust_assets_write_both_tables(tmp_path):
    path = str(tmp_path / "w.duckdb")
    _warehouse(path)
    raw = sandbox_config_dict(str(tmp_path / "data"))
    raw["sandbox"] = {"scale": 0.1}
    raw.setdefault("analytics", {})["analysis_date"] = "2026-03-10"
    config = parse_config(raw, "test")
    resource = WarehouseResource(path=path, data_dir=str(tmp_path), hash_salt="s" * 20)
    result = dg.materialize(trust_assets(config), resources={"warehouse": resource})
    assert result.success
    events = {
        e.asset_key.path[-1]: e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert events["listing_trust"]["suspicious_reviews"].value == 10
    assert events["listing_trust"]["unmatched_reviews"].value == 0
    # the sandbox config checks the flags against the injected reviews: none of them is here
    assert config.uses_sandbox and events["listing_trust"]["recall"].value == 0.0
    con = duckdb.connect(path, read_only=True)
    trust = dict(
        con.execute("select review_listing_id, trust_level from analytics.listing_trust").fetchall()
    )
    assert trust == {"s:s:L": "low", "s:s:M": "high"}
    (score, reasons) = con.execute(
        "select credibility_score, reasons from analytics.seller_credibility"
    ).fetchone()
    # 100 - 60 x 10/15 - 20 x 1/1 - 100 x (0.10 - 0.08) = 38
    assert score == 38.0 and "1 of 1 recent weeks breach" in reasons
    assert date(2026, 3, 10) == config.analytics.analysis_date
