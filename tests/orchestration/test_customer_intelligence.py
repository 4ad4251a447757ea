"""The customer-intelligence assets (issue 15) materialized over a temporary DuckDB warehouse
holding the marts they read, filled from the simulated business (whose customers have real
tastes); a young shop gets empty tables and the reason; bad settings name their field."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import duckdb
import polars as pl
import pytest

from models_ml.churn import CHURN_SCHEMA
from orchestration.config import ConfigError, parse_config
from orchestration.defs.ml import ml_assets
from orchestration.defs.ml.customers import audiences_asset, churn_asset, recommendations_asset
from orchestration.defs.ml.ltv import customer_ltv_asset
from orchestration.lib.keys import (
    CHURN_KEY,
    RECOMMENDATION_EVALUATION_KEY,
    RECOMMENDATIONS_KEY,
    audience_key,
)
from orchestration.lib.resources import WarehouseResource
from sandbox.business import Business
from tests.conftest import sandbox_config_dict

END = date(2025, 9, 1)


def _warehouse(path, biz: Business, since: date | None = None) -> WarehouseResource:
    """core.fct_orders, core.dim_products and analytics.customer_product_events as the marts
    shape them (string ids), from the business's orders; a few product views and cart adds."""
    net = biz.order_lines.group_by("order_key").agg(
        (pl.col("unit_price") * pl.col("quantity") - pl.col("discount")).sum().alias("net")
    )
    channels = biz.storefronts.select("account", "marketplace_id", "channel")
    orders = (
        biz.orders.join(net, on="order_key")
        .join(channels, on=["account", "marketplace_id"])
        .select(
            pl.col("customer_id").cast(pl.String),
            pl.col("purchased_at").dt.date().alias("ordered_date"),
            pl.col("net").alias("net_amount_base"),
            pl.lit(0.0).alias("refunded_amount_base"),
            "channel",
            (pl.col("cancelled_at").is_not_null()).alias("is_cancelled"),
            "order_key",
        )
    )
    if since is not None:
        orders = orders.filter(pl.col("ordered_date") >= since)
    lines = biz.order_lines.join(orders, on="order_key").select(
        "customer_id",
        pl.col("product_id").cast(pl.String),
        pl.lit("order").alias("event_type"),
        pl.col("ordered_date").alias("event_date"),
    )
    browsing = lines.head(500).with_columns(pl.lit("view").alias("event_type"))
    carts = lines.head(200).with_columns(pl.lit("cart").alias("event_type"))
    events = (
        pl.concat([lines, browsing, carts])
        .group_by("customer_id", "product_id", "event_type", "event_date")
        .agg(pl.len().alias("events"))
    )
    products = biz.products.select(pl.col("product_id").cast(pl.String))
    customers = orders.select(
        "customer_id",
        pl.format("gid://shopify/Customer/{}", "customer_id").alias("channel_customer_id"),
        "channel",
    ).unique("customer_id")
    # two abandoned carts as analytics.cart_abandonment lists them: one of a customer who has
    # not ordered since (an audience member), one recovered by a purchase
    last = orders.sort("ordered_date").row(-1, named=True)
    at = datetime.combine(last["ordered_date"], time(12), UTC) + timedelta(hours=1)
    carts = pl.DataFrame(
        {
            "customer_id": ["cart-customer", last["customer_id"]],
            "abandoned_at": [at, at],
            "abandoned_date": [at.date(), at.date()],
            "item_count": [2, 1],
            "products": [["SKU-A", "SKU-B"], ["SKU-C"]],
            "cart_value_base": [42.5, 10.0],
            "is_recovered": [False, True],
        }
    )
    with duckdb.connect(str(path)) as con:
        for schema, name, frame in (
            ("core", "fct_orders", orders.drop("order_key")),
            ("core", "dim_products", products),
            ("core", "dim_customers", customers),
            ("analytics", "customer_product_events", events),
            ("analytics", "cart_abandonment", carts),
        ):
            con.execute(f"create schema if not exists {schema}")
            con.register("_f", frame)
            con.execute(f"create table {schema}.{name} as from _f")
            con.unregister("_f")
    return WarehouseResource(path=str(path), data_dir=str(path.parent), hash_salt="x" * 16)


@pytest.fixture(scope="module")
def biz() -> Business:
    return Business(seed=42, end=END)


def _config(tmp_path, **sections):
    raw = sandbox_config_dict(str(tmp_path / "data"))
    raw.update(sections)
    return parse_config(raw, "test-config")


def _metadata(result, key):
    (meta,) = [
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key == key
    ]
    return meta


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            self.server.hits.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.hits, server.lock = [], threading.Lock()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_assets_write_recommendations_churn_and_their_evaluations(
    tmp_path, biz, receiver, monkeypatch
):
    monkeypatch.setenv("TEST_AUDIENCES_URL", f"http://127.0.0.1:{receiver.server_address[1]}/a")
    config = _config(
        tmp_path, audiences={"webhook": {"url_env": "TEST_AUDIENCES_URL"}, "batch_size": 500}
    )
    warehouse = _warehouse(tmp_path / "warehouse.duckdb", biz)
    assets = [
        recommendations_asset(config),
        churn_asset(config),
        customer_ltv_asset(config),
        audiences_asset(config),
    ]
    result = dg.materialize(assets, resources={"warehouse": warehouse})
    assert result.success
    # audiences: exported per audience, every member pushed once, nothing again on a rerun
    folder = tmp_path / "exports" / "audiences"
    with duckdb.connect(warehouse.path, read_only=True) as con:
        members = con.sql("from ml.audience_members where is_member").pl()
    assert set(members["audience"]) == {
        "churn_risk",
        "win_back",
        "vip",
        "cross_sell",
        "abandoned_cart",
    }
    carts = members.filter(pl.col("audience") == "abandoned_cart")
    assert carts["customer_id"].to_list() == ["cart-customer"]
    assert "2 items (SKU-A, SKU-B) worth 42.5" in carts["reason"].item()
    # analytics.audiences: the current members; one asset per audience with its count
    with duckdb.connect(warehouse.path, read_only=True) as con:
        current = con.sql("from analytics.audiences").pl()
    assert sorted(current.select("audience", "customer_id").rows()) == sorted(
        members.select("audience", "customer_id").rows()
    )
    for audience, n in members.group_by("audience").len().iter_rows():
        meta = _metadata(result, audience_key(audience))
        assert meta["dagster/row_count"].value == meta["entered_this_run"].value == n
    for audience, n in members.group_by("audience").len().iter_rows():
        assert pl.read_parquet(folder / f"{audience}.parquet").height == n
        assert (folder / f"{audience}.csv").exists()
    pushed = [(h["audience"], m["customer_id"]) for h in receiver.hits for m in h["members"]]
    assert len(pushed) == len(set(pushed)) == members.height
    # the channel's id where the customer has one (the hand-made cart customer has none)
    assert all(
        m["channel_customer_id"].startswith("gid://")
        for h in receiver.hits
        for m in h["members"]
        if m["customer_id"] != "cart-customer"
    )
    again = dg.materialize([audiences_asset(config)], resources={"warehouse": warehouse})
    assert again.success
    assert sum(len(h["members"]) for h in receiver.hits) == members.height
    with duckdb.connect(warehouse.path, read_only=True) as con:
        value = con.sql("from ml.ltv_value_holdout where bucket = 'total'").pl()
        evaluation = con.sql("from ml.recommendation_evaluation").pl()
        recs = con.sql("from ml.product_recommendations").pl()
        similar = con.execute("select count(*) from ml.similar_products").fetchall()[0][0]
        churn = con.sql("from ml.customer_churn").pl()
        churn_eval = con.sql("from ml.churn_evaluation where bucket = 'total'").pl()
    # lifetime value against what happened: per horizon, deciles and a total
    assert value.sort("horizon_days")["horizon_days"].to_list() == [90, 365]
    by = {r["model"]: r for r in evaluation.iter_rows(named=True)}
    # the simulated tastes give the model something to find: it beats popularity
    assert by["item_item"]["precision_at_k"] > by["popularity"]["precision_at_k"]
    assert by["item_item"]["map_at_k"] > 1.1 * by["popularity"]["map_at_k"]
    chosen = evaluation.filter("is_chosen")["model"].to_list()
    assert chosen == ["item_item"] and (recs["model"].unique().sort().to_list()) in (
        ["item_item"],
        ["item_item", "popularity"],
    )
    assert recs.group_by("customer_id").len()["len"].max() == config.recommend.top_n
    assert similar == biz.products.height * config.recommend.similar_n
    assert set(churn.columns) == set(CHURN_SCHEMA)
    assert churn["customer_id"].n_unique() == churn.height > 10_000
    assert churn["model"].unique().to_list() == churn_eval.filter("is_chosen")["model"].to_list()
    meta = _metadata(result, CHURN_KEY)
    assert "auc" in meta["evaluation"].value
    evaluation_meta = _metadata(result, RECOMMENDATION_EVALUATION_KEY)
    assert "precision_at_k" in evaluation_meta["evaluation"].value
    assert evaluation_meta["plot"].value.startswith("![recommendation evaluation](data:image/png")


def test_a_young_shop_gets_empty_churn_tables_and_the_reason(tmp_path, biz):
    config = _config(tmp_path)
    warehouse = _warehouse(tmp_path / "young.duckdb", biz, since=END - timedelta(days=40))
    result = dg.materialize(
        [recommendations_asset(config), churn_asset(config)], resources={"warehouse": warehouse}
    )
    assert result.success
    assert "too little customer history" in _metadata(result, CHURN_KEY)["skipped"].value
    assert "model item_item" in _metadata(result, RECOMMENDATIONS_KEY)["model"].value
    with duckdb.connect(warehouse.path, read_only=True) as con:
        assert con.execute("select count(*) from ml.customer_churn").fetchall() == [(0,)]
        assert con.execute("select count(*) from ml.product_recommendations").fetchall()[0][0] > 0


def test_the_assets_are_in_the_ml_jobs_and_bad_settings_name_their_field(tmp_path):
    config = _config(tmp_path)
    keys = {k for a in ml_assets(config) for k in a.keys}
    assert {RECOMMENDATIONS_KEY, CHURN_KEY} <= keys
    with pytest.raises(ConfigError, match=r"recommend\.model"):
        _config(tmp_path, recommend={"model": "als"})
    with pytest.raises(ConfigError, match=r"churn\.horizon_days"):
        _config(tmp_path, churn={"horizon_days": 0})
    with pytest.raises(ConfigError, match="event_weights"):
        _config(tmp_path, recommend={"event_weights": {"view": 1.0}})


def test_the_demo_chain_fills_the_tables(demo_warehouse):
    """The demo's jobs (150 days of history): the events mart links storefront views and cart
    adds to customers, the recommendations are evaluated on the held-out weeks; churn needs
    two 90-day windows and more, so its tables are there and empty."""
    with duckdb.connect(str(demo_warehouse.warehouse_path), read_only=True) as con:
        kinds = dict(
            con.execute(
                "select event_type, count(*) from analytics.customer_product_events group by 1"
            ).fetchall()
        )
        evaluation = con.sql("from ml.recommendation_evaluation").pl()
        recs = con.execute("select count(distinct customer_id) from ml.product_recommendations")
        n_recs = recs.fetchall()[0][0]
        churn = con.execute("select count(*) from ml.customer_churn").fetchall()[0][0]
        audiences = dict(
            con.execute("select audience, count(*) from analytics.audiences group by 1").fetchall()
        )
        # the abandoned carts of identified customers, the latest day's window (no churn
        # scores: the carts' own last day), not recovered
        ((open_carts,),) = con.execute(
            "select count(distinct customer_id) from analytics.cart_abandonment "
            "where customer_id is not null and not is_recovered and abandoned_date > "
            "(select max(abandoned_date) from analytics.cart_abandonment) - 7"
        ).fetchall()
    print(audiences, open_carts)
    assert audiences.get("abandoned_cart", 0) == open_carts > 0
    assert kinds.get("order", 0) > 1000 and kinds.get("view", 0) > 0 and kinds.get("cart", 0) > 0
    assert sorted(evaluation["model"]) == ["item_item", "popularity", "svd"]
    print(evaluation)
    assert n_recs > 1000
    assert churn == 0
