"""``analytics/listing_trust`` and ``analytics/seller_credibility``: thin assets over
``models_ml.review_trust``, from the matched reviews (intermediate.int_reviews_matched) and the
weekly account health (analytics.account_health, its last 12 weeks).

When the connections read the sandbox, the listing-trust asset also checks its flags against
the sandbox's injected manipulation (``sandbox.business.reviews.review_truth``), matching each
injected review to the warehouse by connection, text and time, and puts precision and recall
per case in its metadata."""

from __future__ import annotations

from datetime import date

import dagster as dg
import polars as pl

from models_ml.review_trust import (
    TrustSettings,
    duplicate_clusters,
    evaluate,
    listing_trust,
    review_flags,
    seller_credibility,
)
from orchestration.config import ChannelHouseConfig
from orchestration.lib.dbt import model_key
from orchestration.lib.keys import LISTING_TRUST_KEY, SELLER_CREDIBILITY_KEY
from orchestration.lib.resources import WarehouseResource
from orchestration.lib.sandbox import sandbox_business

REVIEWS_SQL = """
select review_key, review_listing_id, connection_name, product_id, reviewer_key, rating,
    review_text, reviewed_at, review_date, is_verified
from intermediate.int_reviews_matched
where review_date <= ?
"""
HEALTH_SQL = """
select connection_name, is_any_breach, refund_rate, cancellation_rate
from analytics.account_health
where week_start_date > ? - interval 84 day and week_start_date <= ?
"""
REVIEW_SCHEMA = {
    "review_key": pl.Utf8,
    "review_listing_id": pl.Utf8,
    "connection_name": pl.Utf8,
    "product_id": pl.Utf8,
    "reviewer_key": pl.Utf8,
    "rating": pl.Int32,
    "review_text": pl.Utf8,
    "reviewed_at": pl.Datetime("us", "UTC"),
    "review_date": pl.Date,
    "is_verified": pl.Boolean,
}
TRUST_SCHEMA = {
    "connection_name": pl.Utf8,
    "reviews": pl.UInt32,
    "suspicious_reviews": pl.UInt32,
    "trust_level": pl.Utf8,
}
HEALTH_SCHEMA = {
    "connection_name": pl.Utf8,
    "is_any_breach": pl.Boolean,
    "refund_rate": pl.Float64,
    "cancellation_rate": pl.Float64,
}


def _frame(con, sql: str, params: list, schema: dict) -> pl.DataFrame:
    cursor = con.execute(sql, params)
    rows = cursor.fetchall()
    return pl.DataFrame(rows, schema=list(schema), orient="row").cast(schema)


def sandbox_truth(config: ChannelHouseConfig, reviews: pl.DataFrame) -> pl.DataFrame | None:
    """``review_key, case`` of the sandbox's injected reviews found in ``reviews``; None when
    the connections do not read the sandbox."""
    if not config.uses_sandbox:
        return None
    from sandbox.business.reviews import simulate_reviews

    sim = simulate_reviews(sandbox_business(config))
    injected = sim.frame.join(sim.truth.select("review_id", "case"), on="review_id").select(
        pl.col("account").alias("connection_name"),
        pl.col("body").alias("review_text"),
        pl.col("reviewed_at").dt.truncate("1s"),
        "case",
    )
    keyed = reviews.select(
        "review_key", "connection_name", "review_text", pl.col("reviewed_at").dt.truncate("1s")
    )
    return keyed.join(injected, on=["connection_name", "review_text", "reviewed_at"]).select(
        "review_key", "case"
    )


def evaluation_metadata(result: dict) -> dict:
    lines = [
        "| case | flagged | injected | found | precision | recall |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {case} | {r['flagged']} | {r['true']} | {r['found']} | {r['precision']} | {r['recall']} |"
        for case, r in result.items()
    ]
    return {
        "evaluation": dg.MetadataValue.md("\n".join(lines)),
        "precision": result["any"]["precision"],
        "recall": result["any"]["recall"],
    }


def trust_assets(config: ChannelHouseConfig) -> list[dg.AssetsDefinition]:
    settings = TrustSettings()
    analysis = config.analytics.analysis_date

    @dg.asset(
        key=LISTING_TRUST_KEY,
        description="Per review listing: reviews, suspicious ones (near-duplicate rings by "
        "MinHash/LSH, 5-star bursts and rating attacks by new unverified reviewers), share "
        "verified, the trusted rating, a trust score 0-100 with its level and reasons.",
        deps=[model_key("int_reviews_matched")],
        group_name="analytics",
        kinds={"duckdb", "polars"},
    )
    def listing_trust_table(warehouse: WarehouseResource) -> dg.MaterializeResult:
        as_of = analysis or date.today()
        with warehouse.read_only() as con:
            reviews = _frame(con, REVIEWS_SQL, [as_of], REVIEW_SCHEMA)
        flags = review_flags(reviews, duplicate_clusters(reviews, settings), settings)
        trust = listing_trust(reviews, flags, as_of, settings)
        warehouse.replace_tables("analytics", {"listing_trust": trust})
        metadata: dict = {
            "dagster/row_count": trust.height,
            "suspicious_reviews": int(flags["is_suspicious"].sum()),
            "low_trust_listings": int((trust["trust_level"] == "low").sum()),
            # reviews of products the catalog does not know: scored, but without a product
            "unmatched_reviews": int(reviews["product_id"].is_null().sum()),
        }
        truth = sandbox_truth(config, reviews)
        if truth is not None:
            metadata |= evaluation_metadata(evaluate(flags, truth))
        return dg.MaterializeResult(metadata=metadata)

    @dg.asset(
        key=SELLER_CREDIBILITY_KEY,
        description="Per seller connection: a credibility score 0-100 with its level and "
        "reasons, from the listings' suspicious reviews, the weeks in breach of the "
        "marketplace's limits and the refund and cancellation rates (last 12 weeks).",
        deps=[LISTING_TRUST_KEY, model_key("account_health")],
        group_name="analytics",
        kinds={"duckdb", "polars"},
    )
    def seller_credibility_table(warehouse: WarehouseResource) -> dg.MaterializeResult:
        as_of = analysis or date.today()
        with warehouse.read_only() as con:
            trust = _frame(
                con,
                "select connection_name, reviews, suspicious_reviews, trust_level "
                "from analytics.listing_trust",
                [],
                TRUST_SCHEMA,
            )
            health = _frame(con, HEALTH_SQL, [as_of, as_of], HEALTH_SCHEMA)
        credibility = seller_credibility(trust, health, settings)
        warehouse.replace_tables("analytics", {"seller_credibility": credibility})
        return dg.MaterializeResult(metadata={"dagster/row_count": credibility.height})

    return [listing_trust_table, seller_credibility_table]
