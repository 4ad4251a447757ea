"""The ``customer_feedback`` stream: Customer Feedback API v2024-06-01 at item level.

For every ASIN the merchant-listings report names in a marketplace the API serves (US, UK, FR,
IT, DE, ES, JP; others are skipped, the API refuses them), one ``getItemReviewTopics``
(``sortBy=MENTIONS``; each topic also carries its star-rating impact) and one
``getItemReviewTrends`` call. Topics land as ``review_topics`` (one row per ASIN, sentiment and
topic), the monthly shares as ``review_trends``. A null topic list (too few reviews) is no row;
an ASIN the API does not know (404) is skipped. Amazon refreshes this data weekly, so a daily
sync mostly rewrites the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from extractors.amazon.client import AmazonClient, _Clients, _flat_file, _Report
from extractors.base import ExtractResult, RecordError
from extractors.http import ApiError

SUPPORTED_MARKETPLACES = frozenset(
    {
        "ATVPDKIKX0DER",  # US
        "A1F83G8C2ARO7P",  # UK
        "A13V1IB3VIYZZH",  # FR
        "APJ6JRA9NG5V4",  # IT
        "A1PA6795UKMFR9",  # DE
        "A1RKKUPIHCS9HS",  # ES
        "A1VC38T7YXB528",  # JP
    }
)
SENTIMENTS = ("positive", "negative")


def _time(value: object, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise RecordError(f"{field}: not an ISO 8601 time: {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _range(body: dict, field: str = "dateRange") -> tuple[datetime | None, datetime | None]:
    span = body.get(field) or {}
    if not isinstance(span, dict):
        raise RecordError(f"{field}: expected an object")
    return _time(span.get("startDate"), f"{field}.startDate"), _time(
        span.get("endDate"), f"{field}.endDate"
    )


def parse_topics(body: dict, marketplace: str, asin: str) -> list[dict]:
    """Rows of ``review_topics`` from one getItemReviewTopics answer."""
    start, end = _range(body)
    rows = []
    topics = body.get("topics") or {}
    for sentiment in SENTIMENTS:
        for topic in topics.get(f"{sentiment}Topics") or []:
            metrics = topic.get("asinMetrics") or {}
            if not topic.get("topic"):
                raise RecordError(f"{sentiment}Topics: a topic without a name")
            rows.append(
                {
                    "marketplace_id": marketplace,
                    "asin": asin,
                    "sentiment": sentiment,
                    "topic": topic["topic"],
                    "number_of_mentions": metrics.get("numberOfMentions"),
                    "occurrence_percentage": metrics.get("occurrencePercentage"),
                    "star_rating_impact": metrics.get("starRatingImpact"),
                    "review_snippets": list(topic.get("reviewSnippets") or []),
                    "date_range_start": start,
                    "date_range_end": end,
                }
            )
    return rows


def parse_trends(body: dict, marketplace: str, asin: str) -> list[dict]:
    """Rows of ``review_trends`` from one getItemReviewTrends answer."""
    rows = []
    trends = body.get("reviewTrends") or {}
    for sentiment in SENTIMENTS:
        for topic in trends.get(f"{sentiment}Topics") or []:
            for point in topic.get("trendMetrics") or []:
                start, end = _range(point)
                if start is None:
                    raise RecordError(f"{topic.get('topic')}: a trend point without a month")
                rows.append(
                    {
                        "marketplace_id": marketplace,
                        "asin": asin,
                        "sentiment": sentiment,
                        "topic": topic["topic"],
                        "month_start": start,
                        "month_end": end,
                        "occurrence_percentage": (point.get("asinMetrics") or {}).get(
                            "occurrencePercentage"
                        ),
                    }
                )
    return rows


def _call(client: AmazonClient, path: str, endpoint: str, params: dict) -> dict | None:
    try:
        return client.get_page(path, endpoint, params)
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise


def extract_customer_feedback(
    marketplaces: list[str],
    clients: _Clients,
    run_reports: Callable[..., list[tuple[_Report, Any]]],
    result: ExtractResult,
) -> None:
    """Topics and trends of every listed ASIN of the served marketplaces into ``result``."""
    served = [m for m in marketplaces if m in SUPPORTED_MARKETPLACES]
    if not served:
        return
    reports = [_Report("GET_MERCHANT_LISTINGS_ALL_DATA", m) for m in served]
    listed = run_reports(
        clients,
        reports,
        lambda r: {"reportType": r.report_type, "marketplaceIds": [r.marketplace_id]},
        _flat_file,
    )
    client = clients.get()
    for report, rows in listed:
        marketplace = report.marketplace_id
        asins = sorted({row.get("asin1") for row in rows if row.get("asin1")})
        for asin in asins:
            base = f"/customerFeedback/2024-06-01/items/{asin}/reviews"
            for endpoint, path, params, entity, parse in (
                (
                    "getItemReviewTopics",
                    f"{base}/topics",
                    {"marketplaceId": marketplace, "sortBy": "MENTIONS"},
                    "review_topics",
                    parse_topics,
                ),
                (
                    "getItemReviewTrends",
                    f"{base}/trends",
                    {"marketplaceId": marketplace},
                    "review_trends",
                    parse_trends,
                ),
            ):
                body = _call(client, path, endpoint, params)
                if body is None:
                    continue
                try:
                    parsed = parse(body, marketplace, asin)
                except RecordError as exc:
                    result.reject(entity, str(exc), body)
                    continue
                for row in parsed:
                    result.add(entity, row)
