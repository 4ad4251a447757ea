"""Benchmark of the biggest report export: all of analytics.order_line_margin to xlsx
(XlsxWriter constant_memory, rows streamed from DuckDB) and to csv (DuckDB COPY), in a child
process so its peak memory is measured alone.

Peak RSS is the child's own high-water mark, ``VmHWM`` in ``/proc/self/status``, read by the
child at the end. (Not ``ru_maxrss``: Linux folds the parent's memory into the child's
``ru_maxrss`` when the child is spawned from a large parent, as the benchmark process is.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLE = "analytics.order_line_margin"
QUERY = f"select * from {TABLE} order by ordered_date, order_line_id"


def _child(warehouse: str, work_dir: str) -> None:
    from datetime import date

    import duckdb

    from reports.excel import write_workbook
    from reports.extracts import copy_to
    from reports.periods import period_for_run
    from reports.runner import limit_memory
    from reports.settings import ReportsSettings

    out = Path(work_dir)
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, object] = {}
    # RSS after the imports: the export's own cost is peak_rss - baseline_rss.
    result["baseline_rss_mib"] = _high_water_mib()
    with duckdb.connect(warehouse, read_only=True) as con:
        limit_memory(con, ReportsSettings())  # the reports' default DuckDB memory limit
        result["duckdb_memory_limit"] = ReportsSettings().duckdb_memory_limit
        ((rows,),) = con.execute(f"select count(*) from {TABLE}").fetchall()
        result["rows"] = int(rows)
        period = period_for_run("monthly", date.today())
        start = time.perf_counter()
        counts = write_workbook(
            out / "bench.xlsx",
            con,
            [("order_line_margin", TABLE, QUERY)],
            title="bench",
            period=period,
        )
        result["xlsx_seconds"] = round(time.perf_counter() - start, 3)
        result["xlsx_rows"] = counts["order_line_margin"]
        result["xlsx_bytes"] = (out / "bench.xlsx").stat().st_size
        start = time.perf_counter()
        result["csv_rows"] = copy_to(con, QUERY, out / "bench.csv", "csv")
        result["csv_seconds"] = round(time.perf_counter() - start, 3)
        result["csv_bytes"] = (out / "bench.csv").stat().st_size
    result["peak_rss_mib"] = _high_water_mib()
    print(json.dumps(result))


def _high_water_mib() -> float:
    """This process's peak resident set so far (VmHWM), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def bench_exports(warehouse: Path, work_dir: Path) -> dict:
    """Export all of analytics.order_line_margin to xlsx and csv in a child process; returns
    rows, seconds per format, total seconds and the child's peak RSS in MiB."""
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.reports", str(warehouse), str(work_dir)],
        cwd=ROOT,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(
            f"report export benchmark failed (exit {proc.returncode}): "
            f"{proc.stderr.decode(errors='replace')[-2000:]}"
        )
    stdout = proc.stdout
    result = json.loads(stdout.decode().strip().splitlines()[-1])
    result["seconds"] = round(seconds, 3)
    return result


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2])
