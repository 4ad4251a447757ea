"""``python -m bench.tenants [N]`` (part of ``make bench``): N small tenants (default 20), every
step of their pipelines on Celery workers (orchestration/scaleout.py, the machine's RabbitMQ).

Each tenant is a sandbox seller of its own shape (which channels, how many days of history) on
one of two sandbox businesses (seeds 11 and 12, scale 0.2). Its pipeline: the initial sync
(``raw_history``), the snapshots (``raw_snapshots``: catalog, inventory and the exchange rates
the Amazon CA/EU amounts need), then the warehouse build of its core marts (``warehouse_build``, op
``warehouse_core``), each a Dagster run in its own process, at most ``RUNS_AT_ONCE`` at a time
(the run queue's ``max_concurrent_runs``). Measured twice: with one worker process per tenant,
then with two (what a second worker machine adds), each on fresh data directories. Results:
``bench/results/tenants.json`` and ``tenants.md``: total wall time, seconds per tenant, and the
throughput ratio of 2 workers to 1.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import yaml

from orchestration import scaleout
from orchestration.tenants import load_tenants, tenant_env, tenant_prefix
from sandbox.server import SandboxServer, sandbox_environment

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
RUNS_AT_ONCE = 4
SEEDS = (11, 12)
SCALE = 0.2
# (connections, days of history): the tenants cycle through these shapes
SHAPES = (
    (("shopify_us",), 14),
    (("shopify_us", "walmart_us"), 21),
    (("amazon_na",), 14),
    (("shopify_eu", "amazon_eu"), 28),
    (("walmart_us",), 35),
)


def _tenant_raw(name: str, index: int, ports: list[int], data_dir: Path) -> dict:
    connections, days = SHAPES[index % len(SHAPES)]
    demo = yaml.safe_load((ROOT / "channelhouse.yml").read_text())
    prefix = tenant_prefix(name)
    chosen = []
    for conn in demo["connections"]:
        if conn["name"] in connections:
            secrets = {key: prefix + var for key, var in conn["secrets"].items()}
            chosen.append({**conn, "secrets": secrets})
    start = datetime.now(UTC).date() - timedelta(days=days)
    return {
        "data_dir": str(data_dir),
        "sync": {"history_start": start.isoformat(), "daily_days": 3, "lookback_days": 1},
        "sandbox": {"port": ports[index % len(ports)]},
        # the sandbox's ECB feed: Amazon CA/UK/DE/FR amounts need exchange rates
        "fx": demo["fx"],
        "executor": {"kind": "celery", "broker_env": f"{prefix}BROKER"},
        "connections": chosen,
    }


def _environ(names: list[str], home: Path) -> dict[str, str]:
    environ = {**os.environ, "DAGSTER_HOME": str(home)}
    for name in names:
        prefix = tenant_prefix(name)
        environ.update({prefix + k: v for k, v in sandbox_environment().items()})
        environ[f"{prefix}CHANNELHOUSE_HASH_SALT"] = f"bench-hash-salt-of-tenant-{name}"
        environ[f"{prefix}BROKER"] = scaleout.broker_url(name)
    return environ


def _pipeline(env: dict[str, str], logs: Path, name: str) -> dict:
    started = time.perf_counter()
    steps = {}
    jobs = (("raw_history", None), ("raw_snapshots", None), ("warehouse_build", "warehouse_core"))
    for job, ops in jobs:
        t0 = time.perf_counter()
        log = logs / f"{name}-{job}.log"
        code = scaleout.run_job(job, env, log, ops).wait()
        steps[job] = round(time.perf_counter() - t0, 1)
        if code != 0:
            tail = log.read_text(errors="replace")[-1500:]  # the work dir goes away
            return {"tenant": name, "ok": False, "failed": job, "log_tail": tail, **steps}
    return {"tenant": name, "ok": True, "seconds": round(time.perf_counter() - started, 1), **steps}


def measure(count: int, workers_per_tenant: int, ports: list[int], work: Path) -> dict:
    """Every tenant's pipeline once, with ``workers_per_tenant`` worker processes each."""
    names = [f"t{i:02d}" for i in range(count)]
    for name in names:
        scaleout.ensure_vhost(name)
    home, logs = work / "home", work / "logs"
    home.mkdir(parents=True)
    logs.mkdir()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.get_runs_count()  # the shared storage exists before the processes start
    for i, name in enumerate(names):
        raw = _tenant_raw(name, i, ports, work / "data" / name)
        (work / "tenants").mkdir(exist_ok=True)
        (work / "tenants" / f"{name}.yml").write_text(yaml.safe_dump(raw, sort_keys=False))
    tenants = load_tenants(work / "tenants")
    environ = _environ(names, home)
    envs = {t.name: scaleout.worker_env(tenant_env(t, environ), t.config) for t in tenants}
    workers = []
    started = time.perf_counter()
    try:
        for tenant in tenants:
            for w in range(workers_per_tenant):
                log = logs / f"{tenant.name}@w{w + 1}.log"
                workers.append(scaleout.start_worker(log.stem, envs[tenant.name], log))
        with ThreadPoolExecutor(max_workers=RUNS_AT_ONCE) as pool:
            results = list(pool.map(lambda t: _pipeline(envs[t.name], logs, t.name), tenants))
        wall = time.perf_counter() - started
    finally:
        for proc in workers:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in workers:
            proc.wait(timeout=120)
        for name in names:
            scaleout.delete_vhost(name)
    done = [r for r in results if r["ok"]]
    return {
        "workers_per_tenant": workers_per_tenant,
        "tenants": count,
        "succeeded": len(done),
        "wall_s": round(wall, 1),
        "tenants_per_minute": round(len(done) / wall * 60, 2),
        "median_tenant_s": round(statistics.median(r["seconds"] for r in done), 1)
        if done
        else None,
        "max_tenant_s": max((r["seconds"] for r in done), default=None),
        "per_tenant": results,
    }


def run(count: int = 20) -> dict:
    if not scaleout.broker_running():
        raise SystemExit("RabbitMQ is not running: rabbitmq-server -detached")
    servers = [SandboxServer(port=0, seed=seed, scale=SCALE) for seed in SEEDS]
    for server in servers:
        server.__enter__()
    try:
        ports = [server.port for server in servers]
        rows = []
        for per_tenant in (1, 2):
            with tempfile.TemporaryDirectory(prefix="bench-tenants-") as tmp:
                print(f"  {count} tenants, {per_tenant} worker(s) each ...", flush=True)
                rows.append(measure(count, per_tenant, ports, Path(tmp)))
                r = rows[-1]
                print(
                    f"    {r['succeeded']}/{count} ok in {r['wall_s']} s "
                    f"({r['tenants_per_minute']} tenants/min, median {r['median_tenant_s']} s)",
                    flush=True,
                )
    finally:
        for server in servers:
            server.__exit__(None, None, None)
    one, two = rows
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "runs_at_once": RUNS_AT_ONCE,
        "throughput_ratio_2_vs_1": round(two["tenants_per_minute"] / one["tenants_per_minute"], 2)
        if one["tenants_per_minute"]
        else None,
        "measurements": rows,
    }
    _write(result)
    return result


def _write(result: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "tenants.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Tenants on Celery workers",
        "",
        f"Measured {result['measured_at']} on {result['machine']['cpus']} CPUs (one machine: "
        "the broker, the sandboxes, the run processes and every worker share its cores). "
        f"Per tenant: raw_history, raw_snapshots, then the core marts' dbt build, each step a Celery task; at "
        f"most {result['runs_at_once']} runs at a time.",
        "",
        "| workers per tenant | tenants ok | wall s | tenants/min | median s per tenant | "
        "slowest s |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['workers_per_tenant']} | {r['succeeded']}/{r['tenants']} | {r['wall_s']} | "
        f"{r['tenants_per_minute']} | {r['median_tenant_s']} | {r['max_tenant_s']} |"
        for r in result["measurements"]
    ]
    lines += ["", f"Throughput, 2 workers vs 1: {result['throughput_ratio_2_vs_1']}x"]
    (RESULTS / "tenants.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
    print(f"results in {RESULTS}")
