"""Usage tracking: every stream run appends its record to the lake, and a connection's limits
warn at 80% and stop the sync at 100%, before a run or at the request that would pass them.
Against the real Walmart emulator over loopback (its orders stream pages through the days)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from extractors import usage
from extractors import walmart as wm
from extractors.runner import run_stream
from tests.conftest import free_port
from tests.extractors.test_walmart import ACCOUNT, make_extractor


def _records(root: Path) -> list[dict]:
    folder = root / "raw" / "channel=usage" / f"connection={ACCOUNT}" / "entity=stream_runs"
    return [r for f in sorted(folder.rglob("*.parquet")) for r in pq.read_table(f).to_pylist()]


def _days(n: int) -> list:
    today = datetime.now(UTC).date()
    return [today - timedelta(days=i) for i in range(n, 0, -1)]


def _limits(**values) -> usage.UsageLimits:
    return usage.UsageLimits(**values)


def test_every_run_appends_one_record_with_what_it_used(config, sandbox, sandbox_env, tmp_path):
    walmart = make_extractor(config, sandbox.url)
    first = run_stream(walmart, "orders", tmp_path, days=_days(3))
    second = run_stream(walmart, "orders", tmp_path, days=_days(2))
    records = _records(tmp_path)
    assert [r["outcome"] for r in records] == ["ok", "ok"]
    for record, run in zip(records, (first, second), strict=True):
        assert record["requests"] == run.stats.requests > 0
        assert record["rows_landed"] == sum(w.rows for w in run.writes) > 0
        assert record["bytes_landed"] == sum(w.bytes for w in run.writes)
        assert record["stream"] == "orders" and record["source_channel"] == "walmart"
        assert record["_connection"] == ACCOUNT and record["error"] is None
        assert record["finished_at"] >= record["started_at"]
    assert records[0]["run_id"] != records[1]["run_id"]
    used = usage.usage_so_far(tmp_path, ACCOUNT, datetime.now(UTC))
    assert used.requests_today == first.stats.requests + second.stats.requests
    assert used.rows_this_month == records[0]["rows_landed"] + records[1]["rows_landed"]
    # a record of another UTC month does not count towards this month's rows
    assert usage.usage_so_far(tmp_path, ACCOUNT, datetime.now(UTC) + timedelta(days=40)) == (
        usage.Usage(0, 0)
    )


def test_limits_warn_at_80_percent_then_stop_midway_and_before_the_next_run(
    config, sandbox, sandbox_env, tmp_path, monkeypatch
):
    monkeypatch.setattr(wm, "ORDERS_PAGE_LIMIT", 10)  # many pages: many requests
    walmart = make_extractor(config, sandbox.url)
    baseline = run_stream(walmart, "orders", tmp_path, days=_days(30))
    used = baseline.stats.requests
    assert used >= 10
    # 85% used: the next run runs, with a warning
    warned = run_stream(
        walmart,
        "orders",
        tmp_path,
        days=_days(1),
        limits=_limits(requests_per_day=used * 100 // 85),
    )
    assert any("of its limit requests_per_day" in n for n in warned.notes), warned.notes
    used += warned.stats.requests
    # one request left: the run (30 days, several pages) stops at its second request and
    # lands nothing
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("entity=orders/*/*.parquet")}
    with pytest.raises(usage.UsageLimitReached, match=r"requests_per_day: .* during this run"):
        run_stream(
            walmart, "orders", tmp_path, days=_days(30), limits=_limits(requests_per_day=used + 1)
        )
    after = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("entity=orders/*/*.parquet")}
    assert after == before
    stopped = _records(tmp_path)[-1]
    assert stopped["outcome"] == "limit_reached" and stopped["requests"] == 1
    assert "requests_per_day" in stopped["error"]
    # used up: the next run does not start, and says which limit and how to go on
    with pytest.raises(usage.UsageLimitReached, match=r"limit requests_per_day: .*channelhouse"):
        run_stream(
            walmart, "orders", tmp_path, days=_days(1), limits=_limits(requests_per_day=used + 1)
        )
    assert _records(tmp_path)[-1]["requests"] == 0
    # rows this month: at the limit, no run starts
    rows = usage.usage_so_far(tmp_path, ACCOUNT, datetime.now(UTC)).rows_this_month
    with pytest.raises(usage.UsageLimitReached, match="rows_per_month"):
        run_stream(walmart, "orders", tmp_path, days=_days(1), limits=_limits(rows_per_month=rows))
    assert [r["outcome"] for r in _records(tmp_path)].count("limit_reached") == 3


def test_a_failed_run_is_recorded_with_its_error_and_no_secret(config, sandbox_env, tmp_path):
    walmart = make_extractor(config, f"http://127.0.0.1:{free_port()}", max_attempts=2)
    with pytest.raises(Exception, match="failed"):
        run_stream(walmart, "orders", tmp_path, days=_days(1))
    (record,) = _records(tmp_path)
    assert record["outcome"] == "failed" and record["rows_landed"] == 0
    assert record["requests"] >= 1 and "connection error" in record["error"]
    secret = sandbox_env[config.connection(ACCOUNT).secrets["client_secret"]]
    assert secret not in record["error"]


def test_limits_are_checked_in_the_config():
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        usage.UsageLimits(requests_per_day=0)
    with pytest.raises(ValueError, match="Extra inputs"):
        usage.UsageLimits(requests_per_hour=10)
