"""Review trust scorers on hand-made examples with known answers, and the sandbox's injected
manipulation found on a small business."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from models_ml.review_trust import (
    TrustSettings,
    duplicate_clusters,
    evaluate,
    listing_trust,
    review_flags,
    seller_credibility,
)
from sandbox.business import Business
from sandbox.business.reviews import simulate_reviews

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
RING = "Best {x} ever, I tell all my friends about it and the seller was super responsive and fast"
S = TrustSettings()


def frame(rows: list[dict]) -> pl.DataFrame:
    base = {
        "review_listing_id": "c:c:L",
        "connection_name": "c",
        "product_id": "p",
        "rating": 5,
        "is_verified": True,
    }
    out = [{**base, **r} for r in rows]
    for i, r in enumerate(out):
        r.setdefault("review_key", f"r{i:02d}")
        r.setdefault("reviewer_key", f"u{i:02d}")
        r.setdefault("reviewed_at", T0 + timedelta(days=i))
        r.setdefault(
            "review_text", f"unique words number {i} about item {i * 7} and colour {i * 13}"
        )
        r["review_date"] = r["reviewed_at"].date()
    return pl.DataFrame(out)


def test_near_duplicates_by_three_reviewers_form_a_ring_two_do_not():
    pair = "The zipper broke after two weeks and the strap frayed, support never answered my mail"
    reviews = frame(
        [
            {"review_text": RING.format(x="lamp")},
            {"review_text": RING.format(x="lamp") + " really"},  # Jaccard 15/16
            {"review_text": RING.format(x="lamp")},
            {"review_text": "A completely different text about a cutting board that is fine"},
            {"review_text": "Another honest review, the mat slips a bit on wooden floors"},
            {"review_text": RING.format(x="chair"), "reviewer_key": "x1"},
            {"review_text": RING.format(x="chair") + " twice", "reviewer_key": "x1"},
            {"review_text": pair},
            {"review_text": pair},
        ]
    )
    clusters = duplicate_clusters(reviews, TrustSettings(duplicate_threshold=0.85))
    # lamp: three reviewers; the chair copies (one reviewer twice, 13/16 of the lamp's
    # shingles) stay below 0.85; the identical pair has two reviewers only
    assert sorted(clusters["review_key"]) == ["r00", "r01", "r02"]
    assert clusters["cluster_id"].unique().to_list() == ["r00"]
    assert clusters["cluster_reviewers"].to_list() == [3, 3, 3]
    assert duplicate_clusters(reviews.head(0), S).height == 0


def _burst(n: int, rating: int, verified: bool) -> pl.DataFrame:
    honest = [{"reviewed_at": T0 - timedelta(days=40 + i)} for i in range(5)]
    fakes = [
        {
            "reviewer_key": f"new{i}",
            "rating": rating,
            "is_verified": verified,
            "reviewed_at": T0 + timedelta(hours=6 * i),
        }
        for i in range(n)
    ]
    return frame(honest + fakes)


@pytest.mark.parametrize(
    ("n", "rating", "verified", "kind"),
    [
        (8, 5, False, "burst_5star"),
        (8, 1, False, "rating_attack"),
        (7, 5, False, None),  # below burst_min_reviews
        (8, 5, True, None),  # verified buyers are not a fake burst
        (8, 3, False, None),  # neither a push nor an attack
    ],
)
def test_bursts_need_enough_new_unverified_reviews_close_together(n, rating, verified, kind):
    reviews = _burst(n, rating, verified)
    flags = review_flags(reviews, duplicate_clusters(reviews, S), S)
    fakes = flags.filter(pl.col("review_key") >= "r05")
    assert fakes["burst_kind"].to_list() == [kind] * n
    assert fakes["is_suspicious"].to_list() == [kind is not None] * n
    assert not flags.filter(pl.col("review_key") < "r05")["is_suspicious"].any()
    if kind == "rating_attack":
        assert "1-2 star reviews by new, unverified reviewers within 3 days" in fakes["reasons"][0]


def test_listing_trust_score_and_reasons_by_hand():
    # 10 reviews: 3 ring members (unverified), 7 verified; as of 2026-03-20
    rows = [{"review_text": RING.format(x="vase"), "is_verified": False} for _ in range(3)]
    rows += [{"rating": 4} for _ in range(7)]
    reviews = frame(rows)
    flags = review_flags(reviews, duplicate_clusters(reviews, S), S)
    (row,) = listing_trust(reviews, flags, date(2026, 3, 20), S).to_dicts()
    # 100 - 60 x 3/10 - 20 x (1 - 7/10) = 76
    assert row["trust_score"] == pytest.approx(76.0)
    assert row["trust_level"] == "medium"
    assert (row["reviews"], row["suspicious_reviews"], row["duplicate_reviews"]) == (10, 3, 3)
    assert row["avg_rating"] == pytest.approx(4.3) and row["trusted_avg_rating"] == pytest.approx(
        4.0
    )
    assert row["reasons"] == (
        "3 of 10 reviews look suspicious (3 near-duplicate, 0 in a 5-star burst, 0 in a rating "
        "attack); only 70% of the reviews with a known status are verified purchases"
    )
    clean = listing_trust(
        frame([{}, {}]),
        review_flags(frame([{}, {}]), duplicate_clusters(frame([{}, {}]), S), S),
        date(2026, 3, 20),
        S,
    )
    assert clean["trust_score"].to_list() == [100.0] and clean["reasons"].to_list() == [
        "no warning signs"
    ]


def test_seller_credibility_by_hand():
    trust = pl.DataFrame(
        {
            "connection_name": ["a", "a", "b"],
            "reviews": [30, 10, 20],
            "suspicious_reviews": [4, 0, 0],
            "trust_level": ["medium", "high", "high"],
        }
    )
    health = pl.DataFrame(
        {
            "connection_name": ["a"] * 4 + ["b"] * 2,
            "is_any_breach": [True, False, False, False, False, False],
            "refund_rate": [0.10, 0.10, 0.12, 0.08, 0.02, 0.04],
            "cancellation_rate": [0.01] * 4 + [0.05, 0.05],
        }
    )
    out = {r["connection_name"]: r for r in seller_credibility(trust, health, S).to_dicts()}
    # a: 100 - 60 x 4/40 - 20 x 1/4 - 100 x (0.10 - 0.08) = 100 - 6 - 5 - 2 = 87
    assert out["a"]["credibility_score"] == pytest.approx(87.0)
    assert out["a"]["reasons"] == (
        "10.0% of 40 reviews look suspicious (0 low-trust listings); 1 of 4 recent weeks breach "
        "a marketplace limit; refund rate 10.0% above the 8.0% norm"
    )
    # b: cancellations 5% vs 3%: 100 - 2 = 98
    assert out["b"]["credibility_score"] == pytest.approx(98.0)
    assert out["b"]["credibility_level"] == "high"


def test_evaluate_counts_precision_and_recall():
    flags = pl.DataFrame(
        {
            "review_key": ["a", "b", "c", "d"],
            "burst_kind": ["burst_5star", "burst_5star", None, None],
            "in_duplicate_cluster": [False, False, True, False],
            "is_suspicious": [True, True, True, False],
        }
    )
    truth = pl.DataFrame(
        {"review_key": ["a", "c", "d"], "case": ["burst_5star", "duplicate_ring", "rating_attack"]}
    )
    result = evaluate(flags, truth)
    assert result["burst_5star"] == {
        "flagged": 2,
        "true": 1,
        "found": 1,
        "precision": 0.5,
        "recall": 1.0,
    }
    assert result["rating_attack"]["recall"] == 0.0
    assert result["any"]["precision"] == pytest.approx(0.6667) and result["any"][
        "recall"
    ] == pytest.approx(0.6667)


def test_the_sandboxs_injected_manipulation_is_found():
    business = Business(seed=7, scale=0.1, end=date(2025, 3, 1))
    sim = simulate_reviews(business)
    reviews = sim.frame.select(
        pl.col("review_id").alias("review_key"),
        pl.format("{}:{}:{}", "account", "marketplace_id", "channel_item_id").alias(
            "review_listing_id"
        ),
        pl.col("account").alias("connection_name"),
        pl.col("reviewer_id").alias("reviewer_key"),
        "rating",
        pl.col("body").alias("review_text"),
        "reviewed_at",
        pl.col("reviewed_at").dt.date().alias("review_date"),
        "is_verified",
        pl.col("product_id").cast(pl.Utf8),
    )
    flags = review_flags(reviews, duplicate_clusters(reviews, S), S)
    result = evaluate(flags, sim.truth.select(pl.col("review_id").alias("review_key"), "case"))
    for case in ("burst_5star", "duplicate_ring", "rating_attack", "any"):
        assert result[case]["recall"] >= 0.95, (case, result[case])
        assert result[case]["precision"] >= 0.9, (case, result[case])
    trust = listing_trust(reviews, flags, business.end, S)
    attacks = sim.truth.filter(pl.col("case") == "rating_attack").group_by("channel_item_id").len()
    attacked = attacks.filter(pl.col("len") >= 18)["channel_item_id"]  # whole attacks
    listings = ("amazon_na:ATVPDKIKX0DER:" + attacked).implode()
    low = trust.filter(pl.col("review_listing_id").is_in(listings))
    assert low.height == attacked.len() > 0
    assert (low["trust_level"] != "high").all()
