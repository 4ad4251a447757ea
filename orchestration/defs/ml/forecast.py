"""``ml/demand_forecast`` (with ``ml/forecast_selection``, ``ml/forecast_backtest`` and
``ml/forecast_history``): a thin multi-asset over ``models_ml.demand_forecast``."""

from datetime import timedelta

import dagster as dg
import pandas as pd

from models_ml import backtest as bt
from models_ml.demand_forecast import forecast_demand, forecast_history, plot_forecasts
from models_ml.forecast import select_models
from orchestration.config import ChannelHouseConfig
from orchestration.lib.dbt import model_key
from orchestration.lib.duckdb import read_table
from orchestration.lib.keys import BACKTEST_KEY, FORECAST_KEY, HISTORY_KEY, SELECTION_KEY
from orchestration.lib.metadata import markdown_table
from orchestration.lib.resources import WarehouseResource

# the forecast's input: daily demand per product × channel with in-stock flags (a dbt model)
DAILY_DEMAND = "select * from intermediate.int_daily_demand order by all"


class ForecastRunConfig(dg.Config):
    """``select_models``: backtest every candidate and choose per series (the weekly run);
    false: refit last week's choice on the newest data (the daily run)."""

    select_models: bool = True


def _specs(settings) -> list[dg.AssetSpec]:
    return [
        dg.AssetSpec(
            FORECAST_KEY,
            description=f"Daily demand (units) per product × channel, per channel and overall "
            f"('all'), {settings.horizon} days ahead with 80/95% intervals, from the model "
            "each series' backtest chose (intermittent-demand models for sparse series, "
            "a top-down share for new products).",
            deps=[model_key("int_daily_demand")],
            group_name="ml",
            kinds={"duckdb", "statsforecast", "prophet"},
        ),
        dg.AssetSpec(
            SELECTION_KEY,
            description="Per series: demand class (ADI/CV²), chosen model, why, and the "
            "backtest MASE/WAPE/bias of every candidate.",
            deps=[FORECAST_KEY],
            group_name="ml",
            kinds={"duckdb"},
        ),
        dg.AssetSpec(
            BACKTEST_KEY,
            description="Rolling-origin backtest per series × model (MASE, WAPE, bias), "
            "seasonal naive beside every model; the weekly selection run rewrites it.",
            deps=[FORECAST_KEY],
            group_name="ml",
            kinds={"duckdb"},
            skippable=True,
        ),
        dg.AssetSpec(
            HISTORY_KEY,
            description="The first days of each run's channel and overall forecasts, kept for "
            "a few months: what the anomaly scoring compares a day's sales with (the forecast "
            "made before the day). A run replaces its own forecast_date's rows.",
            deps=[FORECAST_KEY],
            group_name="ml",
            kinds={"duckdb"},
        ),
    ]


def _backtest_metadata(result, series: pd.DataFrame, settings) -> dict[str, object]:
    """The weekly run's backtest figures: overall, last window, young series."""
    sel = result.selection
    chosen = sel[sel["reason"] == "backtest"]
    full = result.cv[result.cv["unique_id"].isin(chosen["unique_id"])]
    headline = bt.headline(full, chosen[["unique_id", "model"]], series)
    demand_class = sel.set_index("unique_id")["demand_class"]
    holdout = bt.headline_holdout(full, series, lambda m: select_models(m, settings, demand_class))
    young = sel[sel["model"] == "TopDown"]
    young_cv = result.cv[result.cv["unique_id"].isin(young["unique_id"])]
    y = bt.headline(young_cv, young[["unique_id", "model"]], series)
    return {
        "backtest": headline["text"],
        "backtest_last_window": holdout["text"],
        "backtest_young_series": (
            f"top-down fallback WAPE {y['wape_chosen']:.3f} vs seasonal naive "
            f"{y['wape_seasonal_naive']:.3f} ({abs(y['improvement_pct']):.1f}% "
            f"{'better' if y['improvement_pct'] >= 0 else 'worse'}) on "
            f"{y['n_series']} of {len(young)} young series, "
            f"{settings.fallback_backtest.horizon}-day origins"
            if y["n_series"]
            else f"none of the {len(young)} young series has enough history for a backtest"
        ),
        "overall": dg.MetadataValue.md(markdown_table(bt.overall(full, series).round(3))),
    }


def demand_forecast_asset(config: ChannelHouseConfig) -> dg.AssetsDefinition:
    settings = config.forecast

    @dg.multi_asset(name="demand_forecast", specs=_specs(settings))
    def _demand_forecast(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, config: ForecastRunConfig
    ):
        with warehouse.read_only() as con:
            lines = con.sql(DAILY_DEMAND).df()
            previous_history = read_table(con, "ml", "forecast_history")
            previous = None
            if not config.select_models:
                previous = read_table(con, "ml", "forecast_selection")
                if previous is None:
                    raise dg.Failure(
                        "no model selection yet: run demand_forecast with select_models: true "
                        "(the weekly forecast_retrain job) first"
                    )
        if not (lines["units"] > 0).any():
            # a new deployment (no sale imported yet): nothing to forecast, and that is no error
            reason = "no forecast: core.fct_order_lines has no sold units yet"
            context.log.warning(reason)
            keys = [FORECAST_KEY, SELECTION_KEY, HISTORY_KEY]
            keys += [BACKTEST_KEY] if config.select_models else []
            for key in keys:
                yield dg.MaterializeResult(asset_key=key, metadata={"skipped": reason})
            return
        series, revenue, result = forecast_demand(lines, settings, previous)
        forecasts = result.forecasts.copy()
        forecasts[["product_id", "channel"]] = forecasts["unique_id"].str.split("|", expand=True)
        forecasts["forecast_date"] = lines["date"].max() + timedelta(days=1)
        tables = {
            "demand_forecast": forecasts,
            "forecast_selection": result.selection,
            "forecast_history": forecast_history(previous_history, forecasts),
        }
        meta: dict[str, object] = {
            "series": int(series["unique_id"].nunique()),
            "models": dg.MetadataValue.json(result.selection["model"].value_counts().to_dict()),
            "seconds": dg.MetadataValue.json({k: round(v, 1) for k, v in result.timings.items()}),
        }
        if config.select_models:
            tables["forecast_backtest"] = result.metrics
            meta.update(_backtest_metadata(result, series, settings))
        rows = warehouse.replace_tables("ml", tables)
        top = [u for u, _ in sorted(revenue.items(), key=lambda kv: -kv[1])[:4]]
        meta["top_products"] = dg.MetadataValue.md(plot_forecasts(series, result.forecasts, top))
        yield dg.MaterializeResult(
            asset_key=FORECAST_KEY, metadata={**meta, "dagster/row_count": rows["demand_forecast"]}
        )
        for key, table in (
            (SELECTION_KEY, "forecast_selection"),
            (HISTORY_KEY, "forecast_history"),
        ):
            yield dg.MaterializeResult(asset_key=key, metadata={"dagster/row_count": rows[table]})
        if config.select_models:
            yield dg.MaterializeResult(
                asset_key=BACKTEST_KEY, metadata={"dagster/row_count": rows["forecast_backtest"]}
            )

    return _demand_forecast
