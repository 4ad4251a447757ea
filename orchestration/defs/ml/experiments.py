"""``analytics/experiment_results``: per experiment × variant × metric, the A/B-test results and
the decision, from the per-unit outcomes (``analytics.experiment_units``); a thin asset over
``models_ml.experiment_results``."""

import dagster as dg
import polars as pl

from models_ml.experiment_results import experiment_results
from orchestration.config import ChannelHouseConfig
from orchestration.lib.dbt import model_key
from orchestration.lib.keys import EXPERIMENT_RESULTS_KEY
from orchestration.lib.resources import WarehouseResource

UNITS_SQL = """
select
    experiment_id,
    variant,
    connection_name || '|' || unit_id as unit_id,
    exposure_date,
    is_multi_variant,
    converted,
    added_to_cart,
    orders,
    revenue_base::double as revenue,
    pre_orders,
    pre_revenue_base::double as pre_revenue
from analytics.experiment_units
"""


def read_units(con) -> pl.DataFrame:
    return con.sql(UNITS_SQL).pl()


def results_metadata(results: pl.DataFrame) -> dict:
    decisions = (
        results.filter(~pl.col("is_control") & (pl.col("metric") == pl.col("metric").first()))
        .select("experiment_id", "variant", "decision")
        .rows()
    )
    return {
        "dagster/row_count": results.height,
        "experiments": results["experiment_id"].n_unique(),
        "decisions": dg.MetadataValue.md(
            "\n".join(f"- {e} / {v}: **{d}**" for e, v, d in decisions) or "no experiment yet"
        ),
    }


def experiment_results_asset(config: ChannelHouseConfig) -> dg.AssetsDefinition:
    settings = config.experiments

    @dg.asset(
        key=EXPERIMENT_RESULTS_KEY,
        description="Per experiment × variant × metric: units, value, absolute and relative lift "
        "vs control with 95% CIs, fixed and always-valid (mSPRT) p-values, the sample-ratio "
        "check, a Thompson-sampling share and the decision (ship / dont_ship / keep_running / "
        "invalid) from `experiments:` in channelhouse.yml.",
        deps=[model_key("experiment_units")],
        group_name="analytics",
        kinds={"duckdb", "scipy"},
    )
    def experiment_results_table(warehouse: WarehouseResource) -> dg.MaterializeResult:
        with warehouse.read_only() as con:
            units = read_units(con)
        results = experiment_results(units, settings)
        warehouse.replace_tables("analytics", {"experiment_results": results})
        return dg.MaterializeResult(metadata=results_metadata(results))

    return experiment_results_table
