"""Emulator of the Shopify Admin GraphQL API (``POST /shopify/<shop>/admin/api/<v>/graphql.json``).

A real GraphQL server (graphql-core, schema from SDL) over the simulated business, with the
parts of Shopify's behaviour an extractor has to cope with:

* **Auth**: the shop's offline access token in ``X-Shopify-Access-Token``; a wrong one gets
  Shopify's 401 body. Offline tokens never expire, so the ``expire_tokens`` fault is emulated
  as a revoked app session of the shop whose request carries the fault: that request is
  refused with the same 401, and the shop is re-authorised at once (the token is unchanged).
  A client cannot refresh such a token; retrying once with the same token is all it can do.
* **Cost-based throttling** (reference B.3): the requested cost is computed from the query
  AST (scalars and enums 0, objects 1, connections ``2 + first x item``, lists ``first`` (or
  1) x item), charged up front to a leaky bucket per shop (1000 points, 50 restored per
  second, scaled by the sandbox profile), the difference to the actual cost refunded;
  ``extensions.cost`` is on every executed response, the THROTTLED body (HTTP 200) when the
  bucket is short, and a query over 1000 points is refused outright.
* **Cursor pagination** with opaque base64 cursors, ``sortKey``/``reverse``, and the search
  syntax ``field:[op]value`` clauses joined by ``AND`` on ``updated_at``/``created_at``/
  ``processed_at`` (anything else is a GraphQL error rather than silently ignored).

Not emulated (out of scope for now): bulk operations, mutations, ``last``/``before`` paging,
the 60-day order visibility limit without ``read_all_orders`` (the sandbox apps have it).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property, lru_cache
from typing import Any

import numpy as np
import polars as pl
from flask import Blueprint, Response, g, request
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    build_schema,
    execute_sync,
    get_named_type,
    get_nullable_type,
    is_leaf_type,
    is_list_type,
    parse,
    validate,
)
from graphql.execution.values import get_argument_values, get_variable_values

from sandbox.wire import (
    SANDBOX_CREDENTIALS,
    SHOPIFY_SHOPS,
    ChannelWire,
    Decision,
    SandboxState,
    TokenBucket,
)

API = "shopify"
OPERATION = "graphql"  # one cost bucket per app and shop
MAX_QUERY_COST = 1000
BUCKET_SIZE = 1000.0  # Standard plan figures from older docs (reference B.3)
RESTORE_RATE = 50.0
MAX_PAGE_SIZE = 250
VIEW_TTL = timedelta(seconds=60)
VERSION_RE = re.compile(r"^(\d{4}-\d{2}|unstable)$")
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
DOCS_RATE_LIMITS = "https://shopify.dev/api/usage/rate-limits"
INVENTORY_ITEM_OFFSET = 40_000_000_000_000  # inventory item ids live in their own id range
CUSTOMER_ID_BASE = 6_800_000_000_000  # business customer n -> Shopify customer id base + n
REFUND_ID_BASE = 9_100_000_000_000  # refund id = base + order key * 100 + first line number
REFUND_LINE_FACTOR = 10  # refund line item id = refund number * factor + line number
QUANTITY_NAMES = (
    "available",
    "on_hand",
    "committed",
    "incoming",
    "reserved",
    "damaged",
    "safety_stock",
    "quality_control",
)

_CONNECTIONS = (
    "Order",
    "LineItem",
    "RefundLineItem",
    "Product",
    "ProductVariant",
    "InventoryItem",
    "InventoryLevel",
    "Location",
)

SDL = """
schema { query: QueryRoot }

scalar DateTime
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

type QueryRoot {
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
# formats: ids, money, timestamps, cursors
# ----------------------------------------------------------------------------------------
def gid(kind: str, number: int | str) -> str:
    return f"gid://shopify/{kind}/{number}"


def gid_number(value: str) -> int:
    """The numeric part of a GID (``gid://shopify/X/123?extra`` -> 123)."""
    try:
        return int(value.rsplit("/", 1)[1].split("?", 1)[0])
    except (IndexError, ValueError):
        raise GraphQLError(f"Invalid global id '{value}'") from None


def money(amount: float, currency: str) -> dict:
    """A MoneyBag: shop and presentment money are the same (one currency per shop)."""
    value = {"amount": f"{round(amount, 2) + 0.0:.2f}", "currencyCode": currency}  # no "-0.00"
    return {"shopMoney": value, "presentmentMoney": value}


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode_cursor(last_id: int, last_value: object) -> str:
    raw = json.dumps({"last_id": last_id, "last_value": last_value}, separators=(",", ":"))
    return base64.b64encode(raw.encode()).decode()


def decode_cursor(cursor: str) -> tuple[int, Any]:
    try:
        data = json.loads(base64.b64decode(cursor, validate=True))
        return int(data["last_id"]), data["last_value"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise GraphQLError(f"Invalid cursor for current pagination: '{cursor}'") from None


def check_page_size(first: int | None) -> int:
    if first is None:
        raise GraphQLError("you must provide one of first or last")
    if first < 0 or first > MAX_PAGE_SIZE:
        # Shopify refuses larger pages; this wording is the sandbox's own.
        raise GraphQLError(f"first: the page size must be between 0 and {MAX_PAGE_SIZE}")
    return first


def connection(nodes: list[dict], cursors: list[str], has_next: bool, has_previous: bool) -> dict:
    return {
        "edges": [{"cursor": c, "node": n} for n, c in zip(nodes, cursors, strict=True)],
        "nodes": nodes,
        "pageInfo": {
            "hasNextPage": has_next,
            "hasPreviousPage": has_previous,
            "startCursor": cursors[0] if cursors else None,
            "endCursor": cursors[-1] if cursors else None,
        },
    }


def list_page(items: list[dict], first: int | None, after: str | None) -> dict:
    """A nested connection over a short list (line items, variants, levels), id cursors."""
    first = check_page_size(first)
    start = 0
    if after:
        last_id, _ = decode_cursor(after)
        numbers = [gid_number(item["id"]) for item in items]
        start = numbers.index(last_id) + 1 if last_id in numbers else len(items)
    chosen = items[start : start + first]
    cursors = [encode_cursor(n, n) for n in (gid_number(i["id"]) for i in chosen)]
    return connection(chosen, cursors, start + first < len(items), start > 0)


# ----------------------------------------------------------------------------------------
# search syntax
# ----------------------------------------------------------------------------------------
_CLAUSE = re.compile(
    r"""^(?P<field>[a-z_]+):(?P<op><=|>=|<|>)?(?P<value>'[^']*'|"[^"]*"|[^\s'"]+)$"""
)


@dataclass(frozen=True)
class Clause:
    """One ``field:[op]value`` term of a search query, on epoch seconds."""

    field: str
    op: str  # "=", "<", "<=", ">", ">="
    value: int
    whole_day: bool  # a bare date with "=" matches the whole (UTC) day

    def mask(self, column: np.ndarray) -> np.ndarray:
        if self.op == "=":
            if self.whole_day:
                return (column >= self.value) & (column < self.value + 86400)
            return column == self.value
        ops: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
            "<": np.less,
            "<=": np.less_equal,
            ">": np.greater,
            ">=": np.greater_equal,
        }
        return ops[self.op](column, self.value)


def parse_search(text: str | None, fields: tuple[str, ...]) -> list[Clause]:
    """Shopify search syntax, the subset the sandbox understands; the rest is an error.

    Timestamps are ISO 8601 (a missing offset means UTC, the sandbox shops' time zone).
    """
    if text is None or not text.strip():
        return []
    clauses = []
    for part in re.split(r"\s+AND\s+", text.strip()):
        match = _CLAUSE.match(part)
        if not match:
            raise GraphQLError(
                f"Invalid search query '{text}': cannot parse '{part}' (the sandbox supports "
                "field:[<|<=|>|>=]value clauses joined by AND)"
            )
        if match["field"] not in fields:
            raise GraphQLError(
                f"Invalid search query '{text}': unsupported field "
                f"'{match['field']}' (supported: {', '.join(fields)})"
            )
        raw = match["value"].strip("'\"")
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise GraphQLError(
                f"Invalid search query '{text}': '{raw}' is not a date or an ISO 8601 timestamp"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        whole_day = len(raw) == 10
        clauses.append(
            Clause(match["field"], match["op"] or "=", int(moment.timestamp()), whole_day)
        )
    return clauses


# ----------------------------------------------------------------------------------------
# root collections: sortable, searchable, cursor-paged
# ----------------------------------------------------------------------------------------
class Collection:
    """The nodes of one root connection, with int64 columns (epoch seconds) to sort/search."""

    def __init__(self, nodes: list[dict], columns: dict[str, np.ndarray]):
        self.nodes = nodes
        self.ids = np.array([gid_number(n["id"]) for n in nodes], dtype=np.int64)
        self.columns = columns
        self._orders: dict[str | None, np.ndarray] = {}

    def _sorted(self, column: str | None) -> np.ndarray:
        if column not in self._orders:
            keys = self.ids if column is None else self.columns[column]
            self._orders[column] = np.lexsort((self.ids, keys))
        return self._orders[column]

    def page(
        self,
        first: int | None,
        after: str | None,
        clauses: list[Clause],
        sort_column: str | None,
        reverse: bool,
    ) -> dict:
        first = check_page_size(first)
        order = self._sorted(sort_column)
        if clauses:
            mask = np.ones(len(order), dtype=bool)
            for clause in clauses:
                mask &= clause.mask(self.columns[clause.field][order])
            order = order[mask]
        keys = self.ids[order] if sort_column is None else self.columns[sort_column][order]
        ids = self.ids[order]
        if reverse:  # descending = ascending over negated values
            order, keys, ids = order[::-1], -keys[::-1], -ids[::-1]
        start = 0
        if after:
            last_id, last_value = decode_cursor(after)
            value = last_id if sort_column is None else _cursor_epoch(last_value)
            sign = -1 if reverse else 1
            lo = int(np.searchsorted(keys, sign * value, "left"))
            hi = int(np.searchsorted(keys, sign * value, "right"))
            start = lo + int(np.searchsorted(ids[lo:hi], sign * last_id, "right"))
        chosen = order[start : start + first]
        nodes = [self.nodes[i] for i in chosen]
        cursors = [
            encode_cursor(
                int(self.ids[i]),
                int(self.ids[i])
                if sort_column is None
                else _cursor_value(int(self.columns[sort_column][i])),
            )
            for i in chosen
        ]
        return connection(nodes, cursors, start + first < len(order), start > 0)


def _cursor_value(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _cursor_epoch(value: object) -> int:
    try:
        return int(
            datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC).timestamp()
        )
    except ValueError:
        raise GraphQLError("Invalid cursor for current pagination") from None


def _epochs(frame: pl.DataFrame, column: str) -> np.ndarray:
    return frame[column].dt.epoch("s").fill_null(0).to_numpy().astype(np.int64)


def _utc(column: str) -> pl.Expr:
    """A timestamp column as UTC, truncated to whole seconds (Shopify's precision)."""
    return pl.col(column).dt.convert_time_zone("UTC").dt.truncate("1s")


# ----------------------------------------------------------------------------------------
# the shop's data at one moment
# ----------------------------------------------------------------------------------------
class ShopView:
    """Everything one shop serves, as of ``now``: built lazily per part, then read-only."""

    def __init__(self, business: Any, account: str, now: datetime, frames: tuple[object, ...]):
        self.business = business
        self.account = account
        self.now = now
        self.frames = frames
        storefront = business.storefronts.filter(pl.col("account") == account).row(0, named=True)
        self.currency: str = storefront["currency"]
        self.country: str = storefront["country"]

    @cached_property
    def shop(self) -> dict:
        domain = next(name for name, acct in SHOPIFY_SHOPS.items() if acct == self.account)
        return {
            "id": gid("Shop", 60_000_000 + sorted(SHOPIFY_SHOPS).index(domain)),
            "name": domain,
            "myshopifyDomain": f"{domain}.myshopify.com",
            "currencyCode": self.currency,
            "ianaTimezone": "Etc/UTC",
        }

    # -- catalog ---------------------------------------------------------------------------
    @cached_property
    def listings(self) -> pl.DataFrame:
        """The shop's listings visible now, with product facts and current price."""
        prices = (
            self.business.current_prices(self.now)
            .filter(pl.col("account") == self.account)
            .select("product_id", "price")
        )
        changed = (
            self.business.prices.filter(
                (pl.col("account") == self.account) & (pl.col("valid_from") <= self.now.date())
            )
            .group_by("product_id")
            .agg(pl.col("valid_from").max().alias("price_from"))
        )
        return (
            self.business.listings.filter(
                (pl.col("account") == self.account) & (pl.col("listed_from") <= self.now.date())
            )
            .join(
                self.business.products.select(
                    "product_id", "title", "brand", "category", "gtin", "upc"
                ),
                on="product_id",
                how="left",
                suffix="_product",
            )
            .join(prices, on="product_id", how="inner")  # no variant without a price
            .join(changed, on="product_id", how="left")
            .sort("channel_product_id", "channel_item_id")
        )

    @cached_property
    def catalog(self) -> tuple[Collection, dict[str, dict], dict[str, dict]]:
        """(products collection, products by gid, variants by gid)."""
        products: dict[str, dict] = {}
        variants: dict[str, dict] = {}
        product_epochs: dict[str, list[int]] = {}
        for row in self.listings.iter_rows(named=True):
            created = _start_of(row["listed_from"])
            updated = max(created, _start_of(row["price_from"]) if row["price_from"] else created)
            product_gid = gid("Product", row["channel_product_id"])
            product = products.get(product_gid)
            if product is None:
                product = products[product_gid] = {
                    "id": product_gid,
                    "legacyResourceId": row["channel_product_id"],
                    "title": row.get("title_product") or row["title"],
                    "handle": _handle(row.get("title_product") or row["title"]),
                    "vendor": row["brand"],
                    "productType": row["category"],
                    "status": "ACTIVE"
                    if row["listed_until"] is None or row["listed_until"] > self.now.date()
                    else "ARCHIVED",
                    "createdAt": iso(created),
                    "updatedAt": iso(updated),
                    "_variants": [],
                }
                product_epochs[product_gid] = [int(created.timestamp()), int(updated.timestamp())]
            elif int(updated.timestamp()) > product_epochs[product_gid][1]:
                product["updatedAt"] = iso(updated)
                product_epochs[product_gid][1] = int(updated.timestamp())
            variant = self._variant(row, created, updated, product_gid)
            variants[variant["id"]] = variant
            product["_variants"].append(variant)
        nodes = list(products.values())
        collection = Collection(
            nodes,
            {
                "created_at": np.array([product_epochs[n["id"]][0] for n in nodes], np.int64),
                "updated_at": np.array([product_epochs[n["id"]][1] for n in nodes], np.int64),
            },
        )
        return collection, products, variants

    def _variant(self, row: dict, created: datetime, updated: datetime, product_gid: str) -> dict:
        return {
            "id": gid("ProductVariant", row["channel_item_id"]),
            "legacyResourceId": row["channel_item_id"],
            "sku": row["channel_sku"],
            "title": "Default Title",
            "price": f"{row['price']:.2f}",
            # US shops keep the 12-digit UPC in the barcode field, EU shops the EAN-13 (GTIN)
            "barcode": row["upc"] if self.country == "US" else row["gtin"],
            "createdAt": iso(created),
            "updatedAt": iso(updated),
            "_product": product_gid,
            "_inventory_item": gid(
                "InventoryItem", INVENTORY_ITEM_OFFSET + int(row["channel_item_id"])
            ),
        }

    # -- inventory -------------------------------------------------------------------------
    @cached_property
    def locations(self) -> dict[str, dict]:
        frame = self.business.locations.filter(pl.col("account") == self.account)
        return {
            row["location_id"]: {
                "id": row["location_id"],
                "legacyResourceId": str(gid_number(row["location_id"])),
                "name": row["location_name"],
                "isActive": True,
            }
            for row in frame.sort("location_id").iter_rows(named=True)
        }

    @cached_property
    def inventory(self) -> tuple[Collection, dict[str, dict]]:
        """(inventory items collection, items by gid); one item per listed variant."""
        levels = (
            self.business.inventory_at(self.now)
            .filter(pl.col("account") == self.account)
            .join(
                self.listings.select("product_id", "channel_item_id", "channel_sku", "listed_from"),
                on="product_id",
                how="inner",
            )
            .with_columns(_utc("last_updated_at").alias("updated"))
            .sort("channel_item_id", "location_id")
        )
        items: dict[str, dict] = {}
        epochs: dict[str, int] = {}
        for row in levels.iter_rows(named=True):
            number = INVENTORY_ITEM_OFFSET + int(row["channel_item_id"])
            item_gid = gid("InventoryItem", number)
            updated = row["updated"] or _start_of(row["listed_from"])
            item = items.get(item_gid)
            if item is None:
                item = items[item_gid] = {
                    "id": item_gid,
                    "legacyResourceId": str(number),
                    "sku": row["channel_sku"],
                    "tracked": True,
                    "createdAt": iso(_start_of(row["listed_from"])),
                    "updatedAt": iso(updated),
                    "_variant": gid("ProductVariant", row["channel_item_id"]),
                    "_levels": [],
                }
                epochs[item_gid] = int(updated.timestamp())
            elif int(updated.timestamp()) > epochs[item_gid]:
                item["updatedAt"] = iso(updated)
                epochs[item_gid] = int(updated.timestamp())
            item["_levels"].append(self._level(row, item_gid, number, updated))
        nodes = list(items.values())
        collection = Collection(
            nodes, {"updated_at": np.array([epochs[n["id"]] for n in nodes], np.int64)}
        )
        return collection, items

    def _level(self, row: dict, item_gid: str, item_number: int, updated: datetime) -> dict:
        # The business reserves sold units until they ship: Shopify calls those "committed"
        # (on_hand = available + committed + the unavailable states, none of which we model).
        location = self.locations[row["location_id"]]
        return {
            "id": f"gid://shopify/InventoryLevel/{gid_number(location['id'])}"
            f"?inventory_item_id={item_number}",
            "location": location,
            "_item": item_gid,
            "updatedAt": iso(updated),
            "_quantities": {
                "available": int(row["available"]),
                "on_hand": int(row["on_hand"]),
                "committed": int(row["reserved"]),
                "incoming": int(row["inbound"]),
                "reserved": 0,
                "damaged": 0,
                "safety_stock": 0,
                "quality_control": 0,
            },
        }

    # -- orders ----------------------------------------------------------------------------
    @cached_property
    def order_data(self) -> tuple[Collection, dict[str, dict], dict[str, dict]]:
        """(orders collection, orders by gid, refunds by gid)."""
        frames = order_frames(self.business, self.account, self.now)
        lines_by_order = _line_payloads(frames["lines"], self.currency)
        refunds_by_order, refunds = _refund_payloads(
            frames["refunds"], lines_by_order, self.currency
        )
        nodes = [
            _order_payload(
                row,
                lines_by_order.get(row["order_key"], []),
                refunds_by_order.get(row["order_key"], []),
            )
            for row in frames["orders"].iter_rows(named=True)
        ]
        orders = frames["orders"]
        collection = Collection(
            nodes,
            {
                "created_at": _epochs(orders, "purchased"),
                "processed_at": _epochs(orders, "purchased"),
                "updated_at": _epochs(orders, "updated"),
            },
        )
        return collection, {n["id"]: n for n in nodes}, refunds


def _start_of(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(microsecond=0)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _handle(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def order_frames(business: Any, account: str, now: datetime) -> dict[str, pl.DataFrame]:
    """The shop's orders (with totals), lines and refunds as of ``now``, as polars frames."""
    orders = business.orders_view(now).filter(pl.col("account") == account)
    keys = orders.select("order_key")
    listings = business.listings.filter(pl.col("account") == account).select(
        "product_id", "channel_item_id", "channel_product_id"
    )
    lines = (
        business.lines_view(now)
        .join(keys, on="order_key", how="semi")
        .join(listings, on="product_id", how="left")
        .sort("order_key", "line_number")
    )
    refunds = (
        business.refunds_view(now)
        .join(keys, on="order_key", how="semi")
        .join(
            lines.select("order_key", "line_number", "line_id", "unit_price"),
            on=["order_key", "line_number"],
            how="left",
        )
        .with_columns(_utc("refunded_at").alias("refunded"))
        .sort("order_key", "refunded_at", "refund_id", "line_number")
    )
    totals = lines.group_by("order_key").agg(
        (pl.col("unit_price") * pl.col("quantity")).sum().alias("gross"),
        pl.col("discount").sum().alias("discounts"),
        pl.col("tax").sum().alias("line_tax"),
    )
    customers = business.customers.select("customer_id", "email")
    orders = (
        orders.join(totals, on="order_key", how="left")
        .join(customers, on="customer_id", how="left")
        .with_columns(
            _utc("purchased_at").alias("purchased"),
            _utc("last_updated_at").alias("updated"),
            _utc("cancelled_at").alias("cancelled"),
            pl.col("gross", "discounts", "line_tax").fill_null(0.0),
        )
        .sort("updated", "channel_order_id")
    )
    return {"orders": orders, "lines": lines, "refunds": refunds}


def _financial_status(row: dict) -> str:
    if row["is_refunded"] == "full":
        return "REFUNDED"
    if row["is_refunded"] == "partial":
        return "PARTIALLY_REFUNDED"
    if row["cancelled"] is not None:
        return "VOIDED"  # cancelled before the payment was captured
    if row["status"] == "pending":
        return "PENDING"
    return "PAID"


def _order_payload(row: dict, lines: list[dict], refunds: list[dict]) -> dict:
    currency = row["currency"]
    subtotal = row["gross"] - row["discounts"]
    tax = row["line_tax"] + (row["shipping_tax"] or 0.0)
    total = subtotal + (row["shipping_price"] or 0.0) + tax
    refunded = row["refunded_amount"] or 0.0
    customer = None
    if row["customer_id"] is not None:
        number = CUSTOMER_ID_BASE + int(row["customer_id"])
        customer = {
            "id": gid("Customer", number),
            "legacyResourceId": str(number),
            "email": row["email"],
        }
    return {
        "id": gid("Order", row["channel_order_id"]),
        "legacyResourceId": str(row["channel_order_id"]),
        "name": row["channel_order_name"],
        "email": row["email"],
        "createdAt": iso(row["purchased"]),
        "updatedAt": iso(row["updated"]),
        "processedAt": iso(row["purchased"]),
        "cancelledAt": iso(row["cancelled"]),
        "currencyCode": currency,
        "presentmentCurrencyCode": currency,
        "displayFinancialStatus": _financial_status(row),
        "displayFulfillmentStatus": "FULFILLED"
        if row["status"] in ("shipped", "delivered")
        else "UNFULFILLED",
        "subtotalPriceSet": money(subtotal, currency),
        "totalPriceSet": money(total, currency),
        "currentTotalPriceSet": money(total - refunded, currency),
        "totalDiscountsSet": money(row["discounts"], currency),
        "totalTaxSet": money(tax, currency),
        "totalShippingPriceSet": money(row["shipping_price"] or 0.0, currency),
        "totalRefundedSet": money(refunded, currency),
        "customer": customer,
        "_lines": lines,
        "refunds": refunds,
    }


def _line_payloads(lines: pl.DataFrame, currency: str) -> dict[str, list[dict]]:
    by_order: dict[str, list[dict]] = defaultdict(list)
    for row in lines.iter_rows(named=True):
        by_order[row["order_key"]].append(
            {
                "id": gid("LineItem", row["line_id"]),
                "sku": row["channel_sku"],
                "name": row["channel_sku"],
                "quantity": int(row["quantity"]),
                "originalUnitPriceSet": money(row["unit_price"], currency),
                "totalDiscountSet": money(row["discount"] or 0.0, currency),
                "_line_number": row["line_number"],
                "_variant": None
                if row["channel_item_id"] is None
                else gid("ProductVariant", row["channel_item_id"]),
                "_product": None
                if row["channel_product_id"] is None
                else gid("Product", row["channel_product_id"]),
            }
        )
    return by_order


def _refund_payloads(
    refunds: pl.DataFrame, lines_by_order: dict[str, list[dict]], currency: str
) -> tuple[dict[str, list[dict]], dict[str, dict]]:
    """Refund rows (one per refunded line) grouped into Shopify refunds: the lines of one
    order refunded at the same moment form one refund, numbered after its first line."""
    by_order: dict[str, list[dict]] = defaultdict(list)
    by_gid: dict[str, dict] = {}
    current: dict[tuple[str, datetime], dict] = {}
    for row in refunds.iter_rows(named=True):
        group = (row["order_key"], row["refunded"])
        refund = current.get(group)
        if refund is None:
            number = REFUND_ID_BASE + int(row["order_key"]) * 100 + int(row["line_number"])
            refund = current[group] = by_gid[gid("Refund", number)] = {
                "id": gid("Refund", number),
                "legacyResourceId": str(number),
                "createdAt": iso(row["refunded"]),
                "updatedAt": iso(row["refunded"]),
                "note": row["reason"],
                "_number": number,
                "_amount": 0.0,
                "_lines": [],
            }
            by_order[row["order_key"]].append(refund)
        refund["_amount"] += row["amount"]
        line = next(
            (
                item
                for item in lines_by_order.get(row["order_key"], [])
                if item["_line_number"] == row["line_number"]
            ),
            None,
        )
        if line is not None:
            line_number = refund["_number"] * REFUND_LINE_FACTOR + int(row["line_number"])
            refund["_lines"].append(
                {
                    "id": gid("RefundLineItem", line_number),
                    "quantity": int(row["quantity"]),
                    "restocked": False,
                    "lineItem": line,
                    "subtotalSet": money(row["amount"], currency),
                    "priceSet": money(row["unit_price"] or 0.0, currency),
                }
            )
    for refund in by_gid.values():
        refund["totalRefundedSet"] = money(refund.pop("_amount"), currency)
        del refund["_number"]
    return by_order, by_gid


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
    return info.context.order_data[0].page(first, after, clauses, column, reverse)


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
    return info.context.catalog[0].page(first, after, clauses, column, reverse)


def resolve_inventory_items(
    _root: None,
    info: Any,
    first: int | None = None,
    after: str | None = None,
    query: str | None = None,
    reverse: bool = False,
) -> dict:
    clauses = parse_search(query, ("updated_at",))
    return info.context.inventory[0].page(first, after, clauses, None, reverse)


def resolve_locations(
    _root: None, info: Any, first: int | None = None, after: str | None = None
) -> dict:
    return list_page(list(info.context.locations.values()), first, after)


def _by_id(index: Callable[[ShopView], dict[str, dict]]) -> Callable[..., dict | None]:
    def resolve(_root: None, info: Any, id: str) -> dict | None:
        gid_number(id)  # a malformed id is an error, an unknown one is null
        return index(info.context).get(id)

    return resolve


def _nested(key: str) -> Callable[..., dict]:
    def resolve(
        source: dict, _info: Any, first: int | None = None, after: str | None = None
    ) -> dict:
        return list_page(source[key], first, after)

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


# ----------------------------------------------------------------------------------------
# query cost
# ----------------------------------------------------------------------------------------
@dataclass
class _CostContext:
    schema: GraphQLSchema
    fragments: dict[str, FragmentDefinitionNode]
    variables: dict[str, Any]


def _is_connection(type_: Any) -> bool:
    return getattr(type_, "name", "").endswith("Connection")


def _fields(
    selection_set: SelectionSetNode | None, parent: Any, ctx: _CostContext
) -> list[tuple[FieldNode, Any]]:
    """The field nodes of a selection set with their parent type, fragments flattened."""
    found: list[tuple[FieldNode, Any]] = []
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            found.append((selection, parent))
        elif isinstance(selection, InlineFragmentNode):
            inner = (
                ctx.schema.get_type(selection.type_condition.name.value)
                if selection.type_condition
                else parent
            )
            found += _fields(selection.selection_set, inner, ctx)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = ctx.fragments[selection.name.value]
            found += _fields(
                fragment.selection_set, ctx.schema.get_type(fragment.type_condition.name.value), ctx
            )
    return found


def _first(node: FieldNode, field_def: Any, ctx: _CostContext, default: int) -> int:
    if "first" not in field_def.args:
        return default
    value = get_argument_values(field_def, node, ctx.variables).get("first")
    return default if value is None else max(0, int(value))


def _item_nodes(
    node: FieldNode, connection_type: Any, ctx: _CostContext
) -> list[tuple[FieldNode, Any]]:
    """The ``edges { node }`` and ``nodes`` selections of a connection field."""
    item_type = get_named_type(connection_type.fields["nodes"].type)
    items = []
    for child, _ in _fields(node.selection_set, connection_type, ctx):
        if child.name.value == "nodes":
            items.append((child, item_type))
        elif child.name.value == "edges":
            items += [
                (grand, item_type)
                for grand, _ in _fields(child.selection_set, None, ctx)
                if grand.name.value == "node"
            ]
    return items


def requested_cost(selection_set: SelectionSetNode | None, parent: Any, ctx: _CostContext) -> int:
    """Shopify's up-front estimate: scalars 0, objects 1, connections 2 + first x item."""
    total = 0
    for node, parent_type in _fields(selection_set, parent, ctx):
        name = node.name.value
        if name.startswith("__"):
            continue
        field_def = parent_type.fields[name]
        named = get_named_type(field_def.type)
        if is_leaf_type(named):
            continue
        if _is_connection(named):
            item = max(
                (
                    1 + requested_cost(child.selection_set, item_type, ctx)
                    for child, item_type in _item_nodes(node, named, ctx)
                ),
                default=0,
            )
            total += 2 + _first(node, field_def, ctx, 0) * item
        elif is_list_type(get_nullable_type(field_def.type)):
            total += _first(node, field_def, ctx, 1) * (
                1 + requested_cost(node.selection_set, named, ctx)
            )
        else:
            total += 1 + requested_cost(node.selection_set, named, ctx)
    return total


@dataclass(frozen=True)
class Charge:
    """What one non-leaf field of a query charges per value it returned (actual cost)."""

    key: str  # the response key (alias or name)
    kind: str  # "object" | "list" | "connection"
    items: tuple[str, ...]  # connections: the path to the items, ("nodes",) or ("edges", "node")
    children: tuple[Charge, ...]


def cost_plan(
    selection_set: SelectionSetNode | None, parent: Any, ctx: _CostContext
) -> tuple[Charge, ...]:
    """The query's non-leaf fields as a tree, to price a response without the AST."""
    plan = []
    for node, parent_type in _fields(selection_set, parent, ctx):
        name = node.name.value
        key = node.alias.value if node.alias else name
        if name.startswith("__"):
            continue
        field_def = parent_type.fields[name]
        named = get_named_type(field_def.type)
        if is_leaf_type(named):
            continue
        if _is_connection(named):
            items, children = _item_path(node, named, ctx)
            plan.append(Charge(key, "connection", items, children))
        elif is_list_type(get_nullable_type(field_def.type)):
            plan.append(Charge(key, "list", (), cost_plan(node.selection_set, named, ctx)))
        else:
            plan.append(Charge(key, "object", (), cost_plan(node.selection_set, named, ctx)))
    return tuple(plan)


def _item_path(
    node: FieldNode, connection_type: Any, ctx: _CostContext
) -> tuple[tuple[str, ...], tuple[Charge, ...]]:
    item_type = get_named_type(connection_type.fields["nodes"].type)
    for child, _ in _fields(node.selection_set, connection_type, ctx):
        key = child.alias.value if child.alias else child.name.value
        if child.name.value == "nodes":
            return (key,), cost_plan(child.selection_set, item_type, ctx)
        if child.name.value == "edges":
            for grand, _ in _fields(child.selection_set, None, ctx):
                if grand.name.value == "node":
                    return (
                        (key, grand.alias.value if grand.alias else "node"),
                        cost_plan(grand.selection_set, item_type, ctx),
                    )
    return (), ()


def actual_cost(plan: tuple[Charge, ...], data: Any) -> int:
    """The same rules over what was actually returned (the points Shopify finally charges)."""
    if not isinstance(data, dict):
        return 0
    total = 0
    for charge in plan:
        value = data.get(charge.key)
        if value is None:
            continue
        if charge.kind == "connection":
            items: list[Any] = []
            if len(charge.items) == 1:
                items = value.get(charge.items[0]) or []
            elif charge.items:
                items = [edge.get(charge.items[1]) for edge in value.get(charge.items[0]) or []]
            total += 2 + sum(
                1 + actual_cost(charge.children, item) for item in items if item is not None
            )
        elif charge.kind == "list":
            total += sum(
                1 + actual_cost(charge.children, item) for item in value if item is not None
            )
        else:
            total += 1 + actual_cost(charge.children, value)
    return total


@lru_cache(maxsize=256)
def parsed_document(query: str) -> tuple[DocumentNode | None, tuple[GraphQLError, ...]]:
    """Parse and validate once per distinct query text (extractors repeat theirs)."""
    try:
        document = parse(query)
    except GraphQLError as exc:
        return None, (exc,)
    return document, tuple(validate(SCHEMA, document))


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((op for op in operations if op.name and op.name.value == name), None)


@dataclass
class PreparedQuery:
    """A validated query with its coerced variables and requested cost."""

    document: DocumentNode
    operation: OperationDefinitionNode
    plan: tuple[Charge, ...]
    raw_variables: dict[str, Any]
    requested: int


def prepare(
    query: str, variables: dict[str, Any] | None, operation_name: str | None
) -> PreparedQuery | list[GraphQLError]:
    document, errors = parsed_document(query)
    if document is None or errors:
        return list(errors)
    operation = _operation(document, operation_name)
    if operation is None:
        return [
            GraphQLError(
                "An operation name is required"
                if operation_name is None
                else f"No operation named '{operation_name}'"
            )
        ]
    coerced = get_variable_values(SCHEMA, operation.variable_definitions or [], variables or {})
    if isinstance(coerced, list):
        return coerced
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    ctx = _CostContext(SCHEMA, fragments, coerced)
    cost = requested_cost(operation.selection_set, SCHEMA.query_type, ctx)
    return PreparedQuery(document, operation, _plan(query, operation_name), variables or {}, cost)


@lru_cache(maxsize=256)
def _plan(query: str, operation_name: str | None) -> tuple[Charge, ...]:
    """The cost plan of a query text (it does not depend on the variables)."""
    document, _ = parsed_document(query)
    assert document is not None  # only called for documents that validated
    operation = _operation(document, operation_name)
    assert operation is not None
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return cost_plan(
        operation.selection_set, SCHEMA.query_type, _CostContext(SCHEMA, fragments, {})
    )


# ----------------------------------------------------------------------------------------
# the HTTP side
# ----------------------------------------------------------------------------------------
class _Views:
    """One ShopView per shop, rebuilt when the sandbox clock moved by VIEW_TTL (either way)
    or the business changed (a late update)."""

    def __init__(self, state: SandboxState):
        self._state = state
        self._views: dict[str, ShopView] = {}
        self._locks = {account: threading.Lock() for account in SHOPIFY_SHOPS.values()}

    def get(self, account: str) -> ShopView:
        now = self._state.now()
        frames = business_frames(self._state.business)
        with self._locks[account]:
            view = self._views.get(account)
            if (
                view is None
                or now < view.now
                or now - view.now >= VIEW_TTL
                or any(a is not b for a, b in zip(view.frames, frames, strict=True))
            ):
                view = self._views[account] = ShopView(self._state.business, account, now, frames)
            return view


def business_frames(business: Any) -> tuple[object, ...]:
    """The business's event frames: a late update replaces one, so a view that holds them
    (by reference, so that no id is ever reused) can tell that it is stale."""
    return tuple(
        getattr(business, name, None)
        for name in ("orders", "order_lines", "refunds", "inventory_daily", "prices", "listings")
    )


def _revoked_now() -> bool:
    """True when this request carries an ``expire_tokens`` fault: the shop's app session is
    revoked for this one request (offline tokens never expire; the sandbox's token store
    holds no Shopify tokens), then re-authorised with the same token."""
    fault = getattr(g, "fault", None)
    return fault is not None and fault.kind == "expire_tokens"


def _json(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(
        json.dumps(body, separators=(",", ":")), status=status, mimetype="application/json"
    )
    response.headers["X-Request-Id"] = str(uuid.uuid4())
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _cost_extension(
    requested: int, actual: int | None, available: float, capacity: float, rate: float
) -> dict:
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": {
                "maximumAvailable": float(capacity),
                "currentlyAvailable": int(available),
                "restoreRate": float(rate),
            },
        }
    }


def _throttled_body(requested: int, available: float, capacity: float, rate: float) -> dict:
    return {
        "errors": [
            {
                "message": "Throttled",
                "extensions": {"code": "THROTTLED", "documentation": DOCS_RATE_LIMITS},
            }
        ],
        "extensions": _cost_extension(requested, None, available, capacity, rate),
    }


def _max_cost_body(requested: int, bucket: TokenBucket) -> dict:
    return {
        "errors": [
            {
                "message": f"Query cost is {requested}, which exceeds the single query max cost limit "
                f"({MAX_QUERY_COST}).",
                "extensions": {
                    "code": "MAX_COST_EXCEEDED",
                    "cost": requested,
                    "maxCost": MAX_QUERY_COST,
                    "documentation": DOCS_RATE_LIMITS,
                },
            }
        ],
        "extensions": _cost_extension(requested, None, bucket.tokens, bucket.capacity, bucket.rate),
    }


def _executed(
    prepared: PreparedQuery, view: ShopView, decision: Decision, bucket: TokenBucket
) -> dict:
    """Execute a charged query and refund the difference between requested and actual cost."""
    operation_name = prepared.operation.name.value if prepared.operation.name else None
    result = execute_sync(
        SCHEMA,
        prepared.document,
        context_value=view,
        variable_values=prepared.raw_variables,
        operation_name=operation_name,
    )
    actual = actual_cost(prepared.plan, result.data)
    refund = max(0, prepared.requested - actual)
    bucket.refund(refund)
    body: dict[str, Any] = {}
    if result.errors:
        body["errors"] = [e.formatted for e in result.errors]
    body["data"] = result.data
    body["extensions"] = _cost_extension(
        prepared.requested,
        actual,
        min(decision.capacity, decision.remaining + refund),
        decision.capacity,
        decision.limit,
    )
    return body


def _request_body() -> tuple[str, dict | None, str | None] | None:
    """(query, variables, operationName) from a JSON or application/graphql body."""
    if request.mimetype == "application/graphql":
        text = request.get_data(as_text=True)
        return (text, None, None) if text.strip() else None
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return None
    variables = body.get("variables")
    if variables is not None and not isinstance(variables, dict):
        return None
    return body["query"], variables, body.get("operationName")


def create_blueprint(state: SandboxState) -> tuple[Blueprint, ChannelWire]:
    """The Shopify routes over ``state``, and how Shopify answers the generic faults."""
    blueprint = Blueprint(API, __name__, url_prefix=f"/{API}")
    views = _Views(state)

    def bucket(account: str) -> TokenBucket:
        return state.limits.bucket(API, account, OPERATION, RESTORE_RATE, BUCKET_SIZE)

    def requested_of_current_request() -> int:
        body = _request_body()
        prepared = prepare(*body) if body else []
        return prepared.requested if isinstance(prepared, PreparedQuery) else 0

    def throttled() -> Response:
        """A forced throttle: the bucket reads empty for this request."""
        account = SHOPIFY_SHOPS.get((request.view_args or {}).get("shop", ""), "shopify_us")
        b = bucket(account)
        return _json(_throttled_body(requested_of_current_request(), 0.0, b.capacity, b.rate))

    def server_error(status: int) -> Response:
        request_id = str(uuid.uuid4())
        return _json(
            {
                "errors": [
                    {
                        "message": "Internal error. Looks like something went wrong on our end.\n"
                        f"Request ID: {request_id} (include this in support requests).",
                        "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
                    }
                ]
            },
            status,
        )

    def answer(
        account: str, query: str, variables: dict | None, operation_name: str | None
    ) -> dict:
        """Validate, price, charge the bucket, execute, refund: the body of the answer."""
        b = bucket(account)
        prepared = prepare(query, variables, operation_name)
        if not isinstance(prepared, PreparedQuery):
            return {
                "errors": [e.formatted for e in prepared],
                "extensions": _cost_extension(0, 0, b.tokens, b.capacity, b.rate),
            }
        if prepared.requested > MAX_QUERY_COST:
            return _max_cost_body(prepared.requested, b)
        decision = state.limits.take(
            API, account, OPERATION, RESTORE_RATE, BUCKET_SIZE, cost=prepared.requested
        )
        if not decision.ok:
            return _throttled_body(
                prepared.requested, decision.remaining, decision.capacity, decision.limit
            )
        return _executed(prepared, views.get(account), decision, b)

    @blueprint.post("/<shop>/admin/api/<version>/graphql.json")
    def graphql_endpoint(shop: str, version: str) -> Response:
        account = SHOPIFY_SHOPS.get(shop)
        if account is None or not VERSION_RE.match(version):
            return _json({"errors": "Not Found"}, 404)
        token = request.headers.get("X-Shopify-Access-Token")
        if token != SANDBOX_CREDENTIALS[account]["access_token"] or _revoked_now():
            return _json({"errors": INVALID_TOKEN}, 401)
        body = _request_body()
        if body is None:
            return _json({"errors": {"query": "Required parameter missing or invalid"}}, 400)
        return _json(answer(account, *body), headers={"X-Shopify-API-Version": version})

    return blueprint, ChannelWire(throttled=throttled, server_error=server_error)
