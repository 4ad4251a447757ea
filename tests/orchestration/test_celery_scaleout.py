"""Scale-out on real Celery workers (dagster-celery, the machine's RabbitMQ): two tenants'
pipelines run through two worker machines ("w1", "w2": one worker process per tenant on each,
with that tenant's environment only); w1 dies in the middle of a step, the broker hands
the step to w2, and the lake and the warehouse end up equal to a clean run's."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from extractors.lake import RUN_STAMPS
from orchestration import scaleout
from orchestration.tenants import load_tenants, tenant_env
from tests.orchestration.tenants_helpers import tenant_raw, tenant_secrets, write_tenant

pytestmark = pytest.mark.xdist_group("celery_workers")
CORE = "warehouse_core"  # the dbt step of the core marts
DEADLINE_S = 400  # generous: a loaded 2-core machine; a healthy run takes about a minute


def _wait_for(log: Path, text: str, *watched: subprocess.Popen) -> None:
    """Until ``log`` holds ``text``; fails as soon as one of ``watched`` has exited."""
    deadline = time.monotonic() + DEADLINE_S
    while text not in (log.read_text(errors="replace") if log.exists() else ""):
        if any(proc.poll() is not None for proc in watched):
            raise AssertionError(f"a process exited before {log.name} showed {text!r}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{log.name}: no {text!r} within {DEADLINE_S}s")
        time.sleep(0.2)


def _finish(proc: subprocess.Popen, log: Path) -> None:
    try:
        code = proc.wait(timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"{log.name}: still running after {DEADLINE_S}s") from None
    assert code == 0, f"{log.name} failed:\n{log.read_text()[-4000:]}"


def _lake_rows(data_dir: Path) -> list[tuple]:
    # the data (not the usage bookkeeping of each extraction: its run ids and times)
    files = sorted(
        str(p) for p in (data_dir / "raw").rglob("*.parquet") if "channel=usage" not in str(p)
    )
    assert files, f"no lake under {data_dir}"
    stamps = ", ".join(RUN_STAMPS)
    with duckdb.connect() as con:
        rel = con.sql(
            f"select * exclude ({stamps}) from read_parquet({files!r}, union_by_name=true, "
            "hive_partitioning=true, filename=false)"
        )
        return sorted(map(repr, rel.fetchall()))


def _warehouse(path: Path) -> dict[tuple[str, str], list[str]]:
    """Every column of the core marts, its values sorted (columns of extraction times aside)."""
    with duckdb.connect(str(path), read_only=True) as con:
        columns = con.execute(
            "select table_name, column_name from duckdb_columns() where schema_name = 'core' "
            "and column_name not like '%extract%' order by all"
        ).fetchall()
        return {
            (table, column): sorted(
                repr(v) for (v,) in con.execute(f'select "{column}" from core."{table}"').fetchall()
            )
            for table, column in columns
        }


@pytest.fixture
def deployment(tmp_path, sandbox):
    """Two tenants on Celery (their own RabbitMQ vhosts), a clean twin of the first on
    Dagster's default executor, one Dagster instance (DAGSTER_HOME) shared by every process."""
    if not scaleout.broker_running():
        pytest.fail("RabbitMQ is not running (.ci/run starts it: rabbitmq-server -detached)")
    suffix = uuid.uuid4().hex[:6]
    names = [f"acme{suffix}", f"beta{suffix}"]
    environ = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home")}
    (tmp_path / "home").mkdir()
    # the instance's storage created once, before the processes sharing it start
    with dg.DagsterInstance.from_config(str(tmp_path / "home")) as instance:
        assert instance.get_runs_count() == 0
    for name in names:
        prefix = name.upper() + "__"
        executor = {"kind": "celery", "broker_env": f"{prefix}BROKER"}
        raw = tenant_raw(name, tmp_path / name, sandbox.port, executor=executor)
        write_tenant(tmp_path / "tenants", name, raw)
        scaleout.ensure_vhost(name)
        environ.update(tenant_secrets(name))
        environ[f"{prefix}BROKER"] = scaleout.broker_url(name)
    clean = tenant_raw(names[0], tmp_path / "clean", sandbox.port)
    write_tenant(tmp_path / "clean_tenants", names[0], clean)
    tenants = load_tenants(tmp_path / "tenants")
    [twin] = load_tenants(tmp_path / "clean_tenants")
    yield tenants, twin, environ
    for name in names:
        scaleout.delete_vhost(name)


def test_a_killed_worker_loses_no_data(deployment, tmp_path):
    (acme, beta), twin, environ = deployment
    env = {t.name: scaleout.worker_env(tenant_env(t, environ), t.config) for t in (acme, beta)}
    clean_env = tenant_env(twin, environ)
    logs = tmp_path / "logs"
    logs.mkdir()
    workers: dict[str, subprocess.Popen] = {}

    def start(tenant, machine: str) -> Path:
        log = logs / f"{tenant.name}@{machine}.log"
        workers[log.stem] = scaleout.start_worker(log.stem, env[tenant.name], log)
        return log

    try:
        # w1 serves both tenants, w2 beta; w2's acme worker starts once w1 holds acme's step,
        # so that step is surely on the worker that dies
        w1_acme = start(acme, "w1")
        for log in (w1_acme, start(beta, "w1"), start(beta, "w2")):
            _wait_for(log, "ready.", workers[log.stem])
        runs = {t.name: logs / f"run-{t.name}.log" for t in (acme, beta)}
        procs = {
            t.name: scaleout.run_job("raw_history", env[t.name], runs[t.name]) for t in (acme, beta)
        }
        # the clean run, beside: the same tenant on Dagster's default executor, nothing killed
        runs["clean"] = logs / "clean.log"
        procs["clean"] = scaleout.run_job("raw_history", clean_env, runs["clean"])
        _wait_for(w1_acme, "STEP_START", workers[w1_acme.stem], *procs.values())
        w2_acme = start(acme, "w2")
        _wait_for(w2_acme, "ready.", workers[w2_acme.stem])
        # the whole worker machine dies: the worker and anything it started
        os.killpg(workers[w1_acme.stem].pid, signal.SIGKILL)
        for name, proc in procs.items():
            _finish(proc, runs[name])
        assert "STEP_SUCCESS" not in w1_acme.read_text()
        assert "STEP_SUCCESS" in w2_acme.read_text()  # the step ran again, on w2
        # the core marts of both lakes (the analytics marts derive from them)
        builds = {name: logs / f"build-{name}.log" for name in ("acme", "clean")}
        procs = {
            "acme": scaleout.run_job("warehouse_build", env[acme.name], builds["acme"], CORE),
            "clean": scaleout.run_job("warehouse_build", clean_env, builds["clean"], CORE),
        }
        for name, proc in procs.items():
            _finish(proc, builds[name])
        assert "Executing steps warehouse_core in celery worker" in w2_acme.read_text()
    finally:
        for proc in workers.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in workers.values():
            proc.wait(timeout=60)
    assert _lake_rows(beta.data_dir)  # the other tenant's pipeline ran beside it
    assert _lake_rows(acme.data_dir) == _lake_rows(twin.data_dir)
    built, clean = _warehouse(acme.warehouse), _warehouse(twin.warehouse)
    assert built.keys() == clean.keys()
    assert [key for key in built if built[key] != clean[key]] == []
