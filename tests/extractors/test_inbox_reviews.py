"""The inbox's review exports into the lake: the three review apps' CSVs recognised by their
header, an Amazon review file read through a mapping, and malformed rows quarantined with
their reason."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.extractors.inbox_helpers import drop, import_one, lake_rows, quarantine_reasons, utc

JUDGE_ME = (
    "title,body,rating,review_date,source,curated,reviewer_name,reviewer_email,product_id,"
    "product_handle,reply,reply_date,picture_urls,ip_address,location\n"
    "Love it,Works great.,5,2026-01-03 10:00:00 UTC,email,ok,Ann B.,Ann@Example.org ,8001,"
    "camp-chair,,,,,US\n"
    "Meh,So-so.,3,2026-01-04,web,ok,Bob C.,,8001,camp-chair,,,,,US\n"
    "No stars,,,2026-01-04,web,ok,Cy D.,,8001,camp-chair,,,,,US\n"
    "Six stars,Too good,6,2026-01-05,web,ok,Di E.,,8001,camp-chair,,,,,US\n"
    "Bad date,Fine,4,yesterday,web,ok,Ed F.,,8001,camp-chair,,,,,US\n"
    "No product,Fine,4,2026-01-05,web,ok,Fay G.,,,,,,,,US\n"
)
YOTPO = (
    "Review ID,Review Title,Review Content,Review Score,Review Creation Date,Product ID,"
    "Reviewer Display Name,Reviewer Email,Published\n"
    "y-1,Great,Really good,4,2026-01-02T08:30:00Z,8002,Gil H.,gil@example.org,true\n"
    "y-1,Great,Really good,4,2026-01-02T08:30:00Z,8002,Gil H.,gil@example.org,true\n"
)
SPR = (
    "product_handle,state,rating,title,author,email,location,body,reply,created_at,replied_at\n"
    "yoga-mat,published,2,Slippery,Hal I.,hal@example.org,Austin,Slides on the floor.,,"
    "2026-01-06 09:00:00 -0500,\n"
)
AMAZON = (
    "ASIN\tReview ID\tStar Rating\tReview Title\tReview Text\tReview Date\tReviewer\tVerified Purchase\n"
    "B0TEST0001\tR1ABC\t1\tBroke\tBroke in a day.\t2026-01-07\tA. Buyer\tNo\n"
    "B0TEST0001\tR2ABC\t5\tGreat\tLove it.\t2026-01-08\tB. Buyer\tYes\n"
)
AMAZON_MAPPING = """\
format: tsv
timestamp_format: "%Y-%m-%d"
verified_values: ["Yes"]
columns:
  review_id: Review ID
  product_id: ASIN
  rating: Star Rating
  title: Review Title
  body: Review Text
  reviewed_at: Review Date
  reviewer_name: Reviewer
  verified: Verified Purchase
"""


def test_judge_me_export_needs_no_mapping_and_quarantines_malformed_rows(data_dir: Path):
    drop(data_dir, "reviews/shopify_us/judgeme-reviews.csv", JUDGE_ME)
    result = import_one(data_dir, "reviews/shopify_us/judgeme-reviews.csv")
    assert result.ok and result.source_format == "judge_me"
    assert (result.rows_written, result.rows_quarantined) == (2, 4)
    rows = lake_rows(result)
    first = rows[0]
    assert first["rating"] == 5 and first["product_id"] == "8001"
    assert first["product_handle"] == "camp-chair" and first["storefront_id"] == "shopify_us"
    assert first["reviewed_at"] == utc(2026, 1, 3, 10)
    email_hash = hashlib.sha256(b"ann@example.org").hexdigest()
    assert first["reviewer_email_sha256"] == email_hash == first["reviewer_id"]
    assert first["is_verified"] is None  # the export does not say
    assert rows[1]["reviewed_at"] == utc(2026, 1, 4) and rows[1]["reviewer_id"] is None
    assert rows[0]["review_id"].startswith("h:") and rows[0]["review_id"] != rows[1]["review_id"]
    reasons = quarantine_reasons(result)
    assert len(reasons) == 4
    assert "row 3" in reasons[0] and "'rating' (rating): empty" in reasons[0]
    assert "row 4" in reasons[1] and "a star rating is 1 to 5, got '6'" in reasons[1]
    assert "row 5" in reasons[2] and "not a date/time: 'yesterday'" in reasons[2]
    assert "row 6" in reasons[3] and "names no product" in reasons[3]


def test_yotpo_export_refuses_a_repeated_review(data_dir: Path):
    drop(data_dir, "reviews/shopify_eu/yotpo.csv", YOTPO)
    result = import_one(data_dir, "reviews/shopify_eu/yotpo.csv")
    assert result.source_format == "yotpo"
    assert (result.rows_written, result.rows_quarantined) == (1, 1)
    assert lake_rows(result)[0]["review_id"] == "y-1"
    assert "review 'y-1' already appears on row 1" in quarantine_reasons(result)[0]


def test_shopify_product_reviews_export(data_dir: Path):
    drop(data_dir, "reviews/shopify_eu/spr.csv", SPR)
    result = import_one(data_dir, "reviews/shopify_eu/spr.csv")
    assert result.source_format == "shopify_product_reviews"
    (row,) = lake_rows(result)
    assert row["product_handle"] == "yoga-mat" and row["status"] == "published"
    assert row["reviewed_at"] == utc(2026, 1, 6, 14) and row["rating"] == 2


def test_amazon_review_file_through_a_mapping(data_dir: Path):
    drop(data_dir, "reviews/amazon_na/mapping.yml", AMAZON_MAPPING)
    drop(data_dir, "reviews/amazon_na/amazon-reviews.tsv", AMAZON)
    result = import_one(data_dir, "reviews/amazon_na/amazon-reviews.tsv")
    assert result.ok and result.source_format == "mapping" and result.rows_quarantined == 0
    rows = lake_rows(result)
    assert [(r["review_id"], r["rating"], r["is_verified"]) for r in rows] == [
        ("R1ABC", 1, False),
        ("R2ABC", 5, True),
    ]
    assert rows[0]["product_id"] == "B0TEST0001" and rows[0]["reviewed_at"] == utc(2026, 1, 7)


def test_unknown_review_file_without_mapping_is_quarantined_with_a_reason(data_dir: Path):
    drop(data_dir, "reviews/amazon_na/amazon-reviews.tsv", AMAZON)
    result = import_one(data_dir, "reviews/amazon_na/amazon-reviews.tsv")
    assert result.status == "quarantined"
    assert "there is no mapping.yml" in result.reason and "Star Rating" in result.reason
    reason_file = result.quarantine_path.with_name(result.quarantine_path.name + ".reason.txt")
    assert "not imported" in reason_file.read_text()


def test_a_file_with_no_usable_row_is_quarantined(data_dir: Path):
    bad = (
        "product_handle,state,rating,title,author,email,location,body,reply,created_at,replied_at\n"
    )
    bad += "mat,published,0,x,y,,,z,,2026-01-01,\n"
    drop(data_dir, "reviews/shopify_us/spr.csv", bad)
    result = import_one(data_dir, "reviews/shopify_us/spr.csv")
    assert result.status == "quarantined"
    assert "no row of the file can be imported" in result.reason
    assert "a star rating is 1 to 5, got '0'" in result.reason
