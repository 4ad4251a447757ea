"""Fairness between tenants: the run queue of deploy/dagster.yaml, loaded by Dagster itself,
limits runs per tenant and DuckDB writers per tenant, and the tenants' jobs carry the tags
those limits count."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

from orchestration.tenants import TENANT_TAG, WAREHOUSE_TAG, load_tenants, tenant_env
from tests.orchestration.tenants_helpers import tenant_raw, write_tenant

DAGSTER_YAML = Path(__file__).resolve().parents[2] / "deploy" / "dagster.yaml"


@pytest.fixture
def queue(tmp_path, monkeypatch):
    """The run queue configuration of deploy/dagster.yaml (its run coordinator section, on a
    throw-away local storage), as Dagster validated and loaded it."""
    coordinator = yaml.safe_load(DAGSTER_YAML.read_text())["run_coordinator"]
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump({"run_coordinator": coordinator}))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        yield instance.get_concurrency_config().run_queue_config


def _limit(queue, key: str) -> dict:
    [limit] = [limit for limit in queue.tag_concurrency_limits if limit["key"] == key]
    return limit


def test_runs_and_writers_are_limited_per_tenant(queue):
    per_value = {"applyLimitPerUniqueValue": True}
    tenant = _limit(queue, TENANT_TAG)
    writer = _limit(queue, WAREHOUSE_TAG)
    assert (tenant["value"], writer["value"]) == (per_value, per_value)
    assert writer["limit"] == 1
    # one tenant never holds every slot: the others' runs start beside its backfill
    assert 1 <= tenant["limit"] < queue.max_concurrent_runs


def test_two_tenants_jobs_fall_under_their_own_limits(tmp_path, monkeypatch):
    from orchestration import definitions

    for name in ("acme", "beta"):
        write_tenant(tmp_path / "t", name, tenant_raw(name, tmp_path / name, 8765))
    writer_values, tenant_values = {}, {}
    for tenant in load_tenants(tmp_path / "t"):
        for key, value in tenant_env(tenant, {}).items():
            monkeypatch.setenv(key, value)
        for job in definitions.defs().resolve_all_job_defs():
            if job.name == "__ASSET_JOB":
                continue
            tenant_values.setdefault(tenant.name, set()).add(job.run_tags[TENANT_TAG])
            if WAREHOUSE_TAG in job.run_tags:
                writer_values.setdefault(tenant.name, set()).add(job.run_tags[WAREHOUSE_TAG])
    # each tenant's writers share one value of the writer tag (one DuckDB writer at a time),
    # different from the other tenant's (the two warehouses are built side by side)
    assert writer_values == {"acme": {"acme"}, "beta": {"beta"}}
    assert tenant_values == {"acme": {"acme"}, "beta": {"beta"}}
