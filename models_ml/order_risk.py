"""Order risk scores: rules from the configuration plus an isolation forest (issue 17).

Input: one row per order with the features of ``analytics.order_risk_features`` (dbt computes
them, looking only at what came before each order). Output: per order a ``risk_score`` from 0
to 100, the rule and anomaly parts, ``is_high_risk`` at the configured threshold and the
reasons as text.

The rule score is the sum of the weights of the rules that fire (capped at 100): each rule
reads one feature and fires at or above its threshold (``OrderRiskSettings.rules``). The
anomaly score is the order's percentile (0-100) of scikit-learn's ``IsolationForest`` outlier
score over the same features (fixed ``random_state``): it ranks orders whose combination of
signals is rare, whatever the rules say. The two are blended with ``anomaly_weight``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import polars as pl
from sklearn.ensemble import IsolationForest

from models_ml.settings import ORDER_RISK_RULES, OrderRiskSettings

__all__ = ["ORDER_RISK_RULES", "OrderRiskSettings", "evaluate", "score_orders"]

KEY_COLUMNS = ("order_id", "channel", "connection_name", "customer_id", "ordered_at")
# feature -> the value that means "no signal" where the feature is NULL (no history)
NEUTRAL = {
    "email_orders_1h": 0.0,
    "email_orders_24h": 0.0,
    "email_orders_7d": 0.0,
    "email_new_identities_24h": 0.0,
    "prior_orders": 0.0,
    "prior_cancelled_orders": 0.0,
    "prior_refunded_orders": 0.0,
    "prior_refund_share": 0.0,
    "value_to_customer_avg": 1.0,
    "product_quantity_ratio": 1.0,
    "first_order_value_ratio": 1.0,
    "address_other_customers_24h": 0.0,
    "is_country_mismatch": 0.0,
}
REASONS = {
    "email_velocity_1h": "{:.0f} other orders under the same e-mail in the hour before",
    "email_velocity_24h": "{:.0f} other orders under the same e-mail in the 24 hours before",
    "new_identities_24h": "{:.0f} new customer ids under the same e-mail in 24 hours",
    "value_vs_customer": "order value {:.1f}x the customer's average",
    "value_vs_product": "{:.1f}x the product's usual quantity per order",
    "big_first_order": "first order {:.1f}x the typical first order",
    "prior_refunds": "{:.0f} earlier orders refunded",
    "refund_share": "{:.0%} of earlier orders refunded",
    "prior_cancellations": "{:.0f} earlier orders cancelled",
    "shared_address_24h": "{:.0f} orders by other customers to the same address in 24 hours",
    "country_mismatch": "billing country is not the shipping country",
}
ANOMALY_REASON_AT = 95.0  # anomaly percentile from which the reasons mention it
MIN_ORDERS_FOR_FOREST = 20  # fewer orders: no anomaly part (the rules alone)


def _feature_matrix(features: pl.DataFrame) -> np.ndarray:
    columns = [
        pl.col(name).cast(pl.Float64).fill_null(neutral).alias(name)
        for name, neutral in NEUTRAL.items()
    ]
    amount = pl.col("net_amount_base").cast(pl.Float64).fill_null(0).clip(0).log1p()
    first = pl.col("is_first_order").cast(pl.Float64).fill_null(0)
    return features.select(*columns, amount, first).to_numpy()


def _anomaly_percentile(matrix: np.ndarray, settings: OrderRiskSettings) -> np.ndarray:
    """Each order's percentile (0-100, 100 = most unusual) of the isolation forest score."""
    n = matrix.shape[0]
    if n < MIN_ORDERS_FOR_FOREST:
        return np.zeros(n)
    forest = IsolationForest(
        n_estimators=settings.n_estimators, random_state=settings.random_state, n_jobs=1
    ).fit(matrix)
    outlier = -forest.score_samples(matrix)
    ranks = pl.Series(outlier).rank("max").to_numpy()
    return 100.0 * ranks / n


def score_orders(features: pl.DataFrame, settings: OrderRiskSettings) -> pl.DataFrame:
    """Risk score per order (see the module docstring); rows in the order of ``features``.

    ``features`` needs the key columns (order_id, channel, connection_name, customer_id,
    ordered_at), net_amount_base, is_first_order and every feature of ``NEUTRAL``.
    """
    needed = [*KEY_COLUMNS, "net_amount_base", "is_first_order", *NEUTRAL]
    missing = [c for c in needed if c not in features.columns]
    if missing:
        raise ValueError(f"order risk features lack column(s) {missing}")
    rules = settings.effective_rules()
    fired = {
        name: pl.col(ORDER_RISK_RULES[name]).cast(pl.Float64).fill_null(0) >= rule.threshold
        for name, rule in rules.items()
        if rule.weight > 0
    }
    points = pl.sum_horizontal(
        pl.lit(0.0),
        *(pl.when(hit).then(rules[name].weight).otherwise(0.0) for name, hit in fired.items()),
    )
    anomaly = _anomaly_percentile(_feature_matrix(features), settings)
    w = settings.anomaly_weight
    scored = features.with_columns(
        pl.min_horizontal(points, pl.lit(100.0)).alias("rule_score"),
        pl.Series("anomaly_score", anomaly).round(1),
        *(hit.alias(f"_fired_{name}") for name, hit in fired.items()),
    ).with_columns(
        ((1 - w) * pl.col("rule_score") + w * pl.col("anomaly_score")).round(1).alias("risk_score")
    )
    reasons = [_reasons(row, fired, w > 0) for row in scored.iter_rows(named=True)]
    return scored.select(
        *KEY_COLUMNS,
        pl.col("net_amount_base").cast(pl.Float64),
        "risk_score",
        "rule_score",
        "anomaly_score",
        (pl.col("risk_score") >= settings.threshold).alias("is_high_risk"),
        pl.Series("reasons", reasons, dtype=pl.Utf8),
    )


def _reasons(row: dict, fired: Iterable[str], with_anomaly: bool) -> str:
    parts = [
        REASONS[name].format(float(row[ORDER_RISK_RULES[name]]))
        for name in fired
        if row[f"_fired_{name}"]
    ]
    if with_anomaly and row["anomaly_score"] >= ANOMALY_REASON_AT:
        top = max(100.0 - row["anomaly_score"], 0.1)
        parts.append(f"unusual combination of signals (isolation forest, top {top:.1f}%)")
    return "; ".join(parts)


def evaluate(scored: pl.DataFrame, fraud_order_ids: Iterable[str]) -> dict[str, float | int]:
    """Precision and recall of ``is_high_risk`` against the orders known to be fraud (those of
    them that ``scored`` holds: fraud outside the warehouse's history is not counted)."""
    truth = set(fraud_order_ids) & set(scored["order_id"].to_list())
    flagged = set(scored.filter(pl.col("is_high_risk"))["order_id"].to_list())
    hits = len(flagged & truth)
    return {
        "orders": scored.height,
        "fraud_orders": len(truth),
        "flagged": len(flagged),
        "true_positives": hits,
        "precision": round(hits / len(flagged), 4) if flagged else 0.0,
        "recall": round(hits / len(truth), 4) if truth else 0.0,
    }
