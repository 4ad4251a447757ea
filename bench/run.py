"""``make bench``: extraction throughput per channel and end-to-end demo time at two scales.

Results go to ``bench/results/raw_layer.json`` and a readable ``raw_layer.md``. Throughput is
the median of three extractions of the last 90 days of orders per connection (the sandbox in
this process, "fast" rate-limit profile); the end-to-end figure is one ``orchestration.demo``
run per scale factor with its own sandbox process and data directory, as a user would run it.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from extractors.config import parse_config
from extractors.registry import build_extractor
from extractors.runner import run_stream
from extractors.sandbox.server import SandboxServer, sandbox_environment

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SCALES = (1.0, 2.0)
THROUGHPUT_DAYS = 90
REPEATS = 3


def _config(data_dir: Path, port: int, scale: float) -> dict:
    raw = yaml.safe_load((ROOT / "channelhouse.yml").read_text())
    raw["data_dir"] = str(data_dir)
    raw["sandbox"] = {**raw.get("sandbox", {}), "port": port, "scale": scale}
    return raw


def throughput() -> list[dict]:
    os.environ.update(sandbox_environment())
    rows = []
    with SandboxServer(port=0, scale=1.0) as server, tempfile.TemporaryDirectory() as tmp:
        config = parse_config(_config(Path(tmp), server.port, 1.0), "bench")
        today = datetime.now(UTC).date()
        days = [today - timedelta(days=i) for i in range(THROUGHPUT_DAYS, 0, -1)]
        for conn in config.connections:
            timings, orders, requests_made = [], 0, 0
            for _ in range(REPEATS):
                extractor = build_extractor(
                    conn, {k: os.environ[v] for k, v in conn.secrets.items()}, server.url
                )
                started = time.perf_counter()
                run = run_stream(extractor, "orders", Path(tmp), days=days)
                timings.append(time.perf_counter() - started)
                orders, requests_made = run.rows("orders"), run.stats.requests
            median = statistics.median(timings)
            rows.append(
                {
                    "connection": conn.name,
                    "channel": conn.channel,
                    "days": THROUGHPUT_DAYS,
                    "orders": orders,
                    "requests": requests_made,
                    "median_s": round(median, 3),
                    "orders_per_s": round(orders / median, 1),
                    "requests_per_s": round(requests_made / median, 1),
                }
            )
            print(
                f"  {conn.name:11} {orders:7} orders {requests_made:6} requests "
                f"median {median:6.2f}s",
                flush=True,
            )
    return rows


def end_to_end() -> list[dict]:
    rows = []
    for i, scale in enumerate(SCALES):
        with tempfile.TemporaryDirectory() as tmp:
            config_path = Path(tmp) / "channelhouse.yml"
            config_path.write_text(yaml.safe_dump(_config(Path(tmp) / "data", 8790 + i, scale)))
            env = {
                **os.environ,
                **sandbox_environment(),
                "DAGSTER_HOME": str(Path(tmp) / "dagster_home"),
            }
            started = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "orchestration.demo", "--config", str(config_path)],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
            )
            seconds = time.perf_counter() - started
            lake = Path(tmp) / "data" / "raw"
            size = sum(p.stat().st_size for p in lake.rglob("*.parquet"))
            rows.append(
                {
                    "scale": scale,
                    "seconds": round(seconds, 1),
                    "ok": proc.returncode == 0,
                    "lake_mb": round(size / 1e6, 1),
                }
            )
            print(f"  scale {scale}: {seconds:.1f}s, ok={proc.returncode == 0}", flush=True)
            if proc.returncode:
                print(proc.stdout[-3000:], proc.stderr[-3000:])
    return rows


def main() -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    print("extraction throughput (orders stream, last 90 days, median of 3):")
    tp = throughput()
    print("end-to-end demo (two years, all connections):")
    e2e = end_to_end()
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "throughput": tp,
        "end_to_end": e2e,
    }
    (RESULTS / "raw_layer.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Raw layer benchmark",
        "",
        f"Measured {result['measured_at']} on "
        f"{os.cpu_count()} CPUs. Target: default demo (scale 1) under 180 s.",
        "",
        "| connection | orders (90 d) | requests | median s | orders/s | requests/s |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['connection']} | {r['orders']} | {r['requests']} | {r['median_s']} | "
        f"{r['orders_per_s']} | {r['requests_per_s']} |"
        for r in tp
    ]
    lines += ["", "| scale | end-to-end s | ok | lake MB |", "|---|---|---|---|"]
    lines += [f"| {r['scale']} | {r['seconds']} | {r['ok']} | {r['lake_mb']} |" for r in e2e]
    (RESULTS / "raw_layer.md").write_text("\n".join(lines) + "\n")
    print(f"results in {RESULTS}")


if __name__ == "__main__":
    main()
