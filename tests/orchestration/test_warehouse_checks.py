"""The core marts' Great Expectations suites and their blocking multi-asset check, over small
DuckDB warehouses built here (only the columns the suites read)."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.defs.warehouse import checks as warehouse_checks
from orchestration.defs.warehouse.checks import CHECK_NAME, core_mart_checks
from orchestration.lib import quality
from orchestration.lib.resources import WarehouseResource

PRIMARY_KEYS = {
    "fct_orders": "order_id",
    "fct_order_lines": "order_line_id",
    "fct_refunds": "refund_line_id",
    "dim_products": "product_id",
    "dim_product_listings": "listing_id",
    "dim_customers": "customer_identity_id",
    "fct_inventory_daily": "inventory_day_id",
    "fct_listing_prices": "listing_price_id",
    "fct_traffic_daily": "traffic_day_id",
    "dim_fx_rates": "fx_rate_id",
}

# 300 valid orders and 200 valid stock rows; tests break single rows.
FCT_ORDERS = """
create table core.fct_orders as
select
    'o' || i as order_id,
    ['amazon', 'shopify', 'walmart'][1 + i % 3] as channel,
    'connection_' || i % 3 as connection_name,
    cast(100000 + i as varchar) as channel_order_id,
    ['pending', 'open', 'shipped', 'delivered', 'cancelled', 'refunded',
        'partially_refunded'][1 + i % 7] as order_status,
    ['FBA', 'FBM', 'WFS', 'merchant'][1 + i % 4] as fulfillment_type,
    timestamptz '2026-01-01 00:00:00+00' + to_hours(i) as ordered_at,
    ['USD', 'EUR', 'GBP', 'CAD'][1 + i % 4] as currency,
    1 + i % 3 as line_count,
    cast(2 + i % 3 as bigint) as units,
    cast(i % 2 as bigint) as refunded_units,
    cast(20 + i % 50 as decimal(18, 4)) as gross_amount,
    cast(2 as decimal(18, 4)) as discount_amount,
    cast(4.99 as decimal(18, 4)) as shipping_amount,
    cast(1.5 as decimal(18, 4)) as tax_amount,
    cast(3 * (i % 2) as decimal(18, 4)) as refunded_amount,
    cast(18 + i % 50 - 3 * (i % 2) as decimal(18, 4)) as net_amount,
    cast(1.1 as decimal(18, 10)) as fx_rate_to_base,
    cast((20 + i % 50) * 1.1 as decimal(18, 4)) as gross_amount_base,
    cast(2.2 as decimal(18, 4)) as discount_amount_base,
    cast(5.489 as decimal(18, 4)) as shipping_amount_base,
    cast(1.65 as decimal(18, 4)) as tax_amount_base,
    cast(3.3 * (i % 2) as decimal(18, 4)) as refunded_amount_base,
    cast((18 + i % 50 - 3 * (i % 2)) * 1.1 as decimal(18, 4)) as net_amount_base
from range(300) as t(i)
"""

FCT_INVENTORY_DAILY = """
create table core.fct_inventory_daily as
select
    '2026-03-01:conn:loc:P' || i as inventory_day_id,
    date '2026-03-01' as inventory_date,
    date '2026-02-27' as snapshot_date,
    'P' || i as product_id,
    ['amazon', 'shopify', 'walmart'][1 + i % 3] as channel,
    'connection_' || i % 3 as connection_name,
    'loc' as location_id,
    1 as listing_count,
    cast(i % 40 as hugeint) as available_quantity,
    cast(i % 3 as hugeint) as reserved_quantity,
    cast(0 as hugeint) as inbound_quantity,
    cast(i % 40 + i % 3 as hugeint) as on_hand_quantity
from range(200) as t(i)
"""


def build_warehouse(path: Path, *statements: str) -> Path:
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema if not exists core")
        for sql in statements:
            con.execute(sql)
    finally:
        con.close()
    return path


def warehouse_resource(path: Path) -> WarehouseResource:
    return WarehouseResource(path=str(path), data_dir=str(path.parent), hash_salt="x" * 16)


def keys(*models: str) -> dict[str, dg.AssetKey]:
    return {m: dg.AssetKey(["core", m]) for m in models}


def run_checks(path: Path, models: dict[str, dg.AssetKey], selection=None):
    """Run the core checks (all, or ``selection``) in process; evaluations by model."""
    checks = core_mart_checks(models)
    job = dg.define_asset_job(
        "core_checks", selection=selection or dg.AssetSelection.checks(checks)
    )
    defs = dg.Definitions(
        asset_checks=[checks], jobs=[job], resources={"warehouse": warehouse_resource(path)}
    )
    result = defs.resolve_job_def("core_checks").execute_in_process(raise_on_error=False)
    evaluations = {e.asset_key.path[-1]: e for e in result.get_asset_check_evaluations()}
    # The step fails only because a blocking check did (Dagster's doing), never by an error.
    errors = [e.step_failure_data.error.message for e in result.all_events if e.is_step_failure]
    assert all("blocking asset check" in m for m in errors), errors
    assert result.success == all(e.passed for e in evaluations.values())
    return evaluations


def failures(evaluation) -> list[dict]:
    return evaluation.metadata["failures"].value


# --- the suites ------------------------------------------------------------------------


def test_every_core_suite_loads_and_covers_its_primary_key():
    files = {p.stem for p in warehouse_checks.SUITES_DIR.glob("*.json")}
    assert files == set(PRIMARY_KEYS)
    for model, key in PRIMARY_KEYS.items():
        path = warehouse_checks.suite_path(model)
        suite = quality.load_suite_file(path)  # valid GE 1.x suite JSON
        raw = json.loads(path.read_text())
        assert raw["name"] == f"core.{model}"
        assert raw["meta"]["primary_key"] == key, model
        assert raw["meta"]["notes"], model
        have = {(e["type"], e["kwargs"].get("column")) for e in raw["expectations"]}
        assert ("expect_column_values_to_not_be_null", key) in have, model
        assert ("expect_column_values_to_be_unique", key) in have, model
        # dbt contracts enforce the column sets; the suites must not repeat them
        assert all(e["type"] != "expect_table_columns_to_match_set" for e in raw["expectations"])
        assert len(suite.expectations) == len(raw["expectations"])


def test_core_suites_hold_the_business_rules_asked_for():
    def expectations(model: str) -> list[dict]:
        return json.loads(warehouse_checks.suite_path(model).read_text())["expectations"]

    def kw(model: str, type_: str) -> list[dict]:
        return [e["kwargs"] for e in expectations(model) if e["type"] == type_]

    pairs = "expect_column_pair_values_a_to_be_greater_than_b"
    for model in ("fct_orders", "fct_order_lines"):
        got = {(k["column_A"], k["column_B"], k["or_equal"]) for k in kw(model, pairs)}
        assert {("gross_amount", "net_amount", True)} <= got
        assert {("gross_amount_base", "net_amount_base", True)} <= got
        in_set = {
            k["column"]: set(k["value_set"]) for k in kw(model, "expect_column_values_to_be_in_set")
        }
        assert in_set["order_status"] == {
            "pending", "open", "shipped", "delivered", "cancelled", "refunded",
            "partially_refunded",
        }  # fmt: skip
        assert in_set["fulfillment_type"] == {"FBA", "FBM", "WFS", "merchant"}
        # amazon, shopify, walmart or a file channel (its inbox folder's name)
        regex = {k["column"]: k["regex"] for k in kw(model, "expect_column_values_to_match_regex")}
        assert regex["channel"] == "^[a-z][a-z0-9_]*$" and "channel" not in in_set
    stock = {k["column"] for k in kw("fct_inventory_daily", "expect_column_values_to_be_between")}
    assert {
        "available_quantity",
        "reserved_quantity",
        "inbound_quantity",
        "on_hand_quantity",
    } <= stock
    prices = kw("fct_listing_prices", pairs)
    assert {"column_A": "valid_to", "column_B": "valid_from", "or_equal": False,
            "ignore_row_if": "either_value_is_missing"} in prices  # fmt: skip
    rate = kw("dim_fx_rates", "expect_column_values_to_be_between")
    assert {"column": "rate_to_base", "min_value": 0, "strict_min": True} in rate
    listings = {
        k["column"]: k for k in kw("dim_product_listings", "expect_column_values_to_be_in_set")
    }
    assert set(listings["match_method"]["value_set"]) == {
        "manual", "gtin", "exact_sku", "asin", "title_similarity", "own_sku", "ambiguous",
        "unmatched",
    }  # fmt: skip


# --- the check -----------------------------------------------------------------------------


def test_good_marts_pass(tmp_path):
    db = build_warehouse(tmp_path / "wh.duckdb", FCT_ORDERS, FCT_INVENTORY_DAILY)
    evaluations = run_checks(db, keys("fct_orders", "fct_inventory_daily"))
    assert set(evaluations) == {"fct_orders", "fct_inventory_daily"}
    for evaluation in evaluations.values():
        assert evaluation.passed, evaluation.metadata.get("summary")
        assert evaluation.check_name == CHECK_NAME
        assert evaluation.metadata["failed_expectations"].value == 0
    assert evaluations["fct_orders"].metadata["rows_validated"].value == 300
    assert evaluations["fct_orders"].metadata["primary_key"].value == "order_id"


def test_negative_stock_fails_naming_the_row(tmp_path):
    bad = "2026-03-01:conn:loc:P17"
    db = build_warehouse(
        tmp_path / "wh.duckdb",
        FCT_INVENTORY_DAILY,
        f"update core.fct_inventory_daily set available_quantity = -5 "
        f"where inventory_day_id = '{bad}'",
    )
    evaluation = run_checks(db, keys("fct_inventory_daily"))["fct_inventory_daily"]
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    [failure] = failures(evaluation)
    assert failure["expectation"] == "expect_column_values_to_be_between"
    assert failure["kwargs"]["column"] == "available_quantity"
    assert failure["unexpected_count"] == 1
    assert failure["rows"] == [bad]
    assert [float(v) for v in failure["sample"]] == [-5]  # HUGEINT arrives as float
    assert "No negative stock" in failure["rule"]
    summary = evaluation.metadata["summary"].value
    assert "expect_column_values_to_be_between(available_quantity): 1 bad" in summary
    assert bad in summary


def test_bad_status_net_above_gross_and_duplicate_key_fail_naming_rows(tmp_path):
    db = build_warehouse(
        tmp_path / "wh.duckdb",
        FCT_ORDERS,
        "update core.fct_orders set order_status = 'shipping' where order_id = 'o7'",
        "update core.fct_orders set net_amount = gross_amount + 1 where order_id = 'o9'",
        "insert into core.fct_orders select * from core.fct_orders where order_id = 'o12'",
    )
    evaluation = run_checks(db, keys("fct_orders"))["fct_orders"]
    assert not evaluation.passed
    by_rule = {
        (f["expectation"], f["kwargs"].get("column") or f["kwargs"].get("column_A")): f
        for f in failures(evaluation)
    }
    assert set(by_rule) == {
        ("expect_column_values_to_be_in_set", "order_status"),
        ("expect_column_pair_values_a_to_be_greater_than_b", "gross_amount"),
        ("expect_column_values_to_be_unique", "order_id"),
    }
    status = by_rule["expect_column_values_to_be_in_set", "order_status"]
    assert status["rows"] == ["o7"] and status["sample"] == ["shipping"]
    net = by_rule["expect_column_pair_values_a_to_be_greater_than_b", "gross_amount"]
    assert net["rows"] == ["o9"] and net["kwargs"]["column_B"] == "net_amount"
    assert net["sample"] == ["(29.0, 30.0)"]  # (gross, net) of the bad row
    duplicate = by_rule["expect_column_values_to_be_unique", "order_id"]
    assert duplicate["unexpected_count"] == 2 and set(duplicate["rows"]) == {"o12"}
    assert evaluation.metadata["failed_expectations"].value == 3
    summary = evaluation.metadata["summary"].value
    assert "(gross_amount, net_amount): 1 bad" in summary and "'o9'" in summary


def test_many_failing_rows_name_at_most_twenty_keys(tmp_path):
    db = build_warehouse(
        tmp_path / "wh.duckdb",
        FCT_INVENTORY_DAILY,
        "update core.fct_inventory_daily set reserved_quantity = -1",
    )
    evaluation = run_checks(db, keys("fct_inventory_daily"))["fct_inventory_daily"]
    [failure] = failures(evaluation)
    assert failure["unexpected_count"] == 200
    assert len(failure["rows"]) == quality.FAILING_ROWS_SHOWN == 20


def test_missing_table_missing_column_and_empty_table(tmp_path):
    db = build_warehouse(
        tmp_path / "wh.duckdb",
        FCT_INVENTORY_DAILY,
        "alter table core.fct_inventory_daily drop column inbound_quantity",
        # what fct_traffic_daily is when no Amazon connection is configured
        "create table core.fct_traffic_daily as select * from (select 1) where false",
    )
    evaluations = run_checks(db, keys("fct_refunds", "fct_inventory_daily", "fct_traffic_daily"))
    missing = evaluations["fct_refunds"]
    assert not missing.passed
    assert "core.fct_refunds does not exist" in missing.metadata["error"].value
    assert str(db) in missing.metadata["error"].value
    column = evaluations["fct_inventory_daily"]
    assert not column.passed
    [failure] = failures(column)
    assert failure["kwargs"]["column"] == "inbound_quantity"
    assert "does not exist" in failure["error"]
    empty = evaluations["fct_traffic_daily"]
    assert empty.passed and empty.metadata["rows_validated"].value == 0


def test_unreadable_warehouse_fails_every_selected_check(tmp_path):
    evaluations = run_checks(tmp_path / "absent.duckdb", keys("fct_orders", "dim_products"))
    assert set(evaluations) == {"fct_orders", "dim_products"}
    for evaluation in evaluations.values():
        assert not evaluation.passed
        assert "cannot open the warehouse" in evaluation.metadata["error"].value


def test_only_selected_checks_run(tmp_path):
    db = build_warehouse(tmp_path / "wh.duckdb", FCT_INVENTORY_DAILY)  # no fct_orders table
    models = keys("fct_orders", "fct_inventory_daily")
    selection = dg.AssetSelection.checks_for_assets(models["fct_inventory_daily"])
    evaluations = run_checks(db, models, selection=selection)
    assert list(evaluations) == ["fct_inventory_daily"]
    assert evaluations["fct_inventory_daily"].passed


def test_mart_without_suite_gets_a_failing_check(tmp_path):
    db = build_warehouse(tmp_path / "wh.duckdb", "create table core.fct_new as select 1 as id")
    evaluation = run_checks(db, keys("fct_new"))["fct_new"]
    assert not evaluation.passed
    assert "no suite at" in evaluation.metadata["error"].value


# --- blocking in a run ---------------------------------------------------------------------


def _pipeline(db: Path):
    """Stub core marts (the tables are already in ``db``), the checks, and a downstream
    analytics asset, all in one job as the warehouse job runs them."""
    models = keys("fct_orders", "fct_inventory_daily")

    @dg.multi_asset(specs=[dg.AssetSpec(key) for key in models.values()])
    def core_marts():
        for key in models.values():
            yield dg.MaterializeResult(asset_key=key)

    @dg.asset(key=["analytics", "daily_sales"], deps=[models["fct_orders"]])
    def daily_sales() -> None:
        return None

    checks = core_mart_checks(models)
    job = dg.define_asset_job("warehouse", selection=dg.AssetSelection.all())
    defs = dg.Definitions(
        assets=[core_marts, daily_sales],
        asset_checks=[checks],
        jobs=[job],
        resources={"warehouse": warehouse_resource(db)},
    )
    instance = dg.DagsterInstance.ephemeral()
    result = defs.resolve_job_def("warehouse").execute_in_process(
        instance=instance, raise_on_error=False
    )
    return result, instance, dg.AssetKey(["analytics", "daily_sales"])


def test_failed_check_blocks_downstream_asset_in_the_same_run(tmp_path):
    db = build_warehouse(
        tmp_path / "wh.duckdb",
        FCT_ORDERS,
        FCT_INVENTORY_DAILY,
        "update core.fct_orders set net_amount = gross_amount + 1 where order_id = 'o3'",
    )
    result, instance, downstream = _pipeline(db)
    evaluations = {e.asset_key.path[-1]: e for e in result.get_asset_check_evaluations()}
    assert not evaluations["fct_orders"].passed
    assert evaluations["fct_inventory_daily"].passed
    assert not result.success
    ran = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert "analytics__daily_sales" not in ran  # blocked: never started
    assert instance.get_latest_materialization_event(downstream) is None


def test_passing_checks_let_downstream_asset_run(tmp_path):
    db = build_warehouse(tmp_path / "wh.duckdb", FCT_ORDERS, FCT_INVENTORY_DAILY)
    result, instance, downstream = _pipeline(db)
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    assert instance.get_latest_materialization_event(downstream) is not None


@pytest.mark.parametrize("model", sorted(PRIMARY_KEYS))
def test_spec_is_blocking(model):
    checks = core_mart_checks(keys(model))
    [spec] = checks.check_specs
    assert spec.blocking and spec.name == CHECK_NAME
    assert spec.asset_key == dg.AssetKey(["core", model])
