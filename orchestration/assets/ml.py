"""Demand forecasts and customer lifetime value: thin assets over ``models_ml``.

``ml/demand_forecast`` (with ``ml/forecast_selection`` and ``ml/forecast_backtest``): daily
units per product × channel, per channel and overall, from the order lines (days out of stock,
from the inventory snapshots, are missing demand, not zero), forecast ``forecast.horizon`` days
with 80/95% intervals. The weekly run selects each series' model by a rolling-origin backtest
against seasonal naive; the daily run refits the selected models on the newest data.
``ml/customer_ltv`` (with ``ml/ltv_parameters``, ``ml/ltv_diagnostics``, ``ml/ltv_holdout``):
BG/NBD + Gamma-Gamma per customer as of ``ltv.calibration_end``, with a holdout check.
"""

import base64
import io
from datetime import timedelta

import dagster as dg
import pandas as pd
import polars as pl

from extractors.config import ChannelHouseConfig
from models_ml import backtest as bt
from models_ml.demand import build_series
from models_ml.forecast import forecast_catalog, select_models
from models_ml.ltv import (
    DIAGNOSTICS_SCHEMA,
    HOLDOUT_SCHEMA,
    PARAMETERS_SCHEMA,
    InsufficientDataError,
    customer_ltv_schema,
    holdout_check,
    ltv_scores,
)
from orchestration.resources import WarehouseResource, table_exists

FORECAST_KEY = dg.AssetKey(["ml", "demand_forecast"])
SELECTION_KEY = dg.AssetKey(["ml", "forecast_selection"])
BACKTEST_KEY = dg.AssetKey(["ml", "forecast_backtest"])
LTV_KEY = dg.AssetKey(["ml", "customer_ltv"])
LTV_PARAMETERS_KEY = dg.AssetKey(["ml", "ltv_parameters"])
ALL = "all"  # the product (or channel) id of the total series
HOLDOUT_DAYS = 182
HISTORY_DAYS_AHEAD = 14  # days of each run's forecast kept for the anomaly scoring
HISTORY_KEEP_DAYS = 120

DAILY_DEMAND = """
with sales as (
    select product_id, channel, ordered_date as date, sum(quantity) as units,
        sum(net_amount_base) as revenue
    from core.fct_order_lines
    where not is_cancelled and product_id is not null
    group by all
),
stock as (
    select product_id, channel, inventory_date as date, bool_or(available_quantity > 0) as in_stock
    from core.fct_inventory_daily
    group by all
)
select product_id, channel, date, coalesce(units, 0)::double as units,
    coalesce(revenue, 0)::double as revenue, coalesce(in_stock, true) as in_stock
from sales full outer join stock using (product_id, channel, date)
order by all
"""


class ForecastRunConfig(dg.Config):
    """``select_models``: backtest every candidate and choose per series (the weekly run);
    false: refit last week's choice on the newest data (the daily run)."""

    select_models: bool = True


def demand_series(lines: pd.DataFrame, settings) -> pd.DataFrame:
    """Product × channel series plus one total per channel and one overall (product 'all')."""
    end = lines["date"].max()
    keys = ["product_id", "channel"]
    per_channel = lines.assign(product_id=ALL).groupby(
        ["product_id", "channel", "date"], as_index=False
    )
    total = lines.assign(product_id=ALL, channel=ALL).groupby([*keys, "date"], as_index=False)
    frames = [lines] + [
        grouped.agg(
            units=("units", "sum"), revenue=("revenue", "sum"), in_stock=("in_stock", "max")
        )
        for grouped in (per_channel, total)
    ]
    return pd.concat(
        [build_series(f, keys, end_date=end, settings=settings.demand) for f in frames],
        ignore_index=True,
    )


def forecast_demand(lines: pd.DataFrame, settings, selection: pd.DataFrame | None = None):
    """Series, revenue per series and the ForecastResult for the daily demand (DAILY_DEMAND):
    with ``selection`` the daily refit, without it the weekly backtest and selection (prophet
    competes for the top series by revenue and for the totals)."""
    series = demand_series(lines, settings)
    revenue = (
        lines.assign(unique_id=lines["product_id"] + "|" + lines["channel"])
        .groupby("unique_id")["revenue"]
        .sum()
        .to_dict()
    )
    totals = [u for u in series["unique_id"].unique() if u.startswith(f"{ALL}|")]
    result = forecast_catalog(
        series, settings, revenue=revenue, prophet_ids=totals, selection=selection
    )
    return series, revenue, result


def _table(con, schema: str, table: str) -> pd.DataFrame | None:
    return (
        con.sql(f'select * from "{schema}"."{table}"').df()
        if table_exists(con, schema, table)
        else None
    )


def forecast_history(previous: pd.DataFrame | None, forecasts: pd.DataFrame) -> pd.DataFrame:
    """The first HISTORY_DAYS_AHEAD days of each run's channel and overall forecasts, kept for
    HISTORY_KEEP_DAYS: what the anomaly scoring compares a day's sales with (the forecast made
    before the day). A run replaces its own forecast_date's rows, so re-running is idempotent."""
    columns = ["forecast_date", "unique_id", "ds", "yhat", "yhat_lo_95", "yhat_hi_95"]
    new = forecasts[forecasts["product_id"] == ALL]
    new = new[new["ds"] < new["forecast_date"] + pd.Timedelta(days=HISTORY_DAYS_AHEAD)][columns]
    if previous is not None and len(previous):
        previous = previous[columns]
        previous = previous[
            pd.to_datetime(previous["forecast_date"])
            != pd.to_datetime(new["forecast_date"].iloc[0])
        ]
        new = pd.concat([previous, new], ignore_index=True)
    keep_from = pd.to_datetime(new["forecast_date"]).max() - pd.Timedelta(days=HISTORY_KEEP_DAYS)
    return new[pd.to_datetime(new["forecast_date"]) >= keep_from].reset_index(drop=True)


def _markdown(frame: pd.DataFrame) -> str:
    """A small frame as a Markdown table (metadata shown in the UI)."""
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * frame.shape[1]]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def _plot(series: pd.DataFrame, forecasts: pd.DataFrame, ids: list[str]) -> str:
    """History (last 180 days), forecast and 80/95% intervals of ``ids``, as a Markdown image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(ids), 1, figsize=(9, 2.4 * len(ids)), squeeze=False)
    for ax, uid in zip(axes[:, 0], ids, strict=True):
        hist = series[series["unique_id"] == uid].tail(180)
        fc = forecasts[forecasts["unique_id"] == uid]
        ax.plot(hist["ds"], hist["y_observed"], color="black", lw=0.8, label="units sold")
        ax.fill_between(fc["ds"], fc["yhat_lo_95"], fc["yhat_hi_95"], alpha=0.2, label="95%")
        ax.fill_between(fc["ds"], fc["yhat_lo_80"], fc["yhat_hi_80"], alpha=0.35, label="80%")
        ax.plot(fc["ds"], fc["yhat"], lw=1.2, label=f"forecast ({fc['model'].iloc[0]})")
        ax.set_title(uid, fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return f"![forecasts](data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()})"


def ml_assets(config: ChannelHouseConfig) -> list[dg.AssetsDefinition]:
    settings = config.forecast

    @dg.multi_asset(
        name="demand_forecast",
        specs=[
            dg.AssetSpec(
                FORECAST_KEY,
                description=f"Daily demand (units) per product × channel, per channel and overall "
                f"('all'), {settings.horizon} days ahead with 80/95% intervals, from the model "
                "each series' backtest chose (intermittent-demand models for sparse series, "
                "a top-down share for new products).",
                deps=[
                    dg.AssetKey(["core", "fct_order_lines"]),
                    dg.AssetKey(["core", "fct_inventory_daily"]),
                ],
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
        ],
    )
    def _demand_forecast(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, config: ForecastRunConfig
    ):
        with warehouse.read_only() as con:
            lines = con.sql(DAILY_DEMAND).df()
            previous_history = _table(con, "ml", "forecast_history")
            previous = None
            if not config.select_models:
                previous = _table(con, "ml", "forecast_selection")
                if previous is None:
                    raise dg.Failure(
                        "no model selection yet: run demand_forecast with select_models: true "
                        "(the weekly forecast_retrain job) first"
                    )
        if not (lines["units"] > 0).any():
            # a new deployment (no sale imported yet): nothing to forecast, and that is no error
            reason = "no forecast: core.fct_order_lines has no sold units yet"
            context.log.warning(reason)
            keys = [FORECAST_KEY, SELECTION_KEY] + ([BACKTEST_KEY] if config.select_models else [])
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
            sel = result.selection
            chosen = sel[sel["reason"] == "backtest"]
            full = result.cv[result.cv["unique_id"].isin(chosen["unique_id"])]
            headline = bt.headline(full, chosen[["unique_id", "model"]], series)
            demand_class = sel.set_index("unique_id")["demand_class"]
            holdout = bt.headline_holdout(
                full, series, lambda m: select_models(m, settings, demand_class)
            )
            young = sel[sel["model"] == "TopDown"]
            young_cv = result.cv[result.cv["unique_id"].isin(young["unique_id"])]
            y = bt.headline(young_cv, young[["unique_id", "model"]], series)
            meta["backtest"] = headline["text"]
            meta["backtest_last_window"] = holdout["text"]
            meta["backtest_young_series"] = (
                f"top-down fallback WAPE {y['wape_chosen']:.3f} vs seasonal naive "
                f"{y['wape_seasonal_naive']:.3f} ({abs(y['improvement_pct']):.1f}% "
                f"{'better' if y['improvement_pct'] >= 0 else 'worse'}) on "
                f"{y['n_series']} of {len(young)} young series, "
                f"{settings.fallback_backtest.horizon}-day origins"
                if y["n_series"]
                else f"none of the {len(young)} young series has enough history for a backtest"
            )
            meta["overall"] = dg.MetadataValue.md(_markdown(bt.overall(full, series).round(3)))
        rows = warehouse.replace_tables("ml", tables)
        top = [u for u, _ in sorted(revenue.items(), key=lambda kv: -kv[1])[:4]]
        meta["top_products"] = dg.MetadataValue.md(_plot(series, result.forecasts, top))
        yield dg.MaterializeResult(
            asset_key=FORECAST_KEY, metadata={**meta, "dagster/row_count": rows["demand_forecast"]}
        )
        yield dg.MaterializeResult(
            asset_key=SELECTION_KEY, metadata={"dagster/row_count": rows["forecast_selection"]}
        )
        if config.select_models:
            yield dg.MaterializeResult(
                asset_key=BACKTEST_KEY, metadata={"dagster/row_count": rows["forecast_backtest"]}
            )

    @dg.multi_asset(
        name="customer_ltv",
        specs=[
            dg.AssetSpec(
                LTV_KEY,
                description="Per customer: probability alive, expected purchases and value in "
                "the next 90/365 days (BG/NBD + Gamma-Gamma, base currency).",
                deps=[dg.AssetKey(["core", "fct_orders"])],
                group_name="ml",
                kinds={"duckdb", "scipy"},
            ),
            dg.AssetSpec(
                LTV_PARAMETERS_KEY,
                description="Fitted BG/NBD and Gamma-Gamma parameters (ltv_parameters), fit "
                "diagnostics (ltv_diagnostics) and the holdout check (ltv_holdout).",
                deps=[LTV_KEY],
                group_name="ml",
                kinds={"duckdb"},
            ),
        ],
    )
    def _customer_ltv(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        with warehouse.read_only() as con:
            orders = con.sql(
                "select customer_id, ordered_date as order_date, net_amount_base::double as amount "
                "from core.fct_orders where not is_cancelled and customer_id is not null"
            ).pl()
        try:
            result = ltv_scores(orders, config.ltv)
        except InsufficientDataError as exc:
            # a young or small shop: the tables are there and empty, and the metadata says why
            reason = f"no lifetime values yet, too little customer history: {exc}"
            context.log.warning(reason)
            empty = {
                "customer_ltv": customer_ltv_schema(config.ltv),
                "ltv_parameters": PARAMETERS_SCHEMA,
                "ltv_diagnostics": DIAGNOSTICS_SCHEMA,
                "ltv_holdout": HOLDOUT_SCHEMA,
            }
            warehouse.replace_tables("ml", {k: pl.DataFrame(schema=v) for k, v in empty.items()})
            for key in (LTV_KEY, LTV_PARAMETERS_KEY):
                yield dg.MaterializeResult(
                    asset_key=key, metadata={"dagster/row_count": 0, "skipped": reason}
                )
            return
        end = result.customer_ltv["calibration_end"].max()
        # the holdout is a diagnostic: a third of the history at most, and a young shop
        # still gets its scores (with the reason the check could not run)
        span = (end - orders["order_date"].min()).days
        holdout_days = min(HOLDOUT_DAYS, span // 3)
        holdout = pl.DataFrame(schema=HOLDOUT_SCHEMA)
        try:
            if holdout_days < 1:
                raise InsufficientDataError("no days left for a holdout")
            holdout = holdout_check(orders, end - timedelta(days=holdout_days), end, config.ltv)
            total = holdout.filter(pl.col("bucket") == "total").row(0, named=True)
            holdout_text = (
                f"{holdout_days}-day holdout: predicted {total['predicted_purchases']:.0f} "
                f"purchase days, actual {total['actual_purchases']:.0f} "
                f"({total['error_pct']:+.1f}%)"
            )
        except InsufficientDataError as exc:
            holdout_text = f"no holdout check ({span} days of orders): {exc}"
        rows = warehouse.replace_tables(
            "ml",
            {
                "customer_ltv": result.customer_ltv,
                "ltv_parameters": result.ltv_parameters,
                "ltv_diagnostics": result.ltv_diagnostics,
                "ltv_holdout": holdout,
            },
        )
        yield dg.MaterializeResult(
            asset_key=LTV_KEY,
            metadata={
                "dagster/row_count": rows["customer_ltv"],
                "calibration_end": str(end),
                "expected_value_365d": round(
                    float(result.customer_ltv["expected_value_365d"].sum()), 2
                ),
            },
        )
        yield dg.MaterializeResult(
            asset_key=LTV_PARAMETERS_KEY,
            metadata={
                "parameters": dg.MetadataValue.md(_markdown(result.ltv_parameters.to_pandas())),
                "converged": bool(result.ltv_diagnostics["converged"].all()),
                "holdout": holdout_text,
                "frequency_spend_correlation": str(
                    result.ltv_diagnostics["frequency_monetary_corr"].drop_nulls().to_list()
                    or "not computed (fewer than 3 repeat customers)"
                ),
            },
        )

    return [_demand_forecast, _customer_ltv]
