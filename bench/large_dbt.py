"""dbt as the large bench runs it: the Dagster step's arguments, in a process of its own, timed
with its peak resident memory and each node's time from ``run_results.json``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DBT_DIR = ROOT / "dbt_project"


@dataclass
class Build:
    """One dbt invocation: wall seconds, whether it passed, peak RSS and per-node timings."""

    seconds: float
    ok: bool
    peak_rss_gb: float
    nodes: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)

    def top(self, n: int = 10) -> list[dict]:
        ranked = sorted(self.nodes.items(), key=lambda kv: kv[1], reverse=True)[:n]
        return [{"node": k, "seconds": round(v, 2)} for k, v in ranked]


@dataclass
class DbtSettings:
    """What the Dagster step gives dbt: the deployment's ``--vars`` and the run's own values
    (environment variables, so that the vars stay the same and dbt partial-parses)."""

    variables: dict
    environment: dict[str, str]


def dbt_settings(data_dir: Path, today: date, full: bool) -> DbtSettings:
    """The settings of the Dagster step for the repository's ``channelhouse.yml`` pointed at
    ``data_dir``, its clock set to ``today``."""
    from orchestration.config import parse_config
    from orchestration.defs.warehouse.dbt import WarehouseBuildConfig, dbt_vars, run_environment

    raw = yaml.safe_load((ROOT / "channelhouse.yml").read_text())
    config = parse_config({**raw, "data_dir": str(data_dir)}, "bench")
    run = WarehouseBuildConfig(full_refresh=full)
    environment = {**run_environment(config, run), "CHANNELHOUSE_TODAY": today.isoformat()}
    return DbtSettings(dbt_vars(config), environment)


def run_dbt(
    data_dir: Path,
    warehouse: Path,
    settings: DbtSettings,
    full: bool,
    target: str | None = None,
    select: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> Build:
    """``dbt build`` as the Dagster step runs it (unit tests excluded, the config's vars,
    ``--full-refresh`` for a full build), in its own process: wall time and peak RSS."""
    args = [str(Path(sys.executable).with_name("dbt")), "build"]
    args += ["--exclude-resource-type", "unit_test", "--vars", json.dumps(settings.variables)]
    args += ["--full-refresh"] if full else []
    args += ["--target", target] if target else []
    # a target folder per target: a PostgreSQL build may run beside a DuckDB one
    target_path = DBT_DIR / "target" / f"bench_large_{target or 'main'}"
    args += ["--target-path", str(target_path)]
    args += ["--select", *select.split()] if select else []
    env = {
        **os.environ,
        "CHANNELHOUSE_DATA_DIR": str(data_dir.resolve()),
        "CHANNELHOUSE_WAREHOUSE": str(warehouse.resolve()),
        "CHANNELHOUSE_HASH_SALT": "bench-salt-0123456789",
        **settings.environment,
        **(extra_env or {}),
    }
    started = time.perf_counter()
    proc = subprocess.Popen(
        args, cwd=DBT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    results = json.loads((target_path / "run_results.json").read_text())["results"]
    failures = [
        f"{r['unique_id']}: {r['status']} {(r.get('message') or '').strip()[:200]}"
        for r in results
        if r["status"] in ("error", "fail", "runtime error")
    ]
    if status != 0 and not failures:
        failures = [output[-2000:]]
    return Build(
        seconds=round(seconds, 1),
        ok=status == 0,
        peak_rss_gb=round(usage.ru_maxrss / 1024**2, 2),  # ru_maxrss is in KiB on Linux
        nodes={r["unique_id"]: r["execution_time"] for r in results},
        failures=failures,
        statuses={r["unique_id"]: r["status"] for r in results},
    )
