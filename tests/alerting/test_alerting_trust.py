"""Review alerts (alerting.trust): a burst, a rating drop and a suspicious listing give one
alert each with their numbers; below the thresholds, or too old, nothing; bad thresholds are
refused with a clear message."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest
from pydantic import ValidationError

from alerting import AlertRuleSettings, build_candidates
from alerting.trust import trust_alerts

NOW = datetime(2026, 3, 21, 8, tzinfo=UTC)


def day(listing: str, when: date, **values) -> dict:
    row = {
        "review_listing_id": listing,
        "review_date": when,
        "channel": "shopify",
        "connection_name": "shopify_us",
        "product_id": f"P-{listing}",
        "reviews_7d": 2,
        "expected_reviews_7d": 1.0,
        "review_velocity_ratio": 2.0,
        "new_reviewer_share_7d": 0.0,
        "avg_rating_7d": 4.5,
        "avg_rating_prior_90d": 4.4,
        "rating_shift_7d": 0.1,
    }
    return {**row, **values}


DAILY = pl.DataFrame(
    [
        # a burst: 24 reviews, 12x expected, 90% new -> one alert, on its latest day
        day("B", date(2026, 3, 18), reviews_7d=10, expected_reviews_7d=2.0, review_velocity_ratio=5.0,
            new_reviewer_share_7d=0.9),
        day("B", date(2026, 3, 19), reviews_7d=24, expected_reviews_7d=2.0, review_velocity_ratio=12.0,
            new_reviewer_share_7d=0.9),
        # many reviews, but from buyers: no burst
        day("V", date(2026, 3, 19), reviews_7d=24, review_velocity_ratio=12.0, new_reviewer_share_7d=0.1),
        # a rating attack: 4.4 -> 1.3 over 18 reviews
        day("A", date(2026, 3, 20), reviews_7d=18, avg_rating_7d=1.3, avg_rating_prior_90d=4.4,
            rating_shift_7d=-3.1),
        # a drop on 4 reviews only, and an old burst: nothing
        day("S", date(2026, 3, 20), reviews_7d=4, avg_rating_7d=1.0, rating_shift_7d=-3.4),
        day("O", date(2026, 3, 1), reviews_7d=30, review_velocity_ratio=20.0, new_reviewer_share_7d=1.0),
        # no sales and no earlier reviews: 9 new 1-star reviews are both a burst and a drop
        day("N", date(2026, 3, 20), reviews_7d=9, expected_reviews_7d=None, review_velocity_ratio=None,
            new_reviewer_share_7d=1.0, avg_rating_7d=1.0, avg_rating_prior_90d=None, rating_shift_7d=None),
    ]
)  # fmt: skip
TRUST = pl.DataFrame(
    {
        "review_listing_id": ["B", "A", "H"],
        "connection_name": ["shopify_us", "amazon_na", "shopify_us"],
        "product_id": ["P-B", "P-A", "P-H"],
        "reviews": [30, 20, 50],
        "suspicious_reviews": [24, 18, 1],
        "trust_score": [12.0, 20.0, 98.8],
        "reasons": ["24 of 30 reviews look suspicious", "18 of 20 reviews look suspicious", "-"],
    }
)


def test_one_alert_per_listing_and_type_with_the_numbers():
    out = trust_alerts(DAILY, TRUST, AlertRuleSettings(), NOW)
    got = sorted(zip(out["alert_type"], out["entity_id"], strict=True))
    assert got == [
        ("rating_drop", "A"),
        ("rating_drop", "N"),
        ("review_burst", "B"),
        ("review_burst", "N"),
        ("suspicious_listing", "A"),
        ("suspicious_listing", "B"),
    ]
    burst = out.filter(pl.col("alert_type") == "review_burst").row(0, named=True)
    assert burst["message"] == (
        "P-B (shopify_us): 24 reviews in the 7 days to 2026-03-19, 12.0x what sales lead to "
        "expect (2.0); 90% by new, unverified reviewers — check them for fake or incentivised "
        "reviews"
    )
    assert '"reviews_7d": 24' in burst["metrics"] and burst["severity"] == "warning"
    drop = out.filter(pl.col("alert_type") == "rating_drop").row(0, named=True)
    assert "down 3.10 stars from 4.40" in drop["message"]
    new = out.filter(pl.col("entity_id") == "N").sort("alert_type")["message"].to_list()
    assert "with no reviews in the 90 days before" in new[0]
    assert "with no recent sales to expect reviews from" in new[1]
    suspicious = out.filter(
        (pl.col("alert_type") == "suspicious_listing") & (pl.col("entity_id") == "A")
    ).row(0, named=True)
    assert (
        suspicious["message"]
        == "P-A (amazon_na): review trust 20/100 — 18 of 20 reviews look suspicious"
    )


def test_wired_into_build_candidates_and_thresholds_move_the_line():
    assert build_candidates(NOW, review_daily=DAILY, listing_trust=TRUST).height == 6
    strict = AlertRuleSettings(
        review_burst_min_reviews=10,
        review_burst_velocity=15,
        rating_drop_stars=3.5,
        rating_drop_floor=1,
        rating_drop_min_reviews=10,
        suspicious_listing_max_trust=15,
    )
    out = trust_alerts(DAILY, TRUST, strict, NOW)
    assert out["alert_type"].to_list() == ["suspicious_listing"] and out["entity_id"].to_list() == [
        "B"
    ]
    assert trust_alerts(None, None, AlertRuleSettings(), NOW).is_empty()
    assert trust_alerts(DAILY.head(0), TRUST.head(0), AlertRuleSettings(), NOW).is_empty()


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("review_burst_new_share", 1.5, "less than or equal to 1"),
        ("review_burst_velocity", 1, "greater than 1"),
        ("rating_drop_severity", "loud", "'info', 'warning' or 'critical'"),
    ],
)
def test_bad_thresholds_are_refused_with_a_clear_message(setting, value, message):
    with pytest.raises(ValidationError, match=message) as info:
        AlertRuleSettings(**{setting: value})
    assert setting in str(info.value)
