"""Sales anomalies and alerts: thin assets over ``models_ml.anomaly`` and ``alerting``.

``ml/sales_anomalies`` scores the daily revenue and units of every channel and the units of the
A-class products (analytics.abc_xyz) against a same-weekday robust baseline (and, per channel,
the forecast interval); ``ml/trending_products`` compares the recent units of every product with
the window before.
``alerts/alerts`` turns the marts (inventory, replenishment, account health, listing prices),
those scores and the lake's freshness into alert candidates, merges them into the persisted
alerts (stable ids: one condition is one alert, updated, resolved, reopened) and sends what
changed to the configured webhook / e-mail; ``alerts/alert_deliveries`` is the delivery log
that makes sending idempotent across runs and restarts. Both tables are replaced in one
transaction per run.
"""

import os
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import polars as pl

from alerting import build_candidates, deliver_alerts, merge_alerts
from extractors.config import ChannelHouseConfig
from extractors.registry import streams_for
from models_ml.anomaly import build_daily_series, detect_trending, score_anomalies
from orchestration.resources import WarehouseResource, table_exists

ANOMALIES_KEY = dg.AssetKey(["ml", "sales_anomalies"])
TRENDING_KEY = dg.AssetKey(["ml", "trending_products"])
ALERTS_KEY = dg.AssetKey(["alerts", "alerts"])
DELIVERIES_KEY = dg.AssetKey(["alerts", "alert_deliveries"])
CADENCE_HOURS = {"hourly": 1, "every_30_minutes": 0.5, "every_6_hours": 6, "daily": 24}
SCORED_DAYS = 120  # days of daily sales read: the baseline needs 8 weeks before each scored day


def _mart(con, relation: str, where: str = "") -> pl.DataFrame:
    return con.sql(f"select * from {relation} {where}").pl()


def _table_or_none(con, schema: str, table: str) -> pl.DataFrame | None:
    return (
        con.sql(f'select * from "{schema}"."{table}"').pl()
        if table_exists(con, schema, table)
        else None
    )


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


def lake_freshness(config: ChannelHouseConfig) -> pl.DataFrame:
    """Per API connection and raw entity: the newest lake partition day and write time, with
    the cadence the entity is synced at (what stale_data alerts compare with)."""
    rows = []
    for conn in config.connections:
        for stream in streams_for(conn.channel).values():
            for spec in stream.entities:
                folder = (
                    Path(config.data_dir) / "raw" / f"channel={conn.channel}"
                    / f"connection={conn.name}" / f"entity={spec.name}"
                )  # fmt: skip
                parts = sorted(folder.glob("date=*/*.parquet")) if folder.exists() else []
                rows.append(
                    {
                        "connection_name": conn.name,
                        "entity": spec.name,
                        "channel": conn.channel,
                        "last_partition_date": (
                            date.fromisoformat(parts[-1].parent.name.removeprefix("date="))
                            if parts
                            else None
                        ),
                        "last_extracted_at": (
                            datetime.fromtimestamp(max(p.stat().st_mtime for p in parts), UTC)
                            if parts
                            else None
                        ),
                        "expected_cadence_hours": float(CADENCE_HOURS[stream.cadence]),
                    }
                )
    return pl.DataFrame(
        rows,
        schema={
            "connection_name": pl.String,
            "entity": pl.String,
            "channel": pl.String,
            "last_partition_date": pl.Date,
            "last_extracted_at": pl.Datetime("us", "UTC"),
            "expected_cadence_hours": pl.Float64,
        },
    )


def alert_assets(config: ChannelHouseConfig) -> list[dg.AssetsDefinition]:
    @dg.multi_asset(
        name="sales_anomalies",
        specs=[
            dg.AssetSpec(
                ANOMALIES_KEY,
                description="Daily revenue and units per channel and units per A-class product, scored "
                "against the same weekday of the last weeks (robust z) and, per channel, the 95% "
                "interval of the forecast made before the day (ml.forecast_history); is_anomaly "
                "flags spikes and drops that seasonality does not explain.",
                deps=[
                    dg.AssetKey(["analytics", "daily_sales"]),
                    dg.AssetKey(["analytics", "abc_xyz"]),
                    dg.AssetKey(["ml", "demand_forecast"]),
                ],
                group_name="alerts",
                kinds={"duckdb", "python"},
            ),
            dg.AssetSpec(
                TRENDING_KEY,
                description="Units of the last window vs the window before per product, with an "
                "exact Poisson test and a volume guard.",
                deps=[dg.AssetKey(["analytics", "daily_sales"])],
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
            },
        )

    @dg.multi_asset(
        name="alerts",
        specs=[
            dg.AssetSpec(
                ALERTS_KEY,
                description="One row per alert (stable id per condition): type, severity, "
                "entity, the numbers behind it, a plain-language message, first/last seen, "
                "status open/resolved.",
                deps=[
                    dg.AssetKey(["analytics", "inventory_health"]),
                    dg.AssetKey(["analytics", "replenishment_plan"]),
                    dg.AssetKey(["analytics", "account_health"]),
                    dg.AssetKey(["core", "fct_listing_prices"]),
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
                freshness=lake_freshness(config),
                account_health=_mart(con, "analytics.account_health"),
            )
            existing = _table_or_none(con, "alerts", "alerts")
            log = _table_or_none(con, "alerts", "alert_deliveries")
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

    return [_sales_anomalies, _alerts]
