"""Serving: what BI tools connect to while the scheduler keeps building.

- ``serving.copy``: a read-only DuckDB copy of the public schemas, swapped in atomically
  (``os.replace``) after each successful build;
- ``serving.postgres``: the public marts published into PostgreSQL (bulk COPY into staging
  schemas, swapped in one transaction), readable by a dedicated read-only role.

Plain library: nothing here imports Dagster (the wiring is ``orchestration/defs/serving/``).
"""
