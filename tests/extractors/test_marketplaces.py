"""The Amazon marketplace table is spelled once in Python; the dbt seed carries the same rows."""

from __future__ import annotations

import csv
from pathlib import Path

from extractors.amazon.marketplaces import (
    AMAZON_MARKETPLACES,
    MARKETPLACE_BY_NAME,
    MARKETPLACE_CURRENCY,
    MARKETPLACES,
)

SEED = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds" / "amazon_marketplaces.csv"


def test_the_dbt_seed_carries_exactly_the_python_table():
    with SEED.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected = [
        {
            "marketplace_id": m.marketplace_id,
            "country_code": m.country_code,
            "marketplace_name": m.marketplace_name,
            "default_currency": m.default_currency,
        }
        for m in MARKETPLACES
    ]
    assert sorted(rows, key=lambda r: r["marketplace_id"]) == sorted(
        expected, key=lambda r: r["marketplace_id"]
    )


def test_the_lookups_are_views_of_the_one_table():
    ids = [m.marketplace_id for m in MARKETPLACES]
    assert len(set(ids)) == len(ids)
    assert set(AMAZON_MARKETPLACES) == set(MARKETPLACE_CURRENCY) == set(ids)
    assert sorted(MARKETPLACE_BY_NAME.values()) == sorted(ids)
