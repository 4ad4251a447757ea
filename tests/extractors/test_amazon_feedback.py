"""The Customer Feedback API stream over real HTTP: review topics and their monthly trends per
listed ASIN, only in the marketplaces the API serves, consistent with the sandbox's reviews."""

from __future__ import annotations

import polars as pl
import pytest

from extractors.amazon.feedback import parse_topics, parse_trends
from extractors.base import RecordError
from extractors.runner import run_stream
from sandbox.amazon.feedback import TOPICS
from sandbox.business.reviews import simulate_reviews
from tests.extractors.amazon_helpers import lake


def test_customer_feedback_lands_topics_and_trends_of_the_served_marketplace(na, sandbox, tmp_path):
    run = run_stream(na, "customer_feedback", tmp_path)
    topics = lake(tmp_path, "amazon_na", "review_topics")
    trends = lake(tmp_path, "amazon_na", "review_trends")
    assert topics.height > 0 and trends.height > 0
    # amazon_na sells in the US and Canada; the API serves only the US
    assert set(topics["marketplace_id"]) == set(trends["marketplace_id"]) == {"ATVPDKIKX0DER"}
    assert set(topics["sentiment"]) <= {"positive", "negative"}
    assert set(topics["topic"]) <= set(TOPICS)
    assert run.stats.requests >= 2 * topics["asin"].n_unique()
    # every ASIN's negative topics count mentions among its 1-2 star reviews of the window
    row = (
        topics.filter(pl.col("sentiment") == "negative")
        .sort("number_of_mentions")
        .row(-1, named=True)
    )
    start, end = row["date_range_start"], row["date_range_end"]
    reviews = simulate_reviews(sandbox.state.business).frame.filter(
        (pl.col("channel_item_id") == row["asin"])
        & (pl.col("marketplace_id") == "ATVPDKIKX0DER")
        & (pl.col("reviewed_at").dt.date() >= start.date())
        & (pl.col("reviewed_at").dt.date() < end.date())
        & (pl.col("rating") <= 2)
    )
    words = TOPICS[row["topic"]]
    hits = reviews.filter(
        pl.any_horizontal(
            pl.col("body").str.to_lowercase().str.contains(w, literal=True) for w in words
        )
    )
    assert row["number_of_mentions"] == hits.height
    assert row["occurrence_percentage"] == pytest.approx(
        100 * hits.height / reviews.height, abs=0.06
    )
    assert len(row["review_snippets"]) == min(3, hits.height)
    # six months per trend topic
    months = trends.group_by("asin", "sentiment", "topic").agg(pl.col("month_start").n_unique())
    assert (months["month_start"] == 6).all()


def test_feedback_parsers_read_the_documented_shape_and_refuse_a_nameless_topic():
    body = {
        "asin": "B0X",
        "dateRange": {"startDate": "2026-05-01T00:00:00Z", "endDate": "2026-11-01T00:00:00Z"},
        "topics": {
            "positiveTopics": [
                {
                    "topic": "Size",
                    "asinMetrics": {
                        "numberOfMentions": 4,
                        "occurrencePercentage": 40.0,
                        "starRatingImpact": 0.3,
                    },
                    "reviewSnippets": ["Right size."],
                }
            ],
            "negativeTopics": None,
        },
    }
    (row,) = parse_topics(body, "ATVPDKIKX0DER", "B0X")
    assert (row["topic"], row["sentiment"], row["number_of_mentions"]) == ("Size", "positive", 4)
    assert row["date_range_end"].isoformat() == "2026-11-01T00:00:00+00:00"
    trend = {
        "reviewTrends": {
            "negativeTopics": [
                {
                    "topic": "Durability",
                    "trendMetrics": [
                        {
                            "dateRange": {"startDate": "2026-10-01T00:00:00Z"},
                            "asinMetrics": {"occurrencePercentage": 12.5},
                        }
                    ],
                }
            ]
        }
    }
    (point,) = parse_trends(trend, "ATVPDKIKX0DER", "B0X")
    assert point["occurrence_percentage"] == 12.5 and point["sentiment"] == "negative"
    body["topics"]["positiveTopics"][0]["topic"] = ""
    with pytest.raises(RecordError, match="without a name"):
        parse_topics(body, "ATVPDKIKX0DER", "B0X")
