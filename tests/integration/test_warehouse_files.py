"""File channels in the warehouse: order lines, SKU mappings and exchange rates dropped into the
inbox flow through the core marts like API orders.

A small simulated business (a few days, three connections) is synced into a lake; the first
build sees no file at all. Then inbox imports are written straight in the lake layout of the
inbox contract (one Parquet part per imported file, as extractors/inbox.py lands them): an
Etsy export in a mapped CSV layout, its re-export with a refund and a shipment imported twice
more, an Amazon all-orders flat file, a SKU-mapping file and two FX files. Two incremental
builds follow (the second reads only the newest imports), then a full rebuild for comparison.
Every expected amount is computed by hand below.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest

from orchestration.config import parse_config
from orchestration.defs.warehouse import checks as warehouse_checks
from orchestration.lib import quality
from sandbox.server import SandboxServer
from tests.conftest import sandbox_config_dict
from tests.integration.test_warehouse import assert_ok, dbt, sync
from tests.integration.warehouse_files_helpers import (
    ORDER_LINES,
    Picked,
    etsy_exports,
    write_import,
    write_other_imports,
)

HISTORY_DAYS = 6
CONNECTIONS = ("amazon_na", "shopify_us", "walmart_us")
# the core marts, daily_sales and everything they read; tests whose models all are built
SELECT = ("--select", "+path:models/marts/core +daily_sales", "--indirect-selection", "cautious")
FILE_CHANNELS = ("etsy", "amazon_flat")


def base(amount: str | Decimal, rate: Decimal) -> Decimal:
    """An amount in the base currency as the warehouse rounds it (4 places, half away from 0)."""
    return (Decimal(amount) * rate).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def usd_per_eur(lake: Path, day: date, inbox: dict[date, Decimal]) -> Decimal:
    """The USD rate in force on ``day``: the last publication on or before it, the inbox's
    for the days it covers, else the feed's (weekends carry the last one)."""
    con = duckdb.connect()
    published, value = con.execute(
        "select rate_date, rate_per_eur from read_parquet(?, hive_partitioning = true) "
        "where currency = 'USD' and rate_date <= ? order by rate_date desc limit 1",
        [str(lake / "raw/channel=reference/connection=ecb/entity=fx_rates/*/*.parquet"), day],
    ).fetchone()
    overridden = [d for d in inbox if published <= d <= day]
    return inbox[max(overridden)] if overridden else Decimal(str(value))


def synced_config(root: Path, sandbox: SandboxServer, now: datetime):
    """The three connections' config, their whole history and today's snapshots synced into a
    lake under ``root``."""
    raw = sandbox_config_dict(str(root / "data"), history_days=HISTORY_DAYS)
    raw["connections"] = [c for c in raw["connections"] if c["name"] in CONNECTIONS]
    raw["sandbox"] = {"port": sandbox.port}
    config = parse_config(raw, "test")
    lake = config.data_dir
    start = config.sync.history_start
    sync(
        config, lake, now, [start + timedelta(days=i) for i in range((now.date() - start).days + 1)]
    )
    sync(config, lake, now)
    return config


def pick_products_and_customer(warehouse: Path, lake: Path) -> Picked:
    con = duckdb.connect(str(warehouse), read_only=True)
    # products to sell: P1 by its SKU, P2 by its GTIN, P3 by an Amazon ASIN, P4 by mapping
    gtin_products = con.execute(
        "select product_id, gtin14 from core.dim_products "
        "where gtin14 is not null and listing_count >= 2 order by product_id limit 3"
    ).fetchall()
    (p1, _), (p2, p2_gtin), (p4, _) = gtin_products
    p3, p3_asin = con.execute(
        "select product_id, channel_item_id from core.dim_product_listings "
        "where channel = 'amazon' and product_id not in (?, ?, ?) "
        "and gtin14 is not null "
        "and channel_item_id in (select channel_item_id from core.dim_product_listings "
        "    where channel = 'amazon' group by 1 having count(distinct product_id) = 1) "
        "order by listing_id limit 1",
        [p1, p2, p4],
    ).fetchone()
    # a Shopify customer who also buys on Etsy (same e-mail, written differently)
    shopify_customer_id, shopify_order_id = con.execute(
        "select any_value(o.customer_id), arg_max(o.order_id, o.ordered_at) "
        "from core.fct_orders as o inner join core.dim_customers as c using (customer_identity_id) "
        "where o.channel = 'shopify' and c.email_hash is not null "
        "group by o.customer_identity_id order by 2 limit 1"
    ).fetchone()
    con.close()
    shopify_email = (
        duckdb.connect()
        .execute(
            "select any_value(customer_email) from read_parquet(?, hive_partitioning = true) "
            "where connection || ':' || shopify_order_id = ?",
            [
                str(lake / "raw/channel=shopify/connection=*/entity=orders/*/*.parquet"),
                shopify_order_id,
            ],
        )
        .fetchone()[0]
    )
    return Picked(p1, p2, p2_gtin, p3, p3_asin, p4, shopify_customer_id, shopify_email)


def build_with_the_files(
    config, root: Path, a: Path, b: Path, re_export: list[dict], t3: datetime
) -> dict:
    """The builds after the imports: incremental on ``a`` with the files, again after the
    re-export is imported once more (reading only the two newest import days), a full rebuild
    on ``b``, and a scheduled run's reconciliation of the last days only."""
    lake = config.data_dir
    orders = ("files", "etsy", "order_lines", ORDER_LINES)
    results = {}
    results["files"] = dbt(config, a, root / "t2", "build", *SELECT, lookback_days=5)
    assert_ok(results["files"])
    # the re-export once more; this build reads only the two newest import days
    write_import(lake, *orders, re_export, t3, "archive/orders/etsy/t3__export.csv")
    results["again"] = dbt(config, a, root / "t3", "build", *SELECT, lookback_days=0)
    assert_ok(results["again"])
    results["full"] = dbt(config, b, root / "t4", "build", "--full-refresh", *SELECT)
    assert_ok(results["full"])
    # a scheduled run's reconciliation of the last days only (the refund is 2 days old)
    reconcile = (
        "assert_order_lines_reconcile_with_the_lake",
        "assert_refunds_reconcile_with_the_lake",
    )
    results["recent"] = dbt(
        config,
        a,
        root / "t5",
        "test",
        "--select",
        *reconcile,
        run_overrides={"CHANNELHOUSE_RECONCILE_DAYS": "3"},
    )
    assert_ok(results["recent"])
    return results


@pytest.fixture(scope="module")
def built(tmp_path_factory, sandbox: SandboxServer):
    mp = pytest.MonkeyPatch()
    for name in ("CHANNELHOUSE_DATA_DIR", "CHANNELHOUSE_WAREHOUSE", "CHANNELHOUSE_HASH_SALT"):
        mp.delenv(name, raising=False)
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    mp.setattr(sandbox.state, "clock", lambda: now)
    root = tmp_path_factory.mktemp("warehouse_files")
    config = synced_config(root, sandbox, now)
    lake = config.data_dir
    a, b = root / "a.duckdb", root / "b.duckdb"
    results = {"no_files": dbt(config, a, root / "t1", "build", *SELECT)}
    assert_ok(results["no_files"])
    picked = pick_products_and_customer(a, lake)

    day_d = datetime.combine(now.date() - timedelta(days=5), time(14), UTC)  # E1, E2
    day_d2 = datetime.combine(now.date() - timedelta(days=6), time(15), UTC)  # E3, A1
    t1 = now - timedelta(days=3)  # first Etsy export
    t2 = now - timedelta(days=2)  # re-export: refund on E1 line 1, E3 shipped
    t2b = now - timedelta(days=1)  # the re-export imported again
    t3 = now + timedelta(seconds=1)  # ... and once more, after the first file build

    first_export, re_export = etsy_exports(day_d, day_d2, picked)
    orders = ("files", "etsy", "order_lines", ORDER_LINES)
    write_import(lake, *orders, first_export, t1, "archive/orders/etsy/t1__export.csv")
    write_import(lake, *orders, re_export, t2, "archive/orders/etsy/t2__export.csv")
    write_import(lake, *orders, re_export, t2b, "archive/orders/etsy/t2b__export.csv")
    write_other_imports(lake, picked, day_d, day_d2, t1, t2)
    results |= build_with_the_files(config, root, a, b, re_export, t3)
    yield {
        "a": a,
        "b": b,
        "lake": lake,
        "products": {"p1": picked.p1, "p2": picked.p2, "p3": picked.p3, "p4": picked.p4},
        "shopify_customer_id": picked.shopify_customer_id,
        "days": (day_d, day_d2),
        "inbox_usd": {day_d.date(): Decimal("1.25")},
        "imports": (t1, t2, t2b, t3),
        "results": results,
    }
    mp.undo()


@pytest.fixture
def con(built):
    connection = duckdb.connect(str(built["a"]), read_only=True)
    yield connection
    connection.close()


def rows(con, sql: str, *params) -> list[dict]:
    cursor = con.execute(sql, list(params))
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def test_builds_pass_without_files_and_with_them(built):
    for name, result in built["results"].items():
        assert "ERROR=0" in result.stdout, name
    first = built["results"]["no_files"].stdout
    assert "stg_files__order_lines" in first and "channel_name_fct_orders_channel" in first
    assert "assert_order_lines_reconcile_with_the_lake" in built["results"]["again"].stdout
    assert "PASS=2 " in built["results"]["recent"].stdout


def test_file_orders_reach_the_facts_with_base_amounts_statuses_and_one_version(built, con):
    day_d, day_d2 = built["days"]
    ecb = usd_per_eur(built["lake"], day_d2.date(), built["inbox_usd"])
    p = built["products"]
    got = {
        r["order_line_id"]: r
        for r in rows(
            con, "select * from core.fct_order_lines where channel in ('etsy', 'amazon_flat')"
        )
    }
    assert sorted(got) == [
        "amazon_flat:111-0000001-0000001:1",
        "etsy:E1:1",
        "etsy:E1:2",
        "etsy:E2:1",
        "etsy:E3:1",
        "etsy:E3:2",
    ]
    usd = Decimal("1.25")  # the inbox's corrected USD rate for day D: 1 EUR = 1.25 USD
    e11 = got["etsy:E1:1"]
    assert e11["fx_rate_to_base"] == usd
    assert (e11["gross_amount_base"], e11["discount_amount_base"]) == (Decimal(50), Decimal(5))
    assert (e11["shipping_amount_base"], e11["tax_amount_base"]) == (
        Decimal("6.25"),
        Decimal("9.5"),
    )
    assert (e11["refunded_amount"], e11["refunded_amount_base"]) == (Decimal(10), Decimal("12.5"))
    assert (e11["net_amount"], e11["net_amount_base"]) == (Decimal(26), Decimal("32.5"))
    assert e11["unit_price"] == 20 and e11["quantity"] == 2 and e11["product_id"] == p["p1"]
    assert got["etsy:E1:2"]["gross_amount_base"] == Decimal("18.75")
    assert got["etsy:E1:2"]["tax_amount_base"] == Decimal("3.5625")
    e32 = got["etsy:E3:2"]
    assert e32["fx_rate_to_base"] == ecb  # no inbox rate that day: the feed's
    assert e32["gross_amount_base"] == base("33.33", ecb)
    assert e32["net_amount_base"] == base("30.00", ecb)
    assert got["etsy:E2:1"]["net_amount_base"] == 0 and got["etsy:E2:1"]["is_cancelled"]
    flat = got["amazon_flat:111-0000001-0000001:1"]
    assert (flat["storefront_id"], flat["fulfillment_type"]) == ("Amazon.com", "FBA")
    assert flat["gross_amount_base"] == Decimal("19.99") and flat["fx_rate_to_base"] == 1
    assert all(r["fulfillment_type"] is None for k, r in got.items() if k.startswith("etsy"))

    orders = {
        r["order_id"]: r for r in rows(con, "select * from core.fct_orders where channel = 'etsy'")
    }
    assert {k: v["order_status"] for k, v in orders.items()} == {
        "etsy:E1": "partially_refunded",  # 10 of 51 goods value refunded
        "etsy:E2": "cancelled",
        "etsy:E3": "shipped",  # open in the first export, shipped in the re-export
    }
    e1 = orders["etsy:E1"]
    assert (e1["line_count"], e1["units"], e1["currency"]) == (2, 3, "EUR")
    assert (e1["gross_amount_base"], e1["net_amount_base"]) == (Decimal("68.75"), Decimal("51.25"))
    assert e1["ordered_at"] == day_d and e1["channel_status"] == "Shipped"
    assert orders["etsy:E3"]["ordered_at"] == day_d2
    assert orders["etsy:E3"]["source_updated_at"] == built["imports"][3]  # the latest import


def test_a_refund_counts_when_the_files_first_showed_it(built, con):
    _, t2, _, _ = built["imports"]
    [refund] = rows(con, "select * from core.fct_refunds where channel in ('etsy', 'amazon_flat')")
    assert refund["order_line_id"] == "etsy:E1:1" and refund["refunded_amount"] == 10
    # imported again on two later days: still the day of the first export that had it
    assert refund["refunded_at"] == t2
    rate = usd_per_eur(built["lake"], t2.date(), built["inbox_usd"])
    assert refund["refunded_amount_base"] == base(10, rate)
    [staged] = rows(
        con, "select * from staging.stg_files__order_lines where order_line_id = 'etsy:E1:1'"
    )
    assert staged["refund_recorded_at"] == t2 and staged["extracted_at"] == built["imports"][3]


def test_daily_sales_include_the_file_channels(built, con):
    day_d, _ = built["days"]
    p = built["products"]
    sales = {
        r["product_id"]: r
        for r in rows(
            con,
            "select * from analytics.daily_sales where channel = 'etsy' and sales_date = ?",
            day_d.date(),  # 14:00 UTC is the same day in New York
        )
    }
    assert set(sales) == {p["p1"], p["p2"], p["p4"]}
    assert (sales[p["p1"]]["orders"], sales[p["p1"]]["units"]) == (1, 2)
    assert sales[p["p1"]]["gross_revenue_base"] == Decimal(50)
    assert sales[p["p1"]]["discounts_base"] == Decimal(5)
    assert sales[p["p2"]]["gross_revenue_base"] == Decimal("18.75")
    assert (sales[p["p4"]]["orders"], sales[p["p4"]]["cancelled_orders"]) == (0, 1)
    assert sales[p["p4"]]["gross_revenue_base"] == 0


def test_customers_merge_with_other_channels_by_email(built, con):
    orders = {
        r["order_id"]: r
        for r in rows(
            con,
            "select order_id, customer_id, is_first_order from core.fct_orders "
            "where channel = 'etsy'",
        )
    }
    assert orders["etsy:E1"]["customer_id"] == built["shopify_customer_id"]
    assert orders["etsy:E3"]["is_first_order"] and not orders["etsy:E2"]["is_first_order"]
    identities = rows(
        con,
        "select channel_customer_id, email_hash is not null as has_email, is_multichannel, "
        "order_count from core.dim_customers where channel = 'etsy' order by all",
    )
    assert [(r["channel_customer_id"], r["has_email"]) for r in identities] == [
        ("etsy-cust-7", False),  # known by the export's customer id
        (None, True),
        (None, True),
    ]
    assert sum(r["is_multichannel"] for r in identities) == 1  # the Shopify customer
    assert identities[0]["order_count"] == 0  # its only order was cancelled
    assert (
        rows(
            con,
            "select count(*) as n from core.dim_customers where channel = 'etsy' "
            "and email_hash like '%@%'",
        )[0]["n"]
        == 0
    )


def test_file_listings_match_products_and_sku_mappings_win(built, con):
    p = built["products"]
    listings = {
        r["listing_id"]: (r["product_id"], r["match_method"], r["is_in_catalog"])
        for r in rows(
            con, "select * from core.dim_product_listings where channel in ('etsy', 'amazon_flat')"
        )
    }
    assert listings == {
        f"etsy:etsy:{p['p1']}": (p["p1"], "exact_sku", False),
        "etsy:etsy:ETSY-GIFT-1": (p["p2"], "gtin", False),  # 13-digit EAN, normalized
        "etsy:etsy:ETSY-REMAP": (p["p4"], "manual", False),  # the mapping beats its GTIN
        "etsy:etsy:etsy-odd": (p["p4"], "manual", False),  # a mapping for any channel
        "amazon_flat:Amazon.com:FLAT-SKU-1": (p["p3"], "asin", False),
    }


def test_the_latest_inbox_rate_file_wins_over_the_feed(built, con):
    day_d, _ = built["days"]
    rates = {
        r["currency"]: (r["rate_to_base"], r["rate_source"])
        for r in rows(con, "select * from core.dim_fx_rates where rate_date = ?", day_d.date())
    }
    assert rates["EUR"] == (Decimal("1.25"), "definition")  # USD 1.25 per EUR (2nd import)
    assert rates["GBP"] == (Decimal("1.5625"), "inbox")  # 1.25 / 0.80 (1st import)
    assert rates["USD"] == (1, "inbox")
    assert rates["CAD"][1] == "ecb"  # no inbox rate for it


def test_incremental_builds_equal_a_full_rebuild_for_file_channels(built, con):
    con.execute(f"attach '{built['b']}' as full_rebuild (read_only)")
    channels = "channel in ('etsy', 'amazon_flat')"
    for table in (
        "core.fct_orders",
        "core.fct_order_lines",
        "core.fct_refunds",
        "core.dim_customers",
        "core.dim_product_listings",
        "analytics.daily_sales",
    ):
        counts = []
        for left, right in ((table, f"full_rebuild.{table}"), (f"full_rebuild.{table}", table)):
            diff = con.execute(
                f"select count(*) from (select * from {left} where {channels} "
                f"except all select * from {right} where {channels})"
            ).fetchone()[0]
            assert diff == 0, f"{table}: {diff} rows differ"
            counts.append(
                con.execute(f"select count(*) from {left} where {channels}").fetchone()[0]
            )
        assert counts[0] == counts[1] > 0, table


def test_the_core_suites_pass_on_file_channel_rows(con):
    for model, key in (
        ("fct_orders", "order_id"),
        ("fct_order_lines", "order_line_id"),
        ("fct_refunds", "refund_line_id"),
        ("dim_customers", "customer_identity_id"),
        ("dim_product_listings", "listing_id"),
    ):
        frame = con.execute(
            f"select * from core.{model} where channel in ('etsy', 'amazon_flat')"
        ).df()
        assert len(frame) > 0, model
        suite = quality.load_suite_file(warehouse_checks.suite_path(model))
        ok, failures = quality.validate_frame(suite, frame, [key])
        assert ok, (model, failures)
