"""The dbt sources declare each raw entity's columns with the types the lake writers give
them: the staging macro builds the empty relation of an entity without lake files from these
declarations, so they must never drift from the extractors' Arrow schemas."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from extractors import fx, usage
from extractors.inbox.schemas import ENTITIES, SOURCE_FIELDS
from extractors.lake import META_FIELDS
from extractors.registry import CHANNELS, streams_for

STAGING = Path(__file__).resolve().parents[2] / "dbt_project" / "models" / "staging"


def duckdb_type(arrow: pa.DataType) -> str:
    if pa.types.is_string(arrow):
        return "varchar"
    if pa.types.is_int64(arrow):
        return "bigint"
    if pa.types.is_float64(arrow):
        return "double"
    if pa.types.is_boolean(arrow):
        return "boolean"
    if pa.types.is_date32(arrow):
        return "date"
    if pa.types.is_timestamp(arrow):
        return "timestamptz" if arrow.tz else "timestamp"
    if pa.types.is_decimal(arrow):
        return f"decimal({arrow.precision},{arrow.scale})"
    if pa.types.is_list(arrow):
        return duckdb_type(arrow.value_type) + "[]"
    raise AssertionError(f"no DuckDB type for {arrow}: extend duckdb_type and the macro")


def _expected() -> dict[tuple[str, str], list[pa.Field]]:
    out = {
        (channel, spec.name): list(spec.schema)
        for channel in CHANNELS
        for stream in streams_for(channel).values()
        for spec in stream.entities
    }
    out |= {("files", name): [*spec.schema, *SOURCE_FIELDS] for name, spec in ENTITIES.items()}
    out[(fx.CHANNEL, fx.ENTITY)] = list(fx.FX_RATES.schema)
    out[(usage.CHANNEL, usage.ENTITY)] = list(usage.STREAM_RUNS.schema)
    return out


def _declared() -> dict[tuple[str, str], list[tuple[str, str]]]:
    out = {}
    for path in STAGING.glob("*/_*__sources.yml"):
        for source in yaml.safe_load(path.read_text())["sources"]:
            for table in source["tables"]:
                columns = table.get("columns") or []
                out[(source["name"], table["name"])] = [
                    (c["name"], c["data_type"]) for c in columns
                ]
    return out


EXPECTED = _expected()
DECLARED = _declared()


def test_every_lake_entity_is_a_declared_source():
    assert set(DECLARED) == set(EXPECTED)


@pytest.mark.parametrize("entity", sorted(EXPECTED), ids=lambda e: f"{e[0]}.{e[1]}")
def test_declared_columns_equal_the_arrow_schema(entity):
    want = [(f.name, duckdb_type(f.type)) for f in EXPECTED[entity]]
    got = DECLARED.get(entity)
    lines = "\n".join(f'          - {{name: {n}, data_type: "{t}"}}' for n, t in want)
    assert got == want, f"{entity}: the source's columns in its yml should be:\n{lines}"


def test_the_macros_stamp_columns_are_the_lake_writers():
    """macros/staging.sql lists the lake's stamp columns for the empty relations."""
    macros = (STAGING.parents[1] / "macros" / "staging.sql").read_text()
    body = macros[macros.index("macro lake_stamp_columns") :]
    body = body[: body.index("endmacro")]
    declared = re.findall(r"\('(\w+)', '(\w+)'\)", body)
    assert declared == [(f.name, duckdb_type(f.type)) for f in META_FIELDS]
