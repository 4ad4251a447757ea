"""The dbt variables' defaults (dbt_project.yml ``vars:``) are the config model's: a bare
``dbt build`` behaves as Dagster's build for a channelhouse.yml that sets nothing, and dbt
declares exactly the variables Dagster passes. The run's own values (the day, a rebuild date,
the reconciliation window) travel as environment variables, so they leave dbt's partial
parse valid."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import yaml

from orchestration.config import parse_config
from orchestration.defs.warehouse import DBT_DIR, WarehouseBuildConfig, dbt_vars, run_environment

DBT = str(Path(sys.executable).with_name("dbt"))
RUN_VARIABLES = {"CHANNELHOUSE_TODAY", "CHANNELHOUSE_REBUILD_SINCE", "CHANNELHOUSE_RECONCILE_DAYS"}


def declared() -> dict:
    return yaml.safe_load((Path(DBT_DIR) / "dbt_project.yml").read_text())["vars"]


def empty_config():
    return parse_config({"sync": {"history_start": "2025-01-01"}}, "empty")


def passed() -> dict:
    """What Dagster passes (as JSON, the way dbt receives it) for a config that sets nothing
    but the one required field."""
    return json.loads(json.dumps(dbt_vars(empty_config())))


def test_every_declared_var_is_passed_and_every_passed_var_declared():
    assert set(passed()) == set(declared())


def test_every_default_equals_what_the_config_model_passes():
    project, values = declared(), passed()
    assert project == values
    assert project["reporting_timezone"] == "UTC"


def test_the_run_environment_sets_every_run_value():
    config = empty_config()
    daily = run_environment(config, WarehouseBuildConfig())
    full = run_environment(config, WarehouseBuildConfig(full_refresh=True))
    since = run_environment(config, WarehouseBuildConfig(rebuild_since="2025-06-01"))
    # every one set, so nothing leaks in from the calling process's environment
    assert set(daily) == set(full) == set(since) == RUN_VARIABLES
    assert daily["CHANNELHOUSE_TODAY"] == datetime.now(UTC).date().isoformat()
    assert daily["CHANNELHOUSE_RECONCILE_DAYS"] == str(config.warehouse.reconcile_days)
    assert full["CHANNELHOUSE_RECONCILE_DAYS"] == ""  # full rebuilds reconcile everything
    assert daily["CHANNELHOUSE_REBUILD_SINCE"] == ""
    assert since["CHANNELHOUSE_REBUILD_SINCE"] == "2025-06-01"


def _parse(target: Path, environment: dict[str, str]) -> dict:
    env = {
        **os.environ,
        **environment,
        "CHANNELHOUSE_HASH_SALT": "parse-only-salt-0123456789",
        "CHANNELHOUSE_DATA_DIR": str(target / "data"),
        "DBT_LOG_PATH": str(target / "logs"),
    }
    result = subprocess.run(
        [DBT, "parse", "--vars", json.dumps(passed()), "--target-path", str(target)],
        cwd=DBT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return json.loads((target / "perf_info.json").read_text())


def test_another_day_and_build_kind_reuse_the_partial_parse(tmp_path):
    """Yesterday's incremental parse serves today's full rebuild with a rebuild date: dbt
    re-parses no file (a changed ``--vars`` would re-parse all of them)."""
    config = empty_config()
    first = _parse(tmp_path, run_environment(config, WarehouseBuildConfig()))
    assert first["parsed_path_count"] == first["path_count"] > 0  # nothing saved yet
    later = {
        **run_environment(
            config, WarehouseBuildConfig(full_refresh=True, rebuild_since="2025-06-01")
        ),
        "CHANNELHOUSE_TODAY": "2031-01-02",
    }
    second = _parse(tmp_path, later)
    assert second["is_partial_parse_enabled"]
    assert second["parsed_path_count"] == 0, second
