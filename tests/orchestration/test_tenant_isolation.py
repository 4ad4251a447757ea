"""No query path from one tenant's data to another's: separate warehouse files, and in the real
PostgreSQL one schema set and one read-only role per tenant."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from orchestration.tenants import load_tenants, tenant_env, tenant_prefix
from serving.postgres import publish
from tests.orchestration.tenants_helpers import tenant_raw, write_tenant
from tests.serving.test_serving import PG_ADMIN, make_warehouse, q


@pytest.fixture
def tenants(tmp_path) -> Iterator[tuple[list, str, dict]]:
    """Two tenants publishing into one fresh database (names unique to this test run: roles
    are cluster-wide); the database and both roles are dropped afterwards."""
    suffix = uuid.uuid4().hex[:8]
    names = [f"acme{suffix}", f"beta{suffix}"]
    db = f"ch_tenants_test_{suffix}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'create database "{db}"')
    for name in names:
        prefix = tenant_prefix(name)
        pg = {"dsn_env": f"{prefix}PG_DSN", "reader_password_env": f"{prefix}PG_READER_PASSWORD"}
        raw = tenant_raw(name, tmp_path / name, 8765, serving={"postgres": pg})
        write_tenant(tmp_path / "tenants", name, raw)
    environ = {}
    for name in names:
        prefix = tenant_prefix(name)
        environ[f"{prefix}PG_DSN"] = f"host=127.0.0.1 port=5432 user=postgres dbname={db}"
        environ[f"{prefix}PG_READER_PASSWORD"] = f"pw-of-{name}"
    yield load_tenants(tmp_path / "tenants"), db, environ
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{db}" with (force)')
        for name in names:
            conn.execute(f'drop role if exists "{name}_reader"')


def test_a_tenants_bi_role_reads_its_own_tables_and_nothing_of_another(tenants, tmp_path):
    (acme, beta), db, environ = tenants
    assert acme.warehouse != beta.warehouse
    for tenant, rows in ((acme, 10), (beta, 20)):
        env = tenant_env(tenant, environ)
        pg = tenant.config.serving.postgres
        tenant.warehouse.parent.mkdir(parents=True)
        make_warehouse(tenant.warehouse, rows=rows)
        publish(
            tenant.warehouse,
            env[pg.dsn_env],
            tenant.config.serving.public_schemas,
            pg,
            reader_password=env[pg.reader_password_env],
        )
    for me, other, rows in ((acme, beta, 11), (beta, acme, 21)):
        mine, theirs = f"{me.name}_core", f"{other.name}_core"
        role = me.config.serving.postgres.reader_role
        assert role == f"{me.name}_reader"
        dsn = f"host=127.0.0.1 port=5432 user={role} password=pw-of-{me.name} dbname={db}"
        assert q(dsn, f"select count(*) from {mine}.fct_orders") == [(rows,)]
        for schema in other.config.serving.public_schemas:
            table = "fct_orders" if schema == "core" else "dummy"
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                q(dsn, f"select * from {other.name}_{schema}.{table}")
        assert q(dsn, "select has_schema_privilege(%s, 'usage')", theirs) == [(False,)]
        # nor through a tenant's other way in, a role of its own it could switch to
        assert q(dsn, "select pg_has_role(%s, 'member')", f"{other.name}_reader") == [(False,)]
