"""``make demo``: the main job on the embedded default.

Starts the sandbox APIs (unless one is already listening on the configured port), then runs
the pipeline through Dagster — the initial sync of every incremental stream (the history
before the daily partitions) in one run, the daily partitions of the recent window in one
run, then the snapshots, into the lake under the data directory; then the dbt warehouse
build with its checks, the forecasts, the alerts and a report — recorded in the Dagster
instance that ``make dev`` shows. Prints what landed and how long it took.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import requests
from dotenv import load_dotenv

from orchestration.config import ChannelHouseConfig, load_config


def _sandbox_up(url: str) -> bool:
    try:
        return requests.get(f"{url}/_sandbox/health", timeout=1).ok
    except requests.RequestException:
        return False


@contextmanager
def sandbox_process(config: ChannelHouseConfig, timeout_s: float = 180, while_starting=None):
    """The sandbox in a child process (its own core), for as long as the block runs;
    ``while_starting()`` runs here while the sandbox builds its business."""
    sb = config.sandbox
    if not config.uses_sandbox or _sandbox_up(sb.url):
        if while_starting:
            while_starting()
        yield None
        return
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox",
            "--host",
            sb.host,
            "--port",
            str(sb.port),
            "--seed",
            str(sb.seed),
            "--scale",
            str(sb.scale),
            "--rate-limits",
            sb.rate_limits,
            *(["--fraud"] if sb.fraud else []),
        ],
    )
    try:
        deadline = time.monotonic() + timeout_s
        if while_starting:
            while_starting()
        while not _sandbox_up(sb.url):
            if proc.poll() is not None:
                raise SystemExit(f"the sandbox exited with code {proc.returncode} during start-up")
            if time.monotonic() > deadline:
                raise SystemExit(f"the sandbox did not answer on {sb.url} within {timeout_s:.0f}s")
            time.sleep(0.2)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def dagster_home(config: ChannelHouseConfig) -> Path:
    home = Path(os.environ.get("DAGSTER_HOME") or config.data_dir / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def raw_history_job():
    """The initial-sync job, rebuilt from the configuration in each step process."""
    from orchestration.definitions import defs

    return defs().resolve_job_def("raw_history")


def write_demo_files(config: ChannelHouseConfig) -> None:
    """What a seller without an API would drop into the inbox, from the sandbox business:
    the last 90 days (at most the synced history) of storefront events of both Shopify stores,
    product costs and the orders export of a file-only channel (etsy)."""
    if not config.uses_sandbox:
        return
    from sandbox.business import Business
    from sandbox.exports import DEMO_DAYS, write_demo_inbox

    business = Business(
        seed=config.sandbox.seed, scale=config.sandbox.scale, fraud=config.sandbox.fraud
    )
    history = (datetime.now(UTC).date() - config.sync.history_start).days
    files = write_demo_inbox(business, config.data_dir, days=max(1, min(DEMO_DAYS, history)))
    print(f"  demo files in {config.inbox_dir}: {len(files)}")
    # the import leaves files younger than 2 s for the next run (they may still be copied in)
    age = time.time() - max(f.stat().st_mtime for f in files)
    time.sleep(min(2.1, max(0.0, 2.1 - age)))  # at most 2.1 s, whatever the clocks say


DEMO_JOBS = (
    "raw_history",
    "raw_backfill",
    "raw_snapshots",
    "inbox_import",
    "forecast_retrain",
    "alerts_daily",
    "report_weekly_business_review",
)


def run_pipeline(
    config: ChannelHouseConfig, parallel: int, instance=None, in_process: bool = False
) -> list[tuple[str, bool, float, list[str]]]:
    """Materialize every asset: the initial sync (history) run, the daily window's run, the
    snapshot run, then the inbox import (the demo's files) with the warehouse build, the
    forecasts, the alerts and last week's business review (each warehouse-changing job ends
    with the BI serving copy). Returns (job, succeeded, seconds, failures) per run.

    With ``parallel`` > 1 the history run's streams run that many at a time in separate
    processes (Dagster's multiprocess executor, as in production), each step process paying
    seconds of imports (Dagster, dbt, Great Expectations); with 1 they run one after the other
    in this process. The daily window, the snapshots and dbt are short or one step per
    layer, so they run in this process. ``in_process`` runs the history in this process
    whatever ``parallel`` says (the tests' short histories), on ``instance`` (default: the
    DAGSTER_HOME instance).
    """
    import dagster as dg

    from orchestration.definitions import RETRY_POLICY, build_definitions
    from orchestration.lib.schedules import partition_range_tags
    from reports.periods import period_for_run

    instance = instance or dg.DagsterInstance.get()
    now = datetime.now(UTC)
    quiet = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    history = {**quiet, "execution": {"config": {"multiprocess": {"max_concurrent": parallel}}}}
    daily_range = partition_range_tags(
        config.sync.daily_start(now.date()).isoformat(), now.date().isoformat()
    )
    last_week = period_for_run("weekly", now, config.reporting_timezone)
    definitions = build_definitions(config, retry_policy=None if in_process else RETRY_POLICY)
    runs = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="demo-files") as background:
        # the inbox files are computed while the raw jobs run (mostly in step processes)
        demo_files = background.submit(write_demo_files, config)
        for job_name in DEMO_JOBS:
            started = time.perf_counter()
            if job_name == "inbox_import":
                demo_files.result()
            if job_name == "raw_history" and not in_process and parallel > 1:
                result = dg.execute_job(
                    dg.reconstructable(raw_history_job), instance=instance, run_config=history
                )
            else:
                result = definitions.resolve_job_def(job_name).execute_in_process(
                    instance=instance,
                    run_config=quiet,
                    raise_on_error=False,
                    tags=daily_range if job_name == "raw_backfill" else None,
                    # the reports are partitioned by period: last complete week
                    partition_key=last_week.start.isoformat()
                    if job_name.startswith("report_")
                    else None,
                )
            failures = [
                f"{e.step_key}: {e.step_failure_data.error.message.strip()}"
                for e in result.all_events
                if e.is_step_failure
            ]
            runs.append((job_name, result.success, time.perf_counter() - started, failures))
            failed_checks = [
                f"{e.asset_check_evaluation_data.asset_key.to_user_string()}"
                for e in result.all_events
                if e.event_type_value == "ASSET_CHECK_EVALUATION"
                and not e.asset_check_evaluation_data.passed
            ]
            if failed_checks:
                print(f"  failed checks: {', '.join(failed_checks)}")
            for failure in failures:
                print(f"  {failure}")
            events = len(instance.all_logs(result.run_id))  # Dagster's bookkeeping of the run
            status = "ok" if result.success else "FAILED"
            print(f"  run {job_name}: {status} in {runs[-1][2]:.1f}s, {events} events", flush=True)
            if not result.success and job_name in ("raw_history", "raw_backfill"):
                break  # no warehouse over a half-extracted lake
    return runs


def summarize_warehouse(path: Path) -> str:
    """The public marts with their row counts, and the question the warehouse answers."""
    import duckdb

    if not path.exists():
        return "  (no warehouse was built)"
    with duckdb.connect(str(path), read_only=True) as con:
        names = con.execute(
            "select schema_name || '.' || table_name from duckdb_tables() "
            "where schema_name in ('core', 'analytics') order by 1"
        ).fetchall()
        tables = [(n, con.execute(f"select count(*) from {n}").fetchone()[0]) for (n,) in names]
        if ("analytics.daily_sales",) not in names:
            return "\n".join(f"  {n:32} {r:>9,} rows" for n, r in tables)
        yesterday = con.execute(
            "select channel, sum(orders), sum(units), sum(net_revenue_base) "
            "from analytics.daily_sales where sales_date = current_date - 1 "
            "group by channel order by channel"
        ).fetchall()
        analytics = _analytics_answers(con) if ("analytics.customer_rfm",) in names else []
    lines = [f"  {name:32} {rows:>9,} rows" for name, rows in tables]
    lines.append(f"  warehouse: {path} — yesterday's sales (net, base currency):")
    lines += [
        f"    {c:8} {o:>5} orders {u:>6} units {float(n):>12,.2f}" for c, o, u, n in yesterday
    ]
    return "\n".join(lines + analytics)


def _analytics_answers(con) -> list[str]:
    """One line per question the analytics marts answer."""
    segments = con.execute(
        "select count(*), count(*) filter (where rfm_segment = 'champions'), "
        "count(*) filter (where rfm_segment in ('at_risk', 'cant_lose_them')) "
        "from analytics.customer_rfm"
    ).fetchone()
    reorder = con.execute(
        "select count(distinct product_id), coalesce(sum(suggested_order_quantity), 0) "
        "from analytics.replenishment_plan where replenishment_status = 'order_now'"
    ).fetchone()
    funnel = con.execute(
        "select sum(sessions), sum(purchase_sessions) / nullif(sum(sessions), 0) "
        "from analytics.funnel_daily where data_source = 'events' "
        "and funnel_date > (select max(funnel_date) from analytics.funnel_daily) - 7"
    ).fetchone()
    margin = con.execute(
        "select sum(net_revenue_base), sum(contribution_margin_base) from analytics.daily_margin "
        "where margin_date > (select max(margin_date) from analytics.daily_margin) - 30"
    ).fetchone()
    lines = [
        f"  customers: {segments[0]:,} ({segments[1]:,} champions, {segments[2]:,} at risk or "
        "can't lose them)",
        f"  reorder now: {reorder[0]} products, {reorder[1]:,} units suggested",
    ]
    if funnel[0]:
        lines.append(
            f"  storefront sessions, last 7 days: {funnel[0]:,}, conversion {funnel[1]:.2%}"
        )
    if margin[0]:
        lines.append(
            f"  last 30 days: net revenue {float(margin[0]):,.0f}, contribution margin "
            f"{float(margin[1] or 0):,.0f} ({float(margin[1] or 0) / float(margin[0]):.1%})"
        )
    return lines


def summarize_serving(config: ChannelHouseConfig) -> str:
    """Where BI tools and managers find the results: the serving copy and the reports."""
    lines = []
    copy = config.serving.copy_target(config.data_dir)
    if config.serving.copy_enabled and copy.exists():
        lines.append(f"  BI serving copy (read-only): {copy}")
    exports = config.data_dir / "exports"
    for path in sorted(exports.glob("*/*/*")) if exports.exists() else []:
        lines.append(f"  report: {path}")
    return "\n".join(lines) or "  (no serving copy, no reports)"


def summarize_lake(root: Path) -> str:
    import duckdb

    raw = root / "raw"
    if not any(raw.rglob("*.parquet")):
        return "  (the lake is empty)"
    rows = duckdb.sql(
        f"select channel, connection, entity, count(distinct date) as partitions, "
        f"count(*) as rows from read_parquet('{raw}/**/*.parquet', hive_partitioning=true, "
        f"union_by_name=true) group by all order by all"
    ).fetchall()
    size = sum(p.stat().st_size for p in raw.rglob("*.parquet"))
    lines = [f"  {c:8} {n:12} {e:24} {p:5} partitions {r:>9,} rows" for c, n, e, p, r in rows]
    return "\n".join(lines) + f"\n  lake size: {size / 1e6:.1f} MB in {raw}"


def _import_definitions() -> None:
    import orchestration.definitions  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="configuration file (default: channelhouse.yml)")
    parser.add_argument(
        "--parallel", type=int, default=3, help="streams extracted at the same time (default 3)"
    )
    args = parser.parse_args(argv)
    if args.config:  # the step processes read the same file
        os.environ["CHANNELHOUSE_CONFIG"] = str(Path(args.config).resolve())
    load_dotenv(".env")  # the user's values first; the demo defaults fill what it lacks
    load_dotenv(".env.example")
    # One "planned" event per asset for a ranged run instead of one per partition: halves
    # Dagster's bookkeeping for a two-year backfill (see DECISIONS.md).
    os.environ.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")
    config = load_config(args.config)
    home = dagster_home(config)
    started = time.perf_counter()
    print(
        f"ChannelHouse demo: {len(config.connections)} connections, history from "
        f"{config.sync.history_start}, data in {config.data_dir.resolve()}"
    )
    # Dagster, dbt and Great Expectations import while the sandbox builds its business
    with sandbox_process(config, while_starting=_import_definitions):
        runs = run_pipeline(config, args.parallel)
    print(summarize_lake(config.data_dir))
    print(summarize_warehouse(config.warehouse_path))
    print(summarize_serving(config))
    print(
        f"done in {time.perf_counter() - started:.1f}s; Dagster runs recorded in {home} "
        "(`make dev` to browse)"
    )
    built = config.warehouse_path.exists()
    return 0 if built and all(ok for _, ok, _, _ in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
