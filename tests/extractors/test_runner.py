"""run_stream's window rules, with an extractor that records what it was asked."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa

from extractors.base import EntitySpec, ExtractResult, Stream, Window
from extractors.runner import run_stream

SPEC = EntitySpec(
    "orders",
    pa.schema([pa.field("id", pa.string(), nullable=False),
               pa.field("updated_at", pa.timestamp("us", tz="UTC"), nullable=False)]),
    ("id",),
    "updated_at",
)  # fmt: skip


class Recorder:
    channel, connection = "shopify", "shop_a"

    def __init__(self) -> None:
        self.streams = {"orders": Stream("orders", (SPEC,), incremental=True, cadence="hourly")}
        self.windows: list[Window | None] = []

    def extract(self, stream: str, window: Window | None) -> ExtractResult:
        self.windows.append(window)
        return ExtractResult(api_version="test")


def test_the_window_ends_two_minutes_before_now(tmp_path):
    extractor = Recorder()
    now = datetime(2025, 3, 2, 12, 0, tzinfo=UTC)
    run = run_stream(extractor, "orders", tmp_path, [date(2025, 3, 1), date(2025, 3, 2)], now)
    assert extractor.windows == [
        Window(datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 2, 11, 58, tzinfo=UTC))
    ]
    assert run.days == [date(2025, 3, 1), date(2025, 3, 2)]


def test_just_after_midnight_today_is_left_for_the_next_run(tmp_path):
    extractor = Recorder()
    now = datetime(2025, 3, 2, 0, 1, tzinfo=UTC)
    run = run_stream(extractor, "orders", tmp_path, [date(2025, 3, 1), date(2025, 3, 2)], now)
    assert run.days == [date(2025, 3, 1)]
    assert extractor.windows[0].end == datetime(2025, 3, 1, 23, 59, tzinfo=UTC)
    only_today = run_stream(Recorder(), "orders", tmp_path, [date(2025, 3, 2)], now)
    assert only_today.days == [] and not only_today.writes and only_today.notes
