"""Shared glue of the Dagster definitions: resources, quality checks, DuckDB and dbt helpers."""
