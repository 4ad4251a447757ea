"""Review authenticity: near-duplicate texts, suspicious reviews, a trust score per listing and
a credibility score per seller connection, each with its reasons in plain words.

* **Near-duplicates** (:func:`duplicate_clusters`): MinHash signatures of each review's word
  3-shingles and locality-sensitive hashing (``datasketch``) find pairs whose estimated
  Jaccard similarity is at least ``duplicate_threshold``; connected pairs form a cluster, and a
  cluster written by at least ``min_cluster_reviewers`` different reviewers is a ring.
* **Review flags** (:func:`review_flags`): a review is suspicious when it is in a ring, or it
  is by a new reviewer (their first review in the connection) without a verified purchase and
  falls into a burst: ``burst_min_reviews`` or more reviews of the listing within
  ``burst_window_days`` days of it, most of them (``burst_new_share``) by such reviewers. A
  burst is a 5-star push when its average is at least 4 stars, a rating attack at most 2.
* **Listing trust** (:func:`listing_trust`): 100 minus penalties for the share of suspicious
  reviews, the share of unverified reviews (where known) and a recent burst or attack; the
  trusted rating leaves the suspicious reviews out.
* **Seller credibility** (:func:`seller_credibility`): 100 minus penalties for suspicious
  reviews over all the connection's listings, weeks in breach of the marketplace's limits and
  refund and cancellation rates above the settings' norms (from analytics.account_health).

:func:`evaluate` compares the flags with a ground truth (the sandbox's ``review_truth()``).
No Dagster here; inputs and outputs are polars frames.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl
from datasketch import MinHash, MinHashLSH

_WORD = re.compile(r"[a-z0-9']+")


@dataclass(frozen=True)
class TrustSettings:
    duplicate_threshold: float = 0.7  # estimated Jaccard of word 3-shingles
    num_perm: int = 128
    shingle_words: int = 3
    min_cluster_reviewers: int = 3
    burst_window_days: int = 3
    burst_min_reviews: int = 8
    burst_new_share: float = 0.6
    recent_days: int = 30  # a burst or attack this recent costs the listing trust
    suspicious_weight: float = 60.0  # trust lost when every review is suspicious
    unverified_weight: float = 20.0  # ... when no known review is verified
    burst_penalty: float = 15.0
    attack_penalty: float = 10.0
    breach_weight: float = 20.0  # credibility lost when every recent week breaches a limit
    refund_norm: float = 0.08  # refund / cancellation rates above these cost credibility
    cancellation_norm: float = 0.03
    rate_weight: float = 100.0  # points per unit of rate above the norm


def _shingles(text: str, k: int) -> set[bytes]:
    words = _WORD.findall((text or "").lower())
    if len(words) < k:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i : i + k]).encode() for i in range(len(words) - k + 1)}


def duplicate_clusters(reviews: pl.DataFrame, settings: TrustSettings) -> pl.DataFrame:
    """``review_key, cluster_id, cluster_reviews, cluster_reviewers`` of every review in a
    near-duplicate cluster of at least ``min_cluster_reviewers`` reviewers (cluster_id: the
    smallest review_key of the cluster)."""
    keys = reviews["review_key"].to_list()
    lsh = MinHashLSH(threshold=settings.duplicate_threshold, num_perm=settings.num_perm)
    texts = reviews["review_text"].to_list()
    shingled = [(k, _shingles(t, settings.shingle_words)) for k, t in zip(keys, texts, strict=True)]
    shingled = [(k, sh) for k, sh in shingled if sh]
    signatures = MinHash.bulk([list(sh) for _, sh in shingled], num_perm=settings.num_perm, seed=1)
    hashes: dict[str, MinHash] = {}
    with lsh.insertion_session() as session:
        for (key, _), m in zip(shingled, signatures, strict=True):
            hashes[key] = m
            session.insert(key, m)
    parent = {key: key for key in hashes}

    def root(key: str) -> str:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for key, m in hashes.items():
        for other in lsh.query(m):
            if other != key and m.jaccard(hashes[other]) >= settings.duplicate_threshold:
                a, b = root(key), root(other)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    empty = pl.DataFrame(
        schema={
            "review_key": pl.Utf8,
            "cluster_id": pl.Utf8,
            "cluster_reviews": pl.UInt32,
            "cluster_reviewers": pl.UInt32,
        }
    )
    if not hashes:
        return empty
    members = pl.DataFrame({"review_key": list(hashes), "cluster_id": [root(k) for k in hashes]})
    sized = members.join(
        reviews.select("review_key", "reviewer_key"), on="review_key"
    ).with_columns(
        pl.len().over("cluster_id").alias("cluster_reviews"),
        pl.col("reviewer_key").n_unique().over("cluster_id").alias("cluster_reviewers"),
    )
    # the smallest key of a cluster names it
    sized = sized.with_columns(pl.col("review_key").min().over("cluster_id").alias("cluster_id"))
    kept = sized.filter(pl.col("cluster_reviewers") >= settings.min_cluster_reviewers)
    return kept.select(empty.columns).cast(empty.schema) if kept.height else empty


def _new_unverified(reviews: pl.DataFrame) -> pl.Series:
    first = (
        pl.col("reviewed_at").rank("ordinal").over("connection_name", "reviewer_key") == 1
    ) & ~pl.col("is_verified").fill_null(False)
    return reviews.select(first.alias("new"))["new"]


def review_flags(
    reviews: pl.DataFrame, clusters: pl.DataFrame, settings: TrustSettings
) -> pl.DataFrame:
    """Per review: ``is_new_unverified``, ``in_duplicate_cluster``, ``burst_kind`` (``burst_5star``,
    ``rating_attack`` or null), ``is_suspicious`` and ``reasons``."""
    frame = reviews.with_columns(_new_unverified(reviews).alias("is_new_unverified")).join(
        clusters.select("review_key", "cluster_id", "cluster_reviewers"),
        on="review_key",
        how="left",
    )
    window = timedelta(days=settings.burst_window_days)
    burst = np.zeros(frame.height, dtype=bool)
    stars = np.full(frame.height, np.nan)
    frame = frame.with_row_index("_i")
    for _, group in frame.group_by("review_listing_id"):
        group = group.sort("reviewed_at")
        times = group["reviewed_at"].to_numpy()
        new = group["is_new_unverified"].to_numpy()
        ratings = group["rating"].to_numpy().astype(float)
        index = group["_i"].to_numpy()
        lo = np.searchsorted(times, times - np.timedelta64(window), side="left")
        ends = np.searchsorted(times, times + np.timedelta64(window), side="right")
        for j in range(len(times)):
            if not new[j]:
                continue
            # any window of burst_window_days that starts at a review and holds this one
            for a in range(lo[j], j + 1):
                b = ends[a]
                if (
                    b - a >= settings.burst_min_reviews
                    and new[a:b].mean() >= settings.burst_new_share
                ):
                    burst[index[j]] = True
                    stars[index[j]] = ratings[a:b].mean()
                    break

    frame = frame.with_columns(
        pl.Series("_burst", burst), pl.Series("_burst_stars", stars, nan_to_null=True)
    ).with_columns(
        pl.when(pl.col("_burst") & (pl.col("_burst_stars") >= 4))
        .then(pl.lit("burst_5star"))
        .when(pl.col("_burst") & (pl.col("_burst_stars") <= 2))
        .then(pl.lit("rating_attack"))
        .alias("burst_kind"),
        pl.col("cluster_id").is_not_null().alias("in_duplicate_cluster"),
    )
    reasons = pl.concat_list(
        pl.when(pl.col("in_duplicate_cluster")).then(
            pl.format("near-duplicate text shared by {} reviewers", "cluster_reviewers")
        ),
        pl.when(pl.col("burst_kind") == "burst_5star").then(
            pl.lit(
                f"part of a burst of 5-star reviews by new, unverified reviewers within {settings.burst_window_days} days"
            )
        ),
        pl.when(pl.col("burst_kind") == "rating_attack").then(
            pl.lit(
                f"part of a burst of 1-2 star reviews by new, unverified reviewers within {settings.burst_window_days} days"
            )
        ),
    ).list.drop_nulls()
    return frame.with_columns(
        (pl.col("in_duplicate_cluster") | pl.col("burst_kind").is_not_null()).alias(
            "is_suspicious"
        ),
        reasons.list.join("; ").alias("reasons"),
    ).select(
        "review_key",
        "review_listing_id",
        "connection_name",
        "is_new_unverified",
        "in_duplicate_cluster",
        "cluster_id",
        "burst_kind",
        "is_suspicious",
        "reasons",
    )


def _level(score: pl.Expr) -> pl.Expr:
    return (
        pl.when(score >= 80)
        .then(pl.lit("high"))
        .when(score >= 50)
        .then(pl.lit("medium"))
        .otherwise(pl.lit("low"))
    )


def listing_trust(
    reviews: pl.DataFrame, flags: pl.DataFrame, as_of, settings: TrustSettings
) -> pl.DataFrame:
    """One row per review listing: counts, shares, the trusted rating, ``trust_score`` (0-100),
    ``trust_level`` and ``reasons``."""
    recent = as_of - timedelta(days=settings.recent_days)
    joined = reviews.join(
        flags.select("review_key", "in_duplicate_cluster", "burst_kind", "is_suspicious"),
        on="review_key",
    )
    per = joined.group_by("review_listing_id").agg(
        pl.col("connection_name").first(),
        pl.col("product_id").drop_nulls().first(),
        pl.len().alias("reviews"),
        pl.col("is_suspicious").sum().alias("suspicious_reviews"),
        pl.col("in_duplicate_cluster").sum().alias("duplicate_reviews"),
        (pl.col("burst_kind") == "burst_5star").sum().alias("burst_reviews"),
        (pl.col("burst_kind") == "rating_attack").sum().alias("attack_reviews"),
        pl.col("is_verified").count().alias("verification_known"),
        pl.col("is_verified").sum().alias("verified_reviews"),
        pl.col("rating").mean().alias("avg_rating"),
        pl.col("rating").filter(~pl.col("is_suspicious")).mean().alias("trusted_avg_rating"),
        pl.col("review_date")
        .filter(pl.col("burst_kind") == "burst_5star")
        .max()
        .alias("last_burst_date"),
        pl.col("review_date")
        .filter(pl.col("burst_kind") == "rating_attack")
        .max()
        .alias("last_attack_date"),
    )
    share_susp = pl.col("suspicious_reviews") / pl.col("reviews")
    share_verified = pl.col("verified_reviews") / pl.when(pl.col("verification_known") > 0).then(
        pl.col("verification_known")
    )
    recent_burst = pl.col("last_burst_date").is_not_null() & (pl.col("last_burst_date") >= recent)
    recent_attack = pl.col("last_attack_date").is_not_null() & (
        pl.col("last_attack_date") >= recent
    )
    score = (
        100
        - settings.suspicious_weight * share_susp
        - settings.unverified_weight * (1 - share_verified).fill_null(0)
        - settings.burst_penalty * recent_burst.cast(pl.Float64)
        - settings.attack_penalty * recent_attack.cast(pl.Float64)
    ).clip(0, 100)
    reasons = pl.concat_list(
        pl.when(pl.col("suspicious_reviews") > 0).then(
            pl.format(
                "{} of {} reviews look suspicious ({} near-duplicate, {} in a 5-star burst, {} in a rating attack)",
                "suspicious_reviews",
                "reviews",
                "duplicate_reviews",
                "burst_reviews",
                "attack_reviews",
            )
        ),
        pl.when(share_verified.is_not_null() & (share_verified < 0.8)).then(
            pl.format(
                "only {}% of the reviews with a known status are verified purchases",
                (share_verified * 100).round(0).cast(pl.Int64),
            )
        ),
        pl.when(recent_burst).then(pl.format("a 5-star burst on {}", "last_burst_date")),
        pl.when(recent_attack).then(pl.format("a rating attack on {}", "last_attack_date")),
    ).list.drop_nulls()
    return (
        per.with_columns(
            share_susp.round(4).alias("share_suspicious"),
            share_verified.round(4).alias("share_verified"),
            pl.col("avg_rating").round(4),
            pl.col("trusted_avg_rating").round(4),
            score.round(1).alias("trust_score"),
            pl.when(reasons.list.len() > 0)
            .then(reasons.list.join("; "))
            .otherwise(pl.lit("no warning signs"))
            .alias("reasons"),
        )
        .with_columns(_level(pl.col("trust_score")).alias("trust_level"))
        .sort("review_listing_id")
    )


def seller_credibility(
    trust: pl.DataFrame, health: pl.DataFrame, settings: TrustSettings
) -> pl.DataFrame:
    """One row per connection: review and account-health figures, ``credibility_score``
    (0-100), ``credibility_level`` and ``reasons``. ``health`` holds the recent weeks of
    analytics.account_health (connection_name, is_any_breach, refund_rate, cancellation_rate)."""
    reviews = trust.group_by("connection_name").agg(
        pl.col("reviews").sum(),
        pl.col("suspicious_reviews").sum(),
        (pl.col("trust_level") == "low").sum().alias("low_trust_listings"),
        pl.len().alias("listings"),
    )
    weeks = health.group_by("connection_name").agg(
        pl.len().alias("weeks"),
        pl.col("is_any_breach").sum().alias("breach_weeks"),
        pl.col("refund_rate").mean().alias("refund_rate"),
        pl.col("cancellation_rate").mean().alias("cancellation_rate"),
    )
    frame = reviews.join(weeks, on="connection_name", how="full", coalesce=True).with_columns(
        pl.col(
            "reviews",
            "suspicious_reviews",
            "low_trust_listings",
            "listings",
            "weeks",
            "breach_weeks",
        ).fill_null(0)
    )
    share_susp = pl.col("suspicious_reviews") / pl.when(pl.col("reviews") > 0).then(
        pl.col("reviews")
    )
    breach_share = pl.col("breach_weeks") / pl.when(pl.col("weeks") > 0).then(pl.col("weeks"))
    refund_excess = (pl.col("refund_rate") - settings.refund_norm).clip(0).fill_null(0)
    cancel_excess = (pl.col("cancellation_rate") - settings.cancellation_norm).clip(0).fill_null(0)
    score = (
        100
        - settings.suspicious_weight * share_susp.fill_null(0)
        - settings.breach_weight * breach_share.fill_null(0)
        - settings.rate_weight * refund_excess
        - settings.rate_weight * cancel_excess
    ).clip(0, 100)
    pct = lambda e: (e * 100).round(1)  # noqa: E731
    reasons = pl.concat_list(
        pl.when(pl.col("suspicious_reviews") > 0).then(
            pl.format(
                "{}% of {} reviews look suspicious ({} low-trust listings)",
                pct(share_susp),
                "reviews",
                "low_trust_listings",
            )
        ),
        pl.when(pl.col("breach_weeks") > 0).then(
            pl.format("{} of {} recent weeks breach a marketplace limit", "breach_weeks", "weeks")
        ),
        pl.when(refund_excess > 0).then(
            pl.format(
                "refund rate {}% above the {}% norm",
                pct(pl.col("refund_rate")),
                pl.lit(settings.refund_norm * 100),
            )
        ),
        pl.when(cancel_excess > 0).then(
            pl.format(
                "cancellation rate {}% above the {}% norm",
                pct(pl.col("cancellation_rate")),
                pl.lit(settings.cancellation_norm * 100),
            )
        ),
    ).list.drop_nulls()
    return (
        frame.with_columns(
            share_susp.round(4).alias("share_suspicious"),
            pl.col("refund_rate", "cancellation_rate").round(4),
            score.round(1).alias("credibility_score"),
            pl.when(reasons.list.len() > 0)
            .then(reasons.list.join("; "))
            .otherwise(pl.lit("no warning signs"))
            .alias("reasons"),
        )
        .with_columns(_level(pl.col("credibility_score")).alias("credibility_level"))
        .sort("connection_name")
    )


CASE_FLAG = {
    "burst_5star": pl.col("burst_kind") == "burst_5star",
    "duplicate_ring": pl.col("in_duplicate_cluster"),
    "rating_attack": pl.col("burst_kind") == "rating_attack",
}


def evaluate(flags: pl.DataFrame, truth: pl.DataFrame) -> dict[str, dict[str, float | int]]:
    """Precision and recall of each case's flag and of ``is_suspicious`` overall against
    ``truth`` (``review_key, case``): {case: {precision, recall, flagged, true, found}}."""
    joined = flags.join(truth.select("review_key", "case"), on="review_key", how="left")
    out = {}
    for case, flag in {**CASE_FLAG, "any": pl.col("is_suspicious")}.items():
        is_true = pl.col("case").is_not_null() if case == "any" else pl.col("case") == case
        counts = joined.select(
            flag.fill_null(False).sum().alias("flagged"),
            is_true.fill_null(False).sum().alias("true"),
            (flag.fill_null(False) & is_true.fill_null(False)).sum().alias("found"),
        ).row(0, named=True)
        out[case] = {
            **counts,
            "precision": round(counts["found"] / counts["flagged"], 4)
            if counts["flagged"]
            else 0.0,
            "recall": round(counts["found"] / counts["true"], 4) if counts["true"] else 0.0,
        }
    return out
