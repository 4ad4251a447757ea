"""The asset keys that cross domains: the raw layer's (what the warehouse's dbt sources are
translated to) and those of the tables Python assets write (what serving publishes and the
reports read). dbt models' keys come from the manifest (``orchestration.lib.dbt.model_key``).
"""

import dagster as dg

from extractors import fx, inbox


def raw_asset_key(connection: str, entity: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", connection, entity])


def raw_history_key(connection: str, entity: str) -> dg.AssetKey:
    """The initial sync (any long range, one materialization) of a raw entity; the daily
    partitions of ``raw_asset_key`` continue it."""
    return dg.AssetKey(["raw_history", connection, entity])


FX_RATES_KEY = dg.AssetKey(["raw", fx.CHANNEL, fx.ENTITY])

# inbox kind -> the asset of the lake entity it lands as
FILE_KEYS = {
    kind: dg.AssetKey(["raw", "files", entity]) for kind, entity in inbox.KIND_ENTITY.items()
}


def files_source_keys() -> dict[dg.AssetKey, list[dg.AssetKey]]:
    """dbt source (as keyed by the warehouse translator) -> the import asset it reads."""
    return {
        dg.AssetKey(["source", "files", key.path[-1]]): [key]
        for kind, key in FILE_KEYS.items()
        if kind != "fx_rates"
    }


# schema ml, written by the ml domain
FORECAST_KEY = dg.AssetKey(["ml", "demand_forecast"])
SELECTION_KEY = dg.AssetKey(["ml", "forecast_selection"])
BACKTEST_KEY = dg.AssetKey(["ml", "forecast_backtest"])
HISTORY_KEY = dg.AssetKey(["ml", "forecast_history"])
LTV_KEY = dg.AssetKey(["ml", "customer_ltv"])
LTV_PARAMETERS_KEY = dg.AssetKey(["ml", "ltv_parameters"])
LTV_DIAGNOSTICS_KEY = dg.AssetKey(["ml", "ltv_diagnostics"])
LTV_HOLDOUT_KEY = dg.AssetKey(["ml", "ltv_holdout"])
LTV_VALUE_HOLDOUT_KEY = dg.AssetKey(["ml", "ltv_value_holdout"])
RECOMMENDATIONS_KEY = dg.AssetKey(["ml", "product_recommendations"])
SIMILAR_PRODUCTS_KEY = dg.AssetKey(["ml", "similar_products"])
RECOMMENDATION_EVALUATION_KEY = dg.AssetKey(["ml", "recommendation_evaluation"])
CHURN_KEY = dg.AssetKey(["ml", "customer_churn"])
CHURN_EVALUATION_KEY = dg.AssetKey(["ml", "churn_evaluation"])
AUDIENCES_KEY = dg.AssetKey(["ml", "audience_members"])
AUDIENCE_DELIVERIES_KEY = dg.AssetKey(["ml", "audience_deliveries"])
# schema analytics, written by the ml domain (the A/B-test statistics, the current audiences,
# the order risk scores, review trust)
EXPERIMENT_RESULTS_KEY = dg.AssetKey(["analytics", "experiment_results"])
CURRENT_AUDIENCES_KEY = dg.AssetKey(["analytics", "audiences"])
ORDER_RISK_KEY = dg.AssetKey(["analytics", "order_risk"])
LISTING_TRUST_KEY = dg.AssetKey(["analytics", "listing_trust"])
SELLER_CREDIBILITY_KEY = dg.AssetKey(["analytics", "seller_credibility"])


def audience_key(audience: str) -> dg.AssetKey:
    """One audience's exported list (CSV + Parquet in <data dir>/exports/audiences/)."""
    return dg.AssetKey(["audiences", audience])


# schemas ml and alerts, written by the alerts domain
ANOMALIES_KEY = dg.AssetKey(["ml", "sales_anomalies"])
TRENDING_KEY = dg.AssetKey(["ml", "trending_products"])
ALERTS_KEY = dg.AssetKey(["alerts", "alerts"])
DELIVERIES_KEY = dg.AssetKey(["alerts", "alert_deliveries"])

# every warehouse table a Python asset writes (one asset per table)
PYTHON_TABLE_KEYS = (
    FORECAST_KEY,
    SELECTION_KEY,
    BACKTEST_KEY,
    HISTORY_KEY,
    LTV_KEY,
    LTV_PARAMETERS_KEY,
    LTV_DIAGNOSTICS_KEY,
    LTV_HOLDOUT_KEY,
    LTV_VALUE_HOLDOUT_KEY,
    RECOMMENDATIONS_KEY,
    SIMILAR_PRODUCTS_KEY,
    RECOMMENDATION_EVALUATION_KEY,
    CHURN_KEY,
    CHURN_EVALUATION_KEY,
    AUDIENCES_KEY,
    AUDIENCE_DELIVERIES_KEY,
    CURRENT_AUDIENCES_KEY,
    EXPERIMENT_RESULTS_KEY,
    ORDER_RISK_KEY,
    LISTING_TRUST_KEY,
    SELLER_CREDIBILITY_KEY,
    ANOMALIES_KEY,
    TRENDING_KEY,
    ALERTS_KEY,
    DELIVERIES_KEY,
)
