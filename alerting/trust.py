"""Review alerts (issue 17): ``analytics.review_daily`` and ``analytics.listing_trust`` ->
alert candidates of the types ``review_burst``, ``rating_drop`` and ``suspicious_listing``.

* ``review_burst``: in the last ``review_alert_days`` days, a listing got at least
  ``review_burst_min_reviews`` reviews in 7 days, ``review_burst_velocity`` times what its
  sales lead to expect (or with no sales to expect any from), and at least
  ``review_burst_new_share`` of them by new, unverified reviewers.
* ``rating_drop``: in the last ``review_alert_days`` days, the 7-day average rating of a
  listing with at least ``rating_drop_min_reviews`` reviews in 7 days fell by at least
  ``rating_drop_stars`` stars against the 90 days before, or, without reviews in those 90
  days, is at most ``rating_drop_floor``.
* ``suspicious_listing``: a listing's trust score is below ``suspicious_listing_max_trust``
  with at least ``suspicious_listing_min_reviews`` suspicious reviews (the reasons go into the
  message).

Input contracts (columns read): review_daily: review_listing_id, review_date, channel,
connection_name, product_id, reviews_7d, expected_reviews_7d, review_velocity_ratio,
new_reviewer_share_7d, avg_rating_7d, avg_rating_prior_90d, rating_shift_7d;
listing_trust: review_listing_id, connection_name, product_id, reviews, suspicious_reviews,
trust_score, reasons. One candidate per listing and type (its latest qualifying day), entity
``review_listing`` keyed by the listing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from alerting.candidates import _candidate, _frame
from alerting.settings import AlertRuleSettings

__all__ = ["trust_alerts"]

ENTITY = "review_listing"
BURST_METRICS = (
    "review_date",
    "reviews_7d",
    "expected_reviews_7d",
    "review_velocity_ratio",
    "new_reviewer_share_7d",
)
DROP_METRICS = (
    "review_date",
    "reviews_7d",
    "avg_rating_7d",
    "avg_rating_prior_90d",
    "rating_shift_7d",
)


def _what(r: dict) -> str:
    return f"{r.get('product_id') or r['review_listing_id']} ({r.get('connection_name')})"


def _latest(frame: pl.DataFrame) -> list[dict]:
    return (
        frame.sort("review_date")
        .unique("review_listing_id", keep="last")
        .sort("review_listing_id")
        .to_dicts()
    )


def _daily_alerts(daily: pl.DataFrame, s: AlertRuleSettings, now: datetime) -> list[dict]:
    since = now.date() - timedelta(days=s.review_alert_days)
    recent = daily.filter((pl.col("review_date") > since) & (pl.col("review_date") <= now.date()))
    bursts = recent.filter(
        (pl.col("reviews_7d") >= s.review_burst_min_reviews)
        # no sales to expect reviews from: any such number of reviews is unexpected
        & (pl.col("review_velocity_ratio").fill_null(float("inf")) >= s.review_burst_velocity)
        & (pl.col("new_reviewer_share_7d") >= s.review_burst_new_share)
    )
    drops = recent.filter(
        (pl.col("reviews_7d") >= s.rating_drop_min_reviews)
        & (
            (pl.col("rating_shift_7d") <= -s.rating_drop_stars)
            # no reviews in the 90 days before: the 7-day average against the floor
            | (
                pl.col("avg_rating_prior_90d").is_null()
                & (pl.col("avg_rating_7d") <= s.rating_drop_floor)
            )
        )
    )
    rows = []
    for r in _latest(bursts):
        rows.append(
            _candidate(
                "review_burst",
                s.review_burst_severity,
                ENTITY,
                r["review_listing_id"],
                f"{_what(r)}: {r['reviews_7d']} reviews in the 7 days to {r['review_date']}, "
                + (
                    f"{r['review_velocity_ratio']:.1f}x what sales lead to expect "
                    f"({r['expected_reviews_7d']:.1f})"
                    if r.get("review_velocity_ratio") is not None
                    else "with no recent sales to expect reviews from"
                )
                + f"; {100 * r['new_reviewer_share_7d']:.0f}% by new, unverified reviewers — "
                "check them for fake or incentivised reviews",
                {k: r.get(k) for k in BURST_METRICS},
                now,
                r.get("channel"),
                r.get("connection_name"),
            )
        )
    for r in _latest(drops):
        rows.append(
            _candidate(
                "rating_drop",
                s.rating_drop_severity,
                ENTITY,
                r["review_listing_id"],
                f"{_what(r)}: average rating {r['avg_rating_7d']:.2f} over the 7 days to "
                f"{r['review_date']} ({r['reviews_7d']} reviews), "
                + (
                    f"down {-r['rating_shift_7d']:.2f} stars from {r['avg_rating_prior_90d']:.2f} "
                    "in the 90 days before"
                    if r.get("rating_shift_7d") is not None
                    else "with no reviews in the 90 days before"
                )
                + " — read the reviews: a product problem, or a rating attack?",
                {k: r.get(k) for k in DROP_METRICS},
                now,
                r.get("channel"),
                r.get("connection_name"),
            )
        )
    return rows


def _trust_alerts(trust: pl.DataFrame, s: AlertRuleSettings, now: datetime) -> list[dict]:
    low = trust.filter(
        (pl.col("trust_score") < s.suspicious_listing_max_trust)
        & (pl.col("suspicious_reviews") >= s.suspicious_listing_min_reviews)
    ).sort("review_listing_id")
    return [
        _candidate(
            "suspicious_listing",
            s.suspicious_listing_severity,
            ENTITY,
            r["review_listing_id"],
            f"{_what(r)}: review trust {r['trust_score']:.0f}/100 — {r['reasons']}",
            {k: r.get(k) for k in ("trust_score", "reviews", "suspicious_reviews")},
            now,
            None,
            r.get("connection_name"),
        )
        for r in low.to_dicts()
    ]


def trust_alerts(
    review_daily: pl.DataFrame | None,
    listing_trust: pl.DataFrame | None,
    settings: AlertRuleSettings,
    now: datetime,
) -> pl.DataFrame:
    """review_burst / rating_drop / suspicious_listing candidates."""
    rows: list[dict] = []
    if review_daily is not None and not review_daily.is_empty():
        rows += _daily_alerts(review_daily, settings, now)
    if listing_trust is not None and not listing_trust.is_empty():
        rows += _trust_alerts(listing_trust, settings, now)
    return _frame(rows)
