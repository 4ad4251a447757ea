"""The production instance (deploy/dagster.yaml) against a real PostgreSQL: the storages are
dagster-postgres's, a job of our definitions records its run and materializations there, the
daemon records a schedule tick there, and the run queue limits the DuckDB writers to one."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import requests
import yaml
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from orchestration.definitions import build_definitions
from orchestration.lib.schedules import WAREHOUSE_WRITER
from tests.conftest import sandbox_config_dict

ROOT = Path(__file__).resolve().parents[2]
DAGSTER_YAML = ROOT / "deploy" / "dagster.yaml"
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
DAEMON = str(Path(sys.executable).with_name("dagster-daemon"))
WEBSERVER = str(Path(sys.executable).with_name("dagster-webserver"))
TICK_TIMEOUT = 150  # seconds: the schedule's first tick, plus the daemon's start
SCHEDULE = "deployment_check_every_minute"


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """A fresh database for Dagster, dropped afterwards (PostgreSQL must be running)."""
    name = f"channelhouse_dagster_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_env(pg_database, tmp_path, monkeypatch) -> dict[str, str]:
    """DAGSTER_HOME holding the real deploy/dagster.yaml; only environment variables set."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DAGSTER_YAML, home / "dagster.yaml")
    env = {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": "5432",
        "DAGSTER_PG_USER": "postgres",
        "DAGSTER_PG_PASSWORD": "unused-with-trust-auth",
        "DAGSTER_PG_DB": pg_database,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def pg_query(db: str, sql: str, *params) -> list[tuple]:
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={db}") as conn:
        return conn.execute(sql, params).fetchall()


def test_instance_keeps_everything_in_postgres_and_queues_warehouse_writers(pg_env):
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        # psycopg2 explicitly: under SQLAlchemy 2.1 plain postgresql:// means psycopg 3, with
        # which dagster-postgres fails to store events (see deploy/dagster.yaml)
        assert instance.run_storage.postgres_url.startswith("postgresql+psycopg2://")
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        queue = instance.get_concurrency_config().run_queue_config
        assert queue is not None
        assert queue.max_concurrent_runs > 1  # raw syncs run side by side ...
        [(key, _)] = WAREHOUSE_WRITER.items()
        writer_limits = [limit for limit in queue.tag_concurrency_limits if limit["key"] == key]
        # ... one DuckDB writer per tag value: per warehouse file (tests/orchestration/
        # test_tenant_fairness.py: per tenant)
        assert writer_limits == [
            {"key": key, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
        ]
        assert instance.get_settings("telemetry") == {"enabled": False}
    tables = {
        row[0]
        for row in pg_query(
            pg_env["DAGSTER_PG_DB"],
            "select table_name from information_schema.tables where table_schema = 'public'",
        )
    }
    assert {"runs", "event_logs", "jobs", "job_ticks"} <= tables


def test_a_job_of_our_definitions_records_its_run_in_postgres(pg_env, config, sandbox_env):
    defs = build_definitions(config, retry_policy=None)
    job = defs.resolve_job_def("raw_snapshots")
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
        assert result.success
        run = instance.get_run_by_id(result.run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        materialized = {
            e.asset_key.to_user_string() for e in result.get_asset_materialization_events()
        }
        assert "raw/walmart_us/inventory" in materialized
        stored = instance.get_latest_materialization_event(
            dg.AssetKey.from_user_string("raw/walmart_us/inventory")
        )
        assert stored is not None and stored.run_id == result.run_id
    db = pg_env["DAGSTER_PG_DB"]
    assert pg_query(
        db, "select pipeline_name, status from runs where run_id = %s", result.run_id
    ) == [("raw_snapshots", "SUCCESS")]
    [(count,)] = pg_query(
        db,
        "select count(distinct asset_key) from event_logs "
        "where run_id = %s and dagster_event_type = 'ASSET_MATERIALIZATION'",
        result.run_id,
    )
    assert count == len(materialized)


WORKSPACE_MODULE = """
import dagster as dg

from orchestration.config import load_config
from orchestration.definitions import build_definitions


@dg.schedule(
    job_name="alerts_daily",
    cron_schedule="* * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def deployment_check_every_minute(context):
    return dg.SkipReason("deployment test: a tick is all we need")


defs = dg.Definitions.merge(
    build_definitions(load_config()),
    dg.Definitions(schedules=[deployment_check_every_minute]),
)
"""


def seed_schedule_state(instance: dg.DagsterInstance, workspace: Path, seconds_ago: float):
    """Store the state the daemon would create for the RUNNING-by-default ``SCHEDULE`` on its
    first iteration (DECLARED_IN_CODE, started now), as if it had started ``seconds_ago``:
    an every-minute schedule then has a tick due the moment the daemon looks, instead of at
    the next minute after the daemon's start. Returns (origin id, selector id), which the
    daemon's tick must carry (else it did not use this state). Dagster has no public API
    for this; the classes are its schedule storage's own."""
    from dagster._core.definitions.repository_definition import SINGLETON_REPOSITORY_NAME
    from dagster._core.remote_origin import RemoteRepositoryOrigin
    from dagster._core.scheduler.instigation import (
        InstigatorState,
        InstigatorStatus,
        InstigatorType,
        ScheduleInstigatorData,
    )
    from dagster._core.workspace.load_target import WorkspaceFileTarget

    [location] = WorkspaceFileTarget(paths=[str(workspace)]).create_origins()
    origin = RemoteRepositoryOrigin(location, SINGLETON_REPOSITORY_NAME).get_instigator_origin(
        SCHEDULE
    )
    instance.add_instigator_state(
        InstigatorState(
            origin,
            InstigatorType.SCHEDULE,
            InstigatorStatus.DECLARED_IN_CODE,
            ScheduleInstigatorData("* * * * *", start_timestamp=time.time() - seconds_ago),
        )
    )
    return origin.get_id(), origin.get_selector().get_id()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def service(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """A long-running process (as systemd would run it), stopped with SIGTERM at the end."""
    with log.open("w") as out:
        process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _alive(process: subprocess.Popen, log: Path) -> None:
    assert process.poll() is None, f"{process.args[0]} exited: {log.read_text()[-3000:]}"


def test_the_services_record_schedule_ticks_in_postgres_and_serve_the_ui(pg_env, tmp_path):
    """The units' commands on this instance: ``dagster-daemon run`` on our definitions plus
    one every-minute schedule that is RUNNING by default records its tick in PostgreSQL, and
    ``dagster-webserver -w workspace.yaml`` (the repo's workspace) loads our code location.
    The schedule's state is seeded 90 s back, so its first tick is due when the daemon starts
    (rather than up to a minute later)."""
    config_file = tmp_path / "channelhouse.yml"
    config_file.write_text(yaml.safe_dump(sandbox_config_dict(str(tmp_path / "data"))))
    module = tmp_path / "deployment_defs.py"
    module.write_text(WORKSPACE_MODULE)
    workspace = tmp_path / "workspace.yaml"
    location = {"python_file": {"relative_path": str(module), "working_directory": str(ROOT)}}
    workspace.write_text(yaml.safe_dump({"load_from": [location]}))
    env = {**os.environ, **pg_env, "CHANNELHOUSE_CONFIG": str(config_file)}
    env.pop("CHANNELHOUSE_DATA_DIR", None)
    port = _free_port()
    daemon_log, web_log = tmp_path / "daemon.log", tmp_path / "webserver.log"
    db = pg_env["DAGSTER_PG_DB"]
    ticks_sql = (
        "select job_origin_id, selector_id, status, type from job_ticks "
        "where tick_body like %s and status <> 'STARTED'"
    )
    ui_query = (
        "{ workspaceOrError { ... on Workspace { locationEntries { name "
        "locationOrLoadError { __typename } } } } }"
    )
    with dg.DagsterInstance.get() as instance:
        seeded = seed_schedule_state(instance, workspace, seconds_ago=90)
    started = time.monotonic()
    with (
        service([DAEMON, "run", "-w", str(workspace)], env, daemon_log) as daemon,
        service(
            [WEBSERVER, "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)], env, web_log
        ) as webserver,
    ):
        rows: list[tuple] = []
        answer = None
        seen: dict[str, float] = {}
        while time.monotonic() - started < TICK_TIMEOUT and not (rows and answer):
            _alive(daemon, daemon_log)
            _alive(webserver, web_log)
            time.sleep(1)
            if not rows:
                rows = pg_query(db, ticks_sql, f"%{SCHEDULE}%")
                seen["tick"] = time.monotonic() - started
            if answer is None:
                try:
                    response = requests.post(
                        f"http://127.0.0.1:{port}/graphql", json={"query": ui_query}, timeout=10
                    )
                    answer = response.json() if response.status_code == 200 else None
                except requests.ConnectionError:
                    pass
                seen["UI"] = time.monotonic() - started
        print(", ".join(f"{what} after {seconds:.1f}s" for what, seconds in seen.items()))
        assert rows, f"no tick within {TICK_TIMEOUT}s; daemon log: {daemon_log.read_text()[-3000:]}"
        assert answer, f"no UI within {TICK_TIMEOUT}s; log: {web_log.read_text()[-3000:]}"
    origin_id, selector_id, status, kind = rows[0]
    assert (status, kind) == ("SKIPPED", "SCHEDULE")
    assert (origin_id, selector_id) == seeded  # the daemon ticked the state the test stored
    with dg.DagsterInstance.get() as instance:  # the same tick, through Dagster's API
        ticks = instance.get_ticks(origin_id, selector_id)
    assert ticks and ticks[-1].status.value == "SKIPPED"
    assert "deployment test" in (ticks[-1].skip_reason or "")
    [entry] = answer["data"]["workspaceOrError"]["locationEntries"]
    assert entry["name"] == "orchestration.definitions"
    assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation"


def test_env_file_and_units_match_the_instance():
    """Every variable dagster.yaml reads is in the services' env file example, and the units
    run the documented commands from the repo's .venv with that env file."""
    referenced = set(re.findall(r"\{env: (\w+)\}", DAGSTER_YAML.read_text()))
    assert referenced == {f"DAGSTER_PG_{k}" for k in ("HOST", "PORT", "USER", "PASSWORD", "DB")}
    example = (ROOT / "deploy" / "dagster.env.example").read_text()
    defined = set(re.findall(r"^(\w+)=", example, flags=re.M))
    assert referenced | {"DAGSTER_HOME", "CHANNELHOUSE_HASH_SALT"} <= defined
    units = {p.name: p.read_text() for p in (ROOT / "deploy" / "systemd").glob("*.service")}
    commands = {
        "channelhouse-webserver.service": "/.venv/bin/dagster-webserver -w workspace.yaml "
        "-h 0.0.0.0 -p 3000",
        "channelhouse-daemon.service": "/.venv/bin/dagster-daemon run -w workspace.yaml",
    }
    assert set(units) == set(commands)
    for name, text in units.items():
        [exec_start] = re.findall(r"^ExecStart=(.+)$", text, flags=re.M)
        assert exec_start.endswith(commands[name]), name
        assert re.search(r"^EnvironmentFile=/\S+$", text, flags=re.M), name
        assert re.search(r"^Restart=(always|on-failure)$", text, flags=re.M), name
