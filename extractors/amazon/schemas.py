"""The Amazon tables as they land in the lake (one EntitySpec each) and the streams
that fill them.
"""

from __future__ import annotations

import pyarrow as pa

from extractors.base import (
    MONEY,
    TS,
    EntitySpec,
    Stream,
    column,
)

ORDERS = EntitySpec(
    name="orders",
    schema=pa.schema(
        [
            column("amazon_order_id", pa.string(), False),
            column("marketplace_id", pa.string()),
            column("purchased_at", TS, False),
            column("last_updated_at", TS, False),
            column("order_status", pa.string(), False),
            column("fulfillment_channel", pa.string()),
            column("sales_channel", pa.string()),
            column("order_type", pa.string()),
            column("order_total_amount", MONEY),
            column("order_total_currency", pa.string()),
            column("number_of_items_shipped", pa.int64()),
            column("number_of_items_unshipped", pa.int64()),
            column("payment_method", pa.string()),
            column("shipment_service_level_category", pa.string()),
            column("is_prime", pa.bool_()),
            column("is_business_order", pa.bool_()),
            column("is_premium_order", pa.bool_()),
            column("buyer_email", pa.string()),
            column("ship_city", pa.string()),
            column("ship_state", pa.string()),
            column("ship_postal_code", pa.string()),
            column("ship_country", pa.string()),
            column("earliest_ship_at", TS),
            column("latest_ship_at", TS),
        ]
    ),
    key=("amazon_order_id",),
    partition_by="last_updated_at",
)

ORDER_ITEMS = EntitySpec(
    name="order_items",
    schema=pa.schema(
        [
            column("amazon_order_id", pa.string(), False),
            column("order_item_id", pa.string()),  # null in rows from the orders reports
            column("order_last_updated_at", TS, False),
            column("marketplace_id", pa.string()),
            column("order_status", pa.string()),
            column("asin", pa.string(), False),
            column("seller_sku", pa.string(), False),
            column("title", pa.string()),
            column("quantity_ordered", pa.int64(), False),
            column("quantity_shipped", pa.int64()),
            column("item_price", MONEY),
            column("item_tax", MONEY),
            column("shipping_price", MONEY),
            column("shipping_tax", MONEY),
            column("promotion_discount", MONEY),
            column("currency", pa.string()),
            column("promotion_ids", pa.list_(pa.string())),
            column("condition_id", pa.string()),
            column("is_gift", pa.bool_()),
        ]
    ),
    key=("amazon_order_id", "seller_sku"),
    partition_by="order_last_updated_at",
)

FINANCIAL_EVENTS = EntitySpec(
    name="financial_events",
    schema=pa.schema(
        [
            column("event_type", pa.string(), False),
            column("amazon_order_id", pa.string(), False),
            column("order_item_id", pa.string(), False),
            column("amount_type", pa.string(), False),
            column("amount_name", pa.string(), False),
            column("posted_at", TS, False),
            column("marketplace_name", pa.string()),
            column("marketplace_id", pa.string()),
            column("seller_sku", pa.string()),
            column("quantity", pa.int64()),
            column("amount", MONEY),
            column("currency", pa.string()),
        ]
    ),
    key=(
        "event_type",
        "amazon_order_id",
        "order_item_id",
        "amount_type",
        "amount_name",
        "posted_at",
    ),
    partition_by="posted_at",
)

SALES_TRAFFIC_BY_DATE = EntitySpec(
    name="sales_traffic_by_date",
    schema=pa.schema(
        [
            column("marketplace_id", pa.string(), False),
            column("date", pa.date32(), False),
            column("ordered_product_sales", MONEY),
            column("currency", pa.string()),
            column("units_ordered", pa.int64()),
            column("total_order_items", pa.int64()),
            column("units_refunded", pa.int64()),
            column("units_shipped", pa.int64()),
            column("orders_shipped", pa.int64()),
            column("shipped_product_sales", MONEY),
            column("sessions", pa.int64()),
            column("browser_sessions", pa.int64()),
            column("mobile_app_sessions", pa.int64()),
            column("page_views", pa.int64()),
            column("browser_page_views", pa.int64()),
            column("mobile_app_page_views", pa.int64()),
            column("buy_box_percentage", pa.float64()),
            column("unit_session_percentage", pa.float64()),
            column("order_item_session_percentage", pa.float64()),
        ]
    ),
    key=("marketplace_id", "date"),
    partition_by="date",
)

SALES_TRAFFIC_BY_SKU = EntitySpec(
    name="sales_traffic_by_sku",
    schema=pa.schema(
        [
            column("marketplace_id", pa.string(), False),
            column("date", pa.date32(), False),
            column("sku", pa.string(), False),
            column("parent_asin", pa.string()),
            column("child_asin", pa.string()),
            column("units_ordered", pa.int64()),
            column("ordered_product_sales", MONEY),
            column("currency", pa.string()),
            column("total_order_items", pa.int64()),
            column("sessions", pa.int64()),
            column("browser_sessions", pa.int64()),
            column("mobile_app_sessions", pa.int64()),
            column("page_views", pa.int64()),
            column("buy_box_percentage", pa.float64()),
            column("unit_session_percentage", pa.float64()),
        ]
    ),
    key=("marketplace_id", "date", "sku"),
    partition_by="date",
)

INVENTORY_SUMMARIES = EntitySpec(
    name="inventory_summaries",
    schema=pa.schema(
        [
            column("marketplace_id", pa.string(), False),
            column("seller_sku", pa.string(), False),
            column("asin", pa.string()),
            column("fn_sku", pa.string()),
            column("product_name", pa.string()),
            column("condition", pa.string()),
            column("fulfillable_quantity", pa.int64()),
            column("reserved_quantity", pa.int64()),
            column("inbound_working_quantity", pa.int64()),
            column("inbound_shipped_quantity", pa.int64()),
            column("inbound_receiving_quantity", pa.int64()),
            column("unfulfillable_quantity", pa.int64()),
            column("researching_quantity", pa.int64()),
            column("total_quantity", pa.int64()),
            column("last_updated_at", TS),
        ]
    ),
    key=("marketplace_id", "seller_sku"),
    partition_by=None,
)

LISTINGS = EntitySpec(
    name="listings",
    schema=pa.schema(
        [
            column("marketplace_id", pa.string(), False),
            column("seller_sku", pa.string(), False),
            column("asin", pa.string()),
            column("listing_id", pa.string()),
            column("title", pa.string()),
            column("price", MONEY),
            column("currency", pa.string()),
            column("quantity", pa.int64()),
            column("status", pa.string()),
            column("fulfillment_channel", pa.string()),
            column("open_date", TS),
            column("product_id", pa.string()),
            column("product_id_type", pa.string()),
            column("item_condition", pa.string()),
        ]
    ),
    key=("marketplace_id", "seller_sku"),
    partition_by=None,
)

REVIEW_TOPICS = EntitySpec(
    name="review_topics",
    schema=pa.schema(
        [
            column("marketplace_id", pa.string(), False),
            column("asin", pa.string(), False),
            column("sentiment", pa.string(), False),  # positive | negative
            column("topic", pa.string(), False),
            column("number_of_mentions", pa.int64()),
            column("occurrence_percentage", pa.float64()),
            column("star_rating_impact", pa.float64()),
            column("review_snippets", pa.list_(pa.string())),
            column("date_range_start", TS),
            column("date_range_end", TS),
        ]
    ),
    key=("marketplace_id", "asin", "sentiment", "topic"),
    partition_by=None,
)

REVIEW_TRENDS = EntitySpec(
    name="review_trends",
    schema=pa.schema(
        [
            column("marketplace_id", pa.string(), False),
            column("asin", pa.string(), False),
            column("sentiment", pa.string(), False),
            column("topic", pa.string(), False),
            column("month_start", TS, False),
            column("month_end", TS),
            column("occurrence_percentage", pa.float64()),
        ]
    ),
    key=("marketplace_id", "asin", "sentiment", "topic", "month_start"),
    partition_by=None,
)

STREAMS: dict[str, Stream] = {
    "orders": Stream(
        "orders",
        (ORDERS, ORDER_ITEMS),
        incremental=True,
        cadence="hourly",
        description="Orders API v0 getOrders by LastUpdatedAfter/Before + getOrderItems per "
        "order; every update of an order lands in the partition of its update time.",
    ),
    "financial_events": Stream(
        "financial_events",
        (FINANCIAL_EVENTS,),
        incremental=True,
        cadence="daily",
        description="Finances v0 listFinancialEvents: shipment charges, fees and promotions, "
        "refunds; one row per amount, by posting time.",
    ),
    "sales_traffic": Stream(
        "sales_traffic",
        (SALES_TRAFFIC_BY_DATE, SALES_TRAFFIC_BY_SKU),
        incremental=True,
        cadence="daily",
        description="GET_SALES_AND_TRAFFIC_REPORT, one report per marketplace and day "
        "(DAY / SKU granularity).",
    ),
    "inventory": Stream(
        "inventory",
        (INVENTORY_SUMMARIES,),
        incremental=False,
        cadence="every_30_minutes",
        description="FBA Inventory v1 getInventorySummaries per marketplace (FBA stock only).",
    ),
    "listings": Stream(
        "listings",
        (LISTINGS,),
        incremental=False,
        cadence="every_6_hours",
        description="GET_MERCHANT_LISTINGS_ALL_DATA flat file per marketplace.",
    ),
    "customer_feedback": Stream(
        "customer_feedback",
        (REVIEW_TOPICS, REVIEW_TRENDS),
        incremental=False,
        cadence="daily",
        description="Customer Feedback API 2024-06-01 getItemReviewTopics (MENTIONS) and "
        "getItemReviewTrends per listed ASIN, in the marketplaces the API serves (refreshed "
        "weekly by Amazon).",
    ),
}
