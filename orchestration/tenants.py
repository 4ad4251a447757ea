"""Many sellers on one deployment: a folder of tenant configurations.

Each ``tenants/<name>.yml`` is a normal ``channelhouse.yml`` of one seller (tenant ``<name>``);
``tenants/<name>.env`` may hold that tenant's secrets (dotenv). Per tenant:

- secrets: every environment variable the file names (connection secrets, ``*_env`` fields of
  alerting, serving, reports) starts with the tenant's prefix ``<NAME>__`` (``acme`` ->
  ``ACME__SHOPIFY_TOKEN``); a name with another tenant's prefix is an error that says whose;
- data: its own data dir (default ``<data root>/<name>``, holding its lake, warehouse file,
  reports, alert state) and its own dbt target dir (dbt's partial parse depends on the
  warehouse path: tenants sharing one would re-parse on every build);
- PostgreSQL publication: its own schemas ``<name>_core``... and read-only role
  ``<name>_reader`` unless the file says otherwise (two tenants may not share either);
- Dagster: its own code location ``tenant_<name>``, a gRPC code server started with
  :func:`tenant_env` -- that tenant's variables and nothing else -- so its runs (launched by
  that server) never see another tenant's secrets. Every job carries the run tag
  ``channelhouse/tenant: <name>`` and writes the warehouse under the tag value
  ``channelhouse/warehouse: <name>`` (one DuckDB writer per tenant, see deploy/dagster.yaml).

``python -m orchestration.tenants --help`` lists the commands (add, check, workspace, serve,
worker). A deployment without a tenants folder is the single-seller one, unchanged.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import yaml
from dagster_shared.record import replace
from dotenv import dotenv_values
from pydantic import BaseModel

from orchestration.config import (
    WAREHOUSE_ENV,
    ChannelHouseConfig,
    ConfigError,
    ExecutorConfig,
    parse_config,
)
from orchestration.lib.dbt import DBT_TARGET_ENV

TENANTS_DIR_ENV = "CHANNELHOUSE_TENANTS_DIR"
TENANT_ENV = "CHANNELHOUSE_TENANT"
DEFAULT_TENANTS_DIR = "tenants"
DEFAULT_DATA_ROOT = Path("data") / "tenants"
TENANT_TAG = "channelhouse/tenant"
WAREHOUSE_TAG = "channelhouse/warehouse"
LOCATION_PREFIX = "tenant_"
# lower-case words joined by single underscores: ``<NAME>__`` is then never the start of
# another tenant's prefix (``acme`` -> ``ACME__``, ``acme_eu`` -> ``ACME_EU__``)
_NAME = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
_MAX_NAME = 40  # leaves room for "_reader" and the schema suffixes in PostgreSQL's 63

# What a tenant's process inherits from the deployment: no secrets of any seller. The Dagster
# instance's own settings (DAGSTER_*, e.g. DAGSTER_PG_PASSWORD of the run storage) pass:
# every run records its events in the shared instance.
PASSED_VARIABLES = frozenset(
    {
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "TZ", "TMPDIR", "VIRTUAL_ENV",
        "PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "GX_ANALYTICS_ENABLED",
        "CHANNELHOUSE_TEST_NOW",
    }
)  # fmt: skip
PASSED_PREFIXES = ("LC_", "UV_", "DAGSTER_")
# deployment variables each tenant has its own value of: the process reads CHANNELHOUSE_HASH_SALT,
# filled from ACME__CHANNELHOUSE_HASH_SALT (one salt per tenant: no hash joins across tenants)
TENANT_SCOPED = ("CHANNELHOUSE_HASH_SALT",)


@dataclass(frozen=True)
class Tenant:
    name: str
    config_path: Path  # absolute
    config: ChannelHouseConfig  # data_dir absolute
    env_file: Path | None = None

    @property
    def prefix(self) -> str:
        return tenant_prefix(self.name)

    @property
    def location_name(self) -> str:
        return LOCATION_PREFIX + self.name

    @property
    def data_dir(self) -> Path:
        return self.config.data_dir

    @property
    def warehouse(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def dbt_target(self) -> Path:
        return self.data_dir / "dbt_target"


def tenant_prefix(name: str) -> str:
    return name.upper() + "__"


def check_name(name: str) -> str:
    if not _NAME.match(name) or len(name) > _MAX_NAME:
        raise ConfigError(
            f"tenant name {name!r} must be lower-case letters and digits in words joined by "
            f"single underscores (e.g. 'acme', 'acme_eu'), at most {_MAX_NAME} characters"
        )
    return name


def env_var_names(model: BaseModel, path: str = "") -> list[tuple[str, str]]:
    """(field path, variable name) of every environment variable a configuration names:
    connection ``secrets`` and every ``*_env`` field of the sections that are set."""
    found: list[tuple[str, str]] = []
    if isinstance(model, ExecutorConfig) and model.kind != "celery":
        return found  # Dagster's own executor reads no broker
    for field_name in type(model).model_fields:
        value = getattr(model, field_name)
        where = f"{path}.{field_name}" if path else field_name
        if field_name == "secrets" and isinstance(value, Mapping):
            found += [(f"{where}.{key}", var) for key, var in value.items()]
        elif field_name.endswith("_env") and isinstance(value, str):
            found.append((where, value))
        elif isinstance(value, BaseModel):
            found += env_var_names(value, where)
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    label = f"[{i}] ({item.name})" if hasattr(item, "name") else f"[{i}]"
                    found += env_var_names(item, where + label)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                if isinstance(item, BaseModel):
                    found += env_var_names(item, f"{where}.{key}")
    return found


def _read_raw(path: Path) -> dict:
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of settings")
    return raw


def load_tenant(
    path: Path, data_root: Path = DEFAULT_DATA_ROOT, others: tuple[str, ...] = ()
) -> Tenant:
    """One tenant file; ``others`` are the other tenants' names (for clearer errors)."""
    path = path.resolve()
    name = check_name(path.stem)
    raw = _read_raw(path)
    pg = (raw.get("serving") or {}).get("postgres")
    if isinstance(pg, dict):  # one schema set and one reader role per tenant by default
        raw["serving"]["postgres"] = {
            "schema_prefix": f"{name}_",
            "reader_role": f"{name}_reader",
            **pg,
        }
    config = parse_config(raw, str(path))
    # a relative data_dir is taken from the deployment's folder (where the services start);
    # $CHANNELHOUSE_DATA_DIR of the deployment never moves a tenant's data
    data_dir = Path(raw["data_dir"]) if "data_dir" in raw else Path(data_root) / name
    config = config.model_copy(update={"data_dir": data_dir.resolve()})
    prefix = tenant_prefix(name)
    for where, var in env_var_names(config):
        if var.startswith(prefix):
            continue
        owner = next((o for o in others if var.startswith(tenant_prefix(o))), None)
        whose = f" (that is tenant {owner!r}'s prefix)" if owner else ""
        raise ConfigError(
            f"{path}: {where}: environment variable {var!r}{whose} must start with the "
            f"tenant's own prefix {prefix!r}, e.g. {prefix}{var.split('__')[-1]}"
        )
    env_file = path.with_suffix(".env")
    if env_file.exists():
        for key in dotenv_values(env_file):
            if not key.startswith(prefix):
                raise ConfigError(f"{env_file}: {key!r} must start with the prefix {prefix!r}")
    return Tenant(name, path, config, env_file if env_file.exists() else None)


def tenants_dir(folder: str | Path | None = None) -> Path:
    return Path(folder or os.environ.get(TENANTS_DIR_ENV) or DEFAULT_TENANTS_DIR)


def load_tenants(
    folder: str | Path | None = None, data_root: Path = DEFAULT_DATA_ROOT
) -> list[Tenant]:
    """Every ``<folder>/*.yml``, checked against each other; sorted by name."""
    folder = tenants_dir(folder)
    if not folder.is_dir():
        raise ConfigError(f"tenants folder {folder} not found (set {TENANTS_DIR_ENV})")
    paths = sorted(folder.glob("*.yml"))
    if not paths:
        raise ConfigError(f"tenants folder {folder} holds no <name>.yml")
    names = tuple(p.stem for p in paths)
    tenants = [load_tenant(p, data_root, tuple(n for n in names if n != p.stem)) for p in paths]
    _check_apart(tenants)
    return tenants


def _check_apart(tenants: list[Tenant]) -> None:
    """No two tenants share a data dir (or one inside another's), a reader role or
    overlapping PostgreSQL schema names."""
    for i, a in enumerate(tenants):
        for b in tenants[i + 1 :]:
            pair = f"tenants {a.name!r} and {b.name!r}"
            if a.data_dir.is_relative_to(b.data_dir) or b.data_dir.is_relative_to(a.data_dir):
                raise ConfigError(f"{pair} share the data dir ({a.data_dir}, {b.data_dir})")
            pg_a, pg_b = a.config.serving.postgres, b.config.serving.postgres
            if pg_a is None or pg_b is None:
                continue
            if pg_a.reader_role == pg_b.reader_role:
                raise ConfigError(f"{pair} share the PostgreSQL reader role {pg_a.reader_role!r}")
            x, y = pg_a.schema_prefix, pg_b.schema_prefix
            if x.startswith(y) or y.startswith(x):
                raise ConfigError(f"{pair}: PostgreSQL schema prefixes {x!r} and {y!r} overlap")


def tenant_env(tenant: Tenant, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment of a tenant's process: the deployment's non-secret variables,
    the variables with the tenant's prefix (from ``environ`` and ``tenants/<name>.env``), its
    own value of each :data:`TENANT_SCOPED` variable, and where its files are."""
    environ = os.environ if environ is None else environ
    env = {
        key: value
        for key, value in environ.items()
        if key in PASSED_VARIABLES or key.startswith(PASSED_PREFIXES)
    }
    own = {k: v for k, v in environ.items() if k.startswith(tenant.prefix)}
    if tenant.env_file is not None:
        own.update({k: v for k, v in dotenv_values(tenant.env_file).items() if v is not None})
    env.update(own)
    for name in TENANT_SCOPED:
        if tenant.prefix + name in own:
            env[name] = own[tenant.prefix + name]
    env.update(
        {
            TENANT_ENV: tenant.name,
            "CHANNELHOUSE_CONFIG": str(tenant.config_path),
            "CHANNELHOUSE_DATA_DIR": str(tenant.data_dir),
            WAREHOUSE_ENV: str(tenant.warehouse),
            DBT_TARGET_ENV: str(tenant.dbt_target),
        }
    )
    return env


def tenant_tags(tags: Mapping[str, str] | None, tenant: str) -> dict[str, str]:
    """A job's tags in tenant ``tenant``'s code location: the tenant tag, and the DuckDB writer
    tag's value made the tenant's (one writer per warehouse file, not one per deployment)."""
    tags = {**(tags or {}), TENANT_TAG: tenant}
    if WAREHOUSE_TAG in tags:
        tags[WAREHOUSE_TAG] = tenant
    return tags


def tenant_definitions(defs: dg.Definitions, tenant: str) -> dg.Definitions:
    """``defs`` as tenant ``tenant``'s code location: every job with :func:`tenant_tags`
    (schedules and sensors pointing at the tagged jobs), every definition with the tenant in
    its metadata."""
    jobs = {}
    for job in defs.jobs or []:
        if not hasattr(job, "run_tags") or isinstance(job, dg.JobDefinition):
            raise TypeError(f"job {job.name}: only asset jobs (define_asset_job) are tagged")
        jobs[job.name] = replace(
            job, tags=tenant_tags(job.tags, tenant), run_tags=tenant_tags(job.run_tags, tenant)
        )
    schedules = [
        s.with_updated_job(jobs[s.job_name]) if s.has_job and s.job_name in jobs else s
        for s in defs.schedules or []
    ]
    sensors = [
        s.with_updated_jobs([jobs.get(j.name, j) for j in s.jobs]) if s.has_jobs else s
        for s in defs.sensors or []
    ]
    tagged = replace(defs, jobs=list(jobs.values()), schedules=schedules, sensors=sensors)
    return tagged.with_definition_metadata_update(lambda m: {**m, TENANT_TAG: tenant})


def workspace(tenants: list[Tenant], host: str = "127.0.0.1", base_port: int = 4100) -> dict:
    """The Dagster workspace: one gRPC code location per tenant (``serve`` starts them)."""
    return {
        "load_from": [
            {"grpc_server": {"host": host, "port": base_port + i, "location_name": t.location_name}}
            for i, t in enumerate(tenants)
        ]
    }


def code_server_command(port: int, host: str = "127.0.0.1") -> list[str]:
    return [
        sys.executable, "-m", "dagster", "api", "grpc", "--module-name",
        "orchestration.definitions", "--attribute", "defs", "--host", host, "--port", str(port),
    ]  # fmt: skip


def add_tenant(name: str, config_file: Path, folder: Path) -> Path:
    """Validate ``config_file`` as tenant ``name`` among the others, then copy it in (nothing
    is left behind when it is invalid)."""
    check_name(name)
    target = folder / f"{name}.yml"
    if target.exists():
        raise ConfigError(f"tenant {name!r} exists already ({target})")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(config_file, target)
    try:
        load_tenants(folder)
    except ConfigError:
        target.unlink()
        raise
    return target


def _serve(tenants: list[Tenant], base_port: int, host: str) -> int:
    """One code server per tenant, each with only its tenant's environment, until one exits
    or this process is stopped (SIGTERM, Ctrl-C)."""
    procs = []
    for i, tenant in enumerate(tenants):
        port = base_port + i
        # in its data dir: in the checkout, Dagster would load the deployment's .env over the
        # tenant's environment
        tenant.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**tenant_env(tenant), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        procs.append(
            subprocess.Popen(code_server_command(port, host), env=env, cwd=tenant.data_dir)
        )
        print(f"tenant {tenant.name}: code location {tenant.location_name} on {host}:{port}")
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))
    try:
        while not stopping and all(p.poll() is None for p in procs):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    for p in procs:
        p.terminate()
    codes = [p.wait(timeout=30) for p in procs]
    return 0 if stopping or all(c in (0, -signal.SIGTERM) for c in codes) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration.tenants", description=__doc__)
    parser.add_argument("--dir", help=f"tenants folder (default ${TENANTS_DIR_ENV} or tenants/)")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="validate a channelhouse.yml and add it as a tenant")
    add.add_argument("name")
    add.add_argument("--config", required=True, type=Path)
    sub.add_parser("check", help="validate every tenant and list them")
    ws = sub.add_parser("workspace", help="write the Dagster workspace of the tenants")
    ws.add_argument("--out", type=Path, default=Path("workspace.tenants.yaml"))
    for p in (ws, sub.add_parser("serve", help="start one code server per tenant")):
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--base-port", type=int, default=4100)
    args = parser.parse_args(argv)
    try:
        if args.command == "add":
            target = add_tenant(args.name, args.config, tenants_dir(args.dir))
            print(f"added tenant {args.name}: {target}; secrets: {tenant_prefix(args.name)}*")
            return 0
        tenants = load_tenants(args.dir)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.command == "check":
        for t in tenants:
            print(f"{t.name:20} {t.location_name:26} {t.data_dir}  secrets {t.prefix}*")
    elif args.command == "workspace":
        args.out.write_text(yaml.safe_dump(workspace(tenants, args.host, args.base_port)))
        print(f"wrote {args.out}: {len(tenants)} code locations")
    else:
        return _serve(tenants, args.base_port, args.host)
    return 0


if __name__ == "__main__":
    sys.exit(main())
