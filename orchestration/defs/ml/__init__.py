"""Demand forecasts and customer lifetime value: thin assets over ``models_ml``.

``ml/demand_forecast`` (with ``ml/forecast_selection``, ``ml/forecast_backtest`` and
``ml/forecast_history``): daily units per product × channel, per channel and overall, from the
order lines (days out of stock, from the inventory snapshots, are missing demand, not zero),
forecast ``forecast.horizon`` days with 80/95% intervals. The weekly run selects each series'
model by a rolling-origin backtest against seasonal naive; the daily run refits the selected
models on the newest data.
``ml/customer_ltv`` (with ``ml/ltv_parameters``, ``ml/ltv_diagnostics``, ``ml/ltv_holdout``):
BG/NBD + Gamma-Gamma per customer as of ``ltv.calibration_end``, with a holdout check.
``ml/product_recommendations`` (with ``ml/similar_products``, ``ml/recommendation_evaluation``)
and ``ml/customer_churn`` (with ``ml/churn_evaluation``): customer intelligence, retrained
and evaluated by both jobs (a few seconds on the demo).
``analytics/experiment_results``: the A/B tests of the storefront events (issue 16).
``analytics/order_risk``: a risk score per order with its reasons (issue 17), on the daily run.
``analytics/listing_trust`` and ``analytics/seller_credibility``: review trust (issue 17).
"""

import dagster as dg

from orchestration.config import ChannelHouseConfig
from orchestration.defs.ml.customers import audiences_asset, churn_asset, recommendations_asset
from orchestration.defs.ml.experiments import experiment_results_asset
from orchestration.defs.ml.forecast import DAILY_DEMAND, ForecastRunConfig, demand_forecast_asset
from orchestration.defs.ml.ltv import customer_ltv_asset
from orchestration.defs.ml.risk import order_risk_asset
from orchestration.defs.ml.trust import trust_assets
from orchestration.lib.resources import shared_resources
from orchestration.lib.schedules import WAREHOUSE_WRITER, serving_selection, stopped_schedule

__all__ = ["DAILY_DEMAND", "ForecastRunConfig", "defs", "ml_assets"]

FORECAST_RETRAIN_CRON = "0 7 * * 0"  # Sundays, after the warehouse and the alerts
FORECAST_DAILY_CRON = "15 6 * * *"  # every morning after the warehouse build (06:00)


def ml_assets(config: ChannelHouseConfig) -> list[dg.AssetsDefinition]:
    return [
        demand_forecast_asset(config),
        customer_ltv_asset(config),
        recommendations_asset(config),
        churn_asset(config),
        audiences_asset(config),
        experiment_results_asset(config),
        order_risk_asset(config),
        *trust_assets(config),
    ]


def forecast_jobs_and_schedules(assets: list[dg.AssetsDefinition]):
    """Weekly: choose every series' model by backtest; daily: refit the chosen models on the
    newest data (and the lifetime values). Both refresh the serving assets after."""
    selection = dg.AssetSelection.assets(*assets) | serving_selection()
    jobs, schedules = [], []
    for name, cron, select, what in (
        (
            "forecast_retrain",
            FORECAST_RETRAIN_CRON,
            True,
            "choose models by backtest, then forecast",
        ),
        ("forecast_daily", FORECAST_DAILY_CRON, False, "refit the chosen models and forecast"),
    ):
        job = dg.define_asset_job(
            name=name,
            selection=selection,
            description=f"Demand forecasts ({what}), customer lifetime values, "
            "recommendations and churn.",
            config={"ops": {"demand_forecast": {"config": {"select_models": select}}}},
            tags=WAREHOUSE_WRITER,
        )
        jobs.append(job)
        schedules.append(stopped_schedule(job, cron))
    return jobs, schedules


def defs(config: ChannelHouseConfig) -> dg.Definitions:
    assets = ml_assets(config)
    jobs, schedules = forecast_jobs_and_schedules(assets)
    return dg.Definitions(
        assets=assets,
        jobs=jobs,
        schedules=schedules,
        resources={"warehouse": shared_resources(config)["warehouse"]},
    )
