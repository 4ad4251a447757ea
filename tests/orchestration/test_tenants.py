"""Tenants (orchestration/tenants.py): a folder of seller configurations, each validated
against the others, each run with its own environment and tagged as its own."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from orchestration.config import ConfigError
from orchestration.tenants import (
    DBT_TARGET_ENV,
    TENANT_TAG,
    WAREHOUSE_TAG,
    add_tenant,
    load_tenants,
    main,
    tenant_env,
    workspace,
)
from tests.orchestration.tenants_helpers import tenant_raw, tenant_secrets, write_tenant


@pytest.fixture
def folder(tmp_path):
    tenants = tmp_path / "tenants"
    write_tenant(tenants, "acme", tenant_raw("acme", tmp_path / "acme", 8765))
    pg = {"dsn_env": "BETA__PG_DSN"}
    beta = tenant_raw("beta", tmp_path / "beta", 8765, serving={"postgres": pg})
    write_tenant(tenants, "beta", beta)
    return tenants


def test_each_tenant_has_its_own_prefix_files_and_publication(folder, tmp_path):
    acme, beta = load_tenants(folder)
    assert (acme.name, acme.prefix, acme.location_name) == ("acme", "ACME__", "tenant_acme")
    assert acme.data_dir == (tmp_path / "acme").resolve()
    assert acme.warehouse == acme.data_dir / "warehouse.duckdb"
    assert acme.dbt_target != beta.dbt_target
    assert acme.config.connection("shopify_us").secrets == {"access_token": "ACME__SHOPIFY_TOKEN"}
    # the publication's defaults are the tenant's own schemas and role (and its DSN variable
    # must then carry its prefix, see below)
    pg = beta.config.serving.postgres
    assert (pg.schema_prefix, pg.reader_role) == ("beta_", "beta_reader")


def test_a_tenant_without_a_data_dir_gets_one_under_the_data_root(tmp_path):
    raw = tenant_raw("acme", tmp_path, 8765)
    del raw["data_dir"]
    write_tenant(tmp_path / "t", "acme", raw)
    [acme] = load_tenants(tmp_path / "t", data_root=tmp_path / "root")
    assert acme.data_dir == (tmp_path / "root" / "acme").resolve()


def test_a_tenant_naming_another_tenants_variable_is_refused(folder):
    raw = yaml.safe_load((folder / "acme.yml").read_text())
    raw["connections"][0]["secrets"]["access_token"] = "BETA__SHOPIFY_TOKEN"
    write_tenant(folder, "acme", raw)
    with pytest.raises(ConfigError) as err:
        load_tenants(folder)
    message = str(err.value)
    assert "acme.yml: connections[0] (shopify_us).secrets.access_token" in message
    assert "'BETA__SHOPIFY_TOKEN' (that is tenant 'beta''s prefix)" in message
    assert "own prefix 'ACME__'" in message


def test_every_variable_a_tenant_names_needs_its_prefix(folder):
    raw = yaml.safe_load((folder / "beta.yml").read_text())
    write_tenant(folder, "beta", {**raw, "serving": {"postgres": {}}})
    with pytest.raises(ConfigError, match=r"serving.postgres.dsn_env: .*'CHANNELHOUSE_PG_DSN'"):
        load_tenants(folder)  # the default DSN variable is the deployment's, not beta's
    raw["alerting"] = {"delivery": {"webhook": {"url_env": "SLACK_URL"}}}
    write_tenant(folder, "beta", raw)
    with pytest.raises(ConfigError, match=r"alerting.delivery.webhook.url_env: .*'SLACK_URL'"):
        load_tenants(folder)
    raw["alerting"]["delivery"]["webhook"]["url_env"] = "BETA__SLACK_URL"
    write_tenant(folder, "beta", raw)
    assert [t.name for t in load_tenants(folder)] == ["acme", "beta"]


def test_tenants_cannot_share_data_or_publication(folder, tmp_path):
    raw = tenant_raw("gamma", tmp_path / "acme" / "inner", 8765)
    write_tenant(folder, "gamma", raw)
    with pytest.raises(ConfigError, match="tenants 'acme' and 'gamma' share the data dir"):
        load_tenants(folder)
    pg = {"dsn_env": "GAMMA__DSN", "reader_role": "beta_reader"}
    write_tenant(
        folder, "gamma", {**raw, "data_dir": str(tmp_path / "g"), "serving": {"postgres": pg}}
    )
    with pytest.raises(ConfigError, match="share the PostgreSQL reader role 'beta_reader'"):
        load_tenants(folder)


@pytest.mark.parametrize("name", ["Acme", "acme__eu", "9acme", "acme-eu", "a" * 41])
def test_tenant_names_keep_prefixes_apart(tmp_path, name):
    write_tenant(tmp_path / "t", name, tenant_raw("x", tmp_path / "x", 8765))
    with pytest.raises(ConfigError, match="must be lower-case letters and digits"):
        load_tenants(tmp_path / "t")


def test_a_tenants_process_env_holds_its_secrets_and_no_one_elses(folder):
    acme, _ = load_tenants(folder)
    deployment = {
        "PATH": "/usr/bin",
        "DAGSTER_HOME": "/srv/dagster",
        "DAGSTER_PG_PASSWORD": "instance-storage",
        "SHOPIFY_US_ACCESS_TOKEN": "single-seller-token",  # a secret of no tenant
        "CHANNELHOUSE_DATA_DIR": "/srv/shared",  # would point every tenant at one place
        **tenant_secrets("acme", "acme-salt"),
        **tenant_secrets("beta", "beta-salt"),
        "BETA__SHOPIFY_TOKEN": "beta-token-only",
    }
    env = tenant_env(acme, deployment)
    assert env["ACME__SHOPIFY_TOKEN"] == deployment["ACME__SHOPIFY_TOKEN"]
    assert env["CHANNELHOUSE_HASH_SALT"] == "acme-salt"
    assert not [k for k in env if k.startswith("BETA__")]
    assert "beta-token-only" not in env.values() and "beta-salt" not in env.values()
    assert "SHOPIFY_US_ACCESS_TOKEN" not in env
    assert env["CHANNELHOUSE_DATA_DIR"] == str(acme.data_dir)
    assert env["CHANNELHOUSE_WAREHOUSE"] == str(acme.warehouse)
    assert env[DBT_TARGET_ENV] == str(acme.dbt_target)
    assert env["CHANNELHOUSE_CONFIG"] == str(acme.config_path)
    assert (env["CHANNELHOUSE_TENANT"], env["DAGSTER_HOME"]) == ("acme", "/srv/dagster")
    assert env["DAGSTER_PG_PASSWORD"] == "instance-storage"


def test_a_real_tenant_process_sees_only_its_environment(folder, monkeypatch):
    acme, _ = load_tenants(folder)
    (folder / "acme.env").write_text("ACME__SMTP_PASSWORD=from-the-env-file\n")
    for key, value in {**tenant_secrets("acme"), **tenant_secrets("beta")}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("BETA__SHOPIFY_TOKEN", "beta-token-only")
    [acme, _] = load_tenants(folder)  # now with its env file
    probe = "import json, os; print(json.dumps(dict(os.environ)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], env=tenant_env(acme), capture_output=True, text=True
    )
    seen = json.loads(out.stdout)
    assert seen["ACME__SMTP_PASSWORD"] == "from-the-env-file"
    assert seen["ACME__SHOPIFY_TOKEN"]
    assert not [k for k in seen if k.startswith("BETA__")]
    assert "beta-token-only" not in out.stdout and "salt-of-beta" not in out.stdout


def test_an_env_file_holds_only_its_tenants_variables(folder):
    (folder / "acme.env").write_text("BETA__SHOPIFY_TOKEN=stolen\n")
    with pytest.raises(ConfigError, match=r"acme\.env: 'BETA__SHOPIFY_TOKEN' must start with"):
        load_tenants(folder)


def test_a_tenants_definitions_tag_every_job_and_queue_its_own_writer(folder, monkeypatch):
    from orchestration import definitions

    acme, _ = load_tenants(folder)
    for key, value in tenant_env(acme, {}).items():
        monkeypatch.setenv(key, value)
    tagged = definitions.defs()
    plain = definitions.build_definitions(acme.config)
    # (Dagster's implicit job of ad-hoc materializations has no tags; its runs carry the
    # code location's name, dagster/code_location = tenant_acme)
    jobs = {j.name: j for j in tagged.resolve_all_job_defs() if j.name != "__ASSET_JOB"}
    assert jobs.keys() == {j.name for j in plain.resolve_all_job_defs()} - {"__ASSET_JOB"}
    writers = set()
    for name, job in jobs.items():
        assert job.run_tags[TENANT_TAG] == "acme", name
        if WAREHOUSE_TAG in job.run_tags:
            assert job.run_tags[WAREHOUSE_TAG] == "acme", name
            writers.add(name)
    assert {"warehouse_build", "inbox_import"} <= writers
    # schedules and sensors start the tagged jobs
    repo = tagged.get_repository_def()
    for schedule in repo.schedule_defs:
        assert repo.get_job(schedule.job_name).run_tags[TENANT_TAG] == "acme"
    # (dbt sources of channels this tenant has no connection of stay external stubs)
    specs = [s for s in tagged.resolve_all_asset_specs() if s.key.path[0] != "source"]
    assert specs and all(spec.metadata[TENANT_TAG] == "acme" for spec in specs)


def test_the_workspace_has_one_code_location_per_tenant(folder, tmp_path, capsys):
    out = tmp_path / "workspace.yaml"
    assert main(["--dir", str(folder), "workspace", "--out", str(out), "--base-port", "4200"]) == 0
    assert yaml.safe_load(out.read_text()) == workspace(load_tenants(folder), base_port=4200)
    assert yaml.safe_load(out.read_text())["load_from"] == [
        {"grpc_server": {"host": "127.0.0.1", "port": 4200, "location_name": "tenant_acme"}},
        {"grpc_server": {"host": "127.0.0.1", "port": 4201, "location_name": "tenant_beta"}},
    ]


def test_adding_a_tenant_is_one_step_and_leaves_nothing_when_invalid(folder, tmp_path):
    good = write_tenant(tmp_path / "in", "x", tenant_raw("gamma", tmp_path / "gamma", 8765))
    assert add_tenant("gamma", good, folder) == folder / "gamma.yml"
    assert [t.name for t in load_tenants(folder)] == ["acme", "beta", "gamma"]
    bad = write_tenant(tmp_path / "in", "y", tenant_raw("acme", tmp_path / "delta", 8765))
    assert main(["--dir", str(folder), "add", "delta", "--config", str(bad)]) == 2
    assert not (folder / "delta.yml").exists()
    with pytest.raises(ConfigError, match="exists already"):
        add_tenant("gamma", good, folder)
