"""The Admin GraphQL schema (SDL) and its resolvers over ``ShopView``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
)

from sandbox.shopify.common import (
    _CONNECTIONS,
    QUANTITY_NAMES,
    gid_number,
    list_page,
    parse_search,
)
from sandbox.shopify.shop import ShopView

SDL = """
schema { query: QueryRoot mutation: Mutation }

scalar DateTime
scalar URL
scalar Decimal
scalar Money
scalar UnsignedInt64

enum CurrencyCode { AUD CAD CHF DKK EUR GBP JPY MXN NOK PLN SEK USD }
enum OrderSortKeys { CREATED_AT CURRENT_TOTAL_PRICE CUSTOMER_NAME DESTINATION FINANCIAL_STATUS
  FULFILLMENT_STATUS ID ORDER_NUMBER PO_NUMBER PROCESSED_AT RELEVANCE TOTAL_ITEMS_QUANTITY
  TOTAL_PRICE UPDATED_AT }
enum ProductSortKeys { CREATED_AT ID INVENTORY_TOTAL PRODUCT_TYPE PUBLISHED_AT RELEVANCE TITLE
  UPDATED_AT VENDOR }
enum OrderDisplayFinancialStatus { AUTHORIZED EXPIRED PAID PARTIALLY_PAID PARTIALLY_REFUNDED
  PENDING REFUNDED VOIDED }
enum OrderDisplayFulfillmentStatus { FULFILLED IN_PROGRESS ON_HOLD OPEN PARTIALLY_FULFILLED
  PENDING_FULFILLMENT RESTOCKED SCHEDULED UNFULFILLED }
enum ProductStatus { ACTIVE ARCHIVED DRAFT }

type PageInfo { hasNextPage: Boolean! hasPreviousPage: Boolean! startCursor: String
  endCursor: String }
type MoneyV2 { amount: Decimal! currencyCode: CurrencyCode! }
type MoneyBag { shopMoney: MoneyV2! presentmentMoney: MoneyV2! }

type Customer { id: ID! legacyResourceId: UnsignedInt64! email: String firstName: String
  lastName: String createdAt: DateTime! }

type MailingAddress { address1: String city: String provinceCode: String zip: String
  countryCodeV2: CountryCode }
enum CountryCode { AT BE BR CA DE FR GB IE NG NL US }

type Order {
  id: ID! legacyResourceId: UnsignedInt64! name: String! email: String
  createdAt: DateTime! updatedAt: DateTime! processedAt: DateTime! cancelledAt: DateTime
  currencyCode: CurrencyCode! presentmentCurrencyCode: CurrencyCode!
  displayFinancialStatus: OrderDisplayFinancialStatus
  displayFulfillmentStatus: OrderDisplayFulfillmentStatus!
  subtotalPriceSet: MoneyBag totalPriceSet: MoneyBag! currentTotalPriceSet: MoneyBag!
  totalDiscountsSet: MoneyBag totalTaxSet: MoneyBag totalShippingPriceSet: MoneyBag!
  totalRefundedSet: MoneyBag!
  customer: Customer
  shippingAddress: MailingAddress billingAddress: MailingAddress
  billingAddressMatchesShippingAddress: Boolean!
  lineItems(first: Int, after: String): LineItemConnection!
  refunds(first: Int): [Refund!]!
}
type LineItem {
  id: ID! sku: String name: String! quantity: Int!
  originalUnitPriceSet: MoneyBag! totalDiscountSet: MoneyBag!
  variant: ProductVariant product: Product
}
type Refund {
  id: ID! legacyResourceId: UnsignedInt64! createdAt: DateTime updatedAt: DateTime! note: String
  totalRefundedSet: MoneyBag!
  refundLineItems(first: Int, after: String): RefundLineItemConnection!
}
type RefundLineItem { id: ID! quantity: Int! restocked: Boolean! lineItem: LineItem!
  subtotalSet: MoneyBag! priceSet: MoneyBag! }

type Product {
  id: ID! legacyResourceId: UnsignedInt64! title: String! handle: String! vendor: String!
  productType: String! status: ProductStatus! createdAt: DateTime! updatedAt: DateTime!
  variants(first: Int, after: String): ProductVariantConnection!
}
type ProductVariant {
  id: ID! legacyResourceId: UnsignedInt64! sku: String title: String! price: Money!
  barcode: String createdAt: DateTime! updatedAt: DateTime!
  inventoryItem: InventoryItem! product: Product!
}
type InventoryItem {
  id: ID! legacyResourceId: UnsignedInt64! sku: String tracked: Boolean!
  createdAt: DateTime! updatedAt: DateTime! variant: ProductVariant!
  inventoryLevels(first: Int, after: String): InventoryLevelConnection!
}
type InventoryLevel {
  id: ID! location: Location! item: InventoryItem! updatedAt: DateTime!
  quantities(names: [String!]!): [InventoryQuantity!]!
}
type InventoryQuantity { id: ID! name: String! quantity: Int! updatedAt: DateTime }
type Location { id: ID! legacyResourceId: UnsignedInt64! name: String! isActive: Boolean! }
type Shop { id: ID! name: String! myshopifyDomain: String! currencyCode: CurrencyCode!
  ianaTimezone: String! }

interface Node { id: ID! }
enum BulkOperationStatus { CANCELED CANCELING COMPLETED CREATED EXPIRED FAILED RUNNING }
enum BulkOperationErrorCode { ACCESS_DENIED INTERNAL_SERVER_ERROR TIMEOUT }
enum BulkOperationType { MUTATION QUERY }
enum BulkOperationUserErrorCode { INVALID OPERATION_IN_PROGRESS }
type BulkOperation implements Node {
  id: ID! status: BulkOperationStatus! errorCode: BulkOperationErrorCode type: BulkOperationType!
  createdAt: DateTime! completedAt: DateTime objectCount: UnsignedInt64!
  rootObjectCount: UnsignedInt64! fileSize: UnsignedInt64 url: URL partialDataUrl: URL
  query: String!
}
type BulkOperationUserError { code: BulkOperationUserErrorCode field: [String!] message: String! }
type BulkOperationRunQueryPayload { bulkOperation: BulkOperation
  userErrors: [BulkOperationUserError!]! }
type Mutation { bulkOperationRunQuery(query: String!): BulkOperationRunQueryPayload }

type QueryRoot {
  node(id: ID!): Node
  currentBulkOperation(type: BulkOperationType = QUERY): BulkOperation
  orders(first: Int, after: String, query: String, sortKey: OrderSortKeys = ID,
         reverse: Boolean = false): OrderConnection!
  order(id: ID!): Order
  refund(id: ID!): Refund
  products(first: Int, after: String, query: String, sortKey: ProductSortKeys = ID,
           reverse: Boolean = false): ProductConnection!
  product(id: ID!): Product
  inventoryItems(first: Int, after: String, query: String,
                 reverse: Boolean = false): InventoryItemConnection!
  inventoryItem(id: ID!): InventoryItem
  locations(first: Int, after: String): LocationConnection!
  shop: Shop!
}
""" + "".join(
    f"type {t}Connection {{ edges: [{t}Edge!]! nodes: [{t}!]! pageInfo: PageInfo! }}\n"
    f"type {t}Edge {{ cursor: String! node: {t}! }}\n"
    for t in _CONNECTIONS
)


# ----------------------------------------------------------------------------------------
# resolvers (the ShopView is the execution context)
# ----------------------------------------------------------------------------------------
ORDER_SORT_COLUMNS = {
    "ID": None,
    "UPDATED_AT": "updated_at",
    "CREATED_AT": "created_at",
    "PROCESSED_AT": "processed_at",
}
PRODUCT_SORT_COLUMNS = {"ID": None, "UPDATED_AT": "updated_at", "CREATED_AT": "created_at"}


def _first(info: Any, first: int | None) -> int | None:
    """``first`` as given; in a bulk operation a missing ``first`` means the operation's page
    size (every item: Shopify pages a bulk query internally; one item in its dry run)."""
    if first is None:
        return getattr(info.context, "bulk_page_size", None)
    return first


def _sort_column(sort_key: str, supported: dict[str, str | None]) -> str | None:
    if sort_key not in supported:
        raise GraphQLError(
            f"sortKey {sort_key} is not supported by the sandbox "
            f"(supported: {', '.join(supported)})"
        )
    return supported[sort_key]


def resolve_orders(
    _root: None,
    info: Any,
    first: int | None = None,
    after: str | None = None,
    query: str | None = None,
    sortKey: str = "ID",
    reverse: bool = False,
) -> dict:
    clauses = parse_search(query, ("updated_at", "created_at", "processed_at"))
    column = _sort_column(sortKey, ORDER_SORT_COLUMNS)
    return info.context.order_data[0].page(_first(info, first), after, clauses, column, reverse)


def resolve_products(
    _root: None,
    info: Any,
    first: int | None = None,
    after: str | None = None,
    query: str | None = None,
    sortKey: str = "ID",
    reverse: bool = False,
) -> dict:
    clauses = parse_search(query, ("updated_at", "created_at"))
    column = _sort_column(sortKey, PRODUCT_SORT_COLUMNS)
    return info.context.catalog[0].page(_first(info, first), after, clauses, column, reverse)


def resolve_inventory_items(
    _root: None,
    info: Any,
    first: int | None = None,
    after: str | None = None,
    query: str | None = None,
    reverse: bool = False,
) -> dict:
    clauses = parse_search(query, ("updated_at",))
    return info.context.inventory[0].page(_first(info, first), after, clauses, None, reverse)


def resolve_locations(
    _root: None, info: Any, first: int | None = None, after: str | None = None
) -> dict:
    return list_page(list(info.context.locations.values()), _first(info, first), after)


def _by_id(index: Callable[[ShopView], dict[str, dict]]) -> Callable[..., dict | None]:
    def resolve(_root: None, info: Any, id: str) -> dict | None:
        gid_number(id)  # a malformed id is an error, an unknown one is null
        return index(info.context).get(id)

    return resolve


def _nested(key: str) -> Callable[..., dict]:
    def resolve(
        source: dict, info: Any, first: int | None = None, after: str | None = None
    ) -> dict:
        return list_page(source[key], _first(info, first), after)

    return resolve


def _lookup(key: str, index: Callable[[ShopView], dict[str, dict]]) -> Callable[..., dict | None]:
    def resolve(source: dict, info: Any) -> dict | None:
        return index(info.context).get(source[key]) if source.get(key) else None

    return resolve


def resolve_refunds(source: dict, _info: Any, first: int | None = None) -> list[dict]:
    return source["refunds"] if first is None else source["refunds"][:first]


def resolve_quantities(source: dict, _info: Any, names: list[str]) -> list[dict]:
    unknown = [n for n in names if n not in QUANTITY_NAMES]
    if unknown:
        raise GraphQLError(
            f"Invalid quantity names: {', '.join(unknown)} (valid: {', '.join(QUANTITY_NAMES)})"
        )
    return [
        {
            "id": f"{source['id']}&name={n}",
            "name": n,
            "quantity": source["_quantities"][n],
            "updatedAt": source["updatedAt"],
        }
        for n in names
    ]


def build_shopify_schema() -> GraphQLSchema:
    schema = build_schema(SDL)

    def field(type_name: str, name: str, resolver: Callable[..., Any]) -> None:
        object_type = schema.get_type(type_name)
        assert isinstance(object_type, GraphQLObjectType)
        object_type.fields[name].resolve = resolver

    products = lambda view: view.catalog[1]  # noqa: E731
    variants = lambda view: view.catalog[2]  # noqa: E731
    items = lambda view: view.inventory[1]  # noqa: E731
    field("QueryRoot", "orders", resolve_orders)
    field("QueryRoot", "order", _by_id(lambda view: view.order_data[1]))
    field("QueryRoot", "refund", _by_id(lambda view: view.order_data[2]))
    field("QueryRoot", "products", resolve_products)
    field("QueryRoot", "product", _by_id(products))
    field("QueryRoot", "inventoryItems", resolve_inventory_items)
    field("QueryRoot", "inventoryItem", _by_id(items))
    field("QueryRoot", "locations", resolve_locations)
    field("QueryRoot", "shop", lambda _root, info: info.context.shop)
    # bulk operations: the root value of a request is the shop's BulkOperations (bulk.py)
    field("QueryRoot", "node", lambda root, _info, id: root.node(id))
    field("QueryRoot", "currentBulkOperation", lambda root, _info, type: root.current(type))
    field("Mutation", "bulkOperationRunQuery", lambda root, info, query: root.run(query, info))
    field("Order", "lineItems", _nested("_lines"))
    field("Order", "refunds", resolve_refunds)
    field("Refund", "refundLineItems", _nested("_lines"))
    field("LineItem", "variant", _lookup("_variant", variants))
    field("LineItem", "product", _lookup("_product", products))
    field("Product", "variants", _nested("_variants"))
    field("ProductVariant", "product", _lookup("_product", products))
    field("ProductVariant", "inventoryItem", _lookup("_inventory_item", items))
    field("InventoryItem", "variant", _lookup("_variant", variants))
    field("InventoryItem", "inventoryLevels", _nested("_levels"))
    field("InventoryLevel", "item", _lookup("_item", items))
    field("InventoryLevel", "quantities", resolve_quantities)
    return schema


SCHEMA = build_shopify_schema()
