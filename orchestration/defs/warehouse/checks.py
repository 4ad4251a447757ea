"""Great Expectations suites on the warehouse's core marts, as one blocking multi-asset check.

Each core mart has a hand-written suite in ``expectations/core/<model>.json`` (Great
Expectations' own suite format): its primary key not null and unique, value ranges, status
and channel vocabularies, currency codes, and the pairs that must hold (net <= gross, a
price version ends after it starts…). Every expectation carries ``notes`` saying why it is
a business rule; the suite's ``meta.primary_key`` names the column that identifies a row.
dbt contracts already enforce the column sets, so the suites do not repeat them.

The check reads each selected mart from DuckDB into pandas and validates it; a failed
expectation fails the mart's ``core_expectations`` check with ERROR severity, and the check
is blocking, so the analytics marts of the same run are skipped. The metadata names each
failed expectation, how many rows broke it and the primary keys of up to 20 of them.
"""

import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import dagster as dg

from orchestration.lib import quality
from orchestration.lib.resources import WarehouseResource

SUITES_DIR = Path(__file__).resolve().parents[3] / "expectations" / "core"
CHECK_NAME = "core_expectations"
SCHEMA = "core"


def suite_path(model: str) -> Path:
    return SUITES_DIR / f"{model}.json"


def core_mart_checks(asset_keys: Mapping[str, dg.AssetKey]) -> dg.AssetChecksDefinition:
    """One blocking ``core_expectations`` check per core mart (model name -> its asset key),
    all run by a single step that opens the warehouse once; only the selected checks run.

    A mart without a suite file still gets a check, which fails and says where the suite
    should be (the raw layer's checks behave the same way).
    """
    if not asset_keys:
        raise ValueError("core_mart_checks needs at least one core mart")
    model_of = {key: model for model, key in asset_keys.items()}
    specs = [
        dg.AssetCheckSpec(
            CHECK_NAME,
            asset=key,
            blocking=True,
            description=f"Great Expectations suite expectations/core/{model}.json",
        )
        for model, key in asset_keys.items()
    ]

    @dg.multi_asset_check(
        specs=specs,
        name="core_mart_expectations",
        can_subset=True,
        description="Great Expectations suites of the core marts (blocking).",
    )
    def core_mart_expectations(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.AssetCheckResult]:
        selected = sorted(
            context.selected_asset_check_keys, key=lambda k: k.asset_key.to_user_string()
        )
        try:
            con = warehouse.read_only()
        except Exception as exc:  # duckdb.IOException etc.: no warehouse file yet
            for check in selected:
                yield _error(check.asset_key, f"cannot open the warehouse {warehouse.path}: {exc}")
            return
        with con:
            for check in selected:
                model = model_of[check.asset_key]
                started = time.perf_counter()
                result = check_mart(con, model, check.asset_key, warehouse.path)
                context.log.info(
                    f"core.{model}: {'passed' if result.passed else 'FAILED'} "
                    f"in {time.perf_counter() - started:.2f}s"
                )
                yield result

    return core_mart_expectations


def check_mart(
    con, model: str, asset_key: dg.AssetKey, warehouse: str = "the warehouse"
) -> dg.AssetCheckResult:
    """Validate ``core.<model>`` (read through the DuckDB connection ``con``) with its suite."""
    table = f"{SCHEMA}.{model}"
    path = suite_path(model)
    if not path.exists():
        return _error(asset_key, f"no suite at {path}: write one for {table}")
    try:
        suite = quality.load_suite_file(path)
    except ValueError as exc:
        return _error(asset_key, str(exc))
    columns = [
        name
        for (name,) in con.execute(
            "select column_name from duckdb_columns() where schema_name = ? and table_name = ? "
            "order by column_index",
            [SCHEMA, model],
        ).fetchall()
    ]
    if not columns:
        return _error(asset_key, f"table {table} does not exist in {warehouse}: was it built?")
    primary_key = (suite.meta or {}).get("primary_key")
    metadata: dict[str, object] = {"table": table, "primary_key": primary_key or "(not in meta)"}
    ((rows,),) = con.execute(f'select count(*) from {SCHEMA}."{model}"').fetchall()
    if rows == 0:  # e.g. fct_traffic_daily when no Amazon connection is configured
        metadata["note"] = "the table is empty: nothing to validate"
        return quality.check_result(asset_key, 0, True, [], CHECK_NAME, metadata)
    # Only the columns the suite reads. A column it names that the table lacks fails its
    # expectations with GE's "column ... does not exist" error.
    wanted = _suite_columns(suite) | {primary_key}
    present = [c for c in columns if c in wanted]
    if not present:
        return _error(asset_key, f"{table} has none of the columns its suite reads")
    started = time.perf_counter()
    select = ", ".join(f'"{c}"' for c in present)
    frame = con.sql(f'select {select} from {SCHEMA}."{model}"').df()
    metadata["load_seconds"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    success, failures = quality.validate_frame(
        suite, frame, [primary_key] if primary_key in present else []
    )
    metadata["validate_seconds"] = round(time.perf_counter() - started, 2)
    return quality.check_result(asset_key, rows, success, failures, CHECK_NAME, metadata)


def _suite_columns(suite) -> set[str]:
    columns: set[str] = set()
    for expectation in suite.expectations:
        kwargs = expectation.configuration.kwargs
        columns.update(kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs)
        columns.update(kwargs.get("column_list") or [])
    return columns


def _error(asset_key: dg.AssetKey, message: str) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=CHECK_NAME,
        asset_key=asset_key,
        passed=False,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"error": message, "summary": message},
    )
