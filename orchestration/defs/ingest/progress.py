"""Progress of a long extraction in the run's log: one line per stream at least every
``interval`` seconds (elapsed time and the extractor's latest new log message, e.g. a report
or bulk operation it is waiting for), its warnings as they come, and nothing more.

The extraction runs in a worker thread so that the step's own thread writes every log line
(Dagster's log manager is used from the step's thread only); the extractors log through the
standard ``logging`` module under ``channelhouse.extractors`` and know nothing of Dagster.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import date
from pathlib import Path

import dagster as dg

from extractors.runner import StreamRun, run_stream
from extractors.usage import UsageLimits

EXTRACTORS_LOGGER = "channelhouse.extractors"
INTERVAL_S = 10.0


class _Collect(logging.Handler):
    """The records one thread logs, queued for the step's thread."""

    def __init__(self, thread_id: int):
        super().__init__(logging.INFO)
        self.thread_id = thread_id
        self.records: queue.Queue[logging.LogRecord] = queue.Queue()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread_id:
            self.records.put(record)


def _worker_id(pool: ThreadPoolExecutor) -> int:
    return pool.submit(threading.get_ident).result()


def extract_with_progress(
    context: dg.AssetExecutionContext,
    label: str,
    extractor,
    stream: str,
    lake_root: Path,
    days: list[date] | None,
    interval: float | None = None,
    limits: UsageLimits | None = None,
) -> StreamRun:
    """``run_stream`` with progress lines ``<label>: ...`` in the run's log, one at least
    every ``interval`` seconds (default ``INTERVAL_S``)."""
    interval = interval or INTERVAL_S
    logger = logging.getLogger(EXTRACTORS_LOGGER)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=label) as pool:
        handler = _Collect(_worker_id(pool))
        previous_level = logger.level
        logger.addHandler(handler)
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
        started = last_line = time.monotonic()
        latest = ""
        try:
            future = pool.submit(run_stream, extractor, stream, lake_root, days=days, limits=limits)
            while True:
                done, _ = wait([future], timeout=min(1.0, interval))
                while not handler.records.empty():
                    record = handler.records.get()
                    if record.levelno >= logging.WARNING:
                        context.log.warning(f"{label}: {record.getMessage()}")
                    else:
                        latest = record.getMessage()
                if done:
                    return future.result()
                if time.monotonic() - last_line >= interval:
                    last_line = time.monotonic()
                    context.log.info(
                        f"{label}: running {last_line - started:.0f}s"
                        + (f"; {latest}" if latest else "")
                    )
                    latest = ""  # each message once
        finally:
            logger.removeHandler(handler)
            logger.setLevel(previous_level)
