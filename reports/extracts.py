"""CSV and Parquet extracts, written by DuckDB's ``COPY (query) TO`` (streamed, bounded
memory; rows in the extract's ORDER BY)."""

from __future__ import annotations

from pathlib import Path


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def copy_to(con, sql: str, path: Path, fmt: str) -> int:
    """Write the query's rows to ``path`` as csv or parquet; returns the row count."""
    options = {
        "csv": "FORMAT csv, HEADER true",
        "parquet": "FORMAT parquet, COMPRESSION zstd",
    }[fmt]
    result = con.execute(f"COPY ({sql}) TO {_literal(path)} ({options})").fetchall()
    return int(result[0][0]) if result else 0
