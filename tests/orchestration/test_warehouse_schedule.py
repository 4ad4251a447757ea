"""The warehouse_build schedule: the incremental build every morning, the full build (every
table from the whole lake, every test over the whole history) on Sundays."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from orchestration.config import load_config
from orchestration.definitions import build_definitions

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def definitions() -> dg.Definitions:
    return build_definitions(load_config(ROOT / "channelhouse.yml"))


@pytest.mark.parametrize(
    ("scheduled", "full"),
    [
        (datetime(2026, 11, 29, 6, tzinfo=UTC), True),  # a Sunday
        (datetime(2026, 11, 30, 6, tzinfo=UTC), False),  # Monday
        (datetime(2026, 12, 5, 6, tzinfo=UTC), False),  # Saturday
    ],
)
def test_the_build_is_full_on_sundays_and_incremental_otherwise(
    definitions, monkeypatch, scheduled, full
):
    schedule = definitions.resolve_schedule_def("warehouse_build_schedule")
    assert schedule.cron_schedule == "0 6 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    with dg.build_schedule_context(scheduled_execution_time=scheduled) as context:
        (request,) = schedule.evaluate_tick(context).run_requests
    steps = request.run_config["ops"]
    assert set(steps) == {"warehouse_core", "warehouse_analytics"}
    assert all(step["config"]["full_refresh"] is full for step in steps.values())
    # the job accepts it as it stands (its resources need the salt to resolve)
    monkeypatch.setenv("CHANNELHOUSE_HASH_SALT", "schedule-test-salt-0123456789")
    job = definitions.resolve_job_def("warehouse_build")
    assert dg.validate_run_config(job, request.run_config)
