"""Shopify bulk operations end to end: the extractor's bulk path against the sandbox's
emulator over real HTTP, compared with the paginated path and the business's ground truth.

The sandbox clock is frozen at the moment test_shopify.py's first test uses, so the shop's
view is built once for both files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from extractors import shopify as shop
from extractors.base import Window
from extractors.http import ApiError
from extractors.runner import run_stream
from orchestration.config import ChannelHouseConfig
from sandbox.server import Fault, SandboxServer
from sandbox.shopify import bulk as sandbox_bulk
from tests.extractors.test_shopify import days_before, lake, make_extractor, orders_in, post

ENTITIES = ("orders", "order_lines", "refunds", "refund_lines")
START_LOG = "bulk operation gid://shopify/BulkOperation/"


@pytest.fixture
def now(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> datetime:
    """Yesterday's midnight, the sandbox clock frozen there."""
    moment = datetime.combine(datetime.now(UTC).date(), datetime.min.time(), UTC)
    moment -= timedelta(days=1)
    monkeypatch.setattr(sandbox.state, "clock", lambda: moment)
    return moment


def extractor(
    config: ChannelHouseConfig, sandbox: SandboxServer, bulk_history_days: int = 90
) -> shop.ShopifyExtractor:
    made = make_extractor(config, sandbox.url)
    made.conn = made.conn.model_copy(update={"bulk_history_days": bulk_history_days})
    return made


def short_window(now: datetime) -> Window:
    return Window.for_days(now.date() - timedelta(days=3), now.date() - timedelta(days=1))


def started(caplog: pytest.LogCaptureFixture) -> list[str]:
    messages = [r.getMessage() for r in caplog.records]
    return [m for m in messages if START_LOG in m and m.endswith(" started")]


def rows(result, entity: str) -> pl.DataFrame:
    frame = pl.DataFrame(result.rows.get(entity, []), infer_schema_length=None)
    return frame.sort(frame.columns) if len(frame) else frame


@pytest.fixture
def bulk_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="channelhouse.extractors.shopify")
    return caplog


# --------------------------------------------------------------------------------------------
# the lake after bulk == the lake after pages == the truth
# --------------------------------------------------------------------------------------------
@pytest.mark.calendar
def test_bulk_lake_equals_paginated_lake_and_ground_truth(
    config, sandbox: SandboxServer, sandbox_env, now, tmp_path: Path, bulk_logs
) -> None:
    days = days_before(now, 40, 1)
    paged = run_stream(extractor(config, sandbox), "orders", tmp_path / "paged", days=days)
    assert started(bulk_logs) == []  # 40 days <= the default 90: pages
    bulk = run_stream(
        extractor(config, sandbox, bulk_history_days=30), "orders", tmp_path / "bulk", days=days
    )
    assert len(started(bulk_logs)) == 1  # 40 days > 30: one bulk operation
    assert bulk.quarantined == paged.quarantined == 0
    for entity in ENTITIES:
        frames = [lake(tmp_path / kind, entity) for kind in ("paged", "bulk")]
        frames = [f.drop("_extracted_at", "_extraction_id") for f in frames]
        frames = [f.sort(f.columns) for f in frames]
        assert len(frames[0]) > 0, entity
        assert frames[0].equals(frames[1]), entity
    orders = lake(tmp_path / "bulk", "orders")
    assert set(orders["shopify_order_id"]) == orders_in(
        sandbox.state.business, "shopify_us", now, bulk.window
    )
    lines = lake(tmp_path / "bulk", "order_lines").join(
        orders.select("shopify_order_id", pl.col("created_at").dt.date().alias("purchase_date")),
        on="shopify_order_id",
    )
    got = (
        lines.filter(pl.col("purchase_date").is_in(days))
        .group_by("purchase_date")
        .agg(pl.len().alias("lines"), pl.col("quantity").sum().alias("units"))
        .sort("purchase_date")
    )
    truth = (
        sandbox.state.business.ground_truth(now, "shopify_us")
        .filter(pl.col("purchase_date").is_in(days))
        .sort("purchase_date")
    )
    assert got["purchase_date"].to_list() == truth["purchase_date"].to_list() == days
    assert got["lines"].to_list() == truth["lines"].to_list()
    assert got["units"].cast(pl.Int64).to_list() == truth["units"].to_list()
    assert len(lake(tmp_path / "bulk", "refund_lines")) > 0


def test_the_window_length_decides_bulk_or_pages(config, sandbox, sandbox_env, now, bulk_logs):
    window = short_window(now)  # three days
    extractor(config, sandbox, bulk_history_days=3).extract("orders", window)
    assert started(bulk_logs) == []  # not longer than the threshold
    extractor(config, sandbox, bulk_history_days=2).extract("orders", window)
    assert len(started(bulk_logs)) == 1
    assert shop.ShopifyConnection.model_fields["bulk_history_days"].default == 90
    with pytest.raises(ValueError, match="bulk_history_days"):
        config.connection("shopify_us").model_validate(
            {**config.connection("shopify_us").model_dump(), "bulk_history_days": 0}
        )


# --------------------------------------------------------------------------------------------
# faults
# --------------------------------------------------------------------------------------------
@pytest.fixture
def clean(config, sandbox, sandbox_env, now) -> Callable[[], object]:
    def extract():
        return extractor(config, sandbox, bulk_history_days=1).extract("orders", short_window(now))

    return extract


def test_a_failed_operation_is_restarted_once(sandbox, clean, bulk_logs) -> None:
    expected = clean()
    bulk_logs.clear()
    sandbox.state.faults.add(Fault("shopify", "bulk_failed"))
    result = clean()
    assert len(started(bulk_logs)) == 2
    assert "failed with INTERNAL_SERVER_ERROR; restarting the bulk query once" in bulk_logs.text
    for entity in ENTITIES:
        assert rows(result, entity).equals(rows(expected, entity)), entity


def test_a_second_failure_is_an_error_naming_status_code_and_partial_data(
    sandbox, clean, bulk_logs
) -> None:
    sandbox.state.faults.add(Fault("shopify", "bulk_failed", count=2))
    with pytest.raises(ApiError) as error:
        clean()
    message = str(error.value)
    assert "ended FAILED (errorCode INTERNAL_SERVER_ERROR" in message
    assert "partial data at http" in message and "-partial.jsonl" in message
    assert "Signature" not in message  # the signed URL grants access: never in a message
    assert len(started(bulk_logs)) == 2


def test_access_denied_is_not_retried(sandbox, clean, bulk_logs) -> None:
    sandbox.state.faults.add(Fault("shopify", "bulk_failed", error_code="ACCESS_DENIED"))
    with pytest.raises(ApiError, match="ended FAILED \\(errorCode ACCESS_DENIED"):
        clean()
    assert len(started(bulk_logs)) == 1


def test_a_cancelled_operation_is_an_error(sandbox, clean, bulk_logs) -> None:
    sandbox.state.faults.add(Fault("shopify", "bulk_canceled"))
    with pytest.raises(ApiError, match="ended CANCELED"):
        clean()
    assert len(started(bulk_logs)) == 1


def test_an_expired_url_is_polled_afresh_then_the_operation_restarted(
    sandbox, clean, bulk_logs
) -> None:
    expected = clean()
    for count, operations in ((1, 1), (2, 2)):
        bulk_logs.clear()
        sandbox.state.faults.add(Fault("shopify", "expire_url", count=count))
        result = clean()
        assert len(started(bulk_logs)) == operations, count
        assert rows(result, "order_lines").equals(rows(expected, "order_lines"))
    sandbox.state.faults.add(Fault("shopify", "expire_url", count=4))
    with pytest.raises(ApiError, match=r"expired .* after a fresh poll and a restart"):
        clean()


def test_a_concurrent_operation_is_waited_for(
    sandbox, clean, bulk_logs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox_bulk, "CREATED_S", 500.0)  # 0.5 s at the fast profile
    other = post(
        sandbox.url,
        "mutation($q: String!) { bulkOperationRunQuery(query: $q) { bulkOperation { id } } }",
        {"q": "{ orders(query: \"updated_at:>='2999-01-01'\") { edges { node { id } } } }"},
    ).json()["data"]["bulkOperationRunQuery"]["bulkOperation"]["id"]
    result = clean()
    assert f"another bulk query ({other}) is in progress" in bulk_logs.text
    assert len(started(bulk_logs)) == 1 and other not in started(bulk_logs)[0]
    assert result.rows["orders"]


def test_a_malformed_line_and_its_orphans_are_quarantined(
    sandbox, clean, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = sandbox_bulk.jsonl_lines
    broken: list[str] = []

    def corrupt(plan, data, seed):
        lines, roots = real(plan, data, seed)
        for i, line in enumerate(lines):
            if b'"__parentId"' not in line and b"gid://shopify/Order/" in line:
                broken.append(line.split(b'"')[3].decode())
                lines[i] = line[: len(line) // 2]
                break
        return lines, roots

    monkeypatch.setattr(sandbox_bulk, "jsonl_lines", corrupt)
    result = clean()
    reasons = [(q.entity, q.reason) for q in result.quarantine]
    assert reasons[0][0] == "orders" and "bulk result line" in reasons[0][1]
    assert "not JSON" in reasons[0][1]
    orphans = [r for e, r in reasons[1:] if e == "order_lines"]
    assert orphans and all(f"parent {broken[0]} is not in the file" in r for r in orphans)
    assert len(reasons) == 1 + len(orphans)
    assert broken[0] not in {r["shopify_order_id"] for r in result.rows["orders"]}
