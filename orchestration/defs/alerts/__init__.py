"""Sales anomalies and alerts: thin assets over ``models_ml.anomaly`` and ``alerting``.

``ml/sales_anomalies`` scores the daily revenue and units of every channel and the units of the
A-class products (analytics.abc_xyz) against a same-weekday robust baseline (and, per channel,
the forecast interval); ``ml/trending_products`` compares the recent units of every product with
the window before, and ranks them by time-decayed units (``trend_rank``: hottest now).
``alerts/alerts`` turns the marts (inventory, replenishment, account health, listing prices),
those scores and the lake's freshness into alert candidates, merges them into the persisted
alerts (stable ids: one condition is one alert, updated, resolved, reopened) and sends what
changed to the configured webhook / e-mail; ``alerts/alert_deliveries`` is the delivery log
that makes sending idempotent across runs and restarts. Both tables are replaced in one
transaction per run.
"""

import os
from datetime import UTC, datetime

import dagster as dg
import polars as pl

from alerting import build_candidates, deliver_alerts, merge_alerts
from extractors.lake import lake_freshness
from extractors.registry import streams_for
from models_ml.anomaly import build_daily_series, detect_trending, score_anomalies
from orchestration.config import ChannelHouseConfig
from orchestration.lib.dbt import model_key
from orchestration.lib.duckdb import read_table_pl, table_exists
from orchestration.lib.keys import (
    ALERTS_KEY,
    ANOMALIES_KEY,
    DELIVERIES_KEY,
    FORECAST_KEY,
    HISTORY_KEY,
    LISTING_TRUST_KEY,
    ORDER_RISK_KEY,
    TRENDING_KEY,
)
from orchestration.lib.metadata import markdown_table
from orchestration.lib.resources import WarehouseResource, shared_resources
from orchestration.lib.schedules import WAREHOUSE_WRITER, serving_selection, stopped_schedule

SCORED_DAYS = 120  # days of daily sales read: the baseline needs 8 weeks before each scored day


def _mart(con, relation: str, where: str = "") -> pl.DataFrame:
    return con.sql(f"select * from {relation} {where}").pl()


def forecast_intervals(con) -> pl.DataFrame | None:
    """Per channel (units) and day: the 95% interval of the latest forecast made before that
    day (ml.forecast_history, written by the forecast asset), keyed like the anomaly series."""
    if not table_exists(con, "ml", "forecast_history"):
        return None
    return con.sql(
        """
        select 'units|channel|' || split_part(unique_id, '|', 2) as unique_id, ds::date as ds,
            yhat, yhat_lo_95, yhat_hi_95
        from ml.forecast_history
        where unique_id like 'all|%' and split_part(unique_id, '|', 2) <> 'all'
            and forecast_date::date <= ds::date
        qualify row_number() over (partition by unique_id, ds order by forecast_date desc) = 1
        """
    ).pl()


def synced_entities(config: ChannelHouseConfig) -> list[tuple[str, str, str, str]]:
    """(connection, channel, entity, cadence) of every raw entity an API connection syncs."""
    return [
        (conn.name, conn.channel, spec.name, stream.cadence)
        for conn in config.connections
        for stream in streams_for(conn.channel).values()
        for spec in stream.entities
    ]


def sales_anomalies_asset(config: ChannelHouseConfig) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="sales_anomalies",
        specs=[
            dg.AssetSpec(
                ANOMALIES_KEY,
                description="Daily revenue and units per channel and units per A-class product, scored "
                "against the same weekday of the last weeks (robust z) and, per channel, the 95% "
                "interval of the forecast made before the day (ml.forecast_history); is_anomaly "
                "flags spikes and drops that seasonality does not explain.",
                deps=[model_key("daily_sales"), model_key("abc_xyz"), FORECAST_KEY, HISTORY_KEY],
                group_name="alerts",
                kinds={"duckdb", "python"},
            ),
            dg.AssetSpec(
                TRENDING_KEY,
                description="Units of the last window vs the window before per product, with an "
                "exact Poisson test and a volume guard; time-decayed units, their ratio to a steady "
                "seller and the rank by them (trend_rank).",
                deps=[model_key("daily_sales")],
                group_name="alerts",
                kinds={"duckdb", "python"},
            ),
        ],
    )
    def _sales_anomalies(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        with warehouse.read_only() as con:
            sales = _mart(
                con,
                "analytics.daily_sales",
                f"where sales_date > (select max(sales_date) from analytics.daily_sales) "
                f"- {SCORED_DAYS}",
            )
            a_class = _mart(con, "analytics.abc_xyz", "where abc_class = 'A'")["product_id"]
            forecast = forecast_intervals(con)
        products = sales["product_id"].drop_nulls().unique().to_list()
        every = build_daily_series(sales, product_ids=products)
        is_product = pl.col("entity_type") == "product"
        units = pl.col("metric") == "units"
        # channels: revenue and units; A-class products: units only (a product's revenue
        # swings with its price mix and flagged ~6% of days on the demo); trending: the units
        # of every product (a C-class product taking off matters most)
        series = every.filter(~is_product | (units & pl.col("entity_id").is_in(a_class.to_list())))
        anomalies = score_anomalies(series, forecast, settings=config.anomalies)
        trending = detect_trending(every.filter(is_product & units), settings=config.trending)
        rows = warehouse.replace_tables(
            "ml", {"sales_anomalies": anomalies, "trending_products": trending}
        )
        flagged = anomalies.filter(pl.col("is_anomaly"))
        latest = anomalies["ds"].max()
        yield dg.MaterializeResult(
            asset_key=ANOMALIES_KEY,
            metadata={
                "dagster/row_count": rows["sales_anomalies"],
                "series": series["unique_id"].n_unique(),
                "anomalies": flagged.height,
                "anomalies_on_latest_day": flagged.filter(pl.col("ds") == latest).height,
                "latest_day": str(latest),
            },
        )
        yield dg.MaterializeResult(
            asset_key=TRENDING_KEY,
            metadata={
                "dagster/row_count": rows["trending_products"],
                "trending_up": int(trending["is_trending_up"].sum()),
                "hottest_now": dg.MetadataValue.md(
                    markdown_table(
                        trending.filter(pl.col("trend_rank") <= 10)
                        .sort("trend_rank")
                        .select("trend_rank", "entity_id", "decayed_units", "decay_ratio")
                        .to_pandas()
                        .round(2)
                    )
                ),
            },
        )

    return _sales_anomalies


def alerts_asset(config: ChannelHouseConfig) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="alerts",
        specs=[
            dg.AssetSpec(
                ALERTS_KEY,
                description="One row per alert (stable id per condition): type, severity, "
                "entity, the numbers behind it, a plain-language message, first/last seen, "
                "status open/resolved.",
                deps=[
                    model_key("inventory_health"),
                    model_key("replenishment_plan"),
                    model_key("account_health"),
                    model_key("fct_listing_prices"),
                    model_key("price_and_stock_events"),
                    ORDER_RISK_KEY,
                    model_key("review_daily"),
                    LISTING_TRUST_KEY,
                    ANOMALIES_KEY,
                    TRENDING_KEY,
                ],
                group_name="alerts",
                kinds={"duckdb", "python"},
            ),
            dg.AssetSpec(
                DELIVERIES_KEY,
                description="Delivery log: each alert state (open, severity up, resolved) sent "
                "once per channel (webhook, e-mail); failures recorded and retried next run.",
                deps=[ALERTS_KEY],
                group_name="alerts",
                kinds={"duckdb", "python"},
            ),
        ],
    )
    def _alerts(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        now = datetime.now(UTC)
        with warehouse.read_only() as con:
            candidates = build_candidates(
                now,
                config.alerting.rules,
                inventory_health=_mart(con, "analytics.inventory_health"),
                replenishment_plan=_mart(con, "analytics.replenishment_plan"),
                anomalies=_mart(con, "ml.sales_anomalies"),
                trending=_mart(con, "ml.trending_products"),
                listing_prices=_mart(con, "core.fct_listing_prices"),
                freshness=lake_freshness(config.data_dir, synced_entities(config)),
                account_health=_mart(con, "analytics.account_health"),
                price_and_stock_events=_mart(con, "analytics.price_and_stock_events"),
                # written by the ml jobs: absent before their first run
                order_risk=read_table_pl(con, "analytics", "order_risk"),
                review_daily=_mart(con, "analytics.review_daily"),
                listing_trust=_mart(con, "analytics.listing_trust")
                if table_exists(con, "analytics", "listing_trust")
                else None,
            )
            existing = read_table_pl(con, "alerts", "alerts")
            log = read_table_pl(con, "alerts", "alert_deliveries")
        alerts = merge_alerts(existing, candidates, now)
        deliveries = deliver_alerts(alerts, log, config.alerting.delivery, now, environ=os.environ)
        rows = warehouse.replace_tables(
            "alerts", {"alerts": alerts, "alert_deliveries": deliveries}
        )
        open_alerts = alerts.filter(pl.col("status") == "open")
        top = open_alerts.sort("severity_rank", descending=True).head(10)["message"]
        by_type = open_alerts.group_by("alert_type").len().sort("alert_type")
        failed = deliveries.filter(pl.col("status") == "failed")
        if failed.height:
            context.log.warning(f"{failed.height} alert deliveries failed; retried next run")
        yield dg.MaterializeResult(
            asset_key=ALERTS_KEY,
            metadata={
                "dagster/row_count": rows["alerts"],
                "open": open_alerts.height,
                "open_by_type": dg.MetadataValue.json(dict(by_type.iter_rows())),
                "critical_open": open_alerts.filter(pl.col("severity") == "critical").height,
                "preview": dg.MetadataValue.md("\n".join(f"- {m}" for m in top)),
            },
        )
        yield dg.MaterializeResult(
            asset_key=DELIVERIES_KEY,
            metadata={"dagster/row_count": rows["alert_deliveries"], "failed": failed.height},
        )

    return _alerts


def alert_assets(config: ChannelHouseConfig) -> list[dg.AssetsDefinition]:
    return [sales_anomalies_asset(config), alerts_asset(config)]


ALERTS_CRON = "30 6 * * *"  # after the warehouse build (06:00)


def defs(config: ChannelHouseConfig) -> dg.Definitions:
    """Sales anomalies and alerts (with their delivery) every morning after the warehouse,
    then the serving assets."""
    assets = alert_assets(config)
    job = dg.define_asset_job(
        name="alerts_daily",
        selection=dg.AssetSelection.assets(*assets) | serving_selection(),
        description="Score sales anomalies, update the alerts table and send what changed.",
        tags=WAREHOUSE_WRITER,
    )
    return dg.Definitions(
        assets=assets,
        jobs=[job],
        schedules=[stopped_schedule(job, ALERTS_CRON)],
        resources={"warehouse": shared_resources(config)["warehouse"]},
    )
