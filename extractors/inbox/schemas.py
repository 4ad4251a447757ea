"""Arrow schemas of the inbox entities in the lake (channel ``files``), per the inbox contract.

Every row also carries ``_source_file`` (the archived file's path relative to the inbox) and
``_source_row`` (1-based data row), then the lake's stamp columns (extractors.lake.META_FIELDS).
"""

from __future__ import annotations

import pyarrow as pa

from extractors.base import MONEY, TS, EntitySpec, column

STRING = pa.string()
FUNNEL_STEPS = ("page_view", "product_view", "add_to_cart", "checkout", "purchase")
SOURCE_FORMATS = ("mapping", "amazon_all_orders", "shopify_orders_csv")

ORDER_LINES = EntitySpec(
    "order_lines",
    pa.schema(
        [
            column("order_id", STRING, nullable=False),
            column("line_id", STRING, nullable=False),
            column("customer_id", STRING),
            column("customer_email", STRING),
            column("ordered_at", TS, nullable=False),
            column("updated_at", TS),
            column("order_status", STRING),
            column("is_cancelled", pa.bool_(), nullable=False),
            column("sku", STRING, nullable=False),
            column("product_name", STRING),
            column("gtin", STRING),
            column("channel_item_id", STRING),
            column("quantity", pa.int64(), nullable=False),
            column("unit_price", MONEY),
            column("gross_amount", MONEY, nullable=False),
            column("discount_amount", MONEY, nullable=False),
            column("shipping_amount", MONEY, nullable=False),
            column("tax_amount", MONEY, nullable=False),
            column("refunded_amount", MONEY, nullable=False),
            column("currency", STRING, nullable=False),
            column("storefront_id", STRING, nullable=False),
            column("fulfillment_type", STRING),
            column("shipped_at", TS),
            column("source_format", STRING, nullable=False),
        ]
    ),
    key=("order_id", "line_id"),
    partition_by=None,
)

EVENTS = EntitySpec(
    "events",
    pa.schema(
        [
            column("event_id", STRING, nullable=False),
            column("channel", STRING, nullable=False),
            column("storefront_id", STRING, nullable=False),
            column("anonymous_id", STRING),
            column("user_id", STRING),
            column("session_id", STRING),
            column("event_name", STRING, nullable=False),
            column("funnel_step", STRING),
            column("occurred_at", TS, nullable=False),
            column("sku", STRING),
            column("quantity", pa.int64()),
            column("value", MONEY),
            column("currency", STRING),
            column("order_id", STRING),
            column("page_url", STRING),
            column("scroll_depth", pa.float64()),  # 0-100 (%), when the storefront sends it
            column("referrer", STRING),
            column("traffic_source", STRING),
            # an A/B-test exposure (issue 16): this unit saw this variant of this experiment
            column("experiment_id", STRING),
            column("variant", STRING),
            column("experiment_unit", STRING),  # visitor | customer
        ]
    ),
    key=("event_id",),
    partition_by=None,
)

PRODUCT_COSTS = EntitySpec(
    "product_costs",
    pa.schema(
        [
            column("sku", STRING, nullable=False),
            column("unit_cost", MONEY, nullable=False),
            column("currency", STRING, nullable=False),
            column("effective_from", pa.date32(), nullable=False),
            column("shipping_cost_per_unit", MONEY),
        ]
    ),
    key=("sku", "effective_from"),
    partition_by=None,
)

SKU_MAPPINGS = EntitySpec(
    "sku_mappings",
    pa.schema(
        [
            column("channel", STRING),
            column("connection_name", STRING),
            column("listing_sku", STRING, nullable=False),
            column("product_sku", STRING, nullable=False),
            column("note", STRING),
        ]
    ),
    key=("channel", "connection_name", "listing_sku"),
    partition_by=None,
)

REVIEWS = EntitySpec(
    "reviews",
    pa.schema(
        [
            column("review_id", STRING, nullable=False),
            column("storefront_id", STRING, nullable=False),
            column("product_id", STRING),  # ASIN, Shopify product id, Walmart item id...
            column("product_handle", STRING),
            column("product_sku", STRING),
            column("rating", pa.int64(), nullable=False),  # 1-5 stars
            column("title", STRING),
            column("body", STRING),
            column("reviewer_id", STRING),  # the file's reviewer id, else the e-mail hash
            column("reviewer_name", STRING),
            column("reviewer_email_sha256", STRING),
            column("reviewed_at", TS, nullable=False),
            column("is_verified", pa.bool_()),  # empty: the file does not say
            column("status", STRING),  # the app's moderation state, as written
            column("source_format", STRING, nullable=False),
        ]
    ),
    key=("review_id",),
    partition_by=None,
)

SOURCE_FIELDS = [
    pa.field("_source_file", STRING, nullable=False),
    pa.field("_source_row", pa.int64(), nullable=False),
]

EXPERIMENT_UNITS = ("visitor", "customer")

ENTITIES = {spec.name: spec for spec in (ORDER_LINES, EVENTS, PRODUCT_COSTS, SKU_MAPPINGS, REVIEWS)}
