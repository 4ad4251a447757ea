"""Scale-out on Celery workers (dagster-celery, RabbitMQ as the broker).

A code location whose configuration says ``executor: {kind: celery}`` runs every step as a
Celery task: the run process only orchestrates; the steps run in whichever worker takes them
from the broker. Per tenant:

- one RabbitMQ virtual host (``channelhouse_<tenant>``): a tenant's tasks are never in another
  tenant's queues, and a broker user per tenant can be allowed only its own vhost;
- workers started with that tenant's environment only (:func:`worker_env`), consuming only
  its vhost: secrets still never reach another tenant's process. A machine serving N tenants
  runs N worker processes (``python -m orchestration.tenants worker``).

No data is lost when a worker dies mid-step: tasks are acknowledged late (after the step) and
rejected when the worker is lost, so the broker hands the unacknowledged step to another
worker of the tenant, which runs it again from the start (every asset is idempotent: a raw
partition or a dbt build written again replaces itself).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
from dagster_celery import celery_executor

from orchestration.config import DATA_DIR_ENV, ChannelHouseConfig, ExecutorConfig

CHECKOUT = Path(__file__).resolve().parents[1]
BROKER_ENV = "CELERY_BROKER_URL"  # what orchestration/celery_app.py reads in a worker
# both sides of a task: acknowledged after the step, handed to another worker when the worker
# dies (task kwargs in orchestration/celery_app.py), one task at a time per worker process
CELERY_SETTINGS = {
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
    "broker_connection_retry_on_startup": True,
}


def executor_for(config: ChannelHouseConfig) -> dg.ExecutorDefinition | None:
    """The Celery executor of ``config.executor`` (None: Dagster's default executor). The
    broker URL is read from ``executor.broker_env`` when a run starts."""
    settings: ExecutorConfig = config.executor
    if settings.kind != "celery":
        return None
    return celery_executor.configured(
        {
            "broker": {"env": settings.broker_env},
            "backend": settings.backend,
            "config_source": CELERY_SETTINGS,
        },
        name="celery",
    )


def vhost(tenant: str) -> str:
    return f"channelhouse_{tenant}"


def broker_url(tenant: str, host: str = "127.0.0.1", user: str = "guest", password="guest"):
    """The URL of tenant ``tenant``'s virtual host on a RabbitMQ at ``host``."""
    return f"pyamqp://{user}:{password}@{host}:5672/{vhost(tenant)}"


def ensure_vhost(tenant: str, user: str = "guest") -> None:
    """Create the tenant's virtual host on the local RabbitMQ and allow ``user`` on it
    (``rabbitmqctl``: run where the broker runs, as its administrator)."""
    name = vhost(tenant)
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_vhosts"], check=True, capture_output=True, text=True
    ).stdout.split()
    if name not in listed:
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], check=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", name, user, ".*", ".*", ".*"], check=True
    )


def delete_vhost(tenant: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost(tenant)], check=False)


def worker_env(tenant_env: dict[str, str], config: ChannelHouseConfig) -> dict[str, str]:
    """A worker's environment: its tenant's (orchestration.tenants.tenant_env) with the broker
    URL of the tenant's configuration under the name Celery's app reads."""
    url = tenant_env.get(config.executor.broker_env)
    if not url:
        raise RuntimeError(
            f"${config.executor.broker_env} (executor.broker_env) is not set: the worker "
            "cannot reach the broker"
        )
    return {**tenant_env, BROKER_ENV: url}


def worker_command(name: str, concurrency: int = 1) -> list[str]:
    """A Celery worker running one step at a time per process, named ``name`` (unique per
    broker vhost, e.g. ``acme@host1``); ``--pool solo``: the step runs in the worker process
    itself, so a killed worker drops its connection and the broker re-queues the step."""
    pool = ["--pool", "solo"] if concurrency == 1 else ["--concurrency", str(concurrency)]
    return [
        sys.executable, "-m", "celery", "-A", "orchestration.celery_app", "worker",
        *pool, "--hostname", name, "--loglevel", "INFO", "--without-gossip",
        "--without-mingle", "--prefetch-multiplier", "1",
    ]  # fmt: skip


def _workdir(env: dict[str, str]) -> Path:
    """A tenant process's working directory: its data dir, never the checkout, where Dagster's
    CLI and code servers would load the deployment's ``.env`` over the tenant's variables."""
    workdir = Path(env.get(DATA_DIR_ENV) or CHECKOUT)
    workdir.mkdir(parents=True, exist_ok=True)
    return workdir


def start_worker(
    name: str, env: dict[str, str], log: Path, concurrency: int = 1
) -> subprocess.Popen:
    """A worker process, its output in ``log``, running the checkout's code in its tenant's
    data dir, in a process group of its own (stopping the group stops the dbt processes of
    its step too)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            worker_command(name, concurrency),
            env={**env, "PYTHONPATH": str(CHECKOUT)},
            cwd=_workdir(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def job_command(job: str, ops: str | None = None) -> list[str]:
    """``dagster job execute`` of one of the code location's jobs (the run process); ``ops``:
    Dagster's op selection (e.g. ``warehouse_core``: the core marts only)."""
    command = [
        sys.executable, "-m", "dagster", "job", "execute", "-m", "orchestration.definitions",
        "-a", "defs", "-j", job,
    ]  # fmt: skip
    return command + (["--op-selection", ops] if ops else [])


def run_job(job: str, env: dict[str, str], log: Path, ops: str | None = None):
    """Start a run of ``job`` in its own process with ``env`` (a tenant's)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            job_command(job, ops),
            env={**env, "PYTHONPATH": str(CHECKOUT), "PYTHONUNBUFFERED": "1"},
            cwd=_workdir(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def broker_running() -> bool:
    return subprocess.run(["rabbitmqctl", "-q", "status"], capture_output=True).returncode == 0
