"""``ml/customer_ltv`` (with ``ml/ltv_parameters``, ``ml/ltv_diagnostics``,
``ml/ltv_holdout``): BG/NBD + Gamma-Gamma per customer as of ``ltv.calibration_end``, with a
holdout check; a thin multi-asset over ``models_ml.ltv``."""

from datetime import timedelta

import dagster as dg
import polars as pl

from models_ml.ltv import (
    DIAGNOSTICS_SCHEMA,
    HOLDOUT_SCHEMA,
    PARAMETERS_SCHEMA,
    InsufficientDataError,
    customer_ltv_schema,
    holdout_check,
    ltv_scores,
)
from models_ml.ltv_holdout import VALUE_HOLDOUT_SCHEMA, value_holdout
from orchestration.config import ChannelHouseConfig
from orchestration.lib.dbt import model_key
from orchestration.lib.keys import (
    LTV_DIAGNOSTICS_KEY,
    LTV_HOLDOUT_KEY,
    LTV_KEY,
    LTV_PARAMETERS_KEY,
    LTV_VALUE_HOLDOUT_KEY,
)
from orchestration.lib.metadata import markdown_table
from orchestration.lib.resources import WarehouseResource

HOLDOUT_DAYS = 182


def customer_ltv_asset(config: ChannelHouseConfig) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="customer_ltv",
        specs=[
            dg.AssetSpec(
                LTV_KEY,
                description="Per customer: probability alive, expected purchases and value in "
                "the next 90/365 days (BG/NBD + Gamma-Gamma, base currency).",
                deps=[model_key("fct_orders")],
                group_name="ml",
                kinds={"duckdb", "scipy"},
            ),
            dg.AssetSpec(
                LTV_PARAMETERS_KEY,
                description="Fitted BG/NBD and Gamma-Gamma parameters; the metadata sums up the "
                "fit diagnostics and the holdout check.",
                deps=[LTV_KEY],
                group_name="ml",
                kinds={"duckdb"},
            ),
            dg.AssetSpec(
                LTV_DIAGNOSTICS_KEY,
                description="Fit diagnostics of the BG/NBD and Gamma-Gamma models (convergence, "
                "the frequency-spend correlation Gamma-Gamma assumes away).",
                deps=[LTV_PARAMETERS_KEY],
                group_name="ml",
                kinds={"duckdb"},
            ),
            dg.AssetSpec(
                LTV_HOLDOUT_KEY,
                description="Holdout check: purchases predicted for the last months of history by a "
                "fit on the months before, against the actual ones, per bucket and in total.",
                deps=[LTV_KEY],
                group_name="ml",
                kinds={"duckdb"},
            ),
            dg.AssetSpec(
                LTV_VALUE_HOLDOUT_KEY,
                description="Value holdout: per decile of predicted value, the revenue predicted "
                "for the next 90/365 days by a fit on the history before them, against the "
                "revenue those customers brought.",
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
                "ltv_value_holdout": VALUE_HOLDOUT_SCHEMA,
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
        try:
            value = value_holdout(orders, end, config.ltv)
            totals = value.filter(pl.col("bucket") == "total")
            value_text = ", ".join(
                f"{r['horizon_days']} days: predicted {r['predicted_value']:.0f}, actual "
                f"{r['actual_value']:.0f} ({r['error_pct']:+.1f}%)"
                for r in totals.iter_rows(named=True)
            )
        except InsufficientDataError as exc:
            value = pl.DataFrame(schema=VALUE_HOLDOUT_SCHEMA)
            value_text = f"no value holdout: {exc}"
        rows = warehouse.replace_tables(
            "ml",
            {
                "ltv_value_holdout": value,
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
                "parameters": dg.MetadataValue.md(
                    markdown_table(result.ltv_parameters.to_pandas())
                ),
                "converged": bool(result.ltv_diagnostics["converged"].all()),
                "holdout": holdout_text,
                "value_holdout": value_text,
                "frequency_spend_correlation": str(
                    result.ltv_diagnostics["frequency_monetary_corr"].drop_nulls().to_list()
                    or "not computed (fewer than 3 repeat customers)"
                ),
            },
        )
        for key, table in (
            (LTV_DIAGNOSTICS_KEY, "ltv_diagnostics"),
            (LTV_HOLDOUT_KEY, "ltv_holdout"),
            (LTV_VALUE_HOLDOUT_KEY, "ltv_value_holdout"),
        ):
            yield dg.MaterializeResult(asset_key=key, metadata={"dagster/row_count": rows[table]})

    return _customer_ltv
