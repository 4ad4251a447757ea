"""Customer intelligence timings _(issue 15)_: training + scoring of the recommendations
(evaluation of three models, fit, top-N for every customer, similar products) and of churn
(time-split evaluation of both models, scoring), on the simulated business at two scales, from
frames in memory (the warehouse reads are the marts' and not timed here). Target: the demo's
catalog and customers (scale 1, two years) in under 60 s."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

SCALES = (1.0, 2.0)
END = date(2025, 12, 31)


def _frames(scale: float) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    from sandbox.business import Business

    biz = Business(seed=42, scale=scale, end=END)
    lines = biz.order_lines.join(
        biz.orders.select("order_key", "customer_id", "purchased_at"), on="order_key"
    )
    events = lines.select(
        pl.col("customer_id").cast(pl.String),
        pl.col("product_id").cast(pl.String),
        pl.lit("order").alias("event_type"),
        pl.col("purchased_at").dt.date().alias("event_date"),
    )
    net = lines.group_by("order_key").agg(
        (pl.col("unit_price") * pl.col("quantity") - pl.col("discount")).sum().alias("amount")
    )
    channels = biz.storefronts.select("account", "marketplace_id", "channel")
    orders = (
        biz.orders.join(net, on="order_key")
        .join(channels, on=["account", "marketplace_id"])
        .select(
            pl.col("customer_id").cast(pl.String),
            pl.col("purchased_at").dt.date().alias("order_date"),
            "amount",
            "channel",
        )
    )
    return events, orders, biz.products.select(pl.col("product_id").cast(pl.String))


def measure(scale: float) -> dict:
    from models_ml import churn, recommend
    from models_ml.settings import ChurnSettings, RecommendSettings

    events, orders, products = _frames(scale)
    settings = RecommendSettings()
    catalog = products["product_id"].to_numpy()
    started = time.perf_counter()
    evaluation = recommend.evaluate(events, settings, products=catalog)
    model = recommend.choose_model(evaluation, settings)
    fitted = recommend.fit(events, settings, model, products=catalog)
    recs = fitted.recommend(settings.top_n)
    recommend.similar_products(fitted, settings.similar_n)
    rec_s = time.perf_counter() - started
    started = time.perf_counter()
    result = churn.churn_scores(orders, ChurnSettings())
    churn_s = time.perf_counter() - started
    chosen = evaluation.filter("is_chosen").row(0, named=True)
    pop = evaluation.filter(pl.col("model") == "popularity").row(0, named=True)
    auc = result.evaluation.filter((pl.col("bucket") == "total") & pl.col("is_chosen"))["auc"][0]
    return {
        "scale": scale,
        "customers": int(orders["customer_id"].n_unique()),
        "products": int(products.height),
        "order_lines": int(events.height),
        "recommend_s": round(rec_s, 1),
        "churn_s": round(churn_s, 1),
        "recommendations": int(recs.height),
        "model": model,
        "precision_at_10": round(chosen["precision_at_k"], 4),
        "popularity_precision_at_10": round(pop["precision_at_k"], 4),
        "churn_model": result.model,
        "churn_auc": round(float(auc), 3),
    }


def run(results: Path) -> list[dict]:
    rows = []
    for scale in SCALES:
        row = measure(scale)
        print(f"  customers at scale {scale}: {row}", flush=True)
        rows.append(row)
    measured_at = datetime.now(UTC).isoformat(timespec="seconds")
    (results / "customers.json").write_text(
        json.dumps({"measured_at": measured_at, "runs": rows}, indent=2) + "\n"
    )
    lines = [
        "# Customer intelligence benchmark",
        "",
        f"Measured {measured_at} on {os.cpu_count()} CPUs; the simulated business to {END}. "
        "Target: scale 1 under 60 s (recommendations + churn, training and scoring).",
        "",
        "| scale | customers | order lines | recommend s | churn s | model | precision@10 "
        "(popularity) | churn model | AUC |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['scale']} | {r['customers']:,} | {r['order_lines']:,} | {r['recommend_s']} | "
        f"{r['churn_s']} | {r['model']} | {r['precision_at_10']} "
        f"({r['popularity_precision_at_10']}) | {r['churn_model']} | {r['churn_auc']} |"
        for r in rows
    ]
    (results / "customers.md").write_text("\n".join(lines) + "\n")
    return rows
