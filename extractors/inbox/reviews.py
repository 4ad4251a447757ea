"""Product review exports (``inbox/reviews/<storefront>/``) to the ``reviews`` entity.

Three review-app exports are recognised by their header and need no mapping:

* **Judge.me** (``title, body, rating, review_date, source, curated, reviewer_name,
  reviewer_email, product_id, product_handle, reply, ...``);
* **Yotpo** (``Review Title, Review Content, Review Score, Review Creation Date, Product ID,
  Reviewer Display Name, Reviewer Email, ...``);
* **Shopify Product Reviews** (``product_handle, state, rating, title, author, email, location,
  body, reply, created_at, replied_at``).

Any other file (an Amazon review download, another app) is read through the folder's
``mapping.yml`` (:class:`ReviewsMapping`), like the order exports. A verified-purchase flag is
read when the file has one (Judge.me/Yotpo: a ``verified``/``verified_buyer``/``Verified
Purchase`` column if present; a mapping: ``columns: verified`` with ``verified_values``), else
left empty, and the warehouse then checks the reviewer against the storefront's buyers.

Reviewer e-mail addresses are not stored: ``reviewer_email_sha256`` is the SHA-256 of the
trimmed, lower-cased address (the hash the warehouse uses for buyers' e-mails). A row is
quarantined with its reason when its rating is missing, not a whole number or outside 1-5, its
date is missing or not a date, it names no product, or its review id repeats an earlier row.
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from extractors.inbox.common import (
    FileRejected,
    Parsed,
    RawTable,
    decode,
    find_column,
    gunzip_if_needed,
    header_line,
    load_mapping,
    mapped_columns,
    read_delimited,
    select_rows,
)
from extractors.inbox.orders import read_table
from extractors.inbox.schemas import REVIEWS
from extractors.inbox.settings import FileSettings, Strict, file_format
from extractors.inbox.values import (
    CellError,
    NumberFormat,
    TimestampFormat,
    as_text,
    is_blank,
    shown,
)

REVIEW_FORMATS = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".parquet": "parquet"}
# export -> {field: header}; the signature is every header of the export that is not optional
EXPORTS: dict[str, dict[str, str]] = {
    "judge_me": {
        "title": "title",
        "body": "body",
        "rating": "rating",
        "reviewed_at": "review_date",
        "reviewer_name": "reviewer_name",
        "reviewer_email": "reviewer_email",
        "product_id": "product_id",
        "product_handle": "product_handle",
        "status": "curated",
    },
    "yotpo": {
        "title": "Review Title",
        "body": "Review Content",
        "rating": "Review Score",
        "reviewed_at": "Review Creation Date",
        "product_id": "Product ID",
        "reviewer_name": "Reviewer Display Name",
        "reviewer_email": "Reviewer Email",
    },
    "shopify_product_reviews": {
        "product_handle": "product_handle",
        "status": "state",
        "rating": "rating",
        "title": "title",
        "reviewer_name": "author",
        "reviewer_email": "email",
        "body": "body",
        "reviewed_at": "created_at",
    },
}
OPTIONAL = {
    "judge_me": {"product_id", "status", "reviewer_email", "title"},
    "yotpo": {"reviewer_email", "title"},
    "shopify_product_reviews": {"reviewer_email", "title", "status"},
}
EXPORT_OPTIONAL_COLUMNS = {
    "review_id": ("id", "review_id", "Review ID"),
    "verified": ("verified", "verified_buyer", "verified_purchase", "Verified Purchase"),
}
TRUE_WORDS = ("true", "yes", "y", "1", "verified", "verified buyer", "verified purchase")
# times the review apps write: ISO 8601, or "2024-03-01 10:22:33 UTC"
_APP_TIME_PATTERNS = ("%Y-%m-%d %H:%M:%S %Z", "%Y-%m-%d %H:%M:%S %z", "%m/%d/%Y", "%d.%m.%Y")

EXAMPLE_MAPPING = """\
    format: tsv                  # csv | tsv | parquet (default: from the file name)
    timestamp_format: "%Y-%m-%d" # iso | epoch_s | epoch_ms | a strftime pattern
    verified_values: ["Yes"]     # values of the verified column that mean a verified purchase
    columns:                     # <field>: <the file's column header>
      review_id: Review ID       # optional; default: a hash of the row's product, reviewer, time, text
      product_id: ASIN           # product_id, product_handle and/or product_sku (one required)
      rating: Star Rating        # required, 1-5
      reviewed_at: Review Date   # required
      title: Review Title
      body: Review Text
      reviewer_id: Reviewer ID
      reviewer_name: Reviewer
      verified: Verified Purchase
      storefront_id: Marketplace # optional; default: the mapping's storefront_id, else the folder"""


class ReviewColumns(Strict):
    review_id: str | None = None
    product_id: str | None = None
    product_handle: str | None = None
    product_sku: str | None = None
    rating: str
    reviewed_at: str
    title: str | None = None
    body: str | None = None
    reviewer_id: str | None = None
    reviewer_name: str | None = None
    reviewer_email: str | None = None
    verified: str | None = None
    status: str | None = None
    storefront_id: str | None = None


class ReviewsMapping(FileSettings):
    """``inbox/reviews/<storefront>/mapping.yml``."""

    format: Literal["csv", "tsv", "parquet"] | None = None
    storefront_id: str | None = Field(None, description="default: the folder name")
    verified_values: list[str] = Field(default_factory=lambda: list(TRUE_WORDS))
    columns: ReviewColumns


def detect_review_export(path: Path, data: bytes) -> str | None:
    """``judge_me``, ``yotpo`` or ``shopify_product_reviews`` when the header is that app's."""
    first = header_line(path, data)
    if first is None:
        return None
    try:
        header = [c.strip() for c in next(csv.reader(io.StringIO(first)), [])]
    except csv.Error:
        return None
    for export, fields in EXPORTS.items():
        required = [h for f, h in fields.items() if f not in OPTIONAL[export]]
        if all(find_column(header, h) is not None for h in required):
            return export
    return None


def _app_time(value: object) -> datetime | None:
    if is_blank(value):
        return None
    text = str(value).strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        moment = None
        for pattern in _APP_TIME_PATTERNS:
            try:
                moment = datetime.strptime(text, pattern)
                break
            except ValueError:
                continue
        if moment is None:
            raise CellError(f"not a date/time: {shown(value)}") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _rating(numbers: NumberFormat):
    def parse(value: object) -> int | None:
        number = numbers.integer(value)
        if number is not None and not 1 <= number <= 5:
            raise CellError(f"a star rating is 1 to 5, got {shown(value)}")
        return number

    return parse


def _flag(true_values: list[str]):
    words = {w.strip().casefold() for w in true_values}

    def parse(value: object) -> bool | None:
        if is_blank(value):
            return None
        return str(value).strip().casefold() in words

    return parse


def email_sha256(email: str | None) -> str | None:
    return None if email is None else hashlib.sha256(email.strip().lower().encode()).hexdigest()


def _derived_id(folder: str, product: str | None, reviewer: str | None, at, body) -> str:
    key = "\x1f".join(str(p) for p in (folder, product, reviewer, at, body))
    return "h:" + hashlib.sha256(key.encode()).hexdigest()[:24]


def _build(
    raw: RawTable,
    found: dict[str, str],
    times,
    numbers: NumberFormat,
    verified_values: list[str],
    storefront: str,
    folder: str,
    where: str,
    source_format: str,
) -> Parsed:
    cells = raw.cells()
    n = raw.rows

    def convert(setting: str, parse, required: bool = False) -> list:
        if setting not in found:
            return [None] * n
        label = f"{found[setting]!r} ({setting})"
        return cells.convert(raw.columns[found[setting]], parse, label, required)

    out: dict[str, list[Any]] = {}
    out["rating"] = convert("rating", _rating(numbers), required=True)
    out["reviewed_at"] = convert("reviewed_at", times, required=True)
    for name in ("product_id", "product_handle", "product_sku", "title", "body", "status"):
        out[name] = convert(name, as_text)
    out["reviewer_name"] = convert("reviewer_name", as_text)
    hashes = [email_sha256(e) for e in convert("reviewer_email", as_text)]
    out["reviewer_email_sha256"] = hashes
    given = convert("reviewer_id", as_text)
    out["reviewer_id"] = [g or h for g, h in zip(given, hashes, strict=True)]
    out["is_verified"] = convert("verified", _flag(verified_values))
    out["storefront_id"] = [s or storefront for s in convert("storefront_id", as_text)]
    out["source_format"] = [source_format] * n
    ids = convert("review_id", as_text)
    first: dict[str, int] = {}
    for i in range(n):
        product = out["product_id"][i] or out["product_handle"][i] or out["product_sku"][i]
        if product is None:
            cells.add(i, "names no product (product id, handle or SKU are all empty)")
        if ids[i] is None:
            ids[i] = _derived_id(
                folder, product, out["reviewer_id"][i] or out["reviewer_name"][i],
                out["reviewed_at"][i], out["body"][i],
            )  # fmt: skip
        if ids[i] in first:
            cells.add(
                i, f"review {ids[i]!r} already appears on row {raw.row_numbers[first[ids[i]]]}"
            )
        else:
            first[ids[i]] = i
    out["review_id"] = ids
    full = {f.name: out[f.name] for f in REVIEWS.schema}
    kept, rows, rejected = select_rows(raw, cells, full, where)
    return Parsed(REVIEWS.name, source_format, kept, rows, rejected)


def _parse_export(path: Path, data: bytes, export: str, folder: str, where: str) -> Parsed:
    raw = read_delimited(decode(gunzip_if_needed(path, data), "utf-8"), ",")
    if raw.rows == 0:
        raise FileRejected("the file has a header but no data rows")
    found = {f: c for f, h in EXPORTS[export].items() if (c := find_column(raw.names, h))}
    for field, names in EXPORT_OPTIONAL_COLUMNS.items():
        column = next((c for name in names if (c := find_column(raw.names, name))), None)
        if column is not None:
            found[field] = column
    return _build(
        raw, found, _app_time, NumberFormat(), list(TRUE_WORDS), folder, folder, where, export
    )


def parse_reviews(
    path: Path, data: bytes, mapping_path: Path | None, folder: str, where: str
) -> Parsed:
    """A review file of ``inbox/reviews/<folder>/`` to reviews (see the module docstring)."""
    export = detect_review_export(path, data)
    if export is not None:
        return _parse_export(path, data, export, folder, where)
    mapping = load_mapping(mapping_path, ReviewsMapping, EXAMPLE_MAPPING)
    fmt = file_format(path, mapping.format, REVIEW_FORMATS)
    raw = read_table(path, data, mapping, fmt)
    if raw.rows == 0:
        raise FileRejected("the file has a header but no data rows")
    columns = mapping.columns
    if not (columns.product_id or columns.product_handle or columns.product_sku):
        raise FileRejected(
            "mapping.yml maps no product column: set `columns: product_id:` (ASIN, product id), "
            f"`product_handle:` or `product_sku:`. For example:\n\n{EXAMPLE_MAPPING}"
        )
    wanted = {k: v for k, v in columns.model_dump().items() if v is not None}
    found = mapped_columns(raw, wanted)
    times: TimestampFormat = mapping.timestamps()
    return _build(
        raw,
        found,
        times.parse,
        mapping.numbers(),
        mapping.verified_values,
        mapping.storefront_id or folder,
        folder,
        where,
        "mapping",
    )
