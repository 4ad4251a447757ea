"""Great Expectations suites as blocking Dagster asset checks on the raw layer.

Suites live as JSON in ``expectations/raw/<channel>/<entity>.json`` (Great Expectations'
own suite format, hand-editable). ``python -m orchestration.lib.quality`` writes a starting suite
for every raw entity that has none, derived from the entity's schema: the exact column set,
keys not null and unique within the extraction, currency codes, non-negative counts. A test
checks every committed suite still covers those basics.

Great Expectations only reports; this module turns a failed validation into a failed,
blocking ``AssetCheckResult`` that names each failed expectation and sample bad values.
:func:`load_suite_file`, :func:`validate_frame` and :func:`check_result` are not tied to the
raw layer: the warehouse's core marts are checked with them too
(``orchestration/defs/warehouse/checks.py``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from extractors.base import EntitySpec
from extractors.lake import META_FIELDS

if TYPE_CHECKING:
    import pandas as pd

SUITES_DIR = Path(__file__).resolve().parents[2] / "expectations" / "raw"
CHECK_NAME = "raw_expectations"
FAILING_ROWS_SHOWN = 20  # key values of failing rows named per failed expectation


def suite_path(channel: str, entity: str) -> Path:
    return SUITES_DIR / channel / f"{entity}.json"


def base_expectations(spec: EntitySpec) -> list[dict]:
    """The expectations every raw entity must have, from its schema alone."""
    columns = [f.name for f in spec.schema] + [f.name for f in META_FIELDS]
    out: list[dict] = [
        {
            "type": "expect_table_columns_to_match_set",
            "kwargs": {"column_set": columns, "exact_match": True},
        }
    ]
    not_null = list(spec.key) + [
        f.name for f in spec.schema if not f.nullable and f.name not in spec.key
    ]
    if spec.partition_by and spec.partition_by not in not_null:
        not_null.append(spec.partition_by)
    out += [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": c}} for c in not_null
    ]
    if len(spec.key) == 1:
        out.append({"type": "expect_column_values_to_be_unique", "kwargs": {"column": spec.key[0]}})
    else:
        out.append(
            {
                "type": "expect_compound_columns_to_be_unique",
                "kwargs": {"column_list": list(spec.key)},
            }
        )
    for f in spec.schema:
        if f.name == "currency" or f.name.endswith("_currency"):
            out.append(
                {
                    "type": "expect_column_values_to_match_regex",
                    "kwargs": {"column": f.name, "regex": "^[A-Z]{3}$"},
                }
            )
        elif pa.types.is_integer(f.type):
            out.append(
                {
                    "type": "expect_column_values_to_be_between",
                    "kwargs": {"column": f.name, "min_value": 0},
                }
            )
    return out


@cache
def _batch_definition():
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    context = gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(),
            progress_bars=ProgressBarsConfig(globally=False),
            analytics_enabled=False,
        ),
    )
    asset = context.data_sources.add_pandas("frames").add_dataframe_asset("frame")
    return asset.add_batch_definition_whole_dataframe("whole_frame")


def load_suite_file(path: Path):
    """A Great Expectations suite from its JSON file (name, expectations, meta)."""
    import great_expectations as gx

    try:
        raw = json.loads(path.read_text())
        return gx.ExpectationSuite(
            name=raw["name"], expectations=raw["expectations"], meta=raw.get("meta")
        )
    except Exception as exc:  # GE raises pydantic, marshmallow and its own errors here
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{path} is not a valid Great Expectations suite: {detail}") from None


def load_suite(channel: str, entity: str):
    return load_suite_file(suite_path(channel, entity))


def validate(channel: str, spec: EntitySpec, table: pa.Table) -> tuple[bool, list[dict]]:
    """Run the entity's suite on ``table``; returns success and the failed expectations."""
    return validate_frame(load_suite(channel, spec.name), table.to_pandas())


def validate_frame(
    suite, frame: pd.DataFrame, index_columns: Sequence[str] = ()
) -> tuple[bool, list[dict]]:
    """Run ``suite`` on ``frame``; returns success and the failed expectations.

    With ``index_columns`` (a table's primary key), each failure also lists under ``rows``
    the key values of up to :data:`FAILING_ROWS_SHOWN` failing rows (a value per row for a
    one-column key, else a dict per row).
    """
    result_format: dict[str, Any] = {"result_format": "SUMMARY"}
    if index_columns:
        result_format |= {
            "unexpected_index_column_names": list(index_columns),
            "partial_unexpected_count": FAILING_ROWS_SHOWN,
            "return_unexpected_index_query": False,  # pandas: a query naming every bad row
        }
    batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(suite, result_format=result_format)
    failures = []
    for item in result.results:
        if item.success:
            continue
        config = item.expectation_config
        detail = item.result or {}
        failure = {
            "expectation": config.type,
            "kwargs": {k: v for k, v in config.kwargs.items() if k != "batch_id"},
            "unexpected_count": detail.get("unexpected_count"),
            "sample": [_text(v) for v in (detail.get("partial_unexpected_list") or [])[:5]],
            "observed": str(detail.get("observed_value", ""))[:200] or None,
            "error": _exception_message(item.exception_info),
        }
        if index_columns:
            failure["rows"] = _failing_rows(detail, index_columns)
        if config.notes:
            failure["rule"] = (
                config.notes if isinstance(config.notes, str) else " ".join(config.notes)
            )
        failures.append(failure)
    return result.success, failures


def _exception_message(info: dict | None) -> str | None:
    """GE reports an error either directly or keyed by the metric that raised it."""
    if not info:
        return None
    if "exception_message" in info:
        return info["exception_message"]
    messages = {v.get("exception_message") for v in info.values() if isinstance(v, dict)}
    return "; ".join(sorted(m for m in messages if m)) or None


_PLAIN_TYPES = (str, bool, int, float, type(None))


def _plain(value: object) -> object:
    """A plain JSON scalar: numpy scalars (np.float64 is a float subclass) become Python
    numbers, anything else (timestamps, decimals) text."""
    if type(value) in _PLAIN_TYPES:
        return value
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        with contextlib.suppress(TypeError, ValueError):
            value = item()
        if type(value) in _PLAIN_TYPES:
            return value
    return str(value)


def _text(value: object) -> str:
    """A bad value as text; a pair's values as ``(a, b)`` rather than numpy reprs."""
    if isinstance(value, tuple | list):
        return str(tuple(_plain(v) for v in value))
    return str(value)


def _failing_rows(detail: dict, index_columns: Sequence[str]) -> list:
    rows = []
    for entry in detail.get("partial_unexpected_index_list") or []:
        if not isinstance(entry, dict):  # without index columns GE gives positions
            rows.append(_plain(entry))
        elif len(index_columns) == 1:
            rows.append(_plain(entry.get(index_columns[0])))
        else:
            rows.append({c: _plain(entry.get(c)) for c in index_columns})
    return rows[:FAILING_ROWS_SHOWN]


def run_suite(
    channel: str, spec: EntitySpec, files: list[Path], asset_key: dg.AssetKey
) -> dg.AssetCheckResult:
    """Validate what an extraction just wrote; a failure blocks downstream assets."""
    if not suite_path(channel, spec.name).exists():
        return dg.AssetCheckResult(
            check_name=CHECK_NAME,
            asset_key=asset_key,
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "error": f"no suite at {suite_path(channel, spec.name)}; "
                "run `python -m orchestration.lib.quality` to create one"
            },
        )
    if not files:  # e.g. a run just after midnight: nothing was extracted, nothing to judge
        return dg.AssetCheckResult(
            check_name=CHECK_NAME, asset_key=asset_key, passed=True,
            metadata={"rows_validated": 0, "note": "no partition written by this run"},
        )  # fmt: skip
    table = pa.concat_tables([pq.read_table(f) for f in files])
    success, failures = validate(channel, spec, table)
    return check_result(asset_key, table.num_rows, success, failures)


def run_suite_per_partition(
    channel: str, spec: EntitySpec, files: list[Path], asset_key: dg.AssetKey
) -> dg.AssetCheckResult:
    """Like :func:`run_suite`, but each partition file is validated on its own (for an asset
    whose files hold the same keys from different connections, e.g. exchange rates from the
    feed and from a user file); empty partitions have nothing to judge."""
    files = [f for f in files if pq.read_metadata(f).num_rows > 0]
    if not files or not suite_path(channel, spec.name).exists():
        return run_suite(channel, spec, files, asset_key)
    rows, success, failures = 0, True, []
    for path in files:
        table = pq.read_table(path)
        ok, failed = validate(channel, spec, table)
        rows += table.num_rows
        success = success and ok
        failures += [{**f, "partition": str(path.parent)} for f in failed]
    return check_result(asset_key, rows, success, failures)


def check_result(
    asset_key: dg.AssetKey,
    rows: int,
    success: bool,
    failures: list[dict],
    check_name: str = CHECK_NAME,
    metadata: dict[str, object] | None = None,
) -> dg.AssetCheckResult:
    """The check result of a validation: counts, the failures as JSON and a one-line summary
    (``expectation(columns): N bad, e.g. [values]``, plus ``in rows [keys]`` when known)."""
    metadata = {**(metadata or {}), "rows_validated": rows, "failed_expectations": len(failures)}
    if failures:
        metadata["failures"] = dg.MetadataValue.json(failures)
        metadata["summary"] = "; ".join(_summary(f) for f in failures)
    return dg.AssetCheckResult(
        check_name=check_name,
        asset_key=asset_key,
        passed=success,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=metadata,
    )


def _summary(failure: dict) -> str:
    kwargs = failure["kwargs"]
    columns = kwargs.get("column") or kwargs.get("column_list") or ""
    if "column_A" in kwargs:
        columns = f"{kwargs['column_A']}, {kwargs['column_B']}"
    count = failure["unexpected_count"]
    if count is None:
        count = failure["observed"] or failure["error"]
    line = f"{failure['expectation']}({columns}): {count} bad, e.g. {failure['sample'][:3]}"
    if failure.get("rows"):
        line += f" in rows {failure['rows'][:3]}"
    return line


def raw_streams() -> dict[str, dict]:
    """Every raw stream by channel: the marketplaces' and the reference data's."""
    from extractors import fx
    from extractors.registry import CHANNELS, streams_for

    return {**{channel: streams_for(channel) for channel in CHANNELS}, fx.CHANNEL: fx.STREAMS}


def write_missing_suites() -> list[Path]:
    """Create a starting suite for every raw entity of every channel that has none."""
    written = []
    for channel, streams in raw_streams().items():
        for stream in streams.values():
            for spec in stream.entities:
                path = suite_path(channel, spec.name)
                if path.exists():
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                suite = {
                    "name": f"raw.{channel}.{spec.name}",
                    "expectations": base_expectations(spec),
                    "meta": {
                        "notes": "Starting suite derived from the entity schema; "
                        "add value rules below the generated ones."
                    },
                }
                path.write_text(json.dumps(suite, indent=2) + "\n")
                written.append(path)
    return written


if __name__ == "__main__":
    for p in write_missing_suites():
        print(f"wrote {p}")
