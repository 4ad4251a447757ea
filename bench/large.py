"""``make bench SCALE=large``: the warehouse at 10 million order lines.

A business of ``LARGE_LINES`` order lines is written straight into a scratch lake
(``bench/large_lake.py``), then: the dbt full build, one more day appended and the daily
incremental build (both with the arguments the Dagster step passes, in a dbt process of their
own, timed with its peak resident memory), the floor (one hand-written DuckDB query computing
``analytics.daily_sales`` and ``customer_rfm`` from the same Parquet) and the same dbt
project's core and analytics marts built on the machine's PostgreSQL (``bench/large_pg.py``).
Results: ``bench/results/large.json`` and ``large.md``.
"""

from __future__ import annotations

import json
import os
import time
from datetime import date, timedelta
from pathlib import Path

import yaml

from bench.large_dbt import ROOT, Build, dbt_settings, run_dbt
from bench.large_lake import Shape, write_days
from bench.large_pg import postgres_build

LARGE_LINES = 10_000_000


def generate(data_dir: Path, shape: Shape) -> float:
    started = time.perf_counter()
    counts = write_days(data_dir, shape, shape.start, shape.end)
    print(f"  lake: {counts}", flush=True)
    return round(time.perf_counter() - started, 1)


def append_day(data_dir: Path, shape: Shape) -> date:
    day = shape.end + timedelta(days=1)
    write_days(data_dir, shape, day, day)
    return day


def floor(data_dir: Path, reporting_timezone: str) -> dict:
    """The hand-written DuckDB script (``bench/large_floor.sql``) over the same lake: its
    wall time and the rows of its two tables."""
    import duckdb

    script = (Path(__file__).with_name("large_floor.sql")).read_text()
    script = script.replace("{lake}", str((data_dir / "raw").resolve()))
    script = script.replace("{tz}", reporting_timezone)
    con = duckdb.connect()
    started = time.perf_counter()
    con.execute(script)
    seconds = time.perf_counter() - started
    (sales,) = con.execute("select count(*) from floor_daily_sales").fetchone()
    (customers,) = con.execute("select count(*) from floor_customer_rfm").fetchone()
    con.close()
    return {"seconds": round(seconds, 1), "daily_sales_rows": sales, "customer_rfm_rows": customers}


def warehouse(data_dir: Path, shape: Shape) -> dict:
    """Full build of the generated history, then one more day and the incremental build."""
    path = data_dir / "warehouse.duckdb"
    full = run_dbt(
        data_dir, path, dbt_settings(data_dir, shape.end + timedelta(days=1), True), True
    )
    print(f"  full build {full.seconds}s ok={full.ok} peak {full.peak_rss_gb} GB", flush=True)
    day = append_day(data_dir, shape)
    incremental = run_dbt(
        data_dir, path, dbt_settings(data_dir, day + timedelta(days=1), False), False
    )
    print(f"  incremental {incremental.seconds}s ok={incremental.ok}", flush=True)
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        (lines,) = con.execute("select count(*) from core.fct_order_lines").fetchone()
    return {"order_lines": lines, "full": full, "incremental": incremental}


def _build_row(build: Build) -> dict:
    return {
        "seconds": build.seconds,
        "ok": build.ok,
        "peak_rss_gb": build.peak_rss_gb,
        "failures": build.failures[:20],
        "top_nodes": build.top(),
    }


def run(lines: int, work: Path, with_postgres: bool = True) -> dict:
    """The whole large bench in ``work`` (a scratch folder): the figures as one dict."""
    shape = Shape(order_lines=lines)
    data_dir = work / "data"
    print(f"large bench: {lines:,} order lines asked, {shape.orders_per_day:,} orders a day")
    generate_s = generate(data_dir, shape)
    print(f"  generated in {generate_s}s", flush=True)
    built = warehouse(data_dir, shape)
    tz = yaml.safe_load((ROOT / "channelhouse.yml").read_text())["reporting_timezone"]
    floor_run = floor(data_dir, tz)
    print(f"  floor {floor_run}", flush=True)
    full, incremental = built["full"], built["incremental"]
    result = {
        "order_lines": built["order_lines"],
        "generate_s": generate_s,
        "full_build": _build_row(full),
        "incremental_build": _build_row(incremental),
        "peak_rss_gb": max(full.peak_rss_gb, incremental.peak_rss_gb),
        "floor": floor_run,
        "full_to_floor_ratio": round(full.seconds / floor_run["seconds"], 2),
    }
    if with_postgres:
        pg = postgres_build(data_dir, shape)
        result["postgres"] = pg
        if pg["build"]["ok"]:
            result["postgres_to_duckdb_ratio"] = round(pg["build"]["seconds"] / full.seconds, 2)
    return result


def write_results(result: dict, measured_at: str, load: str) -> None:
    from bench.large_dbt import ROOT as root

    results = root / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    result = {"measured_at": measured_at, "machine_load": load, **result}
    (results / "large.json").write_text(json.dumps(result, indent=2) + "\n")
    full, inc, fl = result["full_build"], result["incremental_build"], result["floor"]
    pg = result.get("postgres")
    lines = [
        "# Large warehouse benchmark (10 million order lines)",
        "",
        f"Measured {measured_at} on {os.cpu_count()} CPUs (load average at the start: {load}; "
        "the machine is shared, so these are upper bounds). The business is generated straight "
        "into the lake (bench/large_lake.py); dbt runs as the Dagster step runs it, in its own "
        "process; peak RSS is that process's maximum resident set. Floor: bench/large_floor.sql "
        "(daily_sales and customer_rfm by hand from the same Parquet). Targets at 10M lines: "
        "full < 60 s, incremental < 10 s, peak < 8 GB, full/floor <= 3x, PostgreSQL/DuckDB >= 10x.",
        "",
        "| order lines | generate s | full build s | incremental s | peak RSS GB | floor s "
        "| full / floor | PostgreSQL build s | PostgreSQL / DuckDB |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {result['order_lines']:,} | {result['generate_s']} | {full['seconds']} "
        f"({'ok' if full['ok'] else 'FAILED'}) | {inc['seconds']} "
        f"({'ok' if inc['ok'] else 'FAILED'}) | {result['peak_rss_gb']} | {fl['seconds']} "
        f"| {result['full_to_floor_ratio']} | "
        + (f"{pg['build']['seconds']} ({'ok' if pg['build']['ok'] else 'FAILED'})" if pg else "-")
        + f" | {result.get('postgres_to_duckdb_ratio', '-')} |",
        "",
    ]
    if result.get("note"):  # a run at another size than asked, said so at the top
        lines[1:1] = ["", f"**{result['note']}**"]
    for title, build in (("Full build", full), ("Incremental build", inc)):
        lines += [f"## {title}: the 10 slowest nodes", "", "| node | s |", "|---|---|"]
        lines += [f"| {n['node']} | {n['seconds']} |" for n in build["top_nodes"]]
        lines += [""] + [f"- failed: {f}" for f in build["failures"]] + [""]
    if pg:
        lines += ["## PostgreSQL (dbt-postgres, core and analytics marts)", ""]
        lines += [f"Loaded {pg['load']['rows']:,} raw rows in {pg['load']['seconds']} s (COPY)."]
        lines += [f"Node statuses: {pg['build']['statuses']}", ""]
        lines += [f"- {f}" for f in pg["build"]["failures"]]
    (results / "large.md").write_text("\n".join(lines) + "\n")


def main(lines: int = LARGE_LINES, with_postgres: bool = True) -> None:
    import tempfile
    from datetime import UTC, datetime

    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    measured_at = datetime.now(UTC).isoformat(timespec="seconds")
    (ROOT / "data").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ROOT / "data", prefix="bench_large_") as work:
        result = run(lines, Path(work), with_postgres)
    write_results(result, measured_at, load)
    print(f"results in {ROOT / 'bench' / 'results' / 'large.md'}")


if __name__ == "__main__":
    import sys

    numbers = [a for a in sys.argv[1:] if a.isdigit()]
    main(int(numbers[0]) if numbers else LARGE_LINES, "--no-postgres" not in sys.argv)
