"""SP-API Customer Feedback API v2024-06-01, item level, from the simulated reviews.

* ``getItemReviewTopics`` ``GET /customerFeedback/2024-06-01/items/{asin}/reviews/topics``
  (``marketplaceId``, ``sortBy`` MENTIONS | STAR_RATING_IMPACT): the ten most positive and ten
  most negative review topics of the ASIN, each with ``asinMetrics`` (``numberOfMentions``,
  ``occurrencePercentage``, ``starRatingImpact``) and up to three ``reviewSnippets``;
  ``positiveTopics``/``negativeTopics`` are null when there are too few such reviews.
* ``getItemReviewTrends`` ``GET .../items/{asin}/reviews/trends`` (``marketplaceId``): the same
  topics with the share of reviews mentioning them in each of the past six months.

The data is refreshed weekly (as Amazon's): it covers the six months before the last Sunday.
Topics are read from the review texts with a keyword list per topic (:data:`TOPICS`); a topic is
positive in the reviews of 4-5 stars and negative in those of 1-2. The API exists in US, UK,
FR, IT, DE, ES and JP only: another marketplace is 400 ``InvalidInput``; an ASIN the seller
does not list is 404 ``NotFound``.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
from flask import Response, request

from sandbox.amazon.accounts import _Account
from sandbox.amazon.common import SpApiError, _invalid, _json
from sandbox.amazon.context import SpApi
from sandbox.business.reviews import simulate_reviews

SUPPORTED = {
    "ATVPDKIKX0DER": "US",
    "A1F83G8C2ARO7P": "UK",
    "A13V1IB3VIYZZH": "FR",
    "APJ6JRA9NG5V4": "IT",
    "A1PA6795UKMFR9": "DE",
    "A1RKKUPIHCS9HS": "ES",
    "A1VC38T7YXB528": "JP",
}
TOPICS: dict[str, tuple[str, ...]] = {
    "Product quality": ("quality", "flimsy", "cheap", "finish", "materials", "well made", "build"),
    "Durability": ("stopped working", "came loose", "broke", "sturdy"),
    "Size": ("size", "smaller", "heavier"),
    "Ease of use": ("easy to set up", "fiddling", "instructions", "set up"),
    "Appearance": ("photos", "pictures", "colour", "looks"),
    "Packaging and delivery": ("arrived", "packed", "damaged", "delivery", "shipping"),
    "Value for money": ("price", "value", "money", "penny"),
}
MIN_REVIEWS = 3  # fewer reviews of a sentiment: that list is null
REFRESH_WEEKDAY = 6  # Sunday
WINDOW_DAYS = 183


def _window(today: date) -> tuple[date, date]:
    end = today - timedelta(days=(today.weekday() - REFRESH_WEEKDAY) % 7 or 7)
    return end - timedelta(days=WINDOW_DAYS), end


def _months(end: date) -> list[tuple[date, date]]:
    first = end.replace(day=1)
    months = []
    for _ in range(6):
        last = first - timedelta(days=1)
        first = last.replace(day=1)
        months.append((first, last))
    return months[::-1]


def _mentions(texts: pl.Series, words: tuple[str, ...]) -> pl.Series:
    lower = texts.str.to_lowercase()
    hit = pl.Series([False] * len(texts), dtype=pl.Boolean)
    for word in words:
        hit = hit | lower.str.contains(word, literal=True)
    return hit


def _topic_list(reviews: pl.DataFrame, sentiment: str, sort_by: str) -> list[dict] | None:
    stars = reviews["rating"]
    chosen = reviews.filter(stars >= 4 if sentiment == "positive" else stars <= 2)
    if chosen.height < MIN_REVIEWS:
        return None
    mean = float(stars.mean())
    topics = []
    for topic, words in TOPICS.items():
        hit = _mentions(chosen["body"], words)
        count = int(hit.sum())
        if count == 0:
            continue
        rated = chosen.filter(hit)
        topics.append(
            {
                "topic": topic,
                "asinMetrics": {
                    "numberOfMentions": count,
                    "occurrencePercentage": round(100.0 * count / chosen.height, 1),
                    "starRatingImpact": round(float(rated["rating"].mean()) - mean, 2),
                },
                "reviewSnippets": rated["body"].head(3).to_list(),
            }
        )
    key = "numberOfMentions" if sort_by == "MENTIONS" else "starRatingImpact"
    topics.sort(key=lambda t: abs(t["asinMetrics"][key]), reverse=True)
    return topics[:10]


def register_customer_feedback(api: SpApi) -> None:
    """``getItemReviewTopics`` and ``getItemReviewTrends`` on the blueprint."""
    blueprint, state, operation = api.blueprint, api.state, api.operation

    def reviews_of(acct: _Account, asin: str) -> tuple[pl.DataFrame, dict, date, date]:
        marketplace = request.args.get("marketplaceId", "")
        if not marketplace:
            raise _invalid("Missing required parameter marketplaceId.")
        if marketplace not in SUPPORTED:
            raise _invalid(
                "Invalid Input",
                f"marketplaceId {marketplace} is not supported by the Customer Feedback API",
            )
        api.check_marketplaces(acct, [marketplace], "marketplaceId")
        listed = acct.business.listings.filter(
            (pl.col("account") == acct.account)
            & (pl.col("marketplace_id") == marketplace)
            & (pl.col("channel_item_id") == asin)
        )
        if listed.is_empty():
            raise SpApiError(404, "NotFound", f"ASIN {asin} was not found in {marketplace}.")
        start, end = _window(state.now().date())
        frame = simulate_reviews(acct.business).frame.filter(
            (pl.col("account") == acct.account)
            & (pl.col("marketplace_id") == marketplace)
            & (pl.col("channel_item_id") == asin)
        )
        head = {
            "asin": asin,
            "itemName": listed["title"][0],
            "marketplaceId": marketplace,
            "countryCode": SUPPORTED[marketplace],
        }
        return frame, head, start, end

    def in_range(frame: pl.DataFrame, first: date, last: date) -> pl.DataFrame:
        day = pl.col("reviewed_at").dt.date()
        return frame.filter((day >= first) & (day <= last))

    @blueprint.get("/customerFeedback/2024-06-01/items/<asin>/reviews/topics")
    @operation("getItemReviewTopics")
    def get_item_review_topics(acct: _Account, asin: str) -> Response:
        sort_by = request.args.get("sortBy", "")
        if sort_by not in ("MENTIONS", "STAR_RATING_IMPACT"):
            raise _invalid("Invalid Input", "sortBy must be MENTIONS or STAR_RATING_IMPACT")
        frame, head, start, end = reviews_of(acct, asin)
        window = in_range(frame, start, end - timedelta(days=1))
        body = {
            **head,
            "dateRange": {"startDate": f"{start}T00:00:00Z", "endDate": f"{end}T00:00:00Z"},
            "topics": {
                "positiveTopics": _topic_list(window, "positive", sort_by),
                "negativeTopics": _topic_list(window, "negative", sort_by),
            },
        }
        return _json(body)

    @blueprint.get("/customerFeedback/2024-06-01/items/<asin>/reviews/trends")
    @operation("getItemReviewTrends")
    def get_item_review_trends(acct: _Account, asin: str) -> Response:
        frame, head, start, end = reviews_of(acct, asin)
        months = _months(end)
        trends: dict[str, list[dict] | None] = {}
        for sentiment in ("positive", "negative"):
            listed = _topic_list(in_range(frame, start, end), sentiment, "MENTIONS")
            if listed is None:
                trends[f"{sentiment}Topics"] = None
                continue
            rows = []
            for topic in listed:
                points = []
                for first, last in months:
                    month = in_range(frame, first, last)
                    stars = month["rating"]
                    month = month.filter(stars >= 4 if sentiment == "positive" else stars <= 2)
                    hits = int(_mentions(month["body"], TOPICS[topic["topic"]]).sum())
                    share = round(100.0 * hits / month.height, 1) if month.height else 0.0
                    points.append(
                        {
                            "dateRange": {
                                "startDate": f"{first}T00:00:00Z",
                                "endDate": f"{last}T23:59:59Z",
                            },
                            "asinMetrics": {"occurrencePercentage": share},
                        }
                    )
                rows.append({"topic": topic["topic"], "trendMetrics": points})
            trends[f"{sentiment}Topics"] = rows
        body = {
            **head,
            "dateRange": {
                "startDate": f"{months[0][0]}T00:00:00Z",
                "endDate": f"{months[-1][1]}T23:59:59Z",
            },
            "reviewTrends": trends,
        }
        return _json(body)
