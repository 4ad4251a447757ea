"""The dbt variables' defaults (dbt_project.yml ``vars:``) are the config model's: a bare
``dbt build`` behaves as Dagster's build for a channelhouse.yml that sets nothing, and dbt
declares exactly the variables Dagster passes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import yaml

from orchestration.config import parse_config
from orchestration.defs.warehouse import DBT_DIR, WarehouseBuildConfig, dbt_vars

# passed only by some runs; dbt's default is what the other runs get
ONLY_SOMETIMES = {
    "rebuild_since": None,  # only when a rebuild date is given
    "reconcile_days": None,  # only by incremental builds; full rebuilds reconcile everything
}


def declared() -> dict:
    return yaml.safe_load((Path(DBT_DIR) / "dbt_project.yml").read_text())["vars"]


def passed(**run) -> dict:
    """What Dagster passes (as JSON, the way dbt receives it) for a config that sets nothing
    but the one required field."""
    config = parse_config({"sync": {"history_start": "2025-01-01"}}, "empty")
    return json.loads(json.dumps(dbt_vars(config, WarehouseBuildConfig(**run))))


def test_every_declared_var_is_passed_and_every_passed_var_declared():
    incremental, full = passed(), passed(full_refresh=True)
    since = passed(rebuild_since="2025-06-01")
    assert set(incremental) | set(full) | set(since) == set(declared())
    assert set(declared()) - set(full) - set(incremental) == {"rebuild_since"}
    assert set(incremental) - set(full) == {"reconcile_days"}
    assert since["rebuild_since"] == "2025-06-01"


def test_every_default_equals_what_the_config_model_passes():
    project, values = declared(), passed()
    # the clock's day; dbt's default (null) is current_date in the profile's UTC time zone
    assert project.pop("today") is None
    assert values.pop("today") == datetime.now(UTC).date().isoformat()
    for name, default in ONLY_SOMETIMES.items():
        assert project.pop(name) == default, name
        values.pop(name, None)
    assert project == values
    assert project["reporting_timezone"] == "UTC"


def test_full_rebuilds_get_the_default_of_what_they_do_not_pass():
    full = passed(full_refresh=True)
    for name, default in ONLY_SOMETIMES.items():
        assert name not in full
        assert declared()[name] == default
