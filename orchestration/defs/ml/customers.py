"""Customer intelligence _(issue 15)_: thin multi-assets over ``models_ml.recommend`` and
``models_ml.churn``.

``ml/product_recommendations`` (with ``ml/similar_products`` and
``ml/recommendation_evaluation``): top-N unbought products per customer from the model the
time-split evaluation chose, similar products with the score and the reason, the evaluation of
every model beside the popularity baseline. ``ml/customer_churn`` (with
``ml/churn_evaluation``): P(no purchase in the next ``churn.horizon_days``) per customer from
the better of BG/NBD and the gradient-boosted classifier. Both read the marts
(``analytics.customer_product_events``, ``core.fct_orders``); a young shop gets empty tables and
the metadata says why. ``ml/audience_members`` (with ``ml/audience_deliveries``): the
audiences of ``alerting.audiences``, exported as CSV/Parquet and pushed once per member and
episode to the webhook, when one is configured.
"""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import polars as pl

from alerting.audiences import (
    AUDIENCE_RULES,
    build_audiences,
    deliver_audiences,
    merge_audience_state,
)
from models_ml import churn, recommend
from orchestration.config import ChannelHouseConfig
from orchestration.lib.dbt import model_key
from orchestration.lib.duckdb import read_table_pl
from orchestration.lib.keys import (
    AUDIENCE_DELIVERIES_KEY,
    AUDIENCES_KEY,
    CHURN_EVALUATION_KEY,
    CHURN_KEY,
    CURRENT_AUDIENCES_KEY,
    LTV_KEY,
    RECOMMENDATION_EVALUATION_KEY,
    RECOMMENDATIONS_KEY,
    SIMILAR_PRODUCTS_KEY,
    audience_key,
)
from orchestration.lib.metadata import markdown_table
from orchestration.lib.resources import WarehouseResource

EVENTS_SQL = (
    "select customer_id, product_id, event_type, event_date from analytics.customer_product_events"
)
ORDERS_SQL = (
    "select customer_id, ordered_date as order_date, net_amount_base::double as amount, "
    "refunded_amount_base::double as refunded_amount, channel "
    "from core.fct_orders where not is_cancelled and customer_id is not null"
)
ACTIVITY_SQL = (
    "select customer_id, event_date as activity_date, "
    "sum(events) filter (where event_type = 'view') as views, "
    "sum(events) filter (where event_type = 'cart') as cart_adds "
    "from analytics.customer_product_events where event_type in ('view', 'cart') "
    "group by customer_id, event_date"
)


def _spec(key: dg.AssetKey, description: str, deps: list) -> dg.AssetSpec:
    return dg.AssetSpec(
        key, description=description, deps=deps, group_name="ml", kinds={"duckdb", "scipy"}
    )


def _evaluation_md(frame: pl.DataFrame) -> dg.MetadataValue:
    return dg.MetadataValue.md(markdown_table(frame.to_pandas().round(4)))


def recommendations_asset(config: ChannelHouseConfig) -> dg.AssetsDefinition:
    settings = config.recommend
    events_key = model_key("customer_product_events")

    @dg.multi_asset(
        name="product_recommendations",
        specs=[
            _spec(
                RECOMMENDATIONS_KEY,
                "Per customer with history: the top-N products they have not ordered (orders > "
                "cart adds > views), from the model the offline evaluation chose; popular "
                "products for cold-start customers, marked is_cold_start.",
                [events_key, model_key("dim_products")],
            ),
            _spec(
                SIMILAR_PRODUCTS_KEY,
                "Per product: similar products (co-purchase and embedding similarity), with "
                "the score and the reason.",
                [RECOMMENDATIONS_KEY],
            ),
            _spec(
                RECOMMENDATION_EVALUATION_KEY,
                "Time-split evaluation (last recommend.eval_weeks weeks held out): "
                "precision/recall/MAP@10 and coverage per model beside popularity.",
                [RECOMMENDATIONS_KEY],
            ),
        ],
    )
    def _recommendations(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        with warehouse.read_only() as con:
            events = con.sql(EVENTS_SQL).pl()
            products = con.sql("select product_id from core.dim_products").pl()["product_id"]
        catalog = products.drop_nulls().to_numpy()
        evaluation = pl.DataFrame(schema=recommend.EVALUATION_SCHEMA)
        tables = {
            "product_recommendations": pl.DataFrame(schema=recommend.RECOMMENDATIONS_SCHEMA),
            "similar_products": pl.DataFrame(schema=recommend.SIMILAR_SCHEMA),
        }
        if events.filter(pl.col("event_type") == "order").is_empty():
            note = "no recommendations yet: no orders with a customer and a product"
            model = None
        else:
            try:
                evaluation = recommend.evaluate(events, settings, products=catalog)
                model = recommend.choose_model(evaluation, settings)
                note = f"model {model} (chosen: {settings.model})"
            except ValueError as exc:  # too little history before the split
                model = "item_item" if settings.model == "auto" else settings.model
                note = f"model {model}, not evaluated: {exc}"
            fitted = recommend.fit(events, settings, model, products=catalog)
            tables = {
                "product_recommendations": fitted.recommend(settings.top_n),
                "similar_products": recommend.similar_products(fitted, settings.similar_n),
            }
        context.log.info(note)
        rows = warehouse.replace_tables("ml", {**tables, "recommendation_evaluation": evaluation})
        recs = tables["product_recommendations"]
        yield dg.MaterializeResult(
            asset_key=RECOMMENDATIONS_KEY,
            metadata={
                "dagster/row_count": rows["product_recommendations"],
                "model": note,
                "customers": recs["customer_id"].n_unique(),
                "cold_start_customers": recs.filter("is_cold_start")["customer_id"].n_unique(),
                "evaluation": _evaluation_md(evaluation),
            },
        )
        yield dg.MaterializeResult(
            asset_key=SIMILAR_PRODUCTS_KEY,
            metadata={"dagster/row_count": rows["similar_products"]},
        )
        yield dg.MaterializeResult(
            asset_key=RECOMMENDATION_EVALUATION_KEY,
            metadata={
                "dagster/row_count": rows["recommendation_evaluation"],
                "evaluation": _evaluation_md(evaluation),
                **(
                    {"plot": dg.MetadataValue.md(recommend.plot_evaluation(evaluation))}
                    if evaluation.height
                    else {}
                ),
            },
        )

    return _recommendations


def churn_asset(config: ChannelHouseConfig) -> dg.AssetsDefinition:
    settings = config.churn

    @dg.multi_asset(
        name="customer_churn",
        specs=[
            _spec(
                CHURN_KEY,
                "Per customer: P(no purchase in the next churn.horizon_days days) from the "
                "better of BG/NBD and a gradient-boosted classifier (column model), both "
                "models' probabilities, the risk decile.",
                [model_key("fct_orders"), model_key("customer_product_events")],
            ),
            _spec(
                CHURN_EVALUATION_KEY,
                "Time-split evaluation of both churn models: per decile of predicted churn "
                "(calibration) and in total (AUC, Brier score, top-decile lift).",
                [CHURN_KEY],
            ),
        ],
    )
    def _churn(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        with warehouse.read_only() as con:
            orders = con.sql(ORDERS_SQL).pl()
            activity = con.sql(ACTIVITY_SQL).pl()
        try:
            result = churn.churn_scores(orders, settings, activity=activity)
        except churn.InsufficientDataError as exc:
            reason = f"no churn scores yet, too little customer history: {exc}"
            context.log.warning(reason)
            warehouse.replace_tables(
                "ml",
                {
                    "customer_churn": pl.DataFrame(schema=churn.CHURN_SCHEMA),
                    "churn_evaluation": pl.DataFrame(schema=churn.EVALUATION_SCHEMA),
                },
            )
            for key in (CHURN_KEY, CHURN_EVALUATION_KEY):
                yield dg.MaterializeResult(
                    asset_key=key, metadata={"dagster/row_count": 0, "skipped": reason}
                )
            return
        rows = warehouse.replace_tables(
            "ml", {"customer_churn": result.customer_churn, "churn_evaluation": result.evaluation}
        )
        totals = result.evaluation.filter(pl.col("bucket") == "total")
        yield dg.MaterializeResult(
            asset_key=CHURN_KEY,
            metadata={
                "dagster/row_count": rows["customer_churn"],
                "model": result.model,
                "horizon_days": settings.horizon_days,
                "evaluation": _evaluation_md(totals),
            },
        )
        yield dg.MaterializeResult(
            asset_key=CHURN_EVALUATION_KEY,
            metadata={
                "dagster/row_count": rows["churn_evaluation"],
                "evaluation": _evaluation_md(totals),
                "calibration": dg.MetadataValue.md(churn.plot_calibration(result.evaluation)),
            },
        )

    return _churn


def _export(folder: Path, members: pl.DataFrame) -> dict[str, int]:
    """One CSV and one Parquet file per audience, each written to a temporary name and renamed
    (a reader never sees half a file); audiences that emptied get empty files."""
    folder.mkdir(parents=True, exist_ok=True)
    counts = {}
    for audience in sorted(set(members["audience"].unique().to_list()) | _known_files(folder)):
        rows = members.filter(pl.col("audience") == audience).drop("audience")
        for suffix, write in ((".csv", rows.write_csv), (".parquet", rows.write_parquet)):
            tmp = folder / f".{audience}{suffix}.tmp"
            write(tmp)
            tmp.replace(folder / f"{audience}{suffix}")
        counts[audience] = rows.height
    return counts


def _known_files(folder: Path) -> set[str]:
    return {p.stem for p in folder.glob("*.parquet")}


def audiences_asset(config: ChannelHouseConfig) -> dg.AssetsDefinition:
    settings = config.audiences
    member_specs = {
        audience: dg.AssetSpec(
            audience_key(audience),
            description=f"{AUDIENCE_RULES[audience]} The current members with the reason "
            f"each is in, exported to <data dir>/exports/audiences/{audience}.csv / .parquet.",
            deps=[CURRENT_AUDIENCES_KEY],
            group_name="audiences",
            kinds={"csv", "parquet"},
        )
        for audience in settings.enabled
    }

    @dg.multi_asset(
        name="audiences",
        specs=[
            _spec(
                AUDIENCES_KEY,
                "Every audience's members past and present (enabled: "
                + ", ".join(settings.enabled)
                + "): the reason per customer, the episode, when they entered and left.",
                [
                    CHURN_KEY,
                    LTV_KEY,
                    RECOMMENDATIONS_KEY,
                    model_key("dim_customers"),
                    model_key("cart_abandonment"),
                ],
            ),
            _spec(
                CURRENT_AUDIENCES_KEY,
                "The current members of every audience: one row per audience and customer, "
                "with the channel's customer id, the reason, the episode and since when.",
                [AUDIENCES_KEY],
            ),
            _spec(
                AUDIENCE_DELIVERIES_KEY,
                "Webhook deliveries of the audiences: one row per member and episode, sent "
                "once (failed ones are retried next run).",
                [AUDIENCES_KEY],
            ),
            *member_specs.values(),
        ],
    )
    def _audiences(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        now = datetime.now(UTC)
        with warehouse.read_only() as con:
            frames = {
                name: read_table_pl(con, "ml", name)
                for name in ("customer_churn", "customer_ltv", "product_recommendations")
            }
            carts = read_table_pl(con, "analytics", "cart_abandonment")
            ids = con.sql(
                "select customer_id, channel_customer_id from core.dim_customers "
                "where channel_customer_id is not null order by customer_id, channel"
            ).pl()
            state = read_table_pl(con, "ml", "audience_members")
            log = read_table_pl(con, "ml", "audience_deliveries")
        empty = {
            "customer_churn": churn.CHURN_SCHEMA,
            "customer_ltv": {"customer_id": pl.String},
            "product_recommendations": recommend.RECOMMENDATIONS_SCHEMA,
        }
        frames = {
            k: v if v is not None else pl.DataFrame(schema=empty[k]) for k, v in frames.items()
        }
        members = build_audiences(
            frames["customer_churn"],
            frames["customer_ltv"]
            if "p_alive" in frames["customer_ltv"].columns
            else pl.DataFrame(),
            frames["product_recommendations"],
            settings,
            channel_ids=ids,
            carts=carts,
        )
        state = merge_audience_state(state, members, now)
        log = deliver_audiences(state, log, settings, now)
        current = state.filter("is_member").drop("is_member", "left_at")
        rows = warehouse.replace_tables(
            "ml", {"audience_members": state, "audience_deliveries": log}
        )
        rows |= warehouse.replace_tables("analytics", {"audiences": current})
        folder = Path(warehouse.data_dir) / "exports" / "audiences"
        exported = _export(folder, members)
        failed = log.filter(pl.col("status") == "failed").height
        if failed:
            context.log.warning(f"{failed} audience deliveries failed; retried next run")
        yield dg.MaterializeResult(
            asset_key=AUDIENCES_KEY,
            metadata={
                "dagster/row_count": rows["audience_members"],
                "members": dg.MetadataValue.json(exported),
            },
        )
        yield dg.MaterializeResult(
            asset_key=CURRENT_AUDIENCES_KEY,
            metadata={"dagster/row_count": rows["audiences"]},
        )
        yield dg.MaterializeResult(
            asset_key=AUDIENCE_DELIVERIES_KEY,
            metadata={
                "dagster/row_count": rows["audience_deliveries"],
                "failed": failed,
                "webhook": "configured" if settings.webhook else "not configured",
            },
        )
        for audience, spec in member_specs.items():
            listed = current.filter(pl.col("audience") == audience)
            new = listed.filter(pl.col("entered_at") == now).height
            yield dg.MaterializeResult(
                asset_key=spec.key,
                metadata={
                    "dagster/row_count": listed.height,
                    "entered_this_run": new,
                    "file": dg.MetadataValue.path(str(folder / f"{audience}.parquet")),
                    "sample": dg.MetadataValue.md(
                        markdown_table(
                            listed.sort("customer_id")
                            .head(5)
                            .select("customer_id", "reason")
                            .to_pandas()
                        )
                    ),
                },
            )

    return _audiences
