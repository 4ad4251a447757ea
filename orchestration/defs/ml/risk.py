"""``analytics/order_risk``: a risk score per order with its reasons, from
``analytics.order_risk_features``; a thin asset over ``models_ml.order_risk``. When the
sandbox injects fraud (``sandbox.fraud: true``), the metadata carries precision and recall at
the configured threshold against the sandbox's ground truth."""

from __future__ import annotations

import dagster as dg
import polars as pl

from models_ml.order_risk import evaluate, score_orders
from orchestration.config import ChannelHouseConfig
from orchestration.lib.dbt import model_key
from orchestration.lib.keys import ORDER_RISK_KEY
from orchestration.lib.resources import WarehouseResource
from orchestration.lib.sandbox import sandbox_business

FEATURES_SQL = """
select
    * exclude (net_amount_base, prior_avg_net_amount_base, typical_first_order_base),
    net_amount_base::double as net_amount_base
from analytics.order_risk_features
order by ordered_at, order_id
"""


def read_features(con) -> pl.DataFrame:
    return con.sql(FEATURES_SQL).pl()


def sandbox_fraud_order_ids(config: ChannelHouseConfig, truth: pl.DataFrame) -> list[str]:
    """The warehouse order ids (``<connection>:<channel_order_id>``) of the sandbox's injected
    fraud orders, for the connections of ``config`` that serve their storefront."""
    prefix: dict[str, str] = {}  # storefront -> "<connection>:" (+ the API's id prefix)
    for conn in config.connections:
        if conn.channel == "amazon":
            prefix.update(dict.fromkeys(conn.marketplaces, f"{conn.name}:"))
        elif conn.channel == "shopify":  # the Admin GraphQL API names orders by their gid
            prefix[conn.shop] = f"{conn.name}:gid://shopify/Order/"
        elif conn.channel == "walmart":
            prefix["WALMART_US"] = f"{conn.name}:"
    return [
        prefix[row["marketplace_id"]] + row["channel_order_id"]
        for row in truth.iter_rows(named=True)
        if row["marketplace_id"] in prefix
    ]


def risk_metadata(scored: pl.DataFrame, evaluation: dict | None) -> dict:
    metadata: dict = {
        "dagster/row_count": scored.height,
        "high_risk_orders": int(scored["is_high_risk"].sum()),
    }
    if evaluation is not None:
        metadata |= {f"fraud_{name}": value for name, value in evaluation.items()}
    return metadata


def order_risk_asset(config: ChannelHouseConfig) -> dg.AssetsDefinition:
    settings = config.order_risk

    @dg.asset(
        key=ORDER_RISK_KEY,
        description="Per order: a 0-100 risk score (rules from `order_risk:` in channelhouse.yml "
        "plus an isolation-forest anomaly percentile), is_high_risk at the threshold and the "
        "reasons as text. With the sandbox's injected fraud: precision and recall in the "
        "metadata.",
        deps=[model_key("order_risk_features")],
        group_name="analytics",
        kinds={"duckdb", "scikit-learn"},
    )
    def order_risk_table(warehouse: WarehouseResource) -> dg.MaterializeResult:
        with warehouse.read_only() as con:
            features = read_features(con)
        scored = score_orders(features, settings)
        warehouse.replace_tables("analytics", {"order_risk": scored})
        evaluation = None
        if config.uses_sandbox and config.sandbox.fraud:
            evaluation = evaluate(
                scored, sandbox_fraud_order_ids(config, sandbox_business(config).fraud_truth())
            )
        return dg.MaterializeResult(metadata=risk_metadata(scored, evaluation))

    return order_risk_table
