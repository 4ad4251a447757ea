"""The Shopify tables as they land in the lake (one EntitySpec each), the streams that
fill them, and the Admin GraphQL documents that read them.
"""

from __future__ import annotations

import pyarrow as pa

from extractors.base import (
    MONEY,
    TS,
    EntitySpec,
    Stream,
)

# Nested page sizes: big enough for almost every object, small enough to keep the outer
# page large (the nested `first` multiplies the cost of every outer node).
LINE_PAGE = 3
REFUND_LINE_PAGE = 3
VARIANT_PAGE = 10
LEVEL_PAGE = 5

# --------------------------------------------------------------------------------------------
# entities
# --------------------------------------------------------------------------------------------


STRING = pa.string()


def _key(name: str, type_: pa.DataType = STRING) -> pa.Field:
    return pa.field(name, type_, nullable=False)


ORDERS = EntitySpec(
    "orders",
    pa.schema(
        [
            _key("shopify_order_id"),
            _key("legacy_resource_id"),
            pa.field("name", pa.string()),
            _key("created_at", TS),
            _key("updated_at", TS),
            pa.field("processed_at", TS),
            pa.field("cancelled_at", TS),
            _key("currency"),
            pa.field("financial_status", pa.string()),
            pa.field("fulfillment_status", pa.string()),
            pa.field("total_price", MONEY),
            pa.field("subtotal_price", MONEY),
            pa.field("total_discounts", MONEY),
            pa.field("total_tax", MONEY),
            pa.field("total_shipping", MONEY),
            pa.field("customer_id", pa.string()),
            pa.field("customer_email", pa.string()),
            pa.field("ship_address1", pa.string()),
            pa.field("ship_city", pa.string()),
            pa.field("ship_province_code", pa.string()),
            pa.field("ship_postal_code", pa.string()),
            pa.field("ship_country", pa.string()),
            pa.field("billing_country", pa.string()),
            pa.field("billing_matches_shipping", pa.bool_()),
        ]
    ),
    ("shopify_order_id",),
    "updated_at",
)

ORDER_LINES = EntitySpec(
    "order_lines",
    pa.schema(
        [
            _key("shopify_order_id"),
            _key("line_item_id"),
            _key("order_updated_at", TS),
            pa.field("sku", pa.string()),
            pa.field("variant_id", pa.string()),
            pa.field("product_id", pa.string()),
            _key("quantity", pa.int64()),
            _key("unit_price", MONEY),
            pa.field("total_discount", MONEY),
            _key("currency"),
        ]
    ),
    ("shopify_order_id", "line_item_id"),
    "order_updated_at",
)

REFUNDS = EntitySpec(
    "refunds",
    pa.schema(
        [
            _key("refund_id"),
            _key("shopify_order_id"),
            _key("order_updated_at", TS),
            pa.field("created_at", TS),
            _key("amount", MONEY),
            _key("currency"),
        ]
    ),
    ("refund_id",),
    "order_updated_at",
)

REFUND_LINES = EntitySpec(
    "refund_lines",
    pa.schema(
        [
            _key("refund_id"),
            _key("line_item_id"),
            _key("shopify_order_id"),
            _key("order_updated_at", TS),
            _key("quantity", pa.int64()),
            pa.field("amount", MONEY),
        ]
    ),
    ("refund_id", "line_item_id"),
    "order_updated_at",
)

PRODUCTS = EntitySpec(
    "products",
    pa.schema(
        [
            _key("product_id"),
            pa.field("legacy_resource_id", pa.string()),
            pa.field("title", pa.string()),
            pa.field("handle", pa.string()),
            pa.field("vendor", pa.string()),
            pa.field("product_type", pa.string()),
            pa.field("status", pa.string()),
            pa.field("created_at", TS),
            pa.field("updated_at", TS),
        ]
    ),
    ("product_id",),
    None,
)

PRODUCT_VARIANTS = EntitySpec(
    "product_variants",
    pa.schema(
        [
            _key("variant_id"),
            pa.field("legacy_resource_id", pa.string()),
            _key("product_id"),
            pa.field("sku", pa.string()),
            pa.field("title", pa.string()),
            pa.field("barcode", pa.string()),
            pa.field("price", MONEY),
            pa.field("currency", pa.string()),
            pa.field("inventory_item_id", pa.string()),
            pa.field("created_at", TS),
            pa.field("updated_at", TS),
        ]
    ),
    ("variant_id",),
    None,
)

INVENTORY_LEVELS = EntitySpec(
    "inventory_levels",
    pa.schema(
        [
            _key("inventory_item_id"),
            _key("location_id"),
            pa.field("variant_id", pa.string()),
            pa.field("sku", pa.string()),
            pa.field("location_name", pa.string()),
            pa.field("available", pa.int64()),
            pa.field("on_hand", pa.int64()),
            pa.field("committed", pa.int64()),
            pa.field("incoming", pa.int64()),
            pa.field("reserved", pa.int64()),
            pa.field("updated_at", TS),
        ]
    ),
    ("inventory_item_id", "location_id"),
    None,
)

ENTITIES: dict[str, EntitySpec] = {
    e.name: e
    for e in (
        ORDERS,
        ORDER_LINES,
        REFUNDS,
        REFUND_LINES,
        PRODUCTS,
        PRODUCT_VARIANTS,
        INVENTORY_LEVELS,
    )
}

STREAMS: dict[str, Stream] = {
    "orders": Stream(
        "orders",
        (ORDERS, ORDER_LINES, REFUNDS, REFUND_LINES),
        incremental=True,
        cadence="hourly",
        description="Orders updated in the window, with their line items and "
        "refunds as they are now (orders query, sortKey UPDATED_AT).",
    ),
    "products": Stream(
        "products",
        (PRODUCTS, PRODUCT_VARIANTS),
        incremental=False,
        cadence="every_6_hours",
        description="The product catalog with variants (SKU, barcode, price).",
    ),
    "inventory": Stream(
        "inventory",
        (INVENTORY_LEVELS,),
        incremental=False,
        cadence="every_30_minutes",
        description="Inventory quantities per inventory item and location.",
    ),
}

# --------------------------------------------------------------------------------------------
# queries
# --------------------------------------------------------------------------------------------
_LINE_FIELDS = """id sku quantity
  originalUnitPriceSet { shopMoney { amount currencyCode } }
  totalDiscountSet { shopMoney { amount } }
  variant { id } product { id }"""
_LINE = f"""
fragment Line on LineItem {{
  {_LINE_FIELDS}
}}"""
_REFUND_LINE = """
fragment RefundLine on RefundLineItem { quantity lineItem { id } subtotalSet { shopMoney { amount } } }
"""
_PAGE = "pageInfo { hasNextPage endCursor }"
_ORDER_FIELDS = """id legacyResourceId name createdAt updatedAt processedAt cancelledAt currencyCode
      displayFinancialStatus displayFulfillmentStatus
      totalPriceSet { shopMoney { amount } }
      subtotalPriceSet { shopMoney { amount } }
      totalDiscountsSet { shopMoney { amount } }
      totalTaxSet { shopMoney { amount } }
      totalShippingPriceSet { shopMoney { amount } }
      customer { id email }
      shippingAddress { address1 city provinceCode zip countryCodeV2 }
      billingAddress { countryCodeV2 }
      billingAddressMatchesShippingAddress"""
_REFUND_FIELDS = "id createdAt totalRefundedSet { shopMoney { amount currencyCode } }"

ORDERS_QUERY = (
    f"""
query Orders($first: Int!, $after: String, $query: String!) {{
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    {_PAGE}
    nodes {{
      {_ORDER_FIELDS}
      lineItems(first: {LINE_PAGE}) {{ {_PAGE} nodes {{ ...Line }} }}
      refunds {{
        {_REFUND_FIELDS}
        refundLineItems(first: {REFUND_LINE_PAGE}) {{ {_PAGE} nodes {{ ...RefundLine }} }}
      }}
    }}
  }}
}}"""
    + _LINE
    + _REFUND_LINE
)


def bulk_orders_query(search: str) -> str:
    """The orders stream as one bulk query: the same fields, no pages. Refund lines are not in
    it: Shopify refuses a connection inside a list field (``refunds``) in a bulk query."""
    return f"""{{
  orders(query: "{search}", sortKey: UPDATED_AT) {{
    edges {{ node {{
      {_ORDER_FIELDS}
      lineItems {{ edges {{ node {{ {_LINE_FIELDS} }} }} }}
      refunds {{ {_REFUND_FIELDS} }}
    }} }}
  }}
}}"""


ORDER_LINES_QUERY = (
    f"""
query OrderLines($id: ID!, $first: Int!, $after: String) {{
  order(id: $id) {{ lineItems(first: $first, after: $after) {{ {_PAGE} nodes {{ ...Line }} }} }}
}}"""
    + _LINE
)

REFUND_LINES_QUERY = (
    f"""
query RefundLines($id: ID!, $first: Int!, $after: String) {{
  refund(id: $id) {{
    refundLineItems(first: $first, after: $after) {{ {_PAGE} nodes {{ ...RefundLine }} }}
  }}
}}"""
    + _REFUND_LINE
)

_VARIANT = """
fragment Variant on ProductVariant {
  id legacyResourceId sku title price barcode createdAt updatedAt inventoryItem { id }
}"""

PRODUCTS_QUERY = (
    f"""
query Products($first: Int!, $after: String) {{
  products(first: $first, after: $after, sortKey: ID) {{
    {_PAGE}
    nodes {{
      id legacyResourceId title handle vendor productType status createdAt updatedAt
      variants(first: {VARIANT_PAGE}) {{ {_PAGE} nodes {{ ...Variant }} }}
    }}
  }}
}}"""
    + _VARIANT
)

PRODUCT_VARIANTS_QUERY = (
    f"""
query ProductVariants($id: ID!, $first: Int!, $after: String) {{
  product(id: $id) {{ variants(first: $first, after: $after) {{ {_PAGE} nodes {{ ...Variant }} }} }}
}}"""
    + _VARIANT
)

SHOP_QUERY = "query Shop { shop { currencyCode } }"

_LEVEL = """
fragment Level on InventoryLevel {
  updatedAt location { id name }
  quantities(names: ["available", "on_hand", "committed", "incoming", "reserved"]) {
    name quantity
  }
}"""

INVENTORY_QUERY = (
    f"""
query Inventory($first: Int!, $after: String) {{
  inventoryItems(first: $first, after: $after) {{
    {_PAGE}
    nodes {{
      id sku variant {{ id }}
      inventoryLevels(first: {LEVEL_PAGE}) {{ {_PAGE} nodes {{ ...Level }} }}
    }}
  }}
}}"""
    + _LEVEL
)

INVENTORY_LEVELS_QUERY = (
    f"""
query InventoryLevels($id: ID!, $first: Int!, $after: String) {{
  inventoryItem(id: $id) {{
    inventoryLevels(first: $first, after: $after) {{ {_PAGE} nodes {{ ...Level }} }}
  }}
}}"""
    + _LEVEL
)
