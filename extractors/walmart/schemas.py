"""The Walmart tables as they land in the lake (one EntitySpec each) and the streams that
fill them.
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
            column("purchase_order_id", pa.string(), False),
            column("customer_order_id", pa.string()),
            column("order_date_at", TS),
            column("last_modified_at", TS, False),
            column("customer_email", pa.string()),
            column("order_type", pa.string()),
            column("ship_node_type", pa.string()),
            column("ship_node_id", pa.string()),
            column("ship_node_name", pa.string()),
            column("order_total", MONEY),
            column("currency", pa.string()),
            column("ship_method_code", pa.string()),
            column("ship_to_state", pa.string()),
            column("ship_to_postal_code", pa.string()),
            column("ship_to_country", pa.string()),
            column("estimated_ship_at", TS),
            column("estimated_delivery_at", TS),
            column("line_count", pa.int64()),
        ]
    ),
    key=("purchase_order_id",),
    partition_by="last_modified_at",
)

ORDER_LINES = EntitySpec(
    name="order_lines",
    schema=pa.schema(
        [
            column("purchase_order_id", pa.string(), False),
            column("line_number", pa.string(), False),
            column("order_last_modified_at", TS, False),
            column("order_date_at", TS),
            column("sku", pa.string()),
            column("product_name", pa.string()),
            column("quantity", pa.int64()),
            column("status", pa.string()),
            column("status_at", TS),
            column("item_price", MONEY),
            column("item_tax", MONEY),
            column("discount", MONEY),
            column("shipping_price", MONEY),
            column("shipping_tax", MONEY),
            column("refunded_quantity", pa.int64()),
            column("refunded_amount", MONEY),  # positive, without tax
            column("refunded_tax", MONEY),
            column("refund_id", pa.string()),
            column("refund_reason", pa.string()),
            column("currency", pa.string()),
            column("shipped_at", TS),
            column("carrier", pa.string()),
            column("tracking_number", pa.string()),
            column("ship_method", pa.string()),
            column("fulfillment_option", pa.string()),
        ]
    ),
    key=("purchase_order_id", "line_number"),
    partition_by="order_last_modified_at",
)

ITEMS = EntitySpec(
    name="items",
    schema=pa.schema(
        [
            column("sku", pa.string(), False),
            column("wpid", pa.string()),
            column("upc", pa.string()),
            column("gtin", pa.string()),
            column("product_name", pa.string()),
            column("shelf", pa.string()),  # JSON array text, as Walmart sends it
            column("product_type", pa.string()),
            column("price", MONEY),
            column("currency", pa.string()),
            column("published_status", pa.string()),
            column("lifecycle_status", pa.string()),
            column("unpublished_reasons", pa.string()),
            column("mart", pa.string()),
        ]
    ),
    key=("sku",),
    partition_by=None,
)

INVENTORY = EntitySpec(
    name="inventory",
    schema=pa.schema(
        [
            column("sku", pa.string(), False),
            column("ship_node", pa.string(), False),
            column("input_qty", pa.int64()),
            column("avail_to_sell_qty", pa.int64()),
            column("reserved_qty", pa.int64()),
        ]
    ),
    key=("sku", "ship_node"),
    partition_by=None,
)

ENTITIES: dict[str, EntitySpec] = {e.name: e for e in (ORDERS, ORDER_LINES, ITEMS, INVENTORY)}

STREAMS: dict[str, Stream] = {
    "orders": Stream(
        "orders",
        (ORDERS, ORDER_LINES),
        incremental=True,
        cadence="hourly",
        description="Purchase orders and their lines by last modification (GET /v3/orders); "
        "only orders from the last 180 days are visible.",
    ),
    "items": Stream(
        "items",
        (ITEMS,),
        incremental=False,
        cadence="every_6_hours",
        description="The seller's catalogue with price and publish status (GET /v3/items).",
    ),
    "inventory": Stream(
        "inventory",
        (INVENTORY,),
        incremental=False,
        cadence="every_30_minutes",
        description="Stock per SKU and ship node (GET /v3/inventories).",
    ),
}
