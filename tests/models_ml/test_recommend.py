"""models_ml.recommend on hand-made data with known answers (issue 15)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from models_ml.recommend import (
    EVALUATION_SCHEMA,
    RECOMMENDATIONS_SCHEMA,
    SIMILAR_SCHEMA,
    evaluate,
    fit,
    similar_products,
)
from models_ml.settings import RecommendSettings

A, B, C, D = "A", "B", "C", "D"
DAY = date(2025, 1, 1)
SETTINGS = RecommendSettings()


def _events(rows: list[tuple[int, int, str, date]]) -> pl.DataFrame:
    frame = pl.DataFrame(
        rows, schema=["customer_id", "product_id", "event_type", "event_date"], orient="row"
    )
    return frame.with_columns(pl.col("customer_id").cast(pl.String))


def _a_then_b() -> list[tuple[int, int, str, date]]:
    """Customers 1-5 buy A then B; 6 bought A only; 20-39 buy only C (the best seller)."""
    rows = []
    for c in range(1, 6):
        rows += [(c, A, "order", DAY), (c, B, "order", DAY + timedelta(days=20))]
    rows.append((6, A, "order", DAY + timedelta(days=5)))
    rows += [(c, C, "order", DAY + timedelta(days=c % 10)) for c in range(20, 40)]
    return rows


@pytest.mark.parametrize("model", ["item_item", "svd"])
def test_a_customer_who_bought_a_gets_b(model: str) -> None:
    # two factors: the {A, B} buyers and the C buyers (three would reproduce the matrix)
    recs = fit(_events(_a_then_b()), RecommendSettings(factors=2), model).recommend(3)
    assert recs.schema == pl.Schema(RECOMMENDATIONS_SCHEMA)
    six = recs.filter(pl.col("customer_id") == "6").sort("rank")
    assert six["product_id"][0] == B and not six["is_cold_start"][0]
    assert A not in six["product_id"].to_list()  # never what they ordered
    # the popularity baseline would say C, the best seller
    pop = fit(_events(_a_then_b()), SETTINGS, "popularity").recommend(1)
    assert pop.filter(pl.col("customer_id") == "6")["product_id"][0] == C


def test_cold_start_customers_get_popular_products_marked() -> None:
    rows = [*_a_then_b(), (50, D, "view", DAY + timedelta(days=30))]  # D: viewed, never ordered
    recs = fit(_events(rows), SETTINGS, "item_item").recommend(2)
    fifty = recs.filter(pl.col("customer_id") == "50").sort("rank")
    assert fifty["is_cold_start"].all() and (fifty["model"] == "popularity").all()
    assert fifty["product_id"][0] == C


def test_orders_weigh_more_than_cart_adds_and_views() -> None:
    rows = _a_then_b()
    # customer 7 viewed A often and put D in the cart once; 8 and 9 link D with B
    rows += [(7, A, "view", DAY), (7, D, "cart", DAY)]
    rows += [(c, D, "order", DAY) for c in (8, 9)] + [(c, B, "order", DAY) for c in (8, 9)]
    custom = RecommendSettings(event_weights={"order": 4.0, "cart": 2.0, "view": 1.0})
    rec = fit(_events(rows), custom, "item_item")
    row = int(np.searchsorted(rec.customers, "7"))
    assert (
        rec.matrix[row, int(np.searchsorted(rec.products, D))]
        > rec.matrix[row, int(np.searchsorted(rec.products, A))]
    )
    with pytest.raises(ValueError, match="unknown event types"):
        fit(_events([(1, A, "wishlist", DAY)]), SETTINGS, "item_item")
    with pytest.raises(ValueError, match="unknown model"):
        fit(_events(rows), SETTINGS, "als")


def test_similar_products_with_score_and_reason() -> None:
    rec = fit(_events([*_a_then_b(), (60, D, "view", DAY)]), SETTINGS, "item_item")
    sim = similar_products(rec, 2)
    assert sim.schema == pl.Schema(SIMILAR_SCHEMA)
    a = sim.filter(pl.col("product_id") == A).sort("rank")
    assert a["similar_product_id"][0] == B
    assert a["co_purchase_customers"][0] == 5 and a["reason"][0] == "5 customers bought both"
    d = sim.filter(pl.col("product_id") == D)  # nobody ordered D: popular products instead
    assert d["is_cold_start"].all() and d.sort("rank")["similar_product_id"][0] == C


def _split_case() -> tuple[list[tuple[int, int, str, date]], date]:
    """Train: 1-10 buy A and B, 11-20 buy A, 30-69 buy C. Test: 11-20 buy B."""
    split = DAY + timedelta(days=60)
    rows = [(c, p, "order", DAY) for c in range(1, 11) for p in (A, B)]
    rows += [(c, A, "order", DAY) for c in range(11, 21)]
    rows += [(c, C, "order", DAY + timedelta(days=30)) for c in range(30, 70)]
    rows += [(c, B, "order", split + timedelta(days=3)) for c in range(11, 21)]
    return rows, split


def test_evaluation_known_answer() -> None:
    rows, split = _split_case()
    settings = RecommendSettings(eval_weeks=1)
    end = split + timedelta(days=6)
    result = evaluate(_events(rows), settings, end=end)
    assert result.schema == pl.Schema(EVALUATION_SCHEMA)
    by = {r["model"]: r for r in result.iter_rows(named=True)}
    assert by["item_item"]["customers_evaluated"] == 10
    assert by["item_item"]["precision_at_k"] == pytest.approx(0.1)
    assert by["item_item"]["recall_at_k"] == pytest.approx(1.0)
    assert by["item_item"]["map_at_k"] == pytest.approx(1.0)
    # popularity puts C (40 buyers) before B (10 buyers): B at rank 2
    assert by["popularity"]["map_at_k"] == pytest.approx(0.5)
    assert by["popularity"]["precision_ceiling"] == pytest.approx(0.1)
    assert result.filter("is_chosen")["model"].to_list() == ["item_item"]


def test_no_look_ahead() -> None:
    rows, split = _split_case()
    settings = RecommendSettings(eval_weeks=1)
    end = split + timedelta(days=6)
    as_of = split - timedelta(days=1)
    later = [(c, D, "order", split + timedelta(days=d)) for c in range(1, 40) for d in (0, 2)]
    later += [(c, A, "cart", split) for c in range(30, 70)]
    base = fit(_events(rows), settings, "item_item", as_of=as_of).recommend(10)
    changed = fit(_events(rows + later), settings, "item_item", as_of=as_of).recommend(10)
    assert base.equals(changed)
    # events after the test window change nothing in the evaluation either
    after = [(c, D, "order", end + timedelta(days=1)) for c in range(1, 70)]
    assert evaluate(_events(rows), settings, end=end).equals(
        evaluate(_events(rows + after), settings, end=end)
    )
