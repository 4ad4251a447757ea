"""The warehouse resource's writer for Python-built tables (forecasts, LTV, alerts)."""

from __future__ import annotations

import duckdb
import polars as pl
import pyarrow as pa
import pytest

from orchestration.lib.resources import WarehouseResource


def _resource(tmp_path) -> WarehouseResource:
    return WarehouseResource(
        path=str(tmp_path / "w.duckdb"), data_dir=str(tmp_path), hash_salt="x" * 16
    )


def test_replace_tables_writes_and_replaces_in_one_transaction(tmp_path):
    warehouse = _resource(tmp_path)
    first = {"a": pl.DataFrame({"k": [1, 2]}), "b": pa.table({"v": ["x"]})}
    assert warehouse.replace_tables("ml", first) == {"a": 2, "b": 1}
    assert warehouse.replace_tables("ml", {"a": pl.DataFrame({"k": [3]})}) == {"a": 1}
    with warehouse.read_only() as con:
        assert con.execute("select k from ml.a").fetchall() == [(3,)]
        assert con.execute("select v from ml.b").fetchall() == [("x",)]

    class Broken:  # DuckDB cannot read it: the whole write is rolled back
        pass

    with pytest.raises(duckdb.Error):
        warehouse.replace_tables("ml", {"a": pl.DataFrame({"k": [4]}), "b": Broken()})
    with warehouse.read_only() as con:
        assert con.execute("select k from ml.a").fetchall() == [(3,)]


def test_the_dbt_resource_opens_no_dbt_adapter_in_this_process(tmp_path):
    """dagster-dbt would open a dbt adapter (profile, every macro parsed) before each
    invocation; ours skips it: if dagster-dbt renames the hook, the adapter is back, and
    this fails."""
    from orchestration.lib.dbt import dbt_resource

    invocation = dbt_resource().cli(["parse", "--quiet"], target_path=tmp_path / "target")
    invocation.wait()
    assert invocation.is_successful()
    assert invocation.adapter is None
