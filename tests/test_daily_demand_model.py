"""The forecast's input as a dbt model: intermediate.int_daily_demand holds exactly the rows
and columns of the DAILY_DEMAND query the forecast runs (orchestration/assets/ml.py) on the
demo warehouse."""

from __future__ import annotations

import duckdb

from orchestration.assets.ml import DAILY_DEMAND


def test_daily_demand_model_equals_the_forecast_query(demo_warehouse):
    con = duckdb.connect(str(demo_warehouse.warehouse_path), read_only=True)
    try:
        query = con.sql(DAILY_DEMAND)
        model = con.sql("select * from intermediate.int_daily_demand order by all")
        assert model.columns == query.columns
        assert model.types == query.types
        rows = query.fetchall()
        assert len(rows) > 100
        assert model.fetchall() == rows
    finally:
        con.close()
