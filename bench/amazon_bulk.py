"""Modelled wall time of a two-year initial Amazon orders sync under the published limits
(``rate_limits: realistic``): the flat-file orders reports (bulk) versus getOrders plus one
getOrderItems per order.

Measured: the calls per operation the extractor really makes, over HTTP to the sandbox (fast
profile), for the last ``WINDOW_DAYS`` days of the demo's Amazon connections, once per path.
Modelled: those counts scaled to two years (per-order calls by the business's order count,
reports by the number of 30-day chunks: one report holds every marketplace of the region), then token-bucket maths with each
operation's published rate and burst (``sandbox.amazon.common.OPERATIONS``, reference A.3/A.4)
plus an assumed report processing time. Accounts are separate sellers with their own buckets;
the total is their sum (one after the other), the conservative figure.

``python -m bench.amazon_bulk`` runs it alone; ``make bench`` runs it from ``bench.run``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import yaml

from extractors import amazon
from extractors.amazon import AmazonExtractor
from extractors.amazon.client import AmazonClient
from extractors.runner import run_stream
from orchestration.config import parse_config, resolve_secrets
from sandbox.amazon.common import OPERATIONS
from sandbox.server import SandboxServer, sandbox_environment

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
WINDOW_DAYS = 60  # the measured run (fast profile)
HISTORY_DAYS = 730  # the modelled initial sync
CHUNK_DAYS = 30  # one report per marketplace and 30 days (the range Amazon accepts)
# Assumed minutes from createReport to DONE for an orders report on the real API: Amazon
# publishes no figure (sellers report from seconds to tens of minutes); 15 minutes is taken.
REPORT_PROCESSING_S = 15 * 60
COUNTED = ("getOrders", "getOrderItems", "createReport", "getReport", "getReportDocument")


def drain_s(calls: int, operation: str) -> float:
    """Seconds until ``calls`` calls issued at once have all passed the operation's bucket."""
    rate, burst = OPERATIONS[operation]
    return max(0.0, calls - burst) / rate


def bucket_times(wanted: list[float], operation: str) -> list[float]:
    """When each call (wanted at the given times, in order) passes the token bucket."""
    rate, burst = OPERATIONS[operation]
    tokens, clock, out = float(burst), 0.0, []
    for at in sorted(wanted):
        at = max(at, clock)
        tokens = min(burst, tokens + (at - clock) * rate)
        if tokens < 1:
            at += (1 - tokens) / rate
            tokens = 1.0
        tokens -= 1
        clock = at
        out.append(at)
    return out


def bulk_wall_s(reports: int) -> tuple[float, int]:
    """(seconds, getReport polls) for ``reports`` reports: all created as the createReport
    bucket allows, each DONE after the processing time, polled in the extractor's rounds
    (pause doubling to REPORT_POLL_MAX_S), its document fetched as that bucket allows."""
    created = bucket_times([0.0] * reports, "createReport")
    ready = [t + REPORT_PROCESSING_S for t in created]
    pause, clock, polls_per_report = amazon.REPORT_POLL_FIRST_S, 0.0, 0
    while clock < REPORT_PROCESSING_S:
        clock += pause
        pause = min(pause * 2, amazon.REPORT_POLL_MAX_S)
        polls_per_report += 1
    polls = reports * polls_per_report
    fetched = bucket_times(ready, "getReportDocument")
    return max(max(fetched), drain_s(polls, "getReport")), polls


def per_order_wall_s(pages: int, orders: int) -> float:
    """getOrders pages and the items of each order run side by side (the items pool works
    while the pages are followed): the slower bucket decides."""
    return max(drain_s(pages, "getOrders"), drain_s(orders, "getOrderItems"))


def _counting() -> Counter[str]:
    """Count the extractor's calls per SP-API operation (every attempt, retries included)."""
    counts: Counter[str] = Counter()
    original = AmazonClient.call

    def call(self, method, path, *, endpoint, **kwargs):
        counts[endpoint] += 1
        return original(self, method, path, endpoint=endpoint, **kwargs)

    AmazonClient.call = call  # the bench's own process only
    return counts


def measure() -> dict:
    os.environ.update(sandbox_environment())
    counts = _counting()
    accounts = []
    with (
        SandboxServer(port=0, scale=1.0, rate_limits="fast") as server,
        tempfile.TemporaryDirectory() as tmp,
    ):
        raw = yaml.safe_load((ROOT / "channelhouse.yml").read_text())
        raw |= {"data_dir": tmp, "sandbox": {**raw.get("sandbox", {}), "port": server.port}}
        config = parse_config(raw, "bench")
        now = datetime.now(UTC)
        days = [now.date() - timedelta(days=i) for i in range(WINDOW_DAYS, 0, -1)]
        history = server.state.business.orders_view(now).filter(
            pl.col("last_updated_at") >= now - timedelta(days=HISTORY_DAYS)
        )
        for conn in (c for c in config.connections if c.channel == "amazon"):
            row: dict = {"connection": conn.name, "marketplaces": len(conn.marketplaces)}
            for path, threshold in (("per_order", None), ("bulk", 1)):
                one = conn.model_copy(update={"bulk_history_days": threshold})
                extractor = AmazonExtractor(one, resolve_secrets(one), sandbox_url=server.url)
                counts.clear()
                started = time.perf_counter()
                run = run_stream(extractor, "orders", Path(tmp) / path, days=days, now=now)
                row[path] = {
                    "seconds": round(time.perf_counter() - started, 2),
                    "orders": run.rows("orders"),
                    "order_items": run.rows("order_items"),
                    "calls": {op: counts[op] for op in COUNTED if counts[op]},
                }
            row["orders_two_years"] = history.filter(pl.col("account") == conn.name).height
            accounts.append(row)
    return {"accounts": accounts}


def model(measured: dict) -> dict:
    rows, total_bulk, total_per_order = [], 0.0, 0.0
    for a in measured["accounts"]:
        per_order, bulk = a["per_order"], a["bulk"]
        scale = a["orders_two_years"] / max(per_order["orders"], 1)
        pages = math.ceil(per_order["calls"].get("getOrders", 0) * scale)
        items = math.ceil(per_order["calls"].get("getOrderItems", 0) * scale)
        chunks = math.ceil(WINDOW_DAYS / CHUNK_DAYS)
        assert bulk["calls"]["createReport"] == chunks, bulk["calls"]  # all marketplaces in one
        reports = math.ceil(HISTORY_DAYS / CHUNK_DAYS)
        slow = per_order_wall_s(pages, items)
        fast, polls = bulk_wall_s(reports)
        total_per_order += slow
        total_bulk += fast
        rows.append(
            {
                "connection": a["connection"],
                "orders_two_years": a["orders_two_years"],
                "per_order_calls": {"getOrders": pages, "getOrderItems": items},
                "bulk_calls": {
                    "createReport": reports,
                    "getReport": polls,
                    "getReportDocument": reports,
                },
                "per_order_hours": round(slow / 3600, 2),
                "bulk_hours": round(fast / 3600, 2),
                "ratio": round(slow / fast, 1),
            }
        )
    return {
        "accounts": rows,
        "per_order_hours": round(total_per_order / 3600, 2),
        "bulk_hours": round(total_bulk / 3600, 2),
        "ratio": round(total_per_order / total_bulk, 1),
    }


def run() -> dict:
    print("Amazon two-year initial sync, modelled at the published limits:", flush=True)
    measured = measure()
    modelled = model(measured)
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "window_days": WINDOW_DAYS,
        "history_days": HISTORY_DAYS,
        "report_processing_s": REPORT_PROCESSING_S,
        "limits": {op: OPERATIONS[op] for op in COUNTED},
        "measured": measured,
        "modelled": modelled,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "amazon_bulk.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "amazon_bulk.md").write_text(_markdown(result))
    for r in modelled["accounts"]:
        print(f"  {r['connection']:11} per-order {r['per_order_hours']:7.2f} h  "
              f"bulk {r['bulk_hours']:5.2f} h  {r['ratio']:5.1f}x")  # fmt: skip
    print(f"  total       per-order {modelled['per_order_hours']:7.2f} h  bulk "
          f"{modelled['bulk_hours']:5.2f} h  {modelled['ratio']:5.1f}x (target >= 20x)")  # fmt: skip
    return result


def _markdown(result: dict) -> str:
    m = result["modelled"]
    lines = [
        "# Amazon bulk history benchmark",
        "",
        f"Measured {result['measured_at']} on {result['machine']['cpus']} CPUs. Modelled wall "
        f"time of a {result['history_days']}-day initial orders sync of the demo's Amazon "
        "accounts under the published limits: the calls per operation the extractor made over "
        f"the last {result['window_days']} days (sandbox, fast profile), scaled to two years, "
        "through each operation's token bucket (rate/s, burst: "
        + ", ".join(f"{op} {r}/{b}" for op, (r, b) in result["limits"].items())
        + f"), reports taking {result['report_processing_s'] // 60} minutes to process "
        "(assumed; Amazon publishes no figure). Accounts one after the other.",
        "",
        f"**Bulk is {m['ratio']}x faster** ({m['bulk_hours']} h against "
        f"{m['per_order_hours']} h; target >= 20x).",
        "",
        "| account | orders (2 years) | getOrders | getOrderItems | per-order h | reports "
        "| getReport polls | bulk h | ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['connection']} | {r['orders_two_years']:,} | {r['per_order_calls']['getOrders']:,} "
        f"| {r['per_order_calls']['getOrderItems']:,} | {r['per_order_hours']} "
        f"| {r['bulk_calls']['createReport']} | {r['bulk_calls']['getReport']} "
        f"| {r['bulk_hours']} | {r['ratio']} |"
        for r in m["accounts"]
    ]
    lines += ["", "Measured run (fast profile):", "", "| account | path | orders | calls | s |",
              "|---|---|---|---|---|"]  # fmt: skip
    for a in result["measured"]["accounts"]:
        for path in ("per_order", "bulk"):
            p = a[path]
            calls = ", ".join(f"{k} {v}" for k, v in p["calls"].items())
            lines.append(
                f"| {a['connection']} | {path} | {p['orders']} | {calls} | {p['seconds']} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    run()
