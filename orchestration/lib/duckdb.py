"""DuckDB helpers the domains share."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl


def table_exists(con, schema: str, table: str) -> bool:
    """Whether ``schema.table`` exists in the DuckDB connection's database."""
    query = "select count(*) from duckdb_tables() where schema_name = ? and table_name = ?"
    return con.execute(query, [schema, table]).fetchall()[0][0] > 0


def read_table(con, schema: str, table: str) -> pd.DataFrame | None:
    """``schema.table`` as a pandas frame, or None when it does not exist (yet)."""
    if not table_exists(con, schema, table):
        return None
    return con.sql(f'select * from "{schema}"."{table}"').df()


def read_table_pl(con, schema: str, table: str) -> pl.DataFrame | None:
    """``schema.table`` as a polars frame, or None when it does not exist (yet)."""
    if not table_exists(con, schema, table):
        return None
    return con.sql(f'select * from "{schema}"."{table}"').pl()
