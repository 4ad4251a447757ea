"""The sandbox's reviews: honest ones follow the orders, the injected ones carry their truth."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from sandbox.business import Business
from sandbox.business.reviews import CASES, review_truth, simulate_reviews

END = date(2025, 3, 1)


@pytest.fixture(scope="module")
def business() -> Business:
    return Business(seed=7, scale=0.1, end=END)


def _words(text: str) -> set[tuple[str, ...]]:
    words = text.lower().split()
    return {tuple(words[i : i + 3]) for i in range(len(words) - 2)}


def test_reviews_are_deterministic_and_leave_the_orders_alone(business: Business) -> None:
    before = business.orders.hash_rows().sum()
    frame = simulate_reviews(business).frame
    again = simulate_reviews(Business(seed=7, scale=0.1, end=END)).frame
    assert frame.equals(again)
    assert business.orders.hash_rows().sum() == before
    assert frame["review_id"].is_unique().all()
    assert frame["rating"].is_between(1, 5).all()
    assert (frame["reviewed_at"].dt.date() < END).all()


def test_honest_reviews_follow_their_order(business: Business) -> None:
    frame = simulate_reviews(business).frame
    honest = frame.filter(pl.col("order_key").is_not_null())
    assert honest["is_verified"].all()
    joined = honest.join(business.orders, on="order_key")
    assert (joined["reviewed_at"] > joined["purchased_at"]).all()
    assert joined["cancelled_at"].is_null().all()
    assert (
        joined["customer_id"].cast(pl.Utf8).map_elements(lambda c: f"CU{c}")
        == joined["reviewer_id"]
    ).all()
    # buyers whose line was refunded rate lower
    refunded = business.refunds.select("order_key", "line_number").unique()
    keys = honest.with_columns(
        pl.col("review_id").str.split("-").list.get(2).cast(pl.Int32).alias("line_number")
    )
    low = keys.join(refunded, on=["order_key", "line_number"])["rating"].mean()
    assert low < 2.0 < keys["rating"].mean()


def test_injected_cases_and_their_truth(business: Business) -> None:
    truth = review_truth(business)
    frame = simulate_reviews(business).frame
    assert sorted(truth["case"].unique()) == sorted(CASES)
    fakes = frame.join(truth, on="review_id")
    assert fakes.height == truth.height
    sizes = dict(truth.group_by("case").len().rows())
    # full cycles of 24, 8 x 3 and 18 reviews (the last one may be cut by `end`)
    assert sizes["burst_5star"] >= 5 * 24 and sizes["rating_attack"] >= 5 * 18
    assert sizes["duplicate_ring"] >= 5 * 24
    assert not fakes["is_verified"].any()
    assert fakes["order_key"].is_null().all()
    honest_reviewers = set(frame.filter(pl.col("order_key").is_not_null())["reviewer_id"])
    assert not set(fakes["reviewer_id"]) & honest_reviewers
    by_case = {c: fakes.filter(pl.col("case") == c) for c in CASES}
    assert by_case["burst_5star"]["channel_item_id"].n_unique() > 1  # other listings each cycle
    assert (by_case["burst_5star"]["rating"] == 5).all()
    assert (by_case["rating_attack"]["rating"] == 1).all()
    assert by_case["rating_attack"]["account"].unique().to_list() == ["amazon_na"]
    ring = by_case["duplicate_ring"].filter(
        pl.col("review_id").str.starts_with("RV-duplicate_ring-0-")
    )
    assert ring["reviewer_id"].n_unique() == 8 and ring["channel_item_id"].n_unique() == 3
    texts = ring.filter(pl.col("channel_item_id") == ring["channel_item_id"][0])["body"].to_list()
    a, b = _words(texts[0]), _words(texts[1])
    assert len(a & b) / len(a | b) > 0.6


def test_short_business_has_no_manipulation_and_a_day_never_changes() -> None:
    small = Business(seed=7, scale=0.1, end=date(2024, 2, 1))
    assert review_truth(small).height == 0
    assert simulate_reviews(small).frame.height > 0
    shorter = simulate_reviews(Business(seed=7, scale=0.1, end=date(2025, 1, 1))).frame
    longer = simulate_reviews(Business(seed=7, scale=0.1, end=END)).frame
    cut = longer.filter(pl.col("reviewed_at").dt.date() < date(2025, 1, 1) - timedelta(days=60))
    assert cut.equals(
        shorter.filter(pl.col("reviewed_at").dt.date() < date(2025, 1, 1) - timedelta(days=60))
    )


def test_review_exports_import_through_the_inbox(business: Business, tmp_path) -> None:
    from extractors.inbox import import_all
    from sandbox.exports.reviews import write_review_exports

    start = date(2024, 12, 1)
    written = write_review_exports(business, tmp_path / "inbox", start, END)
    assert len(written) == 6
    results = import_all(tmp_path, min_age_seconds=0)
    by_format = {r.source_format: r for r in results if r.ok}
    assert {r.status for r in results} == {"imported"}
    assert set(by_format) == {"judge_me", "shopify_product_reviews", "mapping"}
    assert all(r.rows_quarantined == 0 for r in results)
    expected = simulate_reviews(business).frame.filter(pl.col("reviewed_at").dt.date() >= start)
    expected = expected.filter(pl.col("account") != "walmart_us")
    assert sum(r.rows_written for r in results) == expected.height
